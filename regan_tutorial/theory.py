r"""The GAN game on densities tabulated on a grid (Goodfellow et al. 2014, Sec. 4).

Everything here is NumPy on float64 arrays ``p`` of density values at evenly
spaced points ``x`` with spacing ``dx``, so integrals are Riemann sums and the
chapter's theorems can be checked to numerical precision.
"""

from typing import Callable, NamedTuple

import numpy as np


def _xlogy(x, y):
    """x * log(y), with 0 * log(0) = 0 as in the definition of entropy."""
    x, y = np.broadcast_arrays(np.asarray(x, float), np.asarray(y, float))
    out = np.zeros_like(x)
    mask = x != 0
    out[mask] = x[mask] * np.log(y[mask])
    return out


def gaussian_mixture(x, means, stds, weights=None):
    """Density of a 1D Gaussian mixture at points ``x``."""
    means, stds = np.atleast_1d(means).astype(float), np.atleast_1d(stds).astype(float)
    weights = np.full(len(means), 1 / len(means)) if weights is None else np.asarray(weights, float)
    x = np.asarray(x, float)[..., None]
    comps = np.exp(-0.5 * ((x - means) / stds) ** 2) / (stds * np.sqrt(2 * np.pi))
    return comps @ weights


def optimal_discriminator(p_data, p_g):
    r"""The optimal discriminator, Proposition 1.1 (Goodfellow et al. 2014, Proposition 1):
    :math:`D^*(x) = \frac{p_{data}(x)}{p_{data}(x) + p_g(x)}` (1/2 where both vanish)."""
    p_data, p_g = np.asarray(p_data, float), np.asarray(p_g, float)
    total = p_data + p_g
    return np.divide(p_data, total, out=np.full_like(total, 0.5), where=total > 0)


def value_function(d, p_data, p_g, dx):
    r""":math:`V(D, G) = \int p_{data}(x) \log D(x) + p_g(x) \log(1 - D(x))\,dx` (Eq. 3).

    From probabilities: where :math:`p_g / p_{data} < 10^{-16}`, :math:`D^*` rounds to 1 and
    :math:`\log(1 - D)` to :math:`-\infty`. For :math:`V(D^*, G)` use
    :func:`virtual_training_criterion`; for a discriminator given by its logit, :func:`value_from_logit`.
    """
    d = np.asarray(d, float)
    if np.any((d < 0) | (d > 1)):
        raise ValueError("a discriminator's outputs are probabilities: every d must lie in [0, 1]")
    p_data, p_g = np.broadcast_arrays(np.asarray(p_data, float), np.asarray(p_g, float))
    if np.any(((d == 1) & (p_g > 0)) | ((d == 0) & (p_data > 0))):
        raise ValueError("D is exactly 0 or 1 where the other density is positive, so V = -inf; if D rounded "
                         "there (e.g. D* where the densities differ by more than 1e16), use "
                         "virtual_training_criterion(p_data, p_g, dx) or value_from_logit(logit, p_data, p_g, dx)")
    return float(np.sum(_xlogy(p_data, d) + _xlogy(p_g, 1 - d)) * dx)


def kl(p, q, dx):
    r""":math:`\mathrm{KL}(p \| q) = \int p \log \frac{p}{q}\,dx` (infinite where q = 0 < p)."""
    p, q = np.asarray(p, float), np.asarray(q, float)
    if np.any((p > 0) & (q == 0)):
        return float("inf")
    return float(np.sum(_xlogy(p, p) - _xlogy(p, q)) * dx)


def jsd(p, q, dx):
    r""":math:`\mathrm{JSD}(p \| q) = \tfrac12 \mathrm{KL}(p \| m) + \tfrac12 \mathrm{KL}(q \| m)`, :math:`m = \tfrac{p+q}{2}`.

    Between 0 (p = q) and log 2 (disjoint supports).
    """
    p, q = np.asarray(p, float), np.asarray(q, float)
    if np.any(p < 0) or np.any(q < 0):
        raise ValueError("densities must be non-negative")
    m = (p + q) / 2
    return 0.5 * kl(p, m, dx) + 0.5 * kl(q, m, dx)


def virtual_training_criterion(p_data, p_g, dx):
    r"""The virtual training criterion, Theorem 1.1 (Goodfellow et al. 2014, Theorem 1):
    :math:`C(G) = \max_D V(D, G) = -\log 4 + 2\,\mathrm{JSD}(p_{data} \| p_g)`.

    Computed as V(D*, G) with :math:`\log D^* = \log p_{data} - \log(p_{data} + p_g)`, which stays
    finite where the ratio D* itself would underflow to 0.
    """
    p, q = np.asarray(p_data, float), np.asarray(p_g, float)
    return float(np.sum(_xlogy(p, p) - _xlogy(p, p + q) + _xlogy(q, q) - _xlogy(q, p + q)) * dx)


def wasserstein_empirical(a, b):
    r"""Earth-Mover (Wasserstein-1) distance between two equal-size point clouds a, b of shape (N, d):

    .. math:: W_1 = \min_{\sigma} \frac1N \sum_i \| a_i - b_{\sigma(i)} \|_2,

    the cheapest one-to-one transport, solved exactly by the Hungarian algorithm (SciPy).
    """
    from scipy.optimize import linear_sum_assignment

    a, b = np.asarray(a, float), np.asarray(b, float)
    if a.shape != b.shape or a.ndim != 2:
        raise ValueError(f"need two point clouds of the same shape (N, d), got {a.shape} and {b.shape}")
    cost = np.linalg.norm(a[:, None, :] - b[None, :, :], axis=-1)
    rows, cols = linear_sum_assignment(cost)
    return float(cost[rows, cols].mean())


