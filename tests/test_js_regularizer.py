"""The JS regularizer of Roth et al. 2017 against an independent computation of its formula."""

import pytest
import torch

from regan_tutorial import losses
from regan_tutorial.nets import DCGANDiscriminator, JSRegularized, MLPDiscriminator, MLPEnsemble, MLPGenerator
from regan_tutorial.train import AnnealedGamma, sample_z, train


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
    # R1 = (gamma / 2) E_P |grad l|^2 = 2 |w|^2 for gamma = 4
    assert 4.0 / 2 * losses.r1_regularizer(dr, x_real, df, x_fake).item() == pytest.approx(2.0 * w2.item(), rel=1e-6)


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


def test_wrapper_returns_the_logits_and_per_sample_penalties_of_the_keras_layer():
    torch.manual_seed(2)
    d = MLPDiscriminator((3,), (8,))
    wrapped = JSRegularized(d)
    x_real, x_fake = torch.randn(5, 3), torch.randn(3, 3)
    logits, penalties = wrapped(x_real, 1)
    assert torch.equal(logits, d(x_real)) and penalties.shape == (5,)
    xr, xf = x_real.clone().requires_grad_(True), x_fake.clone().requires_grad_(True)
    expected = losses.js_regularizer(d(xr), xr, d(xf), xf)
    assert (penalties.mean() + wrapped(x_fake, 0)[1].mean()).item() == pytest.approx(expected.item(), rel=1e-6)
    assert torch.equal(wrapped(x_fake), d(x_fake))  # without a target: the plain discriminator
    penalties.sum().backward()
    assert all(p.grad is not None for p in d.parameters())
    with pytest.raises(ValueError, match="target must be 1"):
        wrapped(x_real, 0.5)


def test_ensemble_runs_each_copy_on_its_own_chunk():
    torch.manual_seed(3)
    ensemble = MLPEnsemble(3, [2, 8, 8, 1], squeeze=True)

    def copy(k, x):  # copy k written out: linear, leaky ReLU, linear, leaky ReLU, linear
        for j, (w, b) in enumerate(zip(ensemble.weights, ensemble.biases)):
            x = x @ w[k] + b[k, 0]
            x = torch.nn.functional.leaky_relu(x, 0.2) if j < 2 else x.squeeze(1)
        return x

    x = torch.randn(12, 2, requires_grad=True)
    out = ensemble(x)
    for k in range(3):
        assert torch.allclose(out[4 * k:4 * k + 4], copy(k, x[4 * k:4 * k + 4]), atol=1e-6)
    # per-sample input gradients are those of each sample's own copy
    norms = losses.input_gradient_norm2(out, x)
    xk = x[4:8].detach().requires_grad_(True)
    assert torch.allclose(norms[4:8], losses.input_gradient_norm2(copy(1, xk), xk), atol=1e-5)
    with pytest.raises(ValueError, match=r"\(3 \* N, 2\)"):
        ensemble(torch.randn(10, 2))


def test_loop_adds_gamma_over_two_times_the_regularizer_with_gamma_annealed_per_step():
    torch.manual_seed(4)
    g, d = MLPGenerator(2, (8,), (2,), output="none"), MLPDiscriminator((2,), (8,))
    one = lambda d_real, x_real, d_fake, x_fake: torch.ones(())  # a regularizer worth exactly 1
    h = train(g, d, torch.randn(64, 2), steps=11, batch_size=8, g_opt=torch.optim.SGD(g.parameters(), 0.0),
              d_opt=torch.optim.SGD(d.parameters(), 0.0), regularizer=one, gamma=AnnealedGamma(2.0, 11), progress=False)
    assert set(h.d_terms) == {"regularizer"} and not h.g_terms
    assert h.d_terms["regularizer"] == pytest.approx([2.0 / 2 * 0.01 ** (t / 10) for t in range(11)])  # gamma_0 at the first step
    with pytest.raises(ValueError, match="gamma="):
        train(g, d, torch.randn(64, 2), steps=1, batch_size=8, g_opt=torch.optim.SGD(g.parameters(), 0.0),
              d_opt=torch.optim.SGD(d.parameters(), 0.0), regularizer=one, progress=False)


def test_one_regularized_step_of_the_loop_equals_the_step_written_out():
    data = torch.randn(64, 2)

    def nets_and_opts():
        torch.manual_seed(5)
        g, d = MLPGenerator(2, (8,), (2,), output="none"), MLPDiscriminator((2,), (8,))
        return g, d, torch.optim.Adam(g.parameters(), 1e-2), torch.optim.Adam(d.parameters(), 1e-2)

    g, d, g_opt, d_opt = nets_and_opts()
    train(g, d, data, steps=1, batch_size=16, g_opt=g_opt, d_opt=d_opt, regularizer=losses.js_regularizer,
          gamma=3.0, seed=7, progress=False)
    g2, d2, _, d_opt2 = nets_and_opts()
    rng = torch.Generator().manual_seed(7)  # the loop's sampling, written out
    x_real = data[torch.randint(64, (16,), generator=rng)].requires_grad_(True)
    x_fake = g2(sample_z(16, 2, "normal", rng)).detach().requires_grad_(True)
    d_real, d_fake = d2(x_real), d2(x_fake)
    loss = losses.discriminator_loss(d_real, d_fake) + 3.0 / 2 * losses.js_regularizer(d_real, x_real, d_fake, x_fake)
    d_opt2.zero_grad()
    loss.backward()
    d_opt2.step()
    for p, q in zip(d.parameters(), d2.parameters()):
        assert torch.allclose(p, q, atol=1e-7)


def test_a_packed_discriminator_with_a_penalty_per_sample_is_refused_by_the_loop_naming_the_packing():
    from regan_tutorial.nets import Packed
    d = Packed(MLPDiscriminator((4,), (8,)), m=2)
    g = MLPGenerator(2, (8,), (2,), output="none")
    with pytest.raises(ValueError, match=r"8 values for 16 samples .*packs of 2 samples \(nets.Packed\)"):
        train(g, d, torch.randn(64, 2), steps=2, batch_size=16, regularizer=losses.r1_regularizer, gamma=1.0,
              g_opt=torch.optim.Adam(g.parameters()), d_opt=torch.optim.Adam(d.parameters()), progress=False)
