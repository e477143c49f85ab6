import functools
import threading
import time
import types

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from regan_tutorial import exercises, losses, metrics, theory


def student_jsd(p, q, dx):
    """A student's JSD, written without the package: SciPy's Jensen-Shannon distance, squared."""
    from scipy.spatial.distance import jensenshannon

    return jensenshannon(p * dx, q * dx) ** 2  # natural log; it normalises both to sum 1


def student_modes(samples, centres, std):
    """A student's mode count, one sample at a time."""
    captured = set()
    for s in samples.tolist():
        dist = [((s[0] - c[0]) ** 2 + (s[1] - c[1]) ** 2) ** 0.5 for c in centres.tolist()]
        if min(dist) <= 3 * std:
            captured.add(dist.index(min(dist)))
    return len(captured)


def test_checkers_accept_answers_written_independently_of_the_package(capsys):
    assert exercises.check_jsd(student_jsd)
    assert exercises.check_optimal_discriminator(lambda p, q: np.where(p + q > 0, p / np.maximum(p + q, 1e-300), 0.5))
    assert exercises.check_modes_captured(student_modes)
    assert capsys.readouterr().out.count("all checks passed") == 3


def test_discriminator_loss_checker_accepts_an_independent_answer_and_names_slips(capsys):

    def student(d_real, d_fake):  # -log sigmoid(l) = softplus(-l), written out
        return F.softplus(-d_real).mean() + F.softplus(d_fake).mean()

    assert exercises.check_discriminator_loss(student)
    assert not exercises.check_discriminator_loss(lambda r, f: student(r, f) / 2)
    assert not exercises.check_discriminator_loss(
        lambda r, f: -torch.log(torch.sigmoid(r)).mean() - torch.log(1 - torch.sigmoid(f)).mean())
    out = capsys.readouterr().out
    assert "half the loss" in out and "underflows" in out


def check_says(checker, fn, words, capsys):
    assert not checker(fn)
    out = capsys.readouterr().out
    assert "not yet" in out and words in out, out


def test_jsd_checker_explains_common_mistakes(capsys):
    def kl_direct(p, q, dx):
        return theory.kl(p, q, dx)

    check_says(exercises.check_jsd, kl_direct, "mixture", capsys)
    # slips built on an answer of the student's own (one built on theory.jsd is refused as such)
    check_says(exercises.check_jsd, lambda p, q, dx: 2 * student_jsd(p, q, dx), "factor 1/2", capsys)
    check_says(exercises.check_jsd, lambda p, q, dx: student_jsd(p, q, dx) / np.log(2), "natural log", capsys)
    check_says(exercises.check_jsd, lambda p, q, dx: student_jsd(p, q, dx) / dx, "dx", capsys)
    check_says(exercises.check_jsd, lambda p, q, dx: 2 * theory.jsd(p, q, dx), "package's own theory.jsd", capsys)
    check_says(exercises.check_jsd, lambda p, q, dx: 1 / 0, "ZeroDivisionError", capsys)


def test_optimal_discriminator_checker_explains_common_mistakes(capsys):
    check_says(exercises.check_optimal_discriminator, lambda p, q: q / (p + q), "p_data goes on top", capsys)
    check_says(exercises.check_optimal_discriminator, lambda p, q: p / (p + q + 1), "at x =", capsys)
    check_says(exercises.check_optimal_discriminator, lambda p, q: 10 * p, "outside [0, 1]", capsys)


def test_modes_checker_explains_the_threshold(capsys):
    def no_threshold(samples, centres, std):
        return len(set(torch_nearest(samples, centres)))

    check_says(exercises.check_modes_captured, no_threshold, "within 3 std", capsys)


def torch_nearest(samples, centres):

    return torch.cdist(samples, centres).argmin(dim=1).tolist()


