"""Checkers for the code exercises: ``check_jsd(my_jsd)`` says, in plain words, what is wrong.

Each checker runs the student's function on cases with known answers, prints
either a confirmation or the first problem it found with a hint, and returns
``True`` or ``False``. Nothing is raised, so a notebook keeps running.

A checker checks what training uses, not only the value: a loss or penalty must carry the
reference's gradient (one rebuilt from ``.item()``, computed under ``torch.no_grad()`` or
without ``create_graph=True`` has the right value and trains nothing). Every random case is
seeded, and so are torch's and NumPy's global random numbers during each call of the student's
function (restored after it), so a verdict never depends on luck. Each call has a time limit
(:data:`TIME_LIMIT` seconds), and an answer that is, wraps or calls the package's own function
is refused.

Every checker also takes ``seed`` (its random cases drawn from other seeds: the grader's hidden
cases) and ``quiet`` (print only a problem, return None: the form otter-grader's doctests expect).
The grader passes an :class:`regan_tutorial.remote.Answer` in place of the student's function:
``_call`` then runs it in a process of its own, and names the tensors whose gradients it needs.
"""

import contextlib
import copy
import functools
import math
import re
import signal
import threading

import numpy as np
import torch

from . import dynamics, losses, metrics, theory
from .remote import Computed

TIME_LIMIT = 30.0  # seconds for one call of a student's function; ample for the exercises' small cases

# the package's reference function(s) of each checker: refused as answers, and withheld from
# the student edition's listings (regan_tutorial.editions)
REFERENCES = {
    "check_optimal_discriminator": ("theory.optimal_discriminator",),
    "check_jsd": ("theory.jsd", "theory.virtual_training_criterion"),  # C(G) = -log 4 + 2 JSD
    "check_modes_captured": ("metrics.mode_coverage",),
    "check_discriminator_loss": ("losses.discriminator_loss",),
    # input_gradient_norm2 is the double back-propagation at the heart of both exercises
    "check_gradient_penalty": ("losses.gradient_penalty", "losses.input_gradient_norm2"),
    "check_js_regularizer": ("losses.js_regularizer", "losses.input_gradient_norm2", "losses.r1_regularizer"),
    "check_hinge_loss": ("losses.discriminator_loss_hinge",),
    "check_categorical_info_loss": (),
    "check_keras_style_loss": (),
    "check_discriminator": (),
    "check_frechet_distance": ("exercises._frechet_reference",),
    "check_dirac_field": ("dynamics.vector_field",),
    # the generator's loss is the answer with its arguments swapped
    "check_relativistic_loss": ("losses.discriminator_loss_relativistic", "losses.generator_loss_relativistic"),
}
_STATE = {"seed": 0, "quiet": False, "forbid": ()}  # the running checker's seed, output and references


def _rng(base=0):
    """A generator for a checker's random case: ``base`` under the public seed 0, others for hidden cases."""
    return torch.Generator().manual_seed(base + 7919 * _STATE["seed"])


def _never_raises(name):
    """Whatever a student's function returns, the checker reports instead of raising."""
    def wrap(checker):
        @functools.wraps(checker)
        def checked(fn, seed=0, quiet=False):
            saved = dict(_STATE)
            _STATE.update(seed=seed, quiet=quiet, forbid=REFERENCES.get(checker.__name__, ()))
            try:
                with torch.random.fork_rng(devices=[]):  # the checker's own nets draw their initial weights
                    torch.manual_seed(seed)
                    return checker(fn)
            except Exception as err:  # a result the checker could not use, e.g. an array or a string
                return _report(name, [f"its result could not be used ({type(err).__name__}: {err}); "
                                      "return what the exercise asks for (see the docstring)."])
            finally:
                _STATE.update(saved)
        return checked
    return wrap


def _report(name, problems):
    if problems:
        print(f"{name}: not yet. {problems[0]}")
        return None if _STATE["quiet"] else False
    if not _STATE["quiet"]:
        print(f"{name}: all checks passed.")
        return True
    return None


class _TooSlow(BaseException):
    """A student's function ran past the time limit (a BaseException: ``except Exception`` in a loop does not stop it)."""


def _limited(fn, args):
    """``fn(*args)``, stopped after :data:`TIME_LIMIT` seconds with :class:`_TooSlow`: by SIGALRM on the
    main thread where there is one (it interrupts a Python loop), else in a daemon thread that is left behind."""
    if hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread():
        def stop(signum, frame):
            raise _TooSlow

        previous = signal.signal(signal.SIGALRM, stop)
        outer, _ = signal.setitimer(signal.ITIMER_REAL, TIME_LIMIT)
        try:
            return fn(*args)
        finally:
            left, _ = signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
            if outer:  # someone else's alarm (e.g. a test timeout): rearm it with what it had left
                signal.setitimer(signal.ITIMER_REAL, max(outer - (TIME_LIMIT - left), 1e-3))
    found = {}

    def run():
        try:
            found["value"] = fn(*args)
        except BaseException as err:  # handed to the caller's thread
            found["error"] = err

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(TIME_LIMIT)
    if worker.is_alive():
        raise _TooSlow
    if "error" in found:
        raise found["error"]
    return found["value"]


@contextlib.contextmanager
def _seeded():
    """torch's and NumPy's global random numbers seeded for a student's call (e.g. WGAN-GP's alpha),
    and restored after it."""
    state, seed = np.random.get_state(), _STATE["seed"]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        np.random.seed(seed)
        try:
            yield
        finally:
            np.random.set_state(state)


@contextlib.contextmanager
def _tripwires():
    """The running checker's reference functions replaced, in their modules, by ones that raise
    :class:`regan_tutorial.remote.UsesPackage` (an answer that calls one is named), then restored."""
    from .remote import _module_attr, _tripwire

    saved = []
    for qualified in _STATE["forbid"]:
        module, attr = _module_attr(qualified)
        saved.append((module, attr, getattr(module, attr)))
        setattr(module, attr, _tripwire(qualified))
    try:
        yield
    finally:
        for module, attr, ref in saved:
            setattr(module, attr, ref)


def _call(fn, *args, wrt=(), collect=None):
    """``fn(*args)`` as (result, None), or (None, what went wrong). For an answer run in its own
    process (the grader's), ``wrt`` names the tensors whose gradients the checker will take and
    ``collect`` what the checker's own callables recorded during the call."""
    from .remote import PATCHED, TAMPERED, UsesPackage, resolved

    if not callable(fn):
        return None, f"the checker needs a function, got a {type(fn).__name__}"
    remote = getattr(fn, "remote", False)
    call = (lambda *a: fn.call(a, wrt=wrt, collect=collect)) if remote else fn
    args = args if remote else resolved(args)
    try:
        with _seeded(), np.errstate(all="ignore"), contextlib.nullcontext() if remote else _tripwires():
            got = call(*args) if remote else _limited(call, args)  # e.g. 0/0 above: the checker explains it
    except _TooSlow:
        return None, f"it did not return within {TIME_LIMIT:g} s: does it loop forever?"
    except UsesPackage as err:
        if err.args[0] == TAMPERED:
            return None, ("it turned off or replaced the grader's profile hook (sys.setprofile), which watches "
                          "for calls of the package's own function: an answer has no reason to.")
        if err.args[0] == PATCHED:
            return None, "it replaced a function of the checker while the checker ran: an answer has no reason to."
        return None, (f"it calls the package's own {err.args[0]}: the exercise is to write it yourself, "
                      "without calling it (the checker compares your version with it).")
    except NotImplementedError:
        return None, "it is not implemented yet (it raises NotImplementedError)."
    except Exception as err:  # a student's bug is reported, not raised
        return None, f"it raised {type(err).__name__}: {err}"
    if got is None:
        return None, "it returns None: did you forget the return statement?"
    return got, None


def _package_function(fn, *references):
    """What is wrong with an answer that is one of the package's ``references`` (imported, renamed,
    wrapped with functools.wraps or partial, or a function built on its code), or None. An answer run
    in its own process is tested there (:mod:`regan_tutorial.remote`), since this process never loads it."""
    if getattr(fn, "remote", False):
        fn.forbid = _STATE["forbid"]
        return None
    for candidate in (fn, getattr(fn, "__wrapped__", None), getattr(fn, "func", None)):
        for ref in references:
            if candidate is not None and (candidate is ref or getattr(candidate, "__code__", None) is ref.__code__):
                name = f"{ref.__module__.replace('regan_tutorial.', '')}.{ref.__qualname__}"
                return (f"it is the package's own {name}: the exercise is to write it yourself, without calling "
                        "it (the checker compares your version with it).")
    return None


def _not_a_scalar(got, err, what):
    """What is wrong with a result that should be a scalar tensor (an exception, another shape), or None."""
    if err:
        return f"for {what}, {err}"
    if not torch.is_tensor(got) or got.numel() != 1:  # (1,) back-propagates too, and the loop takes it
        return "it should return a scalar tensor (the mean over the batch), so that .backward() works."
    return None


