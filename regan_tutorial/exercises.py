"""Checkers for the code exercises: ``check_jsd(my_jsd)`` says, in plain words, what is wrong.

Each checker runs the student's function on cases with known answers, prints
either a confirmation or the first problem it found with a hint, and returns
``True`` or ``False``. Nothing is raised, so a notebook keeps running.
"""

import functools
import math

import numpy as np
import torch

from . import metrics, theory


def _never_raises(name):
    """Whatever a student's function returns, the checker reports instead of raising."""
    def wrap(checker):
        @functools.wraps(checker)
        def checked(fn):
            try:
                return checker(fn)
            except Exception as err:  # a result the checker could not use, e.g. an array or a string
                return _report(name, [f"its result could not be used ({type(err).__name__}: {err}); "
                                      "return what the exercise asks for (see the docstring)."])
        return checked
    return wrap


def _report(name, problems):
    if problems:
        print(f"{name}: not yet. {problems[0]}")
        return False
    print(f"{name}: all checks passed.")
    return True


def _call(fn, *args):
    if not callable(fn):
        return None, f"the checker needs a function, got a {type(fn).__name__}"
    try:
        got = fn(*args)
    except NotImplementedError:
        return None, "it is not implemented yet (it raises NotImplementedError)."
    except Exception as err:  # a student's bug is reported, not raised
        return None, f"it raised {type(err).__name__}: {err}"
    if got is None:
        return None, "it returns None: did you forget the return statement?"
    return got, None


def _not_a_scalar(got, err, what):
    """What is wrong with a result that should be a scalar tensor (an exception, another shape), or None."""
    if err:
        return f"for {what}, {err}"
    if not torch.is_tensor(got) or got.dim() != 0:
        return "it should return a scalar tensor (the mean over the batch), so that .backward() works."
    return None


def _grid():
    x = np.linspace(-8, 8, 4001)
    return x, x[1] - x[0]


@_never_raises('optimal discriminator')
def check_optimal_discriminator(fn):
    """Check ``fn(p_data, p_g)`` against D*(x) = p_data / (p_data + p_g)."""
    x, _ = _grid()
    p, q = theory.gaussian_mixture(x, [-1, 2], [0.5, 1.0]), theory.gaussian_mixture(x, [0.5], [1.5])
    d, err = _call(fn, p, q)
    if err:
        return _report("optimal discriminator", [err])
    d = np.asarray(d, float)
    expected = theory.optimal_discriminator(p, q)
    problems = []
    if d.shape != expected.shape:
        problems.append(f"it should return one value per grid point, shape {expected.shape}, not {d.shape}.")
    elif np.any(np.isnan(d)):
        problems.append("it returns nan somewhere: where both densities are tiny, 0/0 appears; guard the division.")
    elif np.any((d < 0) | (d > 1)):
        problems.append("D*(x) is a probability, but some values lie outside [0, 1].")
    elif np.allclose(d, 1 - expected, atol=1e-6):
        problems.append("it returns p_g / (p_data + p_g): D is the probability that x is *real*, so p_data goes on top.")
    elif not np.allclose(d, expected, atol=1e-6):
        i = int(np.argmax(np.abs(d - expected)))
        problems.append(f"at x = {x[i]:.2f} it gives {d[i]:.4f}, but D*(x) = {expected[i]:.4f}.")
    return _report("optimal discriminator", problems)


@_never_raises('jsd')
def check_jsd(fn):
    """Check ``fn(p, q, dx)`` against the Jensen-Shannon divergence (natural log)."""
    x, dx = _grid()
    p, q = theory.gaussian_mixture(x, [-1, 2], [0.5, 1.0]), theory.gaussian_mixture(x, [0.5], [1.5])
    far_p, far_q = theory.gaussian_mixture(x, [-5], [0.3]), theory.gaussian_mixture(x, [5], [0.3])
    problems = []
    same, err = _call(fn, p, p, dx)
    pq, err2 = _call(fn, p, q, dx)
    qp, _ = _call(fn, q, p, dx)
    far, err3 = _call(fn, far_p, far_q, dx)
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
        got, err = _call(fn, samples, centres, 0.05)
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
    rng = torch.Generator().manual_seed(0)
    samples = 2 * torch.randn(500, 2, generator=rng)
    if not problems:
        got, err = _call(fn, samples, centres, 0.05)
        if err or float(got) != metrics.mode_coverage(samples, centres, 0.05).modes:
            problems.append(err or "on 500 random samples it disagrees with the definition "
                                   "(nearest centre, within 3 std).")
    return _report("modes captured", problems)