def test_gradient_penalty_checker(capsys):
    from regan_tutorial import losses

    def student_penalty(critic, x_real, x_fake, create_graph=True, per_sample=True, lam=10.0):
        """WGAN-GP's penalty written without the package."""
        alpha = torch.rand(len(x_real), *[1] * (x_real.dim() - 1))
        x = (alpha * x_real + (1 - alpha) * x_fake).requires_grad_(True)
        (grad,) = torch.autograd.grad(critic(x).sum(), x, create_graph=create_graph)
        return lam * ((grad.flatten(1).norm(dim=1) if per_sample else grad.norm()) - 1).pow(2).mean()

    assert exercises.check_gradient_penalty(student_penalty)
    assert not exercises.check_gradient_penalty(losses.gradient_penalty)  # the package's own: not the student's work
    assert not exercises.check_gradient_penalty(lambda c, r, f: student_penalty(c, r, r + 0 * f))
    assert not exercises.check_gradient_penalty(lambda c, r, f: student_penalty(c, r, f, lam=1.0))
    assert not exercises.check_gradient_penalty(lambda c, r, f: student_penalty(c, r, f, create_graph=False))
    assert not exercises.check_gradient_penalty(lambda c, r, f: student_penalty(c, r, f, per_sample=False))
    out = capsys.readouterr().out
    assert "real samples only" in out and "lambda = 10" in out and "package's own losses.gradient_penalty" in out
    assert "create_graph=True" in out and "one norm over the whole batch" in out


def test_categorical_info_loss_checker(capsys):


    assert exercises.check_categorical_info_loss(  # written out: log-sum-exp minus the chosen logit
        lambda l, c: (torch.logsumexp(l, 1) - l[torch.arange(len(c)), c]).mean())
    assert not exercises.check_categorical_info_loss(lambda l, c: -F.cross_entropy(l, c))
    assert not exercises.check_categorical_info_loss(F.nll_loss)
    out = capsys.readouterr().out
    assert "sign is flipped" in out and "log_softmax" in out


def test_js_regularizer_checker_accepts_an_independent_answer_and_names_common_slips(capsys):

    def g2(outputs, inputs, create_graph=True):  # |grad_x l|^2 per sample, as a student writes it
        grad, = torch.autograd.grad(outputs.sum(), inputs, create_graph=create_graph, retain_graph=True)
        return grad.flatten(1).pow(2).sum(1)

    def student(d_real, x_real, d_fake, x_fake):  # one autograd call per batch, weights written out
        g_real, = torch.autograd.grad(d_real.sum(), x_real, create_graph=True)
        g_fake, = torch.autograd.grad(d_fake.sum(), x_fake, create_graph=True)
        p_real, p_fake = 1 / (1 + torch.exp(-d_real)), 1 / (1 + torch.exp(-d_fake))
        return ((1 - p_real) ** 2 * (g_real ** 2).flatten(1).sum(1)).mean() + \
            (p_fake ** 2 * (g_fake ** 2).flatten(1).sum(1)).mean()

    assert exercises.check_js_regularizer(student)

    def swapped(d_real, x_real, d_fake, x_fake):
        return (torch.sigmoid(d_real) ** 2 * g2(d_real, x_real)).mean() + \
            ((1 - torch.sigmoid(d_fake)) ** 2 * g2(d_fake, x_fake)).mean()

    def pooled(d_real, x_real, d_fake, x_fake):
        return torch.cat([(1 - torch.sigmoid(d_real)) ** 2 * g2(d_real, x_real),
                          torch.sigmoid(d_fake) ** 2 * g2(d_fake, x_fake)]).mean()

    def no_graph(d_real, x_real, d_fake, x_fake):
        return ((1 - torch.sigmoid(d_real)) ** 2 * g2(d_real, x_real, False)).mean() + \
            (torch.sigmoid(d_fake) ** 2 * g2(d_fake, x_fake, False)).mean()

    def helper(d_real, x_real, d_fake, x_fake):  # the package's double back-propagation, called
        from regan_tutorial.losses import input_gradient_norm2
        return ((1 - torch.sigmoid(d_real)) ** 2 * input_gradient_norm2(d_real, x_real)).mean() + \
            (torch.sigmoid(d_fake) ** 2 * input_gradient_norm2(d_fake, x_fake)).mean()

    capsys.readouterr()
    for fn, words in ((swapped, "weights are swapped"), (pooled, "mean of each batch"),
                      (no_graph, "create_graph=True"), (helper, "losses.input_gradient_norm2")):
        assert not exercises.check_js_regularizer(fn)
        assert words in capsys.readouterr().out, fn.__name__