NO_GRADIENT = ("its result has no gradient (computed under torch.no_grad(), rebuilt with torch.tensor(loss.item()), "
               "or from detached tensors?): training could not learn from it; return the tensor your computation "
               "produced.")


def _gradient_problem(got, reference, wrt, no_gradient=NO_GRADIENT, wrong="its gradient is not the loss's"):
    """None if ``got`` back-propagates to the tensors ``wrt`` as ``reference`` does, else what is wrong."""
    if not got.requires_grad:
        return no_gradient
    expected = torch.autograd.grad(reference, wrt, allow_unused=True, retain_graph=True)
    try:
        found = torch.autograd.grad(got, wrt, allow_unused=True, retain_graph=True)
    except RuntimeError as err:  # e.g. a graph the student's own autograd.grad call freed
        return f"{wrong} (back-propagating it fails: {str(err).splitlines()[0]})"
    for t, g, e in zip(wrt, found, expected):
        g, e = (torch.zeros_like(t) if v is None else v for v in (g, e))
        if not torch.allclose(g, e, rtol=1e-3, atol=1e-6):
            return wrong
    return None


def _edited_in_place(args, leaves):
    """Whether the answer changed its copies ``args`` of ``leaves`` in place, or detached them."""
    return not all(torch.equal(arg, leaf) and arg.requires_grad for arg, leaf in zip(args, leaves))


def _in_place(what):
    return (f"with {what} it changes d_real or d_fake in place (e.g. d_fake.sub_(d_real), or detach_()): the loop "
            "passes the same logits on to the regularizer and the history; compute d_fake - d_real as a new tensor.")


def _leaves(*tensors):
    """Copies that record gradients, and what to pass the student (their clones: in-place edits stay legal)."""
    leaves = [t.detach().clone().requires_grad_(True) for t in tensors]
    return leaves, [leaf.clone() for leaf in leaves]


def _grid():
    x = np.linspace(-8, 8, 4001)
    return x, x[1] - x[0]


def _mixtures(x):
    """Two Gaussian mixtures on the grid: the course's pair under seed 0, others drawn for hidden cases."""
    if not _STATE["seed"]:
        return theory.gaussian_mixture(x, [-1, 2], [0.5, 1.0]), theory.gaussian_mixture(x, [0.5], [1.5])
    r = np.random.default_rng(_STATE["seed"])
    return (theory.gaussian_mixture(x, list(r.uniform(-3, 3, 2)), list(r.uniform(0.4, 1.2, 2))),
            theory.gaussian_mixture(x, list(r.uniform(-3, 3, 1)), list(r.uniform(0.8, 2.0, 1))))


def _compact(x, a, b):
    """The uniform density on [a, b], exactly 0 outside it."""
    return np.where((x >= a) & (x <= b), 1 / (b - a), 0.0)


@_never_raises('optimal discriminator')
def check_optimal_discriminator(fn):
    """Check ``fn(p_data, p_g)`` against D*(x) = p_data / (p_data + p_g), with D* = 1/2 where both vanish."""
    own = _package_function(fn, theory.optimal_discriminator)
    if own:
        return _report("optimal discriminator", [own])
    x, _ = _grid()
    cases = [  # densities, what the case tests
        (*_mixtures(x), "Gaussians"),
        (_compact(x, -2, 0), _compact(x, 1, 3), "densities that are exactly 0 outside [-2, 0] and [1, 3]"),
    ]
    problems = []
    for p, q, what in cases:
        d, err = _call(fn, p.copy(), q.copy())
        if err:
            problems.append(f"for {what}, {err}")
            break
        d, expected, neither = np.asarray(d, float), theory.optimal_discriminator(p, q), (p + q) == 0
        if d.shape != expected.shape:
            problems.append(f"it should return one value per grid point, shape {expected.shape}, not {d.shape}.")
        elif neither.any() and not np.allclose(d[neither], 0.5):
            i = int(np.flatnonzero(neither & ~np.isclose(d, 0.5))[0])
            problems.append(f"at x = {x[i]:.2f}, where both densities are 0, it gives {d[i]:.4g}"
                            + (" (0/0: guard the division)" if np.isnan(d[i]) else "")
                            + ". There p_data / (p_data + p_g) is 0/0; the course's convention "
                            "(theory.optimal_discriminator) is D* = 1/2: no sample, real or generated, lands there, "
                            "so every value is optimal and 1/2 says 'undecided'.")
        elif np.any(np.isnan(d)):
            problems.append("it returns nan somewhere: where both densities are tiny, 0/0 appears; guard the division.")
        elif np.any((d < 0) | (d > 1)):
            problems.append("D*(x) is a probability, but some values lie outside [0, 1].")
        elif np.allclose(d, 1 - expected, atol=1e-6):
            problems.append("it returns p_g / (p_data + p_g): D is the probability that x is *real*, so p_data goes on top.")
        elif not np.allclose(d, expected, atol=1e-6):
            i = int(np.argmax(np.abs(d - expected)))
            problems.append(f"at x = {x[i]:.2f} it gives {d[i]:.4f}, but D*(x) = {expected[i]:.4f}.")
        if problems:
            break
    return _report("optimal discriminator", problems)


@_never_raises('jsd')
def check_jsd(fn):
    """Check ``fn(p, q, dx)`` against the Jensen-Shannon divergence (natural log)."""
    own = _package_function(fn, theory.jsd)
    if own:
        return _report("jsd", [own])
    x, dx = _grid()
    p, q = _mixtures(x)
    far_p, far_q = theory.gaussian_mixture(x, [-5], [0.3]), theory.gaussian_mixture(x, [5], [0.3])
    problems = []
    same, err = _call(fn, p.copy(), p.copy(), dx)
    pq, err2 = _call(fn, p.copy(), q.copy(), dx)
    qp, _ = _call(fn, q.copy(), p.copy(), dx)
    far, err3 = _call(fn, far_p.copy(), far_q.copy(), dx)
    expected = theory.jsd(p, q, dx)
    if err or err2 or err3:
        problems.append(err or err2 or err3)
    elif not math.isfinite(float(far)):
        problems.append("for densities that do not overlap it returns inf: compare each density with the mixture "
                        "m = (p + q) / 2, never with each other, and treat 0 * log 0 as 0.")
    elif abs(float(same)) > 1e-8:
        problems.append(f"JSD(p, p) should be 0, got {float(same):.3g}.")
    elif abs(float(pq) - float(qp)) > 1e-8:
        problems.append("JSD is symmetric, but fn(p, q) != fn(q, p): use the mixture m = (p + q) / 2.")
    elif math.isclose(float(pq), 2 * expected, rel_tol=1e-4):
        problems.append("the result is twice the JSD: each KL term carries a factor 1/2.")
    elif math.isclose(float(pq), expected / math.log(2), rel_tol=1e-4):
        problems.append("the result is in bits: the course uses the natural log, so JSD <= log 2.")
    elif not math.isclose(float(pq), expected, rel_tol=1e-4):
        problems.append(f"for the test pair it gives {float(pq):.6f}, but JSD = {expected:.6f}. Did you multiply by dx?")
    elif not math.isclose(float(far), math.log(2), rel_tol=1e-4):
        problems.append(f"disjoint supports should give log 2 = {math.log(2):.4f}, got {float(far):.4f}.")
    return _report("jsd", problems)


@_never_raises('modes captured')
def check_modes_captured(fn):
    """Check ``fn(samples, centres, std)`` counting the modes captured by high-quality samples."""
    own = _package_function(fn, metrics.mode_coverage)
    if own:
        return _report("modes captured", [own])
    centres = torch.tensor([[0.0, 0.0], [2.0, 0.0], [0.0, 2.0]])
    cases = [  # samples, expected, what the case tests
        (torch.tensor([[0.01, 0.0], [2.0, 0.02]]), 2, "two samples close to two different modes"),
        (torch.tensor([[0.01, 0.0], [0.0, -0.02]]), 1, "two samples near the same mode"),
        (torch.tensor([[1.0, 1.0], [0.0, 0.05]]), 1, "a sample far from every mode (it does not count) "
                                                     "and one within 3 std of mode 0"),
        (torch.tensor([[0.0, 0.2]]), 0, "a sample 0.2 from a mode with std 0.05 (more than 3 std away)"),
    ]
    problems = []
    for samples, expected, what in cases:
        got, err = _call(fn, samples.clone(), centres.clone(), 0.05)
        if err:
            problems.append(err)
            break
        got = float(got)
        if got != int(got):
            problems.append(f"it returns {got}: the number of modes captured is a whole number.")
            break
        if got != expected:
            problems.append(f"with {what}, it says {int(got)} modes, but {expected} are captured. A mode counts if it "
                            "is the nearest centre of at least one sample within 3 std of it.")
            break
    rng = _rng(0)
    samples = 2 * torch.randn(500, 2, generator=rng)
    if not problems:
        got, err = _call(fn, samples.clone(), centres.clone(), 0.05)
        if err or float(got) != metrics.mode_coverage(samples, centres, 0.05).modes:
            problems.append(err or "on 500 random samples it disagrees with the definition "
                                   "(nearest centre, within 3 std).")
    return _report("modes captured", problems)


