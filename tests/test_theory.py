import numpy as np
import pytest

from regan_tutorial import theory

X = np.linspace(-16, 16, 12801)
DX = X[1] - X[0]


def random_pair(rng):
    return tuple(theory.gaussian_mixture(X, rng.uniform(-4, 4, 3), rng.uniform(0.3, 2, 3), rng.dirichlet(np.ones(3)))
                 for _ in range(2))


def test_gaussian_mixture_integrates_to_one():
    p = theory.gaussian_mixture(X, [-1, 3], [0.5, 2.0], [0.3, 0.7])
    assert np.sum(p) * DX == pytest.approx(1.0, abs=1e-9)


@pytest.mark.parametrize("seed", range(5))
def test_value_at_optimal_discriminator_is_minus_log4_plus_2jsd(seed):
    p, q = random_pair(np.random.default_rng(seed))
    v = theory.value_function(theory.optimal_discriminator(p, q), p, q, DX)
    assert v == pytest.approx(-np.log(4) + 2 * theory.jsd(p, q, DX), abs=1e-8)
    assert theory.virtual_training_criterion(p, q, DX) == pytest.approx(v, abs=1e-8)


@pytest.mark.parametrize("seed", range(3))
def test_any_perturbation_of_the_optimal_discriminator_lowers_v(seed):
    rng = np.random.default_rng(seed)
    p, q = random_pair(rng)
    d = theory.optimal_discriminator(p, q)
    best = theory.value_function(d, p, q, DX)
    logit = np.log(np.clip(d, 1e-12, 1)) - np.log(np.clip(1 - d, 1e-12, 1))
    for _ in range(10):
        bump = np.exp(-0.5 * ((X - rng.uniform(-3, 3)) / rng.uniform(0.2, 2)) ** 2) * rng.choice([-1, 1])
        eps = rng.uniform(0.05, 1)
        assert theory.value_function(1 / (1 + np.exp(-(logit + eps * bump))), p, q, DX) < best


def test_optimal_discriminator_values():
    assert theory.optimal_discriminator([1.0, 0.0, 2.0, 0.0], [0.0, 1.0, 2.0, 0.0]).tolist() == [1.0, 0.0, 0.5, 0.5]


def test_jsd_is_zero_iff_equal_and_at_most_log2():
    p, q = random_pair(np.random.default_rng(7))
    assert theory.jsd(p, p, DX) == pytest.approx(0.0, abs=1e-12)
    assert 0 < theory.jsd(p, q, DX) < np.log(2)
    assert theory.jsd(p, q, DX) == pytest.approx(theory.jsd(q, p, DX), abs=1e-12)
    far_p, far_q = theory.gaussian_mixture(X, [-8], [0.3]), theory.gaussian_mixture(X, [8], [0.3])
    assert theory.jsd(far_p, far_q, DX) == pytest.approx(np.log(2), abs=1e-9)


def test_kl_is_infinite_off_support_and_hand_computed_on_two_points():
    assert theory.kl([1.0, 0.0], [0.0, 1.0], 1.0) == float("inf")
    assert theory.kl([0.5, 0.5], [0.25, 0.75], 1.0) == pytest.approx(0.5 * np.log(2) + 0.5 * np.log(2 / 3))


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="probabilities"):
        theory.value_function(np.array([1.5]), [1.0], [1.0], 1.0)
    with pytest.raises(ValueError, match="non-negative"):
        theory.jsd([-1.0], [1.0], 1.0)


def test_instance_noise_changes_the_objective_by_minus_gamma_over_two_times_the_js_regularizer():
    """Roth et al.'s expansion, on densities: for the optimal logit, (F_gamma - F) / (gamma / 2) -> -Omega,
    with an error that shrinks in proportion to gamma."""
    x = np.linspace(-12, 12, 24001)
    dx = x[1] - x[0]
    p_means, p_stds, q_means, q_stds = [-1.5, 1.0], np.array([0.5, 0.7]), [0.5], np.array([1.0])
    p, q = theory.gaussian_mixture(x, p_means, p_stds), theory.gaussian_mixture(x, q_means, q_stds)
    logit = np.log(p) - np.log(q)
    F = theory.value_from_logit(logit, p, q, dx)
    assert F == pytest.approx(theory.virtual_training_criterion(p, q, dx), abs=1e-10)
    omega = theory.js_regularizer_density(logit, p, q, dx)
    errors = []
    for gamma in (0.03, 0.01, 0.003):
        p_noisy = theory.gaussian_mixture(x, p_means, np.sqrt(p_stds ** 2 + gamma))
        q_noisy = theory.gaussian_mixture(x, q_means, np.sqrt(q_stds ** 2 + gamma))
        errors.append((theory.value_from_logit(logit, p_noisy, q_noisy, dx) - F) / (gamma / 2) + omega)
    assert abs(errors[-1]) < 0.01 * omega
    assert errors[0] / errors[1] == pytest.approx(3, rel=0.1) and errors[1] / errors[2] == pytest.approx(10 / 3, rel=0.1)