def test_keras_style_loss_checker_accepts_an_independent_answer_and_names_slips(capsys):

    def student(wrapped, x_real, x_fake, gamma):  # the four outputs, written out
        l_real, p_real = wrapped(x_real, 1)
        l_fake, p_fake = wrapped(x_fake, 0)
        bce = F.binary_cross_entropy(torch.sigmoid(l_real), torch.ones_like(p_real)) + \
            F.binary_cross_entropy(torch.sigmoid(l_fake), torch.zeros_like(p_fake))
        return bce + gamma / 2 * (p_real.abs().mean() + p_fake.abs().mean())

    def full_gamma(wrapped, x_real, x_fake, gamma):
        return student(wrapped, x_real, x_fake, 2 * gamma) - 0 * gamma

    def squared(wrapped, x_real, x_fake, gamma):
        l_real, p_real = wrapped(x_real, 1)
        l_fake, p_fake = wrapped(x_fake, 0)
        bce = F.softplus(-l_real).mean() + F.softplus(l_fake).mean()
        return bce + gamma / 2 * (p_real.pow(2).mean() + p_fake.pow(2).mean())

    assert exercises.check_keras_style_loss(student)
    assert not exercises.check_keras_style_loss(full_gamma)
    assert not exercises.check_keras_style_loss(squared)
    out = capsys.readouterr().out
    assert "loss weights are gamma / 2" in out and "mean absolute error" in out


def test_hinge_loss_checker_accepts_an_independent_answer_and_names_slips(capsys):

    def student(d_real, d_fake):
        return torch.clamp(1 - d_real, min=0).mean() + torch.clamp(1 + d_fake, min=0).mean()

    assert exercises.check_hinge_loss(student)
    assert not exercises.check_hinge_loss(lambda r, f: (1 - r).mean() + (1 + f).mean())
    assert not exercises.check_hinge_loss(lambda r, f: student(-r, -f))  # real pushed down, fakes up
    assert not exercises.check_hinge_loss(lambda r, f: torch.relu(1 - r).sum() + torch.relu(1 + f).sum())
    out = capsys.readouterr().out
    assert "max(0, .) is missing" in out and "swapped" in out and "sums over the batch" in out


# The second outside review: answers that are wrong where it matters, and answers that are not the student's


def test_optimal_discriminator_checker_asks_for_one_half_where_both_densities_vanish(capsys):
    """p / (p + q) is 0/0 where neither distribution puts mass; theory.optimal_discriminator says 1/2 there."""
    def guarded(p, q):  # written out: 1/2 where p + q = 0
        total = p + q
        return np.where(total > 0, p / np.where(total > 0, total, 1.0), 0.5)

    assert exercises.check_optimal_discriminator(guarded)
    check_says(exercises.check_optimal_discriminator, lambda p, q: p / (p + q), "both densities are 0", capsys)
    zero_there = lambda p, q: np.where(p + q > 0, p / np.where(p + q > 0, p + q, 1.0), 0.0)
    check_says(exercises.check_optimal_discriminator, zero_there, "convention (theory.optimal_discriminator) is D* = 1/2",
               capsys)


def test_losses_with_the_right_value_and_no_gradient_fail(capsys):
    def d_loss(d_real, d_fake):
        return F.softplus(-d_real).mean() + F.softplus(d_fake).mean()

    def hinge(d_real, d_fake):
        return torch.clamp(1 - d_real, min=0).mean() + torch.clamp(1 + d_fake, min=0).mean()

    def hinge_under_no_grad(d_real, d_fake):
        with torch.no_grad():
            return hinge(d_real, d_fake)

    def info(logits, category):
        return (torch.logsumexp(logits, 1) - logits[torch.arange(len(category)), category]).mean()

    assert exercises.check_discriminator_loss(d_loss) and exercises.check_hinge_loss(hinge)
    assert exercises.check_categorical_info_loss(info)
    capsys.readouterr()
    for checker, answer in ((exercises.check_discriminator_loss, lambda r, f: torch.tensor(d_loss(r, f).item())),
                            (exercises.check_hinge_loss, hinge_under_no_grad),
                            (exercises.check_categorical_info_loss, lambda l, c: info(l, c).detach())):
        check_says(checker, answer, "no gradient", capsys)
    # the right value, and a gradient that is not the loss's: D's outputs as seen by a straight-through trick
    check_says(exercises.check_hinge_loss, lambda r, f: hinge(r, f).detach() + 0 * (r.sum() + f.sum()),
               "its gradient with respect to D's outputs is not", capsys)