@_never_raises('discriminator loss')
def check_discriminator_loss(fn):
    """Check ``fn(d_real, d_fake)`` (logits) against -E[log D(x)] - E[log(1 - D(G(z)))], its value and its
    gradient with respect to the logits."""
    from .losses import discriminator_loss

    own = _package_function(fn, discriminator_loss)
    if own:
        return _report("discriminator loss", [own])
    cases = [
        (torch.zeros(4), torch.zeros(4), "logits 0 everywhere (D = 1/2): the loss is 2 log 2 = 1.386"),
        (torch.tensor([2.0, -1.0, 0.5]), torch.tensor([-3.0, 1.0]), "real and fake batches of different sizes"),
        # other in each of the autograder's hidden cases
        (2 * torch.randn(6, generator=_rng(388)), 2 * torch.randn(5, generator=_rng(389)),
         "a random batch of 6 real and 5 fake logits"),
        (torch.tensor([-200.0]), torch.tensor([200.0]), "extreme logits (a real sample at -200, a fake at +200)"),
    ]
    problems, results = [], []
    for d_real, d_fake, what in cases:
        leaves, args = _leaves(d_real, d_fake)
        got, err = _call(fn, *args, wrt=leaves)
        reference = discriminator_loss(*leaves)
        expected = reference.item()
        results.append((got, reference, leaves, what))
        if err:
            problems.append(f"with {what}, {err}")
        elif not torch.is_tensor(got) or got.numel() != 1:  # (1,) back-propagates too, and the loop takes it
            problems.append("it should return a scalar tensor (the mean over each batch), so that .backward() works.")
        elif _edited_in_place(args, leaves):
            problems.append(_in_place(what))
        elif not math.isfinite(got.item()):
            problems.append(f"with {what} it returns {got.item()}: log(sigmoid(l)) underflows to log(0). "
                            "Compute it from the logits with F.binary_cross_entropy_with_logits or F.softplus.")
        elif math.isclose(got.item(), expected / 2, rel_tol=1e-4):
            problems.append("the result is half the loss: the course adds the real and fake terms, it does not average them.")
        elif math.isclose(got.item(), discriminator_loss(d_fake, d_real).item(), rel_tol=1e-4) and \
                not math.isclose(expected, discriminator_loss(d_fake, d_real).item(), rel_tol=1e-4):
            problems.append("real and fake are swapped: real samples have target 1, fakes target 0.")
        elif not math.isclose(got.item(), expected, rel_tol=1e-4, abs_tol=1e-6):
            problems.append(f"with {what} it gives {got.item():.4f}, but the loss is {expected:.4f}.")
        if problems:
            break
    # right values: do they train D? (not at logits exactly 0, where relu and abs, in a stable formula
    # that is right everywhere else, have a kink whose subgradient autograd picks)
    for got, reference, leaves, what in results[1:] if not problems else []:
        problem = _gradient_problem(got, reference, leaves, wrong=(
            f"with {what} its value is right but its gradient with respect to the logits is not, so D would "
            "learn something else: compute the loss from the logits themselves."))
        if problem:
            problems.append(problem)
            break
    return _report("discriminator loss", problems)


SHAPE_ONLY = re.compile(r"(View|Reshape|UnsafeView|Squeeze|Unsqueeze|Clone|Expand|Permute|Transpose|T|Select|Slice|"
                        r"Alias|AsStrided|Flatten)\w*Backward\d*$")


def _last_operation(out):
    """The name of the last operation that computed ``out``, looking through reshapes and squeezes."""
    if getattr(out, "regan_ops", None):  # an answer run in its own process: the ops recorded there
        return out.regan_ops[0]
    return _graph_last_operation(out)


def _grad_fn(out):
    """``out.grad_fn`` as autograd keeps it (a subclass of Tensor cannot answer for it)."""
    return torch._C.TensorBase.grad_fn.__get__(out) if torch.is_tensor(out) else None  # an immutable C type


def _graph_last_operation(out):
    """:func:`_last_operation` read from the graph alone (in the answer's process: not from an attribute)."""
    node = _grad_fn(out)
    while node is not None and SHAPE_ONLY.match(type(node).__name__) and node.next_functions:
        node = node.next_functions[0][0]
    return type(node).__name__ if node is not None else None


def _operations(out):
    """The names of every operation in the graph that computed ``out``."""
    if getattr(out, "regan_ops", None):  # an answer run in its own process: the ops recorded there
        return set(out.regan_ops[1])
    return _graph_operations(out)


def _graph_operations(out, limit=100_000):
    """:func:`_operations` read from the graph alone (in the answer's process: not from an attribute)."""
    seen, todo, names = set(), [_grad_fn(out)], set()
    while todo and len(seen) < limit:
        node = todo.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        names.add(type(node).__name__)
        todo += [n for n, _ in node.next_functions]
    return names


def _describe_net(net):
    """What the checker needs to know of a net before calling it: [is a module, its type, the package's
    own class it holds (or ""), whether one of its last modules is a sigmoid]."""
    if not isinstance(net, torch.nn.Module):
        return [False, type(net).__name__, "", False]
    own = next((c.__name__ for m in net.modules() for c in type(m).__mro__
                if c.__module__.startswith("regan_tutorial")), "")  # the package's class, or one built on it
    last, shape_only = net, (torch.nn.Flatten, torch.nn.Unflatten, torch.nn.Identity)
    while isinstance(last, torch.nn.Sequential):  # what runs last, where the order is known
        computing = [m for m in last if not isinstance(m, shape_only)]
        if not computing:
            break
        last = computing[-1]
    return [True, type(net).__name__, own, isinstance(last, torch.nn.Sigmoid)]


def _eval_outputs(net, batches):
    """The net's outputs (eval mode, no gradient) on each batch, its modes restored after."""
    modes = [m.training for m in net.modules()]
    net.eval()
    try:
        with torch.no_grad():
            return [net(x).reshape(len(x)).float() for x in batches]
    finally:
        for m, mode in zip(net.modules(), modes):
            m.training = mode


def _on_net(net, fn):
    """``fn(net)``, where the net lives: in this process, or in the answer's own process (the grader's)."""
    if getattr(net, "remote", False):
        return net.call((), probe=fn)
    return fn(net)


@_never_raises('discriminator')
def check_discriminator(net):
    """Check a convolutional discriminator for 28x28 digits: one finite logit per image, for any batch
    size, no sigmoid at the end (an nn.Sigmoid, torch.sigmoid or one written by hand), a gradient for
    its input, convolutions and a nonlinearity. It checks a copy, so the network's batch-norm
    statistics stay as they were."""
    problems = []
    rng = _rng(0)
    if net is None:
        return _report("discriminator", ["it is not implemented yet: build your network and pass it in."])
    try:
        is_module, type_name, own, sigmoid_tail = _on_net(net, _describe_net)
    except Exception as err:
        return _report("discriminator", [f"it could not be loaded ({type(err).__name__}: {err})."])
    if type_name == "NoneType":  # the handout's my_net = None, as the grader's child saw it
        return _report("discriminator", ["it is not implemented yet: build your network and pass it in."])
    if not is_module:
        return _report("discriminator", [f"it should be a network (a torch.nn.Module, e.g. nn.Sequential(...)), "
                                         f"got a {type_name}: an optimiser needs its .parameters()."])
    if own:
        return _report("discriminator", [f"it is (or holds) the package's own nets.{own}: the exercise "
                                         "is to build your own, e.g. with nn.Sequential(nn.Conv2d(...), ...)."])
    if sigmoid_tail:
        problems.append("it ends in a sigmoid: the course's losses take logits, so return the last linear "
                        "layer's output and let the loss apply the sigmoid stably.")
    device = torch.device("cpu")
    if not getattr(net, "remote", False):
        with contextlib.suppress(Exception):
            net = copy.deepcopy(net)  # the checks' batches must not change the student's batch-norm statistics
        device = next((p.device for p in net.parameters()), torch.device("cpu"))
    for n in (2, 7, 64):  # batches as training uses them (batch norm after a linear layer needs two)
        if problems:
            break
        x = (2 * torch.rand(n, 1, 28, 28, generator=rng) - 1).to(device)
        out, err = _call(net, x)
        if err:
            problems.append(f"on a batch of {n} images (shape {tuple(x.shape)}) {err}")
        elif not torch.is_tensor(out) or out.dim() == 0 or len(out) != n or out[0].numel() != 1:
            shape = tuple(out.shape) if torch.is_tensor(out) else type(out).__name__
            problems.append(f"for a batch of {n} images it returns shape {shape}; it should return {(n,)} "
                            f"(or {(n, 1)}, {(n, 1, 1, 1)}), one logit per image.")
        elif not torch.isfinite(out).all():
            problems.append("it returns nan or inf for ordinary images.")
        elif _last_operation(out) and _last_operation(out).startswith("Sigmoid"):
            problems.append("it ends in a sigmoid (torch.sigmoid in forward): the course's losses take logits, so "
                            "return the last layer's output and let the loss apply the sigmoid stably.")
    if not problems:
        x = (2 * torch.rand(8, 1, 28, 28, generator=rng) - 1).to(device).requires_grad_(True)
        out, err = _call(net, x, wrt=[x])
        if err:
            problems.append(f"on a batch of 8 images {err}")
        elif not out.requires_grad:
            problems.append("its output has no gradient (computed under torch.no_grad() or detached?): "
                            "neither D nor the generator could learn through it.")
        else:
            grad, = torch.autograd.grad(out.sum(), x, allow_unused=True)
            if grad is None or grad.abs().sum() == 0:
                problems.append("its output does not depend on its input: the generator would get no gradient.")
            elif not any("Convolution" in name for name in _operations(out)):
                problems.append("it has no convolution: the exercise asks for a convolutional discriminator, e.g. two "
                                "strided nn.Conv2d layers with leaky ReLU and a linear read-out (a linear model or an "
                                "MLP sees the pixels without their neighbourhoods).")
    if not problems:
        problems += _affine(net, rng, device)
    if not problems:
        problems += _squashed(net, rng, device)
    return _report("discriminator", problems)