def parallel_lines(theta, n, rng):
    """Arjovsky et al. 2017, Example 1: samples of (0, U[0, 1]) and of (theta, U[0, 1])."""
    y0, y1 = rng.uniform(0, 1, n), rng.uniform(0, 1, n)
    return np.stack([np.zeros(n), y0], 1), np.stack([np.full(n, float(theta)), y1], 1)


def value_from_logit(logit, p_data, p_g, dx):
    r""":math:`V(D, G)` of Eq. 3 for :math:`D = \sigma(l)`, from the logit :math:`l` on the grid, with
    :math:`\log \sigma(l) = -\log(1 + e^{-l})` computed stably (no log of a rounded-off 0)."""
    logit = np.asarray(logit, float)
    return float(np.sum(-np.asarray(p_data) * np.logaddexp(0, -logit) - np.asarray(p_g) * np.logaddexp(0, logit)) * dx)


def js_regularizer_density(logit, p_data, p_g, dx):
    r"""Roth et al.'s regularizer for densities on a 1D grid:

    .. math:: \Omega = \int \big[p_{data}(x) (1 - \sigma(l(x)))^2 + p_g(x)\, \sigma(l(x))^2\big]\, l'(x)^2\, dx,

    with :math:`l'` by finite differences (``np.gradient``).
    """
    logit = np.asarray(logit, float)
    d = 1 / (1 + np.exp(-logit))
    weight = np.asarray(p_data) * (1 - d) ** 2 + np.asarray(p_g) * d ** 2
    return float(np.sum(weight * np.gradient(logit, dx) ** 2) * dx)


class FDivergence(NamedTuple):
    r"""One row of Nowozin et al.'s tables (f-GAN, NeurIPS 2016, Tables 1 and 2): the generator
    :math:`f`, its Fenchel conjugate :math:`f^*(t) = \sup_u \{u t - f(u)\}`, and :math:`f'`, which
    maps the density ratio :math:`u = p/q` to the optimal critic :math:`T^* = f'(p/q)`."""

    f: Callable
    conjugate: Callable
    derivative: Callable


def _log_one_minus_exp(t):
    """log(1 - e^t) for t < 0, accurate for t near 0 and for t very negative."""
    t = np.asarray(t, float)
    return np.where(t > -np.log(2), np.log(-np.expm1(t)), np.log1p(-np.exp(t)))


F_DIVERGENCES = {
    # D_f = KL(P || Q)
    "KL": FDivergence(f=lambda u: _xlogy(u, u),
                      conjugate=lambda t: np.exp(t - 1),
                      derivative=lambda u: 1 + np.log(u)),
    # D_f = KL(Q || P); f* is defined for t < 0
    "reverse KL": FDivergence(f=lambda u: -np.log(u),
                              conjugate=lambda t: -1 - np.log(-t),
                              derivative=lambda u: -1 / u),
    # D_f = 2 JSD(P || Q); f* is defined for t < log 2
    "Jensen-Shannon": FDivergence(f=lambda u: _xlogy(u, u) - _xlogy(u + 1, (u + 1) / 2),
                                  conjugate=lambda t: -np.log(2 - np.exp(t)),
                                  derivative=lambda u: np.log(2 * u / (u + 1))),
    # D_f = 2 JSD(P || Q) - log 4, the GAN's C(G); f* is defined for t < 0, T* = log D*
    "GAN": FDivergence(f=lambda u: _xlogy(u, u) - _xlogy(u + 1, u + 1),
                       conjugate=lambda t: -_log_one_minus_exp(t),
                       derivative=lambda u: np.log(u / (u + 1))),
    # D_f = chi^2(P || Q) = int (p - q)^2 / q
    "Pearson chi2": FDivergence(f=lambda u: (u - 1) ** 2,
                                conjugate=lambda t: t + t ** 2 / 4,
                                derivative=lambda u: 2 * (u - 1)),
}


def f_divergence(p, q, dx, f):
    r""":math:`D_f(P \| Q) = \int q(x)\, f\big(p(x) / q(x)\big)\, dx` (Nowozin et al. 2016, Eq. 2).

    ``f`` is the generator, e.g. ``F_DIVERGENCES["KL"].f``. Needs :math:`q > 0` on the grid: where
    :math:`q = 0 < p` the integrand's limit depends on :math:`f` at infinity.
    """
    p, q = np.asarray(p, float), np.asarray(q, float)
    if np.any(p < 0) or np.any(q <= 0):
        raise ValueError("need p >= 0 and q > 0 at every grid point (D_f divides by q)")
    with np.errstate(divide="ignore"):  # f(0) may be +inf (reverse KL): then so is D_f
        return float(np.sum(q * f(p / q)) * dx)


def variational_bound(t, p, q, dx, conjugate):
    r"""Nowozin et al.'s lower bound for a critic :math:`T` tabulated on the grid (their Eq. 4):

    .. math:: D_f(P \| Q) \ge \mathbb{E}_{x \sim P}[T(x)] - \mathbb{E}_{x \sim Q}[f^*(T(x))],

    with equality at :math:`T^* = f'(p / q)`. ``t`` must lie where :math:`f^*` is defined.
    """
    t, p, q = (np.asarray(a, float) for a in (t, p, q))
    return float(np.sum(p * t - q * conjugate(t)) * dx)
