import math

import pytest
import torch

from regan_tutorial import losses


def test_discriminator_loss_by_hand():
    # logits 0 -> D = 1/2: each BCE term is log 2
    assert losses.discriminator_loss(torch.zeros(4), torch.zeros(3)).item() == pytest.approx(2 * math.log(2))
    # real logit 2, fake logit -1: softplus(-2) + softplus(-1)
    expected = math.log(1 + math.exp(-2)) + math.log(1 + math.exp(-1))
    assert losses.discriminator_loss(torch.tensor([2.0]), torch.tensor([-1.0])).item() == pytest.approx(expected)


def test_generator_losses_by_hand():
    d_fake = torch.tensor([-1.0, 3.0])
    # log(1 - sigmoid(l)) = -softplus(l)
    sat = -(math.log(1 + math.exp(-1)) + math.log(1 + math.exp(3))) / 2
    assert losses.generator_loss_saturating(d_fake).item() == pytest.approx(sat)
    # -log sigmoid(l) = softplus(-l)
    nonsat = (math.log(1 + math.e) + math.log(1 + math.exp(-3))) / 2
    assert losses.generator_loss_nonsaturating(d_fake).item() == pytest.approx(nonsat)


def test_losses_stay_finite_for_extreme_logits():
    big = torch.tensor([-200.0, 200.0], requires_grad=True)
    for value in (losses.discriminator_loss(big, big), losses.generator_loss_saturating(big),
                  losses.generator_loss_nonsaturating(big)):
        assert torch.isfinite(value)
        grad, = torch.autograd.grad(value, big)
        assert torch.isfinite(grad).all()
    # where log(sigmoid(l)) underflows to -inf, the logit form gives the right 200
    assert losses.generator_loss_nonsaturating(torch.tensor([-200.0])).item() == pytest.approx(200.0)


def test_saturating_gradient_vanishes_where_nonsaturating_does_not():
    l = torch.tensor([-10.0], requires_grad=True)
    g_sat, = torch.autograd.grad(losses.generator_loss_saturating(l), l)
    g_non, = torch.autograd.grad(losses.generator_loss_nonsaturating(l), l)
    assert abs(g_sat.item()) == pytest.approx(torch.sigmoid(torch.tensor(-10.0)).item(), rel=1e-4)  # 4.5e-5
    assert g_non.item() == pytest.approx(-(1 - torch.sigmoid(torch.tensor(-10.0)).item()), rel=1e-6)


def test_least_squares_and_hinge_losses_match_their_formulas_on_random_logits():
    import torch

    from regan_tutorial import losses

    g = torch.Generator().manual_seed(0)
    d_real, d_fake = 3 * torch.randn(50, generator=g), 3 * torch.randn(40, generator=g)
    r, f = d_real.double().tolist(), d_fake.double().tolist()
    mean = lambda xs: sum(xs) / len(xs)
    assert losses.discriminator_loss_least_squares(d_real, d_fake).item() == pytest.approx(
        0.5 * mean([(x - 1) ** 2 for x in r]) + 0.5 * mean([x ** 2 for x in f]), rel=1e-5)
    assert losses.generator_loss_least_squares(d_fake).item() == pytest.approx(
        0.5 * mean([(x - 1) ** 2 for x in f]), rel=1e-5)
    assert losses.discriminator_loss_hinge(d_real, d_fake).item() == pytest.approx(
        mean([max(0.0, 1 - x) for x in r]) + mean([max(0.0, 1 + x) for x in f]), rel=1e-5)
    assert losses.generator_loss_hinge(d_fake).item() == pytest.approx(-mean(f), rel=1e-5)
    # hand-made values: D(x) = 1 on real and 0 on fake is the least-squares optimum; hinge margins
    one, zero = torch.ones(3), torch.zeros(3)
    assert losses.discriminator_loss_least_squares(one, zero).item() == 0
    assert losses.discriminator_loss_hinge(torch.tensor([2.0, 0.5]), torch.tensor([-3.0, 0.0])).item() == 0.25 + 0.5


def test_spectral_normalization_comes_from_torch_and_bounds_each_layer():
    import torch

    from regan_tutorial import nets

    torch.manual_seed(0)
    for d in (nets.spectral_normalized(nets.MLPDiscriminator((2,), (64, 64))),
              nets.spectral_normalized(nets.DCGANDiscriminator(width=8, batch_norm=False))):
        layers = [m for m in d.modules() if hasattr(m, "parametrizations")]
        assert layers and all(type(m.parametrizations.weight[0]).__name__ == "_SpectralNorm" for m in layers)
        d.train()
        x = torch.randn(16, *d.in_shape)
        for _ in range(30):  # power iterations converge while training
            d(x)
        for m in layers:
            sigma = torch.linalg.matrix_norm(m.weight.detach().flatten(1), ord=2).item()
            assert sigma == pytest.approx(1.0, abs=0.05)
