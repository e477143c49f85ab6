"""The JS regularizer of Roth et al. 2017 against an independent computation of its formula."""

import pytest
import torch

from regan_tutorial import losses
from regan_tutorial.nets import DCGANDiscriminator, MLPDiscriminator
from regan_tutorial.train import AnnealedGamma


def reference(d, x_real, x_fake):
    """One sample at a time, float64: (1 - s)^2 |grad l|^2 on real, s^2 |grad l|^2 on fake, averaged."""
    def term(x, weight):
        values = []
        for xi in x:
            xi = xi.detach().unsqueeze(0).requires_grad_(True)
            logit = d(xi)
            g, = torch.autograd.grad(logit.sum(), xi)
            values.append(weight(torch.sigmoid(logit.detach())) * g.pow(2).sum())
        return torch.stack(values).mean()
    return term(x_real, lambda s: (1 - s) ** 2) + term(x_fake, lambda s: s ** 2)


@pytest.mark.parametrize("make,shape", [
    (lambda: MLPDiscriminator((5,), (16, 16)), (5,)),
    (lambda: DCGANDiscriminator(width=4, batch_norm=False), (1, 28, 28)),
])
def test_js_regularizer_equals_the_formula_with_unequal_batches(make, shape):
    torch.manual_seed(0)
    d = make().double()
    x_real = torch.randn(7, *shape, dtype=torch.float64, requires_grad=True)
    x_fake = torch.randn(4, *shape, dtype=torch.float64, requires_grad=True)
    got = losses.js_regularizer(d(x_real), x_real, d(x_fake), x_fake)
    assert got.item() == pytest.approx(reference(d, x_real, x_fake).item(), rel=1e-10)


def test_regularized_loss_gradient_matches_finite_differences():
    torch.manual_seed(1)
    d = MLPDiscriminator((3,), (4,)).double()
    x_real, x_fake = torch.randn(5, 3, dtype=torch.float64), torch.randn(6, 3, dtype=torch.float64)

    def loss():
        xr, xf = x_real.clone().requires_grad_(True), x_fake.clone().requires_grad_(True)
        dr, df = d(xr), d(xf)
        return losses.discriminator_loss(dr, df) + 2.0 / 2 * losses.js_regularizer(dr, xr, df, xf)

    params = list(d.parameters())
    grads = torch.autograd.grad(loss(), params)
    eps = 1e-6
    for p, g in zip(params, grads):
        for i in range(p.numel()):
            with torch.no_grad():
                p.view(-1)[i] += eps
            up = loss().item()
            with torch.no_grad():
                p.view(-1)[i] -= 2 * eps
            down = loss().item()
            with torch.no_grad():
                p.view(-1)[i] += eps
            assert g.view(-1)[i].item() == pytest.approx((up - down) / (2 * eps), rel=1e-5, abs=1e-8)


def test_linear_discriminator_has_gradient_norm_w():
    d = torch.nn.Linear(3, 1)
    f = lambda x: d(x).squeeze(1)
    x_real, x_fake = torch.randn(10, 3, requires_grad=True), torch.randn(10, 3, requires_grad=True)
    dr, df = f(x_real), f(x_fake)
    w2 = d.weight.pow(2).sum()
    expected = ((1 - torch.sigmoid(dr)) ** 2).mean() * w2 + (torch.sigmoid(df) ** 2).mean() * w2
    assert losses.js_regularizer(dr, x_real, df, x_fake).item() == pytest.approx(expected.item(), rel=1e-6)
    assert losses.r1_penalty(dr, x_real, gamma=4.0).item() == pytest.approx(2.0 * w2.item(), rel=1e-6)


def test_inputs_without_grad_or_logits_that_ignore_them_are_refused():
    d = MLPDiscriminator((3,), (4,))
    x = torch.randn(4, 3)
    with pytest.raises(ValueError, match="requires_grad"):
        losses.js_regularizer(d(x), x, d(x), x)
    x.requires_grad_(True)
    with pytest.raises(ValueError, match="do not depend"):
        losses.js_regularizer(torch.zeros(4, requires_grad=True), x, d(x), x)


def test_annealing_follows_the_original_schedule():
    schedule = AnnealedGamma(2.0, total_steps=101, decay=0.01)
    assert schedule(0) == pytest.approx(2.0)
    assert schedule(50) == pytest.approx(2.0 * 0.1)
    assert schedule(100) == pytest.approx(0.02)
    assert AnnealedGamma(0.1, 10, decay=1.0)(7) == pytest.approx(0.1)
    with pytest.raises(ValueError, match="at least 2"):
        AnnealedGamma(1.0, 1)
