import numpy as np
import pytest
import torch

from regan_tutorial import losses, theory
from regan_tutorial.nets import DCGANDiscriminator, MLPDiscriminator
from regan_tutorial.train import fit_discriminator


def reference_gradient_penalty(critic, x_real, x_fake, alpha, lam):
    """Independent computation: one interpolate at a time, gradient by autograd, in float64."""
    total = 0.0
    for i in range(len(x_real)):
        x = (alpha[i] * x_fake[i] + (1 - alpha[i]) * x_real[i]).detach().unsqueeze(0).requires_grad_(True)
        g, = torch.autograd.grad(critic(x).sum(), x)
        total = total + (g.norm() - 1) ** 2
    return lam * total / len(x_real)


def test_gradient_penalty_equals_a_reference_computation_on_a_tiny_critic():
    torch.manual_seed(0)
    critic = MLPDiscriminator((3,), (8,)).double()
    x_real, x_fake = torch.randn(6, 3).double(), torch.randn(6, 3).double()
    gen = torch.Generator().manual_seed(5)
    alpha = torch.rand(6, 1, generator=torch.Generator().manual_seed(5)).double()
    got = losses.gradient_penalty(critic, x_real, x_fake, lam=10.0, generator=gen)
    assert got.item() == pytest.approx(reference_gradient_penalty(critic, x_real, x_fake, alpha, 10.0).item(), rel=1e-6)


def test_gradient_penalty_vanishes_for_a_unit_norm_linear_critic():
    w = torch.randn(1, 5)
    critic = torch.nn.Linear(5, 1, bias=True)
    with torch.no_grad():
        critic.weight.copy_(w / w.norm())  # 1-Lipschitz, gradient norm exactly 1 everywhere
    f = lambda x: critic(x).squeeze(1)
    assert losses.gradient_penalty(f, torch.randn(16, 5), torch.randn(16, 5)).item() == pytest.approx(0.0, abs=1e-6)
    with torch.no_grad():
        critic.weight.mul_(3.0)  # norm 3: penalty lambda * (3 - 1)^2 = 40
    assert losses.gradient_penalty(f, torch.randn(16, 5), torch.randn(16, 5)).item() == pytest.approx(40.0, rel=1e-4)


def test_gradient_penalty_backpropagates_to_the_critic_and_refuses_mismatched_batches():
    critic = DCGANDiscriminator(width=4, batch_norm=False)
    penalty = losses.gradient_penalty(critic, torch.rand(3, 1, 28, 28), torch.rand(3, 1, 28, 28))
    penalty.backward()
    # every weight shapes the input gradient (biases of the last layer do not, and get none)
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for n, p in critic.named_parameters() if n.endswith("weight"))
    with pytest.raises(ValueError, match="same shape"):
        losses.gradient_penalty(critic, torch.rand(3, 1, 28, 28), torch.rand(2, 1, 28, 28))


def test_input_gradient_norm_needs_inputs_that_require_grad():
    x = torch.randn(4, 2)
    with pytest.raises(ValueError, match="requires_grad"):
        losses.input_gradient_norm2(x.sum(1), x)
    x.requires_grad_(True)
    with pytest.raises(ValueError, match="do not depend"):
        losses.input_gradient_norm2(torch.zeros(4), x)
    assert losses.input_gradient_norm2((3 * x).sum(1), x).tolist() == pytest.approx([18.0] * 4)


def test_clipping_keeps_every_weight_in_range():
    critic = DCGANDiscriminator(width=8, batch_norm=False)
    with torch.no_grad():
        for p in critic.parameters():
            p.normal_(0, 1)
    losses.clip_weights(critic, 0.01)
    assert all(p.abs().max() <= 0.01 for p in critic.parameters())
    assert any((p.abs() == 0.01).any() for p in critic.parameters())


def test_wasserstein_losses_by_hand():
    d_real, d_fake = torch.tensor([1.0, 3.0]), torch.tensor([-1.0, 0.0, 4.0])
    assert losses.critic_loss_wasserstein(d_real, d_fake).item() == pytest.approx(1.0 - 2.0)
    assert losses.generator_loss_wasserstein(d_fake).item() == pytest.approx(-1.0)


@pytest.mark.parametrize("theta", [0.0, 0.3, -1.0])
def test_parallel_lines_wasserstein_is_abs_theta_and_jsd_is_log2(theta):
    a, b = theory.parallel_lines(theta, 300, np.random.default_rng(0))
    w = theory.wasserstein_empirical(a, b)
    # the vertical parts are two samples of U[0,1]: they add a transport cost that shrinks like 1/sqrt(N)
    assert abs(theta) <= w <= abs(theta) + 0.05
    if theta != 0:
        bins = [np.linspace(-1.05, 1.05, 22), np.linspace(0, 1, 11)]
        p, q = (np.histogram2d(s[:, 0], s[:, 1], bins)[0] / 300 for s in (a, b))
        assert theory.jsd(p, q, 1.0) == pytest.approx(np.log(2))


def test_a_critic_trained_with_gradient_penalty_estimates_w1():
    torch.manual_seed(0)
    a, b = (torch.tensor(s, dtype=torch.float32) for s in theory.parallel_lines(0.8, 512, np.random.default_rng(1)))
    critic = MLPDiscriminator((2,), (32, 32))
    loss = fit_discriminator(critic, a, b, steps=300, lr=1e-3, loss=losses.critic_loss_wasserstein,
                             penalty=losses.gradient_penalty)
    assert -loss == pytest.approx(0.8, abs=0.1)