def _affine(net, rng, device):
    """A problem if ``net`` (in eval mode) is affine in its input: f(a) + f(b) - f(c) = f(a + b - c)."""
    a, b, c = ((2 * torch.rand(8, 1, 28, 28, generator=rng) - 1).to(device) for _ in range(3))
    try:
        fa, fb, fc, fabc = _limited(_on_net, (net, lambda m: _eval_outputs(m, [a, b, c, a + b - c])))
    except _TooSlow:
        return [f"it did not return within {TIME_LIMIT:g} s: does it loop forever?"]
    except Exception as err:
        return [f"in eval mode it raised {type(err).__name__}: {err}"]
    if torch.allclose(fa + fb - fc, fabc, rtol=1e-4, atol=1e-4 * (1 + fabc.abs().max().item())):
        return ["it is affine in its input (no nonlinearity between its layers), so it is a linear classifier "
                "whatever its layers: put e.g. nn.LeakyReLU(0.2) after each convolution."]
    return []


def _squashed(net, rng, device):
    """A problem if the outputs stay in [0, 1] (or [-1, 1]) and saturate there for inputs scaled up
    to 1000 times: a sigmoid (or tanh) at the end, whether a module, a function or written by hand."""
    x = (2 * torch.rand(16, 1, 28, 28, generator=rng) - 1).to(device)
    try:
        outs = torch.cat(_limited(_on_net, (net, lambda m: _eval_outputs(m, [s * x for s in (1, 10, 100, 1000)]))))
    except _TooSlow:
        return [f"on inputs scaled up to 1000 times it did not return within {TIME_LIMIT:g} s."]
    except Exception as err:
        return [f"on inputs scaled up to 1000 times it raised {type(err).__name__}: {err}. A discriminator "
                "gives a finite logit for any input."]
    low, high, saturated = outs.min().item(), outs.max().item(), outs[-16:]
    if low >= 0 and high <= 1 and ((saturated < 1e-3) | (saturated > 1 - 1e-3)).any():
        return ["its outputs stay between 0 and 1 and saturate there for large inputs: it ends in a sigmoid "
                "(perhaps written by hand, 1 / (1 + exp(-l))). The course's losses take the logit l itself."]
    if low >= -1 and high <= 1 and (saturated.abs() > 1 - 1e-3).any():
        return ["its outputs stay between -1 and 1 and saturate there for large inputs: it ends in a tanh "
                "(or another squashing function). Return the logit, the last linear layer's output."]
    return []


def _seeded_mlp(sizes, rng):
    """A small tanh MLP with weights drawn from ``rng``: a critic whose gradient norm varies."""
    layers = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        layer = torch.nn.Linear(n_in, n_out)
        with torch.no_grad():
            layer.weight.copy_(torch.randn(n_out, n_in, generator=rng) / n_in ** 0.5)
            layer.bias.copy_(0.1 * torch.randn(n_out, generator=rng))
        layers += [layer, torch.nn.Tanh()]
    return torch.nn.Sequential(*layers[:-1])


@_never_raises('gradient penalty')
def check_gradient_penalty(fn):
    """Check ``fn(critic, x_real, x_fake)`` against WGAN-GP's penalty with lambda = 10: its values on
    critics with known gradient norms, on points and on images, where it takes its interpolates, and
    that it trains the critic (its gradient with respect to the critic's weights)."""
    own = _package_function(fn, losses.gradient_penalty)
    if own:
        return _report("gradient penalty", [own])
    problems = []
    rng = _rng(0)
    w = torch.tensor([[3.0, 0.0, 4.0]]) / 5
    linear = lambda x: (x @ w.T).squeeze(1)  # gradient norm 1 everywhere: penalty 0
    steep = lambda x: 3 * (x @ w.T).squeeze(1)  # gradient norm 3 everywhere: penalty 10 * 4 = 40
    bowl = lambda x: 0.5 * x.pow(2).sum(1)  # gradient x: its norm depends on where it is taken
    w_image = torch.nn.functional.normalize(torch.randn(1, 784, generator=rng), dim=1)
    steep_image = lambda x: 3 * (x.flatten(1) @ w_image.T).squeeze(1)  # gradient norm 3 over each image's pixels
    x_real, x_fake = torch.randn(256, 3, generator=rng), torch.randn(256, 3, generator=rng)
    zeros = torch.zeros(20_000, 3)
    unit = torch.nn.functional.normalize(torch.randn(20_000, 3, generator=rng), dim=1)
    images_real, images_fake = (2 * torch.rand(16, 1, 28, 28, generator=rng) - 1 for _ in range(2))
    checks = [
        (linear, x_real, x_fake, 0.0, 0.01, "a critic with gradient norm 1 everywhere"),
        (steep, x_real, x_fake, 40.0, 0.01, "a linear critic with gradient norm 3 (lambda (3 - 1)^2 = 40)"),
        (bowl, zeros, unit, 10 / 3, 0.02, "the critic ||x||^2 / 2 with real samples at 0 and fakes on the unit "
                                          "sphere (at x_hat = alpha * x_fake the norm is alpha: 10 E[(alpha - 1)^2] = 10/3)"),
        (steep_image, images_real, images_fake, 40.0, 0.01, "images of shape (16, 1, 28, 28) and a linear critic with "
                                                            "gradient norm 3 over each image's pixels"),
    ]
    for critic, xr, xf, expected, tol, what in checks:
        got, err = _call(fn, critic, xr.clone(), xf.clone())
        problem = _not_a_scalar(got, err, what)
        if problem:
            if critic is steep_image and err and "size of tensor" in err:
                problem += (" On images, alpha needs one value per image that broadcasts over its pixels: "
                            "torch.rand(len(x_real), 1, 1, 1), or torch.rand(len(x_real), *[1] * (x_real.dim() - 1)).")
            problems.append(problem)
            break
        value = got.item()
        if not math.isfinite(value):
            problems.append(f"for {what} it returns {value}: a penalty must be a finite number (is there a 0/0, "
                            "or the square root of a negative number?).")
            break
        if abs(value - expected) > tol * max(1.0, expected):
            hint = ""
            if critic is bowl and abs(value - 10) < 0.3:
                hint = " It seems to take the gradient at the real samples only: use x_hat = x_real + alpha (x_fake - x_real)."
            elif critic is bowl and abs(value) < 0.3:
                hint = " It seems to take the gradient at the fake samples only: use random interpolates."
            elif critic is steep and abs(value - 640) < 1:
                hint = " It penalises the squared norm: use (||grad|| - 1)^2, with the norm itself."
            elif critic is steep and abs(value - 4) < 0.05:
                hint = " Did you forget lambda = 10?"
            elif critic is linear and abs(value - 10 * (len(xr) ** 0.5 - 1) ** 2) < 1:
                hint = " It takes one norm over the whole batch: take one per sample, grad.flatten(1).norm(dim=1)."
            elif critic is steep_image:
                hint = (" On images, take one norm per image over all its pixels, grad.flatten(1).norm(dim=1) "
                        "(grad.norm(dim=1) takes it over the channel only).")
            elif critic is bowl:
                hint = "".join(f" {p}" for p in _interpolates_problems(fn, rng, where_only=True))
            problems.append(f"for {what} it gives {value:.4f}, expected {expected:.4f}.{hint}")
            break
    if not problems:
        problems += _interpolates_problems(fn, rng)
    return _report("gradient penalty", problems)


