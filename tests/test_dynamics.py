"""The Dirac-GAN's Jacobian against the closed forms of Mescheder et al. 2018, and its trajectories."""

import math

import pytest
import torch
from torch import nn

from regan_tutorial import dynamics as dy
from regan_tutorial import losses
from regan_tutorial.train import train


def close(got, expected):
    got = sorted(got.tolist(), key=lambda z: (z.real, z.imag))
    expected = sorted([complex(z) for z in expected], key=lambda z: (z.real, z.imag))
    return all(abs(a - b) < 1e-9 for a, b in zip(got, expected))


def test_unregularized_gan_and_wgan_have_purely_imaginary_eigenvalues():
    assert close(dy.eigenvalues(), [0.5j, -0.5j])  # +-i f'(0), f'(0) = 1/2
    assert close(dy.eigenvalues(f=dy.f_wgan), [1j, -1j])


@pytest.mark.parametrize("gamma", [0.3, 1.0, 3.0])
def test_r1_eigenvalues_are_minus_gamma_over_two_plus_minus_the_paper_root(gamma):
    expected = [-gamma / 2 + s * complex(gamma ** 2 / 4 - 0.25) ** 0.5 for s in (1, -1)]
    assert close(dy.eigenvalues(penalty=dy.r1_penalty, gamma=gamma), expected)


@pytest.mark.parametrize("gamma", [0.3, 1.0, 3.0])
def test_js_regularizer_acts_like_r1_with_half_the_weight_at_the_equilibrium(gamma):
    # Omega ~ psi^2 / 2 near (0, 0): (1/4 + 1/4) psi^2, so gamma / 2 Omega = gamma / 4 psi^2
    expected = [-gamma / 4 + s * complex(gamma ** 2 / 16 - 0.25) ** 0.5 for s in (1, -1)]
    assert close(dy.eigenvalues(penalty=dy.js_penalty, gamma=gamma), expected)


@pytest.mark.parametrize("sigma", [0.5, 1.0, 2.0])
def test_instance_noise_eigenvalues_match_the_paper(sigma):
    f1, f2 = 0.5, -0.25  # f'(0), f''(0) of the GAN
    expected = [f2 * sigma ** 2 + s * complex(f2 ** 2 * sigma ** 4 - f1 ** 2) ** 0.5 for s in (1, -1)]
    assert close(dy.eigenvalues(noise=sigma), expected)


def test_the_jacobian_agrees_with_finite_differences_away_from_the_equilibrium():
    field = dict(penalty=dy.js_penalty, gamma=0.7)
    point, h = (0.4, -0.3), 1e-6
    numeric = torch.stack([(dy.vector_field(point[0] + h * e[0], point[1] + h * e[1], **field)
                            - dy.vector_field(point[0] - h * e[0], point[1] - h * e[1], **field)).detach() / (2 * h)
                           for e in ((1, 0), (0, 1))], dim=1)
    assert torch.allclose(dy.jacobian(*point, **field), numeric, atol=1e-7)


def radius(path):
    return path.norm(dim=1)


def test_simultaneous_steps_spiral_out_and_alternating_steps_circle_without_a_regularizer():
    simultaneous = dy.trajectory(1.0, 1.0, 2000, lr=0.1)
    alternating = dy.trajectory(1.0, 1.0, 2000, lr=0.1, mode="alternating")
    assert radius(simultaneous)[-1] > 2 * radius(simultaneous)[0]
    assert 0.3 < radius(alternating)[-1] / radius(alternating)[0] < 3  # neither out nor in
    # the discrete map x + h J x has spectral radius sqrt(1 + h^2 f'(0)^2) > 1 near (0, 0)
    step = torch.eye(2, dtype=torch.float64) + 0.1 * dy.jacobian()
    assert torch.linalg.eigvals(step).abs().max().item() == pytest.approx(math.sqrt(1 + 0.01 * 0.25))