@_never_raises('discriminator loss')
def check_discriminator_loss(fn):
    """Check ``fn(d_real, d_fake)`` (logits) against -E[log D(x)] - E[log(1 - D(G(z)))]."""
    from .losses import discriminator_loss

    cases = [
        (torch.zeros(4), torch.zeros(4), "logits 0 everywhere (D = 1/2): the loss is 2 log 2 = 1.386"),
        (torch.tensor([2.0, -1.0, 0.5]), torch.tensor([-3.0, 1.0]), "real and fake batches of different sizes"),
        (torch.tensor([-200.0]), torch.tensor([200.0]), "extreme logits (a real sample at -200, a fake at +200)"),
    ]
    problems = []
    for d_real, d_fake, what in cases:
        got, err = _call(fn, d_real, d_fake)
        expected = discriminator_loss(d_real, d_fake).item()
        if err:
            problems.append(f"with {what}, {err}")
        elif not torch.is_tensor(got) or got.dim() != 0:
            problems.append("it should return a scalar tensor (the mean over each batch), so that .backward() works.")
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
    return _report("discriminator loss", problems)


@_never_raises('discriminator')
def check_discriminator(net):
    """Check a discriminator for 28x28 digits: one finite logit per image, for any batch size."""
    problems = []
    rng = torch.Generator().manual_seed(0)
    if net is None:
        return _report("discriminator", ["it is not implemented yet: build your network and pass it in."])
    if not isinstance(net, torch.nn.Module):
        return _report("discriminator", [f"it should be a network (a torch.nn.Module, e.g. nn.Sequential(...)), "
                                         f"got a {type(net).__name__}: an optimiser needs its .parameters()."])
    modules = list(net.modules())
    if any(isinstance(m, torch.nn.Sigmoid) for m in modules[-3:]):
        problems.append("it ends in a sigmoid: the course's losses take logits, so return the last linear "
                        "layer's output and let the loss apply the sigmoid stably.")
    for n in (1, 7, 64):
        if problems:
            break
        x = 2 * torch.rand(n, 1, 28, 28, generator=rng) - 1
        out, err = _call(net, x)
        if err:
            problems.append(f"on a batch of {n} images (shape {tuple(x.shape)}) {err}")
        elif not torch.is_tensor(out) or tuple(out.shape) not in ((n,), (n, 1)):
            shape = tuple(out.shape) if torch.is_tensor(out) else type(out).__name__
            problems.append(f"for a batch of {n} images it returns shape {shape}; it should return {(n,)} "
                            f"(or {(n, 1)}), one logit per image.")
        elif not torch.isfinite(out).all():
            problems.append("it returns nan or inf for ordinary images.")
    if not problems:
        x = 2 * torch.rand(8, 1, 28, 28, generator=rng) - 1
        x.requires_grad_(True)
        out = net(x)
        if not out.requires_grad:
            problems.append("its output has no gradient (computed under torch.no_grad() or detached?): "
                            "neither D nor the generator could learn through it.")
        else:
            grad, = torch.autograd.grad(out.sum(), x, allow_unused=True)
            if grad is None or grad.abs().sum() == 0:
                problems.append("its output does not depend on its input: the generator would get no gradient.")
    return _report("discriminator", problems)