def _interpolates_problems(fn, rng, where_only=False):
    """Where the student's penalty evaluates the critic (one alpha per sample, in [0, 1]), and (unless
    ``where_only``) whether its value and its gradient w.r.t. the critic's weights are the reference's at
    those very points."""
    net = _seeded_mlp([3, 8, 1], rng)
    seen = []

    def critic(x):
        seen.append(x)
        return net(x).squeeze(1)

    x_real = torch.randn(256, 3, generator=rng)
    x_fake = x_real + 1 + torch.rand(256, 3, generator=rng)  # fake - real in [1, 2] in every coordinate
    asked = lambda: [x.detach() for x in seen if x.requires_grad and x.shape == x_real.shape]
    got, err = _call(fn, critic, x_real.clone(), x_fake.clone(), wrt=list(net.parameters()), collect=asked)
    problem = _not_a_scalar(got, err, "a small MLP critic")
    if problem:
        return [problem]
    points = (fn.collected or []) if getattr(fn, "remote", False) else asked()
    if not points:
        return ["it never calls the critic on points that require a gradient: make x_hat with "
                "requires_grad_(True) and differentiate the critic's output with respect to it."]
    alpha = (points[0].detach() - x_real) / (x_fake - x_real)
    if (alpha < -1e-4).any() or (alpha > 1 + 1e-4).any():
        return ["its x_hat lies outside the segments between real and fake samples: alpha must lie in [0, 1] (torch.rand)."]
    if (alpha.std(1) > 1e-4).any():
        return ["alpha differs between the coordinates of a sample (torch.rand_like(x_real)?), so x_hat is not on the "
                "segment from x_real to x_fake: draw one alpha per sample, torch.rand(len(x_real), 1)."]
    if alpha[:, 0].std() < 1e-3:
        return ["it draws one alpha for the whole batch: draw one per sample, torch.rand(len(x_real), 1), so that the "
                "interpolates cover the space between the two distributions."]
    if where_only:
        return []
    x_hat = points[0].detach().clone().requires_grad_(True)
    grad, = torch.autograd.grad(net(x_hat).sum(), x_hat, create_graph=True)
    reference = 10 * (grad.norm(dim=1) - 1).pow(2).mean()
    if not math.isclose(got.item(), reference.item(), rel_tol=1e-3, abs_tol=1e-6):
        return [f"for a small MLP critic it gives {got.item():.5f}, but the penalty at its own interpolates is "
                f"{reference.item():.5f}."]
    problem = _gradient_problem(got, reference, list(net.parameters()), no_gradient=(
        "its result has no gradient to back-propagate to the critic's weights: compute the input gradient "
        "with torch.autograd.grad(..., create_graph=True)."), wrong=(
        "its value is right, but its gradient with respect to the critic's weights is not, so the critic would "
        "not learn to keep its gradient norm near 1: use torch.autograd.grad(..., create_graph=True)."))
    return [problem] if problem else []


@_never_raises('categorical information loss')
def check_categorical_info_loss(fn):
    """Check ``fn(category_logits, category)``: InfoGAN's -E[log Q(c | x)] for the categorical code, its value
    and its gradient with respect to the logits."""
    import torch.nn.functional as F

    rng = _rng(0)
    logits, category = 3 * torch.randn(64, 10, generator=rng), torch.randint(10, (64,), generator=rng)
    (leaf,), (arg,) = _leaves(logits)
    reference = F.cross_entropy(leaf, category)
    expected = reference.item()
    got, err = _call(fn, arg, category.clone(), wrt=[leaf])
    problems = []
    if err:
        problems.append(err)
    elif not torch.is_tensor(got) or got.dim() != 0:
        problems.append("it should return a scalar tensor (the mean over the batch).")
    elif math.isclose(got.item(), -expected, rel_tol=1e-4):
        problems.append("the sign is flipped: the loss is the negative log-likelihood, -E[log Q(c|x)], which is >= 0.")
    elif math.isclose(got.item(), F.nll_loss(logits, category).item(), rel_tol=1e-4):
        problems.append("it treats the logits as log-probabilities: apply log_softmax first (or use F.cross_entropy).")
    elif not math.isclose(got.item(), expected, rel_tol=1e-4):
        problems.append(f"on a random batch it gives {got.item():.4f}, but -E[log Q(c|x)] = {expected:.4f}.")
    else:
        problem = _gradient_problem(got, reference, [leaf], wrong=(
            "its value is right, but its gradient with respect to Q's logits is not: compute it from the logits."))
        if problem:
            problems.append(problem)
        else:
            perfect = 50 * F.one_hot(category, 10).float()
            value, err = _call(fn, perfect, category.clone())
            if err or abs(float(value)) > 1e-6:
                problems.append(err or "for a Q that is certain and right, the loss should be 0.")
    return _report("categorical information loss", problems)


@_never_raises('JS regularizer')
def check_js_regularizer(fn):
    """Check ``fn(d_real, x_real, d_fake, x_fake)`` against Roth et al.'s regularizer
    E_P[(1 - D)^2 |grad l|^2] + E_Q[D^2 |grad l|^2] (l the logit, D = sigmoid(l)): its value, on points
    and on images, and its gradient with respect to D's weights (what trains D)."""
    from .losses import js_regularizer

    own = _package_function(fn, js_regularizer)
    if own:
        return _report("JS regularizer", [own])
    rng = _rng(0)
    layer = torch.nn.Linear(3, 1)
    with torch.no_grad():  # a linear logit l(x) = w.x + b: |grad l|^2 = |w|^2 = 9 everywhere
        layer.weight.copy_(torch.tensor([[1.0, -2.0, 2.0]]))
        layer.bias.fill_(0.5)
    linear = lambda x: layer(x).squeeze(1)
    bowl = lambda x: 0.5 * x.pow(2).sum(1) - 1.0  # |grad l|^2 = |x|^2: depends on the sample
    pixels = torch.nn.Linear(784, 1)
    with torch.no_grad():
        pixels.weight.copy_(0.05 * torch.randn(1, 784, generator=_rng(1)))
        pixels.bias.zero_()
    image = lambda x: pixels(x.flatten(1)).squeeze(1)
    problems = []
    for d, shape, n_real, n_fake, what in (
            (linear, (3,), 6, 6, "a linear discriminator (|grad l|^2 = 9 everywhere)"),
            (bowl, (3,), 6, 6, "the discriminator l(x) = |x|^2 / 2 - 1"),
            (bowl, (3,), 7, 3, "7 real and 3 fake samples"),
            (image, (1, 28, 28), 5, 4, "images of shape (N, 1, 28, 28) and a linear discriminator on their pixels")):
        x_real = torch.randn(n_real, *shape, generator=rng).requires_grad_(True)
        x_fake = (2 * torch.randn(n_fake, *shape, generator=rng)).requires_grad_(True)
        d_real, d_fake = d(x_real), d(x_fake)
        reference = js_regularizer(d_real, x_real, d_fake, x_fake)
        expected = reference.item()
        weights = [] if d is bowl else list((layer if d is linear else pixels).parameters())
        found = [g.detach() for g in torch.autograd.grad(reference, weights, retain_graph=True)] if weights else []
        # D's logits computed where the answer runs: it differentiates them with respect to x
        got, err = _call(fn, Computed(d, x_real), x_real, Computed(d, x_fake), x_fake, wrt=weights)
        problem = _not_a_scalar(got, err, what)
        if problem:
            problems.append(problem + (" On images, take each image's squared gradient norm over all its pixels: "
                                       "grad.flatten(1).pow(2).sum(1)." if d is image and err else ""))
            break
        if not got.requires_grad:
            problems.append("its result has no gradient to back-propagate to D's weights: "
                            "call torch.autograd.grad(..., create_graph=True).")
            break
        if math.isclose(got.item(), expected, rel_tol=1e-5):
            problem = _weight_gradient_problem(got, weights, found, what)
            if problem:
                problems.append(problem)
                break
            continue
        s_real, s_fake = torch.sigmoid(d_real.detach()), torch.sigmoid(d_fake.detach())
        g_real = (x_real.detach().flatten(1) if d is bowl else layer.weight.detach()).pow(2).sum(-1) * torch.ones(n_real)
        g_fake = (x_fake.detach().flatten(1) if d is bowl else layer.weight.detach()).pow(2).sum(-1) * torch.ones(n_fake)
        wrong = {  # common slips, each with the value it would give here
            "the weights are swapped: real samples get (1 - D)^2, fakes D^2 (a real sample costs "
            "nothing once D is sure it is real).": (s_real ** 2 * g_real).mean() + ((1 - s_fake) ** 2 * g_fake).mean(),
            "the weights are not squared: use (1 - D)^2 and D^2.": ((1 - s_real) * g_real).mean() + (s_fake * g_fake).mean(),
            "the gradient norms are not squared: use |grad l|^2.":
                ((1 - s_real) ** 2 * g_real.sqrt()).mean() + (s_fake ** 2 * g_fake.sqrt()).mean(),
            "it takes the gradient of D = sigmoid(l) instead of the logit l: differentiate the logits.":
                ((1 - s_real) ** 2 * (s_real * (1 - s_real)) ** 2 * g_real).mean()
                + (s_fake ** 2 * (s_fake * (1 - s_fake)) ** 2 * g_fake).mean(),
            "it averages over the real and fake samples together: take the mean of each batch, then add them.":
                torch.cat([(1 - s_real) ** 2 * g_real, s_fake ** 2 * g_fake]).mean(),
        } if d is not image else {}
        hint = next((h for h, v in wrong.items() if math.isclose(got.item(), v.item(), rel_tol=1e-4)), None)
        if d is image and hint is None:
            hint = ("it does not take each image's squared gradient norm over all its pixels: "
                    "grad.flatten(1).pow(2).sum(1) (.sum(1) alone sums over the channel only).")
        problems.append(f"for {what} it gives {got.item():.5f}, expected {expected:.5f}. "
                        + (f"It looks as if {hint}" if hint else ""))
        break
    return _report("JS regularizer", problems)


