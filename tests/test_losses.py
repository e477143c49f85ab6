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