@_never_raises('gradient penalty')
def check_gradient_penalty(fn):
    """Check ``fn(critic, x_real, x_fake)`` against WGAN-GP's penalty with lambda = 10."""
    problems = []
    w = torch.tensor([[3.0, 0.0, 4.0]]) / 5
    linear = lambda x: (x @ w.T).squeeze(1)  # gradient norm 1 everywhere: penalty 0
    steep = lambda x: 3 * (x @ w.T).squeeze(1)  # gradient norm 3 everywhere: penalty 10 * 4 = 40
    bowl = lambda x: 0.5 * x.pow(2).sum(1)  # gradient x: its norm depends on where it is taken
    x_real, x_fake = torch.randn(256, 3), torch.randn(256, 3)
    zeros = torch.zeros(20_000, 3)
    unit = torch.nn.functional.normalize(torch.randn(20_000, 3), dim=1)
    checks = [
        (linear, x_real, x_fake, 0.0, 0.01, "a critic with gradient norm 1 everywhere"),
        (steep, x_real, x_fake, 40.0, 0.01, "a linear critic with gradient norm 3 (lambda (3 - 1)^2 = 40)"),
        (bowl, zeros, unit, 10 / 3, 0.02, "the critic ||x||^2 / 2 with real samples at 0 and fakes on the unit "
                                          "sphere (at x_hat = alpha * x_fake the norm is alpha: 10 E[(alpha - 1)^2] = 10/3)"),
    ]
    for critic, xr, xf, expected, tol, what in checks:
        got, err = _call(fn, critic, xr, xf)
        problem = _not_a_scalar(got, err, what)
        if problem:
            problems.append(problem)
            break
        value = got.item()
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
            problems.append(f"for {what} it gives {value:.4f}, expected {expected:.4f}.{hint}")
            break
    if not problems:  # right values; does the penalty train the critic?
        layer = torch.nn.Linear(3, 1)
        got, _ = _call(fn, lambda x: layer(x).squeeze(1), x_real, x_fake)
        if not got.requires_grad:
            problems.append("its result has no gradient to back-propagate to the critic's weights: "
                            "compute the input gradient with torch.autograd.grad(..., create_graph=True).")
    return _report("gradient penalty", problems)


@_never_raises('categorical information loss')
def check_categorical_info_loss(fn):
    """Check ``fn(category_logits, category)``: InfoGAN's -E[log Q(c | x)] for the categorical code."""
    import torch.nn.functional as F

    rng = torch.Generator().manual_seed(0)
    logits, category = 3 * torch.randn(64, 10, generator=rng), torch.randint(10, (64,), generator=rng)
    expected = F.cross_entropy(logits, category).item()
    got, err = _call(fn, logits, category)
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
        perfect = 50 * F.one_hot(category, 10).float()
        if abs(fn(perfect, category).item()) > 1e-6:
            problems.append("for a Q that is certain and right, the loss should be 0.")
    return _report("categorical information loss", problems)


@_never_raises('JS regularizer')
def check_js_regularizer(fn):
    """Check ``fn(d_real, x_real, d_fake, x_fake)`` against Roth et al.'s regularizer
    E_P[(1 - D)^2 |grad l|^2] + E_Q[D^2 |grad l|^2] (l the logit, D = sigmoid(l))."""
    from .losses import js_regularizer

    rng = torch.Generator().manual_seed(0)
    w = torch.tensor([[1.0, -2.0, 2.0]])  # a linear logit l(x) = w.x + b: |grad l|^2 = 9 everywhere
    linear = lambda x: (x @ w.T).squeeze(1) + 0.5
    bowl = lambda x: 0.5 * x.pow(2).sum(1) - 1.0  # |grad l|^2 = |x|^2: depends on the sample
    problems = []
    for d, n_real, n_fake, what in ((linear, 6, 6, "a linear discriminator (|grad l|^2 = 9 everywhere)"),
                                    (bowl, 6, 6, "the discriminator l(x) = |x|^2 / 2 - 1"),
                                    (bowl, 7, 3, "7 real and 3 fake samples")):
        x_real = torch.randn(n_real, 3, generator=rng).requires_grad_(True)
        x_fake = (2 * torch.randn(n_fake, 3, generator=rng)).requires_grad_(True)
        d_real, d_fake = d(x_real), d(x_fake)
        expected = js_regularizer(d_real, x_real, d_fake, x_fake).item()
        got, err = _call(fn, d_real, x_real, d_fake, x_fake)
        problem = _not_a_scalar(got, err, what)
        if problem:
            problems.append(problem)
            break
        if not got.requires_grad:
            problems.append("its result has no gradient to back-propagate to D's weights: "
                            "call torch.autograd.grad(..., create_graph=True).")
            break
        if math.isclose(got.item(), expected, rel_tol=1e-5):
            continue
        s_real, s_fake = torch.sigmoid(d_real.detach()), torch.sigmoid(d_fake.detach())
        g_real = (x_real.detach() if d is bowl else w).pow(2).sum(-1) * torch.ones(n_real)
        g_fake = (x_fake.detach() if d is bowl else w).pow(2).sum(-1) * torch.ones(n_fake)
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
        }
        hint = next((h for h, v in wrong.items() if math.isclose(got.item(), v.item(), rel_tol=1e-4)), None)
        problems.append(f"for {what} it gives {got.item():.5f}, expected {expected:.5f}. "
                        + (f"It looks as if {hint}" if hint else ""))
        break
    return _report("JS regularizer", problems)