def _weight_gradient_problem(got, weights, expected, what):
    """What is wrong with the gradient of the student's regularizer w.r.t. D's weights, or None."""
    if not weights:
        return None
    try:
        found = torch.autograd.grad(got, weights, allow_unused=True)
    except RuntimeError as err:
        found, failure = None, str(err).splitlines()[0]
    if found is not None and all(g is not None and torch.allclose(g, e, rtol=1e-3, atol=1e-7)
                                 for g, e in zip(found, expected)):
        return None
    ratio = ""
    if found is not None and found[0] is not None and found[0].norm() > 0:
        ratio = f" (here {expected[0].norm().item() / found[0].norm().item():.3g} times too small or large)"
    failed = "" if found is not None else f" (back-propagating it fails: {failure})"
    return (f"for {what} its value is right, but its gradient with respect to D's weights is not{ratio}{failed}: "
            "without create_graph=True the input gradient is a constant, so the regularizer cannot train D. "
            "Call torch.autograd.grad(..., create_graph=True).")


@_never_raises("Keras-style loss")
def check_keras_style_loss(fn):
    """Check ``fn(wrapped, x_real, x_fake, gamma)``, the four-output Keras formulation, against
    L_D + gamma / 2 * Omega for a linear discriminator, whose |grad l|^2 = |w|^2 is known: its value
    and its gradient with respect to the discriminator's weights."""
    import torch.nn.functional as F

    from .nets import JSRegularized

    linear = torch.nn.Linear(3, 1)
    with torch.no_grad():
        linear.weight.copy_(torch.tensor([[1.0, -2.0, 2.0]]))  # |w|^2 = 9
        linear.bias.fill_(0.5)
    d = torch.nn.Sequential(linear, torch.nn.Flatten(0))  # one logit per sample, (N,)
    wrapped = JSRegularized(d)
    rng = _rng(0)
    x_real, x_fake = torch.randn(6, 3, generator=rng), 2 * torch.randn(5, 3, generator=rng)
    with torch.no_grad():
        l_real, l_fake = linear(x_real).squeeze(1), linear(x_fake).squeeze(1)
    bce = F.softplus(-l_real).mean() + F.softplus(l_fake).mean()
    omega = 9 * ((1 - torch.sigmoid(l_real)) ** 2).mean() + 9 * (torch.sigmoid(l_fake) ** 2).mean()
    omega_squared = 81 * ((1 - torch.sigmoid(l_real)) ** 4).mean() + 81 * (torch.sigmoid(l_fake) ** 4).mean()
    problems = []
    for gamma in (2.0, 0.5):
        got, err = _call(fn, wrapped, x_real.clone(), x_fake.clone(), gamma, wrt=list(linear.parameters()))
        problem = _not_a_scalar(got, err, f"gamma = {gamma}")
        if problem:
            problems.append(problem)
            break
        value, expected = got.item(), (bce + gamma / 2 * omega).item()
        if math.isclose(value, expected, rel_tol=1e-5):
            xr, xf = x_real.clone().requires_grad_(True), x_fake.clone().requires_grad_(True)
            reference = losses.discriminator_loss(d(xr), d(xf)) + gamma / 2 * losses.js_regularizer(d(xr), xr, d(xf), xf)
            problem = _gradient_problem(got, reference, list(linear.parameters()), wrong=(
                f"with gamma = {gamma} its value is right, but its gradient with respect to D's weights is not: "
                "the penalty outputs must keep their graph (JSRegularized computes them with create_graph=True)."))
            if problem:
                problems.append(problem)
                break
            continue
        hints = {
            (bce + gamma * omega).item(): "the penalty outputs carry weight gamma: the loss weights are gamma / 2.",
            (bce + gamma / 2 * omega_squared).item(): "it squares the penalties (mean squared error): they are "
                                                      "non-negative already, so the mean absolute error against 0 "
                                                      "is their mean.",
            bce.item(): "the penalty outputs are missing, or weighted 0.",
        }
        hint = next((h for v, h in hints.items() if math.isclose(value, v, rel_tol=1e-4)), "")
        problems.append(f"with gamma = {gamma} it gives {value:.5f}, but L_D + gamma/2 * Omega = {expected:.5f}. {hint}")
        break
    return _report("Keras-style loss", problems)


@_never_raises("hinge loss")
def check_hinge_loss(fn):
    """Check ``fn(d_real, d_fake)`` against the hinge loss E[max(0, 1 - D(x))] + E[max(0, 1 + D(G(z)))]:
    its value and its gradient with respect to D's outputs."""
    own = _package_function(fn, losses.discriminator_loss_hinge)
    if own:
        return _report("hinge loss", [own])
    cases = [  # hand-computed: real 2 and 0.5 -> 0 and 0.5; fake -3 and 0 -> 0 and 1
        (torch.tensor([2.0, 0.5]), torch.tensor([-3.0, 0.0]), 0.25 + 0.5, "real outputs 2 and 0.5, fake -3 and 0"),
        (torch.tensor([0.0, 0.0, 0.0]), torch.tensor([4.0]), 1.0 + 5.0, "real outputs 0, one fake at 4"),
    ]
    rng = _rng(896)  # and a random batch, other in each of the autograder's hidden cases
    real, fake = 2 * torch.randn(5, 1, generator=rng), 2 * torch.randn(7, 1, generator=rng)
    cases.append((real, fake, (torch.relu(1 - real).mean() + torch.relu(1 + fake).mean()).item(),
                  "5 random real outputs of shape (5, 1) and 7 fake ones"))
    problems, results = [], []
    for d_real, d_fake, expected, what in cases:
        leaves, args = _leaves(d_real, d_fake)
        got, err = _call(fn, *args, wrt=leaves)
        problem = _not_a_scalar(got, err, what)
        if problem:
            problems.append(problem)
            break
        value = got.item()
        if _edited_in_place(args, leaves):
            problems.append(_in_place(what))
            break
        if math.isclose(value, expected, rel_tol=1e-5):
            results.append((got, leaves, what))
            continue
        linear = ((1 - d_real).mean() + (1 + d_fake).mean()).item()
        swapped = (torch.relu(1 + d_real).mean() + torch.relu(1 - d_fake).mean()).item()
        summed = (torch.relu(1 - d_real).sum() + torch.relu(1 + d_fake).sum()).item()
        hint = ("the max(0, .) is missing: a sample beyond the margin must cost nothing." if math.isclose(value, linear)
                else "real and fake are swapped: real outputs should be pushed above +1, fakes below -1."
                if math.isclose(value, swapped) else "it sums over the batch: take the mean of each batch."
                if math.isclose(value, summed) else "")
        problems.append(f"with {what} it gives {value:.4f}, but the hinge loss is {expected:.4f}. {hint}")
        break
    for got, leaves, what in results if not problems else []:  # right values: do they train D?
        problem = _gradient_problem(got, losses.discriminator_loss_hinge(*leaves), leaves, wrong=(
            f"with {what} its value is right but its gradient with respect to D's outputs is not: "
            "compute it from d_real and d_fake with torch operations (torch.relu or clamp)."))
        if problem:
            problems.append(problem)
            break
    return _report("hinge loss", problems)