def test_js_regularizer_density_of_a_linear_logit_is_the_weighted_mass():
    x = np.linspace(-10, 10, 20001)
    dx = x[1] - x[0]
    p, q = theory.gaussian_mixture(x, [0.0], [1.0]), theory.gaussian_mixture(x, [1.0], [1.0])
    logit = np.log(p) - np.log(q)  # = 0.5 - x: slope -1, so Omega = integral of p q / (p + q)
    assert theory.js_regularizer_density(logit, p, q, dx) == pytest.approx(np.sum(p * q / (p + q)) * dx, rel=1e-6)


GRID = np.linspace(-10, 10, 8001)  # narrower than X: chi^2 and reverse KL need q > 0 and p > 0 everywhere
GRID_DX = GRID[1] - GRID[0]


def gaussian_pair():
    return (theory.gaussian_mixture(GRID, [-1.5, 1.5], [0.5, 0.5]), theory.gaussian_mixture(GRID, [0.5], [1.2]))


@pytest.mark.parametrize("name", sorted(theory.F_DIVERGENCES))
def test_each_conjugate_is_the_supremum_of_u_t_minus_f(name):
    """f*(t) = sup_u {u t - f(u)}, computed by brute force over u, and attained at u with f'(u) = t."""
    div = theory.F_DIVERGENCES[name]
    u = np.geomspace(1e-6, 1e4, 200001)
    for ratio in (0.1, 0.5, 1.0, 2.0, 7.0):
        t = div.derivative(ratio)
        assert div.conjugate(t) == pytest.approx(np.max(u * t - div.f(u)), abs=1e-6)
        assert div.conjugate(t) == pytest.approx(ratio * t - div.f(ratio), abs=1e-12)


def test_named_f_divergences_are_the_divergences_of_chapter_one():
    p, q = gaussian_pair()
    table = theory.F_DIVERGENCES
    assert theory.f_divergence(p, q, GRID_DX, table["KL"].f) == pytest.approx(theory.kl(p, q, GRID_DX), abs=1e-10)
    assert theory.f_divergence(p, q, GRID_DX, table["reverse KL"].f) == pytest.approx(
        theory.kl(q, p, GRID_DX), abs=1e-10)
    assert theory.f_divergence(p, q, GRID_DX, table["Jensen-Shannon"].f) == pytest.approx(
        2 * theory.jsd(p, q, GRID_DX), abs=1e-10)
    assert theory.f_divergence(p, q, GRID_DX, table["GAN"].f) == pytest.approx(
        theory.virtual_training_criterion(p, q, GRID_DX), abs=1e-10)
    assert theory.f_divergence(p, q, GRID_DX, table["Pearson chi2"].f) == pytest.approx(
        np.sum((p - q) ** 2 / q) * GRID_DX, rel=1e-12)


def test_f_divergence_by_hand_on_two_points():
    # P = (1/2, 1/2), Q = (1/4, 3/4): chi^2 = (1/4)^2 / (1/4) + (1/4)^2 / (3/4) = 1/3
    chi2 = theory.F_DIVERGENCES["Pearson chi2"].f
    assert theory.f_divergence([0.5, 0.5], [0.25, 0.75], 1.0, chi2) == pytest.approx(1 / 3)
    with pytest.raises(ValueError, match="q > 0"):
        theory.f_divergence([0.5, 0.5], [1.0, 0.0], 1.0, chi2)


@pytest.mark.parametrize("name", sorted(theory.F_DIVERGENCES))
def test_the_variational_bound_is_tight_at_t_star_and_lower_elsewhere(name):
    p, q = gaussian_pair()
    div = theory.F_DIVERGENCES[name]
    d_f = theory.f_divergence(p, q, GRID_DX, div.f)
    ratio = p / q
    tight = theory.variational_bound(div.derivative(ratio), p, q, GRID_DX, div.conjugate)
    assert tight == pytest.approx(d_f, abs=1e-9)
    for worse in (ratio ** 0.5, ratio ** 1.5, np.ones_like(ratio), 0.7 * ratio + 0.3):  # critics of wrong ratios
        gap = d_f - theory.variational_bound(div.derivative(worse), p, q, GRID_DX, div.conjugate)
        assert 1e-4 < gap < np.inf


def test_the_gan_bound_at_t_equal_log_d_is_the_value_function():
    """The GAN is the f-GAN with T = log D: E_P[log D] - E_Q[-log(1 - D)] = V(D, G), for any D."""
    p, q = gaussian_pair()
    gan = theory.F_DIVERGENCES["GAN"]
    logit = 0.8 - 0.6 * GRID  # some discriminator, not the optimal one
    bound = theory.variational_bound(-np.logaddexp(0, -logit), p, q, GRID_DX, gan.conjugate)
    assert bound == pytest.approx(theory.value_from_logit(logit, p, q, GRID_DX), abs=1e-10)
    assert gan.derivative(p / q) == pytest.approx(np.log(theory.optimal_discriminator(p, q)), abs=1e-12)