@_never_raises("Keras-style loss")
def check_keras_style_loss(fn):
    """Check ``fn(wrapped, x_real, x_fake, gamma)``, the four-output Keras formulation, against
    L_D + gamma / 2 * Omega for a linear discriminator, whose |grad l|^2 = |w|^2 is known."""
    import torch.nn.functional as F

    from .nets import JSRegularized

    linear = torch.nn.Linear(3, 1)
    with torch.no_grad():
        linear.weight.copy_(torch.tensor([[1.0, -2.0, 2.0]]))  # |w|^2 = 9
        linear.bias.fill_(0.5)
    wrapped = JSRegularized(torch.nn.Sequential(linear, torch.nn.Flatten(0)))  # one logit per sample, (N,)
    rng = torch.Generator().manual_seed(0)
    x_real, x_fake = torch.randn(6, 3, generator=rng), 2 * torch.randn(5, 3, generator=rng)
    with torch.no_grad():
        l_real, l_fake = linear(x_real).squeeze(1), linear(x_fake).squeeze(1)
    bce = F.softplus(-l_real).mean() + F.softplus(l_fake).mean()
    omega = 9 * ((1 - torch.sigmoid(l_real)) ** 2).mean() + 9 * (torch.sigmoid(l_fake) ** 2).mean()
    omega_squared = 81 * ((1 - torch.sigmoid(l_real)) ** 4).mean() + 81 * (torch.sigmoid(l_fake) ** 4).mean()
    problems = []
    for gamma in (2.0, 0.5):
        got, err = _call(fn, wrapped, x_real, x_fake, gamma)
        problem = _not_a_scalar(got, err, f"gamma = {gamma}")
        if problem:
            problems.append(problem)
            break
        value, expected = got.item(), (bce + gamma / 2 * omega).item()
        if math.isclose(value, expected, rel_tol=1e-5):
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
    """Check ``fn(d_real, d_fake)`` against the hinge loss E[max(0, 1 - D(x))] + E[max(0, 1 + D(G(z)))]."""
    cases = [  # hand-computed: real 2 and 0.5 -> 0 and 0.5; fake -3 and 0 -> 0 and 1
        (torch.tensor([2.0, 0.5]), torch.tensor([-3.0, 0.0]), 0.25 + 0.5, "real outputs 2 and 0.5, fake -3 and 0"),
        (torch.tensor([0.0, 0.0, 0.0]), torch.tensor([4.0]), 1.0 + 5.0, "real outputs 0, one fake at 4"),
    ]
    problems = []
    for d_real, d_fake, expected, what in cases:
        got, err = _call(fn, d_real, d_fake)
        problem = _not_a_scalar(got, err, what)
        if problem:
            problems.append(problem)
            break
        value = got.item()
        if math.isclose(value, expected, rel_tol=1e-5):
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
    return _report("hinge loss", problems)
