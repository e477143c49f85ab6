import numpy as np
import torch
import torch.nn.functional as F

from regan_tutorial import exercises, metrics, theory


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
    check_says(exercises.check_jsd, lambda p, q, dx: 2 * theory.jsd(p, q, dx), "factor 1/2", capsys)
    check_says(exercises.check_jsd, lambda p, q, dx: theory.jsd(p, q, dx) / np.log(2), "natural log", capsys)
    check_says(exercises.check_jsd, lambda p, q, dx: theory.jsd(p, q, dx) / dx, "dx", capsys)
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

    def student_penalty(critic, x_real, x_fake, create_graph=True, per_sample=True):
        """WGAN-GP's penalty written without the package."""
        alpha = torch.rand(len(x_real), 1)
        x = (alpha * x_real + (1 - alpha) * x_fake).requires_grad_(True)
        (grad,) = torch.autograd.grad(critic(x).sum(), x, create_graph=create_graph)
        return 10 * ((grad.norm(dim=1) if per_sample else grad.norm()) - 1).pow(2).mean()

    assert exercises.check_gradient_penalty(student_penalty)
    assert exercises.check_gradient_penalty(losses.gradient_penalty)
    assert not exercises.check_gradient_penalty(lambda c, r, f: losses.gradient_penalty(c, r, r + 0 * f))
    assert not exercises.check_gradient_penalty(lambda c, r, f: losses.gradient_penalty(c, r, f, lam=1.0))
    assert not exercises.check_gradient_penalty(lambda c, r, f: student_penalty(c, r, f, create_graph=False))
    assert not exercises.check_gradient_penalty(lambda c, r, f: student_penalty(c, r, f, per_sample=False))
    out = capsys.readouterr().out
    assert "real samples only" in out and "lambda = 10" in out
    assert "create_graph=True" in out and "one norm over the whole batch" in out


def test_categorical_info_loss_checker(capsys):


    assert exercises.check_categorical_info_loss(  # written out: log-sum-exp minus the chosen logit
        lambda l, c: (torch.logsumexp(l, 1) - l[torch.arange(len(c)), c]).mean())
    assert not exercises.check_categorical_info_loss(lambda l, c: -F.cross_entropy(l, c))
    assert not exercises.check_categorical_info_loss(F.nll_loss)
    out = capsys.readouterr().out
    assert "sign is flipped" in out and "log_softmax" in out


def test_js_regularizer_checker_accepts_the_package_and_names_common_slips(capsys):

    from regan_tutorial.losses import input_gradient_norm2, js_regularizer

    def student(d_real, x_real, d_fake, x_fake):  # one autograd call per batch, weights written out
        g_real, = torch.autograd.grad(d_real.sum(), x_real, create_graph=True)
        g_fake, = torch.autograd.grad(d_fake.sum(), x_fake, create_graph=True)
        p_real, p_fake = 1 / (1 + torch.exp(-d_real)), 1 / (1 + torch.exp(-d_fake))
        return ((1 - p_real) ** 2 * (g_real ** 2).sum(1)).mean() + (p_fake ** 2 * (g_fake ** 2).sum(1)).mean()

    assert exercises.check_js_regularizer(student)

    def swapped(d_real, x_real, d_fake, x_fake):
        return (torch.sigmoid(d_real) ** 2 * input_gradient_norm2(d_real, x_real)).mean() + \
            ((1 - torch.sigmoid(d_fake)) ** 2 * input_gradient_norm2(d_fake, x_fake)).mean()

    def pooled(d_real, x_real, d_fake, x_fake):
        return torch.cat([(1 - torch.sigmoid(d_real)) ** 2 * input_gradient_norm2(d_real, x_real),
                          torch.sigmoid(d_fake) ** 2 * input_gradient_norm2(d_fake, x_fake)]).mean()

    def detached(d_real, x_real, d_fake, x_fake):
        return js_regularizer(d_real, x_real, d_fake, x_fake).detach()

    capsys.readouterr()
    for fn, words in ((swapped, "weights are swapped"), (pooled, "mean of each batch"), (detached, "create_graph=True")):
        assert not exercises.check_js_regularizer(fn)
        assert words in capsys.readouterr().out


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
