"""The Dirac-GAN's Jacobian against the closed forms of Mescheder et al. 2018, and its trajectories."""

import math

import pytest
import torch

from regan_tutorial import dynamics as dy


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


def test_wgan_gp_and_clipped_wgan_do_not_converge():
    gp = dy.trajectory(1.0, 1.0, 3000, lr=0.05, f=dy.f_wgan, penalty=dy.gp_penalty, gamma=1.0)
    clipped = dy.trajectory(1.0, 0.5, 3000, lr=0.05, f=dy.f_wgan, clip=0.5, mode="alternating")
    assert radius(gp[-500:]).min() > 0.1 and radius(clipped[-500:]).min() > 0.1


def test_unknown_step_mode_lists_the_valid_ones():
    with pytest.raises(ValueError, match="simultaneous, alternating"):
        dy.trajectory(1.0, 1.0, 1, mode="jacobi")