@pytest.mark.parametrize("field", [dict(penalty=dy.r1_penalty, gamma=1.0), dict(penalty=dy.js_penalty, gamma=2.0),
                                   dict(noise=1.0)], ids=["r1", "js", "instance noise"])
def test_regularized_training_converges(field):
    path = dy.trajectory(1.0, 1.0, 3000, lr=0.1, **field)
    assert radius(path)[-1] < 1e-2


@pytest.mark.parametrize("mode", ["simultaneous", "alternating"])
@pytest.mark.parametrize("lam", [1.0, 2.0])
def test_wgan_gp_stops_at_a_wrong_point_two_lambda_from_the_data(lam, mode):
    # for psi > 0: theta' = psi, psi' = -theta + 2 lam (1 - psi), zero at (2 lam, 0): the penalty's
    # pull towards |psi| = 1 balances the generator's gradient, with the generator off the data
    gp = dy.trajectory(1.0, 1.0, 3000, lr=0.05, mode=mode, f=dy.f_wgan, penalty=dy.gp_penalty, gamma=lam)
    assert gp[-1, 0].item() == pytest.approx(2 * lam, abs=1e-6)
    assert 0 <= gp[-1, 1].item() < 1e-6
    assert (gp[-1] - gp[-2]).norm().item() < 1e-9  # stopped, not circling


def test_clipped_wgan_does_not_converge():
    clipped = dy.trajectory(1.0, 0.5, 3000, lr=0.05, f=dy.f_wgan, clip=0.5, mode="alternating")
    assert radius(clipped[-500:]).min() > 0.1


def test_unknown_step_mode_lists_the_valid_ones():
    with pytest.raises(ValueError, match="simultaneous, alternating"):
        dy.trajectory(1.0, 1.0, 1, mode="jacobi")


# The sign convention: l(x) = psi x is the logit of P(real), as in the package's losses


def dirac_discriminator_loss(theta, psi, regularizer=None, gamma=0.0):
    """The package's discriminator loss (and gamma / 2 times a regularizer) on l(x) = psi x, data at 0,
    fake at theta: an independent computation, by autograd through regan_tutorial.losses."""
    x_real = torch.zeros(1, 1, dtype=torch.float64, requires_grad=True)
    x_fake = theta.reshape(1, 1)
    d_real, d_fake = psi * x_real[:, 0], psi * x_fake[:, 0]
    loss = losses.discriminator_loss(d_real, d_fake)
    if regularizer is not None:
        loss = loss + gamma / 2 * regularizer(d_real, x_real, d_fake, x_fake)
    return loss


POINTS = [(0.7, 1.3), (-1.2, 0.4), (0.5, -2.0), (2.0, 1.5)]


@pytest.mark.parametrize("theta,psi", POINTS)
@pytest.mark.parametrize("penalty,regularizer", [(dy.js_penalty, losses.js_regularizer),
                                                 (dy.r1_penalty, losses.r1_regularizer)], ids=["js", "r1"])