def test_gradient_penalty_checker_runs_images_and_reads_the_interpolates(capsys):
    def penalty(critic, x_real, x_fake, alpha=None, norm=lambda g: g.flatten(1).norm(dim=1), create_graph=True):
        """WGAN-GP's penalty written out; each keyword is a slip."""
        alpha = torch.rand(len(x_real), *[1] * (x_real.dim() - 1)) if alpha is None else alpha(x_real)
        x_hat = (x_real + alpha * (x_fake - x_real)).requires_grad_(True)
        (grad,) = torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=create_graph)
        value = 10 * (norm(grad) - 1).pow(2).mean()
        return value if create_graph else value + 0 * critic(x_hat.detach()).sum()  # requires grad, trains nothing

    assert exercises.check_gradient_penalty(penalty)
    capsys.readouterr()
    slips = [  # the answer, what the checker says
        (lambda c, r, f: penalty(c, r, f, norm=lambda g: g.norm(dim=1)), "over the channel only"),
        (lambda c, r, f: penalty(c, r, f, alpha=lambda x: torch.full((1,) * x.dim(), 1 - 3 ** -0.5)),
         "one alpha for the whole batch"),  # 10 (alpha - 1)^2 = 10/3: right on the bowl case by construction
        (lambda c, r, f: penalty(c, r, f, alpha=torch.rand_like), "differs between the coordinates"),
        (lambda c, r, f: torch.tensor(float("nan"), requires_grad=True), "finite"),
        (lambda c, r, f: penalty(c, r, f, create_graph=False), "gradient with respect to the critic's weights is not"),
    ]
    for answer, words in slips:
        check_says(exercises.check_gradient_penalty, answer, words, capsys)


def test_checkers_seed_their_cases_and_restore_the_callers_random_numbers(capsys):
    def penalty(critic, x_real, x_fake):  # one alpha for the batch, from torch's global random numbers
        alpha = torch.rand(1)
        x_hat = (x_real + alpha * (x_fake - x_real)).requires_grad_(True)
        (grad,) = torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=True)
        return 10 * (grad.flatten(1).norm(dim=1) - 1).pow(2).mean()

    outputs = []
    for seed in (1, 2):
        torch.manual_seed(seed)
        state = torch.get_rng_state()
        exercises.check_gradient_penalty(penalty)
        assert torch.equal(torch.get_rng_state(), state)
        outputs.append(capsys.readouterr().out)
    assert outputs[0] == outputs[1] and "not yet" in outputs[0], outputs  # the same verdict and numbers


def test_js_regularizer_checker_compares_the_gradient_on_d_weights(capsys):
    def student(d_real, x_real, d_fake, x_fake, create_graph=True, flatten=True):
        g_real, = torch.autograd.grad(d_real.sum(), x_real, create_graph=create_graph, retain_graph=True)
        g_fake, = torch.autograd.grad(d_fake.sum(), x_fake, create_graph=create_graph, retain_graph=True)
        norm2 = (lambda g: g.flatten(1).pow(2).sum(1)) if flatten else (lambda g: g.pow(2).sum(1))
        return ((1 - torch.sigmoid(d_real)) ** 2 * norm2(g_real)).mean() + (torch.sigmoid(d_fake) ** 2 * norm2(g_fake)).mean()

    assert exercises.check_js_regularizer(student)
    capsys.readouterr()
    check_says(exercises.check_js_regularizer, lambda *a: student(*a, create_graph=False),
               "gradient with respect to D's weights is not", capsys)  # same value, 27 times too small a gradient
    check_says(exercises.check_js_regularizer, lambda *a: student(*a, flatten=False), "over all its pixels", capsys)


class SigmoidInForward(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Sequential(torch.nn.Conv2d(1, 8, 4, 2, 1), torch.nn.LeakyReLU(0.2), torch.nn.Flatten(),
                                        torch.nn.Linear(8 * 14 * 14, 1))

    def forward(self, x):
        return torch.sigmoid(self.conv(x)).view(-1)


def dcgan_tutorial_discriminator(batch_norm=False):
    """The PyTorch DCGAN tutorial's discriminator, sized for 28x28: it ends in a convolution, (N, 1, 1, 1)."""
    return torch.nn.Sequential(
        torch.nn.Conv2d(1, 16, 4, 2, 1), torch.nn.LeakyReLU(0.2),  # (16, 14, 14)
        torch.nn.Conv2d(16, 32, 4, 2, 1), *([torch.nn.BatchNorm2d(32)] if batch_norm else []),
        torch.nn.LeakyReLU(0.2),  # (32, 7, 7)
        torch.nn.Conv2d(32, 1, 7, 1, 0),  # (1, 1, 1)
    )


def test_discriminator_checker_takes_any_one_logit_shape_and_needs_logits_convolutions_and_a_nonlinearity(capsys):
    from regan_tutorial.nets import DCGANDiscriminator

    torch.manual_seed(0)
    assert exercises.check_discriminator(dcgan_tutorial_discriminator())  # (N, 1, 1, 1)
    capsys.readouterr()
    linear = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 1), torch.nn.Flatten(0))
    no_activation = torch.nn.Sequential(torch.nn.Conv2d(1, 8, 4, 2, 1), torch.nn.Conv2d(8, 16, 4, 2, 1),
                                        torch.nn.Flatten(), torch.nn.Linear(16 * 7 * 7, 1))
    for net, words in ((SigmoidInForward(), "ends in a sigmoid (torch.sigmoid in forward)"),
                       (linear, "no convolution"), (no_activation, "affine"),
                       (DCGANDiscriminator(width=8), "package's own nets.DCGANDiscriminator")):
        check_says(exercises.check_discriminator, net, words, capsys)