def _frechet_reference(mu1, sigma1, mu2, sigma2):
    """The checker's Fréchet distance (its docstring also keeps its code apart from an answer's)."""
    root = torch.linalg.eigvals(sigma1 @ sigma2).sqrt().real.sum()
    return ((mu1 - mu2).pow(2).sum() + sigma1.trace() + sigma2.trace() - 2 * root).item()


@_never_raises("Fréchet distance")
def check_frechet_distance(fn):
    r"""Check ``fn(mu1, sigma1, mu2, sigma2)`` (float64 tensors: two means and two covariance matrices)
    against the Fréchet distance :math:`\|\mu_1-\mu_2\|^2 + \mathrm{Tr}(\Sigma_1+\Sigma_2-2(\Sigma_1\Sigma_2)^{1/2})`
    on hand-made Gaussians, diagonal and not, and name the usual slips."""
    own = _package_function(fn, _frechet_reference)
    if own:
        return _report("Fréchet distance", [own])
    d = torch.float64
    rotated = torch.tensor([[2.0, 1.0], [1.0, 2.0]], dtype=d)
    cases = [  # (mu1, sigma1, mu2, sigma2, what)
        (torch.zeros(2, dtype=d), torch.eye(2, dtype=d), torch.zeros(2, dtype=d), torch.eye(2, dtype=d),
         "two identical standard Gaussians"),
        (torch.zeros(2, dtype=d), torch.diag(torch.tensor([1.0, 4.0], dtype=d)), torch.tensor([1.0, 2.0], dtype=d),
         torch.diag(torch.tensor([4.0, 1.0], dtype=d)), "means 0 and (1, 2), diagonal covariances diag(1, 4) and diag(4, 1)"),
        (torch.tensor([0.5, 0.0, 1.0], dtype=d), torch.block_diag(rotated, torch.ones(1, 1, dtype=d)),
         torch.zeros(3, dtype=d), torch.diag(torch.tensor([1.0, 3.0, 2.0], dtype=d)),
         "covariances that do not commute ([[2, 1], [1, 2]] beside diag(1, 3))"),
    ]
    rng = _rng(958)  # and random Gaussians, other in each of the autograder's hidden cases
    a, b = (torch.randn(4, 4, generator=rng, dtype=d) for _ in range(2))
    cases.append((torch.randn(4, generator=rng, dtype=d), a @ a.T + 0.1 * torch.eye(4, dtype=d),
                  torch.randn(4, generator=rng, dtype=d), b @ b.T + 0.1 * torch.eye(4, dtype=d),
                  "two random Gaussians in 4 dimensions"))
    problems = []
    for mu1, s1, mu2, s2, what in cases:
        expected = _frechet_reference(mu1, s1, mu2, s2)
        got, err = _call(fn, mu1.clone(), s1.clone(), mu2.clone(), s2.clone())
        if err:
            problems.append(f"for {what}, {err}")
            break
        if torch.is_tensor(got) and got.is_complex() or isinstance(got, complex):
            problems.append(f"for {what} it returns a complex number: the matrix square root of a product of "
                            "covariances can carry a tiny imaginary part from rounding; keep the real part.")
            break
        try:
            value = float(got)
        except (TypeError, ValueError, RuntimeError):
            problems.append(f"it should return a number (a float or a 0-d tensor), got {type(got).__name__}.")
            break
        if math.isclose(value, expected, rel_tol=1e-4, abs_tol=1e-6):  # float32 is right too
            continue
        means = (mu1 - mu2).pow(2).sum().item()
        root = expected - means - s1.trace().item() - s2.trace().item()  # = -2 Tr((S1 S2)^1/2)
        elementwise = means + (s1 + s2 - 2 * (s1 * s2).sqrt()).trace().item()
        factored = means + (s1 + s2).trace().item() - 2 * sum(
            (torch.linalg.eigvalsh(s1).sqrt() * torch.linalg.eigvalsh(s2).sqrt()).tolist())
        hint = ("the factor 2 in front of the square-root term is missing." if math.isclose(value, expected - root / 2)
                else "the mean term should be the squared distance, not the distance."
                if math.isclose(value, expected - means + means ** 0.5)
                else "it takes the square root entry by entry: (Σ₁Σ₂)^½ is the matrix square root of the matrix "
                     "product (e.g. scipy.linalg.sqrtm, or the square roots of its eigenvalues)."
                if math.isclose(value, elementwise)
                else "it is right only when the covariances commute: use the square root of the product Σ₁Σ₂, "
                     "not the product of square roots (or of their sorted eigenvalues)."
                if what.startswith("covariances that") else "")
        problems.append(f"for {what} it gives {value:.4f}, but the Fréchet distance is {expected:.4f}. {hint}")
        break
    return _report("Fréchet distance", problems)


def _dirac_slips(theta, psi, gamma):
    """The usual slips in the Dirac-GAN's field with R1, each as (theta', psi') beside its hint."""
    s, m = torch.sigmoid(psi * theta), torch.sigmoid(-psi * theta)  # f'(-psi theta) = sigma(psi theta)
    log_m = torch.nn.functional.logsigmoid(-psi * theta)  # f(-psi theta) itself
    return [
        ((-psi * m, theta * m - gamma * psi),
         "it is Mescheder et al.'s convention, L = f(psi theta) + f(0), in which sigma is the probability of "
         "*fake*. Here D = sigma(l) is P(real) with l(x) = psi x, so the fake's term is log(1 - sigma(psi theta)) "
         "= f(-psi theta): L = f(-psi theta) + f(0). (The eigenvalues at (0, 0) agree; the field is mirrored in psi.)"),
        ((-psi * s, -theta * s - gamma * psi),
         "the generator's component has the wrong sign: the generator descends L, theta' = -dL/dtheta."),
        ((psi * s, theta * s - gamma * psi),
         "the discriminator's game term has the wrong sign: the discriminator ascends L, psi' = +dL/dpsi - ..."),
        ((psi * s, -theta * s + gamma * psi),
         "the penalty's sign is flipped: the discriminator ascends L - (gamma/2) psi^2, so R1 pulls psi towards 0, "
         "-gamma psi."),
        ((psi * s, -theta * s - 2 * gamma * psi),
         "R1 is weighted gamma instead of gamma/2: the discriminator ascends L - (gamma/2) psi^2, whose derivative "
         "in psi ends in -gamma psi (it has -2 gamma psi)."),
        ((psi * s, -theta * s - gamma / 2 * psi),
         "the derivative of (gamma/2) psi^2 is gamma psi, not (gamma/2) psi: the 2 of psi^2 went missing."),
        ((psi * m, -theta * m - gamma * psi),
         "the derivative of f is wrong: for f(t) = log sigma(t), f'(t) = sigma(-t) = 1 - sigma(t), so "
         "f'(-psi theta) = sigma(psi theta); it uses sigma(-psi theta). (Both are 1/2 at the equilibrium: only "
         "points away from it show it.)"),
        ((psi * log_m, -theta * log_m - gamma * psi),
         "it uses f where its derivative belongs: by the chain rule d/dtheta f(-psi theta) = -psi f'(-psi theta)."),
        ((psi * s, -theta * s),
         "the R1 term is missing: with the penalty the discriminator's component ends in -gamma psi."),
        ((-theta * s - gamma * psi, psi * s),
         "the components are swapped: return (theta', psi'), the generator's first."),
    ]


def _field_jacobian(fn, point, gamma):
    """The Jacobian of ``fn(theta, psi, gamma)`` at ``point``, autograd's, where the answer runs (the
    student's notebook, or the grader's process for answers, which sends back the matrix)."""
    if getattr(fn, "remote", False):  # computed where the answer runs, by autograd as in the notebook
        return fn.call((), probe=lambda f: _field_jacobian(f, point, gamma))
    with _seeded():
        return _limited(torch.autograd.functional.jacobian, (lambda q: fn(q[0], q[1], gamma).reshape(2), point))