def test_penalties_are_the_package_regularizers_on_a_linear_discriminator(theta, psi, penalty, regularizer):
    """Value and gradient in (theta, psi): a fake weighted by sigma(-psi theta)^2 fails away from psi theta = 0."""
    t, p = (torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in (theta, psi))
    x_real = torch.zeros(1, 1, dtype=torch.float64, requires_grad=True)
    x_fake = t.reshape(1, 1)
    expected = regularizer(p * x_real[:, 0], x_real, p * x_fake[:, 0], x_fake)
    got = penalty(t, p)
    assert got.item() == pytest.approx(expected.item(), rel=1e-12)
    grads = [torch.autograd.grad(v, (t, p), allow_unused=True) for v in (got, expected)]
    for g, e in zip(*grads):
        assert (0.0 if g is None else g.item()) == pytest.approx(0.0 if e is None else e.item(), rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("theta,psi", POINTS)
@pytest.mark.parametrize("field,regularizer", [({}, None),
                                               (dict(penalty=dy.js_penalty, gamma=0.8), losses.js_regularizer),
                                               (dict(penalty=dy.r1_penalty, gamma=0.8), losses.r1_regularizer)],
                         ids=["gan", "js", "r1"])
def test_the_field_descends_the_package_losses(theta, psi, field, regularizer):
    """psi' = -d/dpsi (L_D + gamma/2 Omega), theta' = -d/dtheta of the minimax generator loss, which is
    -L_D up to a constant: the value f(-psi theta) + f(0) with D = sigma(l) = P(real)."""
    t, p = (torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in (theta, psi))
    d_loss = dirac_discriminator_loss(t, p, regularizer, field.get("gamma", 0.0))
    g_loss = losses.generator_loss_saturating(p * t.reshape(1))
    expected = [-torch.autograd.grad(g_loss, t)[0].item(), -torch.autograd.grad(d_loss, p)[0].item()]
    assert dy.vector_field(theta, psi, **field).tolist() == pytest.approx(expected, rel=1e-10, abs=1e-12)


class PointMass(nn.Module):
    """The Dirac-GAN's generator: every z goes to theta."""

    z_dim = 1

    def __init__(self, theta):
        super().__init__()
        self.theta = nn.Parameter(torch.tensor(theta, dtype=torch.float64))

    def forward(self, z):
        return self.theta.expand(len(z), 1)


class Linear(nn.Module):
    """The Dirac-GAN's discriminator logit l(x) = psi x."""

    def __init__(self, psi):
        super().__init__()
        self.psi = nn.Parameter(torch.tensor(psi, dtype=torch.float64))

    def forward(self, x):
        return self.psi * x[:, 0]


@pytest.mark.parametrize("field,regularizer", [({}, None), (dict(penalty=dy.js_penalty, gamma=0.8),
                                                            losses.js_regularizer)], ids=["gan", "js"])
def test_alternating_steps_are_the_training_loops_steps(field, regularizer):
    """train runs the discriminator's step first, then the generator's against the updated D: SGD on the
    Dirac-GAN with the minimax generator loss follows dynamics.trajectory's alternating steps."""
    g, d = PointMass(0.7), Linear(1.3)
    extra = dict(regularizer=regularizer, gamma=field["gamma"]) if regularizer else {}
    train(g, d, torch.zeros(8, 1, dtype=torch.float64), steps=5, batch_size=4, progress=False,
          g_opt=torch.optim.SGD(g.parameters(), lr=0.1), d_opt=torch.optim.SGD(d.parameters(), lr=0.1),
          g_loss=losses.generator_loss_saturating, **extra)
    path = dy.trajectory(0.7, 1.3, 5, lr=0.1, mode="alternating", **field)
    assert [g.theta.item(), d.psi.item()] == pytest.approx(path[-1].tolist(), rel=1e-10)
    generator_first = [0.7, 1.3]  # the other order ends elsewhere
    for _ in range(5):
        t = generator_first[0] + 0.1 * dy.vector_field(*generator_first, **field)[0].item()
        generator_first = [t, generator_first[1] + 0.1 * dy.vector_field(t, generator_first[1], **field)[1].item()]
    assert abs(generator_first[0] - g.theta.item()) > 1e-3


@pytest.mark.parametrize("h,converges", [(3.9, True), (4.1, False)])
def test_simultaneous_steps_converge_when_every_one_plus_h_lambda_is_inside_the_unit_circle(h, converges):
    # R1 with gamma = 1: double eigenvalue -1/2, |1 - h/2| < 1 for 0 < h < 4
    assert torch.allclose(dy.eigenvalues(penalty=dy.r1_penalty, gamma=1.0).real, torch.tensor(-0.5, dtype=torch.float64))
    path = dy.trajectory(1e-4, 1e-4, 500, lr=h, penalty=dy.r1_penalty, gamma=1.0)  # where J holds
    assert (path[-1].norm().item() < 1e-6) is converges