def test_discriminator_checker_leaves_the_students_network_as_it_was():
    torch.manual_seed(0)
    net = dcgan_tutorial_discriminator(batch_norm=True)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    assert exercises.check_discriminator(net)
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())  # batch norm's statistics too
    assert net.training


@pytest.mark.parametrize("checker,reference", [
    (exercises.check_jsd, theory.jsd),
    (exercises.check_optimal_discriminator, theory.optimal_discriminator),
    (exercises.check_modes_captured, metrics.mode_coverage),
    (exercises.check_discriminator_loss, losses.discriminator_loss),
    (exercises.check_gradient_penalty, losses.gradient_penalty),
    (exercises.check_js_regularizer, losses.js_regularizer),
    (exercises.check_hinge_loss, losses.discriminator_loss_hinge),
], ids=lambda x: getattr(x, "__name__", ""))
def test_an_answer_that_is_the_packages_own_function_is_refused(checker, reference, capsys):
    @functools.wraps(reference)
    def wrapped(*args):
        return reference(*args)

    copied = types.FunctionType(reference.__code__, reference.__globals__, "mine", reference.__defaults__)
    for answer in (reference, wrapped, copied, functools.partial(reference)):  # `from ... import jsd as my_jsd`, ...
        check_says(checker, answer, "it is the package's own", capsys)


def looping(seconds):
    """A student's function that loops (for ``seconds``, so that a checker without a time limit ends too),
    swallowing every Exception as a loop with a broad except does."""
    def fn(*args):
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            try:
                pass
            except Exception:
                pass
        return torch.tensor(0.0)
    return fn


class Looping(torch.nn.Module):
    def forward(self, x):
        return looping(3)(x)


@pytest.mark.parametrize("checker", [
    exercises.check_jsd, exercises.check_optimal_discriminator, exercises.check_modes_captured,
    exercises.check_discriminator_loss, exercises.check_discriminator, exercises.check_gradient_penalty,
    exercises.check_categorical_info_loss, exercises.check_js_regularizer, exercises.check_keras_style_loss,
    exercises.check_hinge_loss,
], ids=lambda c: c.__name__)
def test_a_student_function_that_loops_is_stopped_with_a_message(checker, monkeypatch, capsys):
    monkeypatch.setattr(exercises, "TIME_LIMIT", 0.2, raising=False)
    answer = Looping() if checker is exercises.check_discriminator else looping(3)
    tic = time.perf_counter()
    assert checker(answer) is False
    assert "did not return within 0.2 s: does it loop forever?" in capsys.readouterr().out
    assert time.perf_counter() - tic < 2.5


def test_the_time_limit_also_holds_off_the_main_thread(monkeypatch, capsys):
    monkeypatch.setattr(exercises, "TIME_LIMIT", 0.2, raising=False)
    found = []
    worker = threading.Thread(target=lambda: found.append(exercises.check_jsd(looping(2))))
    worker.start()
    worker.join(10)
    assert found == [False] and "did not return within 0.2 s" in capsys.readouterr().out


# The Dirac-GAN's field with R1 (chapter 8, ex-dyn-code)


def dirac_r1_by_autograd(theta, psi, gamma):
    """A student's field, written without the package: the value in the chapter's convention, differentiated
    with torch.autograd.grad (create_graph=True, so that a Jacobian can be taken through it)."""
    theta, psi = (torch.as_tensor(v, dtype=torch.float64).clone().requires_grad_(True) for v in (theta, psi))
    value = F.logsigmoid(-psi * theta) + F.logsigmoid(torch.zeros((), dtype=torch.float64))
    (g_theta,) = torch.autograd.grad(value, theta, create_graph=True)
    (g_psi,) = torch.autograd.grad(value - gamma / 2 * psi ** 2, psi, create_graph=True)
    return torch.stack([-g_theta, g_psi])