@_never_raises("Dirac-GAN field")
def check_dirac_field(fn):
    r"""Check ``fn(theta, psi, gamma)`` (0-d float64 tensors theta and psi, a float gamma) against the
    Dirac-GAN's field with R1, :math:`v = (-\partial_\theta L,\ \partial_\psi(L - \tfrac{\gamma}{2}\psi^2))`,
    :math:`L = f(-\psi\theta) + f(0)`, :math:`f = \log\sigma` (:mod:`regan_tutorial.dynamics`' convention:
    :math:`D = \sigma(l)` = P(real), :math:`l(x) = \psi x`): its values away from the equilibrium, then
    its Jacobian by ``torch.autograd.functional.jacobian``, which needs a result built with torch operations."""
    own = _package_function(fn, dynamics.vector_field)
    if own:
        return _report("Dirac-GAN field", [own])
    d = torch.float64

    def reference(theta, psi, gamma):
        return dynamics.vector_field(theta, psi, penalty=dynamics.r1_penalty, gamma=gamma)

    cases = [(0.7, 1.3, 0.5), (-1.2, 0.4, 1.0), (0.5, -2.0, 2.0)]  # away from (0, 0), where slips differ
    drawn = (3 * torch.rand(3, generator=_rng(1070)) - 1.5).tolist()  # other in each hidden case
    cases.append((round(drawn[0], 3), round(drawn[1], 3), round(1 + abs(drawn[2]), 3)))
    problems = []
    for theta, psi, gamma in cases:
        what = f"theta = {theta}, psi = {psi}, gamma = {gamma}"
        got, err = _call(fn, torch.tensor(theta, dtype=d), torch.tensor(psi, dtype=d), gamma)
        if err:
            problems.append(f"for {what}, {err}")
            break
        if not torch.is_tensor(got) or got.numel() != 2:
            problems.append(f"for {what} it returns {got!r}: return one tensor of two entries, (theta', psi'), "
                            "e.g. torch.stack([theta_dot, psi_dot]).")
            break
        value = got.detach().to(d).flatten()
        expected = reference(theta, psi, gamma).detach()
        if torch.allclose(value, expected, rtol=1e-5, atol=1e-8):
            continue
        t, p = torch.tensor(theta, dtype=d), torch.tensor(psi, dtype=d)
        hint = next((h for v, h in _dirac_slips(t, p, gamma)
                     if torch.allclose(value, torch.stack(list(v)), rtol=1e-5, atol=1e-8)), "")
        problems.append(f"for {what} it gives ({value[0]:.4f}, {value[1]:.4f}), but the field is "
                        f"({expected[0]:.4f}, {expected[1]:.4f}). {hint}")
        break
    for theta, psi, gamma in [] if problems else [(0.0, 0.0, 1.0), (0.0, 0.0, 0.3), (0.7, 1.3, 0.5), cases[-1]]:
        point = torch.tensor([theta, psi], dtype=d)
        try:
            found = _field_jacobian(fn, point, gamma)
        except _TooSlow:
            problems.append(f"its Jacobian did not come within {TIME_LIMIT:g} s: does it loop forever?")
            break
        except Exception as err:  # e.g. a graph the student's own autograd.grad call freed
            problems.append(f"its values are right, but torch.autograd.functional.jacobian fails on it "
                            f"({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}): build the "
                            "field from theta and psi with torch operations.")
            break
        expected = dynamics.jacobian(theta, psi, penalty=dynamics.r1_penalty, gamma=gamma)
        if not torch.allclose(found.to(d), expected, rtol=1e-5, atol=1e-8):
            problems.append(
                f"its values are right, but its Jacobian at ({theta}, {psi}) with gamma = {gamma} is "
                f"{found.tolist()}, not {expected.tolist()}: build the field from theta and psi with torch "
                "operations (not float(), .item() or torch.tensor(...)), and pass create_graph=True if it calls "
                "torch.autograd.grad, so that the Jacobian can be taken through it.")
            break
    return _report("Dirac-GAN field", problems)


@_never_raises("relativistic loss")
def check_relativistic_loss(fn):
    """Check ``fn(d_real, d_fake)`` against the relativistic pairing loss of the discriminator,
    E[softplus(l(x_fake) - l(x_real))] over paired rows: its value on hand-made logits and its
    gradient with respect to D's outputs, naming the usual slips (the generator's sign, the classic
    loss, all pairs instead of rows, means taken before the softplus, a sum)."""
    import torch.nn.functional as F

    own = _package_function(fn, losses.discriminator_loss_relativistic, losses.generator_loss_relativistic)
    if own:
        return _report("relativistic loss", [own])
    sp = lambda t: max(t, 0.0) + math.log1p(math.exp(-abs(t)))
    rng = _rng(1114)  # a random batch of 7, other in each of the autograder's hidden cases
    real, fake = 3 * torch.randn(7, generator=rng), 3 * torch.randn(7, generator=rng)
    cases = [  # hand-computed: pairs (2, -1) and (0, 2) -> softplus(-3) and softplus(2)
        (torch.tensor([2.0, 0.0]), torch.tensor([-1.0, 2.0]), (sp(-3) + sp(2)) / 2, "real logits 2 and 0, fake -1 and 2"),
        (torch.tensor([0.5, -1.0, 3.0]), torch.tensor([1.0, 2.0, -2.0]), (sp(0.5) + sp(3) + sp(-5)) / 3,
         "real logits 0.5, -1, 3 and fake 1, 2, -2"),
        # a discriminator's (N, 1) logits, as the course's networks return them
        (torch.tensor([[1.0], [0.0], [2.0]]), torch.tensor([[0.5], [-1.0], [1.0]]), (sp(-0.5) + sp(-1) + sp(-1)) / 3,
         "(N, 1)-shaped logits, real 1, 0, 2 and fake 0.5, -1, 1"),
        (real, fake, sum(sp(f - r) for r, f in zip(real.tolist(), fake.tolist())) / 7,
         "a random batch of 7 real and 7 fake logits"),
        # a confident discriminator, last: softplus(200) = 200 and softplus(-100) ~ 0
        (torch.tensor([-100.0, 50.0]), torch.tensor([100.0, -50.0]), (200.0 + sp(-100)) / 2,
         "real logits -100 and 50, fake 100 and -50"),
    ]
    problems, results = [], []
    for d_real, d_fake, expected, what in cases:
        leaves, args = _leaves(d_real, d_fake)
        got, err = _call(fn, *args, wrt=leaves)
        problem = _not_a_scalar(got, err, what)
        if problem:
            problems.append(problem)
            break
        value = got.item()
        if _edited_in_place(args, leaves):
            problems.append(_in_place(what))
            break
        if math.isclose(value, expected, rel_tol=1e-5):
            results.append((got, leaves, what))
            continue
        if not math.isfinite(value) or len(results) == len(cases) - 1:  # or only the confident case is wrong
            problems.append(f"with {what} it gives {value:.4f}, but the pairing loss is {expected:.4f}"
                            + (", though it is right on the other cases" if math.isfinite(value) else "")
                            + ": it overflows or underflows (or an eps or a clamp caps it) for confident logits; use "
                            "F.softplus(d_fake - d_real) (or -F.logsigmoid(d_real - d_fake)), not log(sigmoid(.)) "
                            "or log1p(exp(.)).")
            break
        if d_real.dim() > 1 and math.isclose(value, F.softplus(d_fake.flatten()[None, :] - d_real.flatten()[:, None])
                                             .mean().item(), rel_tol=1e-4):
            problems.append(f"with {what} it gives {value:.4f}, but the pairing loss is {expected:.4f}: on (N, 1) "
                            "logits it pairs every real with every fake (an N x N mean, from a squeeze or flatten on "
                            "one side only?); flatten both the same way, or subtract them as they are.")
            break
        d_real, d_fake = d_real.flatten(), d_fake.flatten()
        slips = {
            "real and fake are swapped: that is the generator's loss; D pays softplus(l(fake) - l(real)).":
                F.softplus(d_real - d_fake).mean(),
            "it is the classic loss, real and fake judged apart: the pairing loss takes the softplus of "
            "each pair's difference, softplus(d_fake - d_real).": F.softplus(-d_real).mean() + F.softplus(d_fake).mean(),
            "it pairs every real sample with every fake (an N x N mean): pair row i with row i.":
                F.softplus(d_fake[None, :] - d_real[:, None]).mean(),
            "it takes the means before the softplus: average softplus(d_fake - d_real) over the pairs.":
                F.softplus(d_fake.mean() - d_real.mean()),
            "it sums over the pairs: take their mean.": F.softplus(d_fake - d_real).sum(),
            "it pairs real row i with another fake row (a flip, a roll or a sort?): pair row i with row i.":
                torch.stack([F.softplus(d_fake.flip(0) - d_real).mean(),
                             F.softplus(d_fake.sort().values - d_real.sort().values).mean(),
                             *(F.softplus(d_fake.roll(k) - d_real).mean() for k in range(1, len(d_fake)))]),
            "the sign inside is flipped and the result negated (log sigmoid of the wrong difference).":
                -F.logsigmoid(d_fake - d_real).mean(),
        }
        hint = next((h for h, v in slips.items() if torch.isclose(v, torch.tensor(value), rtol=1e-4).any()), "")
        problems.append(f"with {what} it gives {value:.4f}, but the pairing loss is {expected:.4f}. "
                        + (f"It looks as if {hint}" if hint else ""))
        break
    for got, leaves, what in results if not problems else []:  # right values: do they train D?
        problem = _gradient_problem(got, losses.discriminator_loss_relativistic(*leaves), leaves, wrong=(
            f"with {what} its value is right but its gradient with respect to D's outputs is not: "
            "compute it from d_real and d_fake with torch operations (F.softplus)."))
        if problem:
            problems.append(problem)
            break
    return _report("relativistic loss", problems)
