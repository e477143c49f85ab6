import numpy as np

from regan_tutorial import exercises, metrics, theory


def test_checkers_accept_the_reference_solutions(capsys):
    assert exercises.check_jsd(theory.jsd)
    assert exercises.check_optimal_discriminator(theory.optimal_discriminator)
    assert exercises.check_modes_captured(lambda s, c, std: metrics.mode_coverage(s, c, std).modes)
    assert capsys.readouterr().out.count("all checks passed") == 3


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
    import torch

    return torch.cdist(samples, centres).argmin(dim=1).tolist()


def test_gradient_penalty_checker(capsys):
    from regan_tutorial import losses

    assert exercises.check_gradient_penalty(losses.gradient_penalty)
    assert not exercises.check_gradient_penalty(lambda c, r, f: losses.gradient_penalty(c, r, r + 0 * f))
    assert not exercises.check_gradient_penalty(lambda c, r, f: losses.gradient_penalty(c, r, f, lam=1.0))
    out = capsys.readouterr().out
    assert "real samples only" in out and "lambda = 10" in out


def test_categorical_info_loss_checker(capsys):
    import torch.nn.functional as F

    assert exercises.check_categorical_info_loss(F.cross_entropy)
    assert not exercises.check_categorical_info_loss(lambda l, c: -F.cross_entropy(l, c))
    assert not exercises.check_categorical_info_loss(F.nll_loss)
    out = capsys.readouterr().out
    assert "sign is flipped" in out and "log_softmax" in out


def test_js_regularizer_checker_accepts_the_package_and_names_common_slips(capsys):
    import torch

    from regan_tutorial.losses import input_gradient_norm2, js_regularizer

    assert exercises.check_js_regularizer(js_regularizer)

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