def dirac_r1_by_hand(theta, psi, gamma):
    s = 1 / (1 + torch.exp(-psi * theta))  # f'(-psi theta) = sigma(psi theta)
    return torch.stack([psi * s, -theta * s - gamma * psi])


def test_dirac_field_checker_accepts_independent_answers(capsys):
    assert exercises.check_dirac_field(dirac_r1_by_autograd)
    assert exercises.check_dirac_field(dirac_r1_by_hand)
    assert capsys.readouterr().out.count("Dirac-GAN field: all checks passed.") == 2


def sigma(t):
    return torch.sigmoid(t)


@pytest.mark.parametrize("slip,named", [
    (lambda t, p, g: torch.stack([-p * sigma(-p * t), t * sigma(-p * t) - g * p]), "Mescheder et al.'s convention"),
    (lambda t, p, g: torch.stack([-p * sigma(p * t), -t * sigma(p * t) - g * p]), "generator's component has the wrong sign"),
    (lambda t, p, g: torch.stack([p * sigma(p * t), t * sigma(p * t) - g * p]), "game term has the wrong sign"),
    (lambda t, p, g: torch.stack([p * sigma(p * t), -t * sigma(p * t) + g * p]), "penalty's sign is flipped"),
    (lambda t, p, g: torch.stack([p * sigma(p * t), -t * sigma(p * t) - 2 * g * p]), "weighted gamma instead of gamma/2"),
    (lambda t, p, g: torch.stack([p * sigma(p * t), -t * sigma(p * t) - g / 2 * p]), "the 2 of psi^2 went missing"),
    (lambda t, p, g: torch.stack([p * sigma(-p * t), -t * sigma(-p * t) - g * p]), "the derivative of f is wrong"),
    (lambda t, p, g: torch.stack([p * F.logsigmoid(-p * t), -t * F.logsigmoid(-p * t) - g * p]),
     "uses f where its derivative belongs"),
    (lambda t, p, g: torch.stack([p * sigma(p * t), -t * sigma(p * t)]), "R1 term is missing"),
    (lambda t, p, g: torch.stack([-t * sigma(p * t) - g * p, p * sigma(p * t)]), "components are swapped"),
], ids=["mescheder-sign", "generator-sign", "discriminator-sign", "penalty-sign", "gamma-not-half", "missing-2",
        "wrong-f-prime", "f-not-f-prime", "no-penalty", "swapped"])
def test_dirac_field_checker_names_each_slip(slip, named, capsys):
    assert not exercises.check_dirac_field(slip)
    out = capsys.readouterr().out
    assert out.startswith("Dirac-GAN field: not yet.") and named in out, out


def test_dirac_field_checker_wants_a_field_autograd_can_differentiate(capsys):
    def rebuilt(theta, psi, gamma):  # right numbers, no graph
        return torch.tensor(dirac_r1_by_hand(theta, psi, gamma).tolist(), dtype=torch.float64)

    def without_create_graph(theta, psi, gamma):
        theta, psi = (torch.as_tensor(v, dtype=torch.float64).clone().requires_grad_(True) for v in (theta, psi))
        value = F.logsigmoid(-psi * theta)
        (g_theta,) = torch.autograd.grad(value, theta, retain_graph=True)
        (g_psi,) = torch.autograd.grad(value - gamma / 2 * psi ** 2, psi)
        return torch.stack([-g_theta, g_psi])

    for answer in (rebuilt, without_create_graph):
        assert not exercises.check_dirac_field(answer)
        out = capsys.readouterr().out
        assert "its values are right, but" in out and "create_graph=True" in out, out


def test_dirac_field_checker_refuses_the_package_and_odd_results(capsys):
    from regan_tutorial import dynamics

    assert not exercises.check_dirac_field(dynamics.vector_field)
    assert not exercises.check_dirac_field(lambda t, p, g: (p * sigma(p * t), -t * sigma(p * t) - g * p))
    assert not exercises.check_dirac_field(lambda t, p, g: None)
    out = capsys.readouterr().out
    assert "the package's own dynamics.vector_field" in out and "one tensor of two entries" in out
    assert "forget the return statement" in out


def test_dirac_field_checker_stops_a_loop(monkeypatch, capsys):
    monkeypatch.setattr(exercises, "TIME_LIMIT", 0.2, raising=False)
    assert exercises.check_dirac_field(looping(3)) is False
    assert "did not return within 0.2 s" in capsys.readouterr().out
