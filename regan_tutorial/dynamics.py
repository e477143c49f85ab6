r"""Training dynamics of the Dirac-GAN (Mescheder, Geiger and Nowozin, ICML 2018, Sec. 2).

The data is a point mass at 0, the generator a point mass at :math:`\theta`, and the
discriminator's logit is linear, :math:`l(x) = \psi x`. As everywhere in the course,
:math:`D = \sigma(l)` is the probability that a sample is *real*, so the game's value
:math:`\mathbb{E}_{\text{data}}[f(l(x))] + \mathbb{E}_{\text{fake}}[f(-l(\tilde x))]` is

.. math:: L(\theta, \psi) = f(-\psi\theta) + f(0),

with :math:`f(t) = -\log(1 + e^{-t}) = \log\sigma(t)` for the GAN of Goodfellow et al. and
:math:`f(t) = t` for WGAN. Mescheder et al. write :math:`f(\psi\theta) + f(0)`: their
:math:`\sigma(D)` is the probability of *fake*. The two are one game with :math:`\psi \to -\psi`,
with the same eigenvalues; the sign matters for the JS regularizer, which weights real and fake
differently.

The generator descends :math:`L`, the discriminator ascends :math:`L - \tfrac{\gamma}{2}\Omega(\theta, \psi)`,
for every penalty :math:`\Omega` here: the form of R1, :math:`\tfrac{\gamma}{2}\|\nabla_x l\|^2`, and of
Roth et al.'s :math:`\tfrac{\gamma}{2}\Omega`, and the weight the training loop gives ``regularizer=``.
Each penalty is :math:`\Omega` as :mod:`regan_tutorial.losses` defines it, at the Dirac-GAN:

- R1 (``losses.r1_regularizer``): :math:`\|\nabla_x l\|^2` at the data, :math:`\psi^2`;
- JS (``losses.js_regularizer``): :math:`(1 - \sigma(l(0)))^2\psi^2 + \sigma(l(\theta))^2\psi^2
  = (\tfrac14 + \sigma(\psi\theta)^2)\,\psi^2`, real weighted by :math:`(1 - \sigma)^2`, fake by :math:`\sigma^2`;
- WGAN-GP: :math:`2(|\psi| - 1)^2`, so that :math:`\tfrac{\gamma}{2}\Omega` is the paper's
  :math:`\lambda(\|\nabla_x l\| - 1)^2` with :math:`\gamma = \lambda`.

The only equilibrium is :math:`(\theta, \psi) = (0, 0)`; whether training reaches it is decided
by the eigenvalues of the Jacobian of the gradient field there. Everything is in float64, so
eigenvalues can be compared with the paper's closed forms.
"""

import math

import numpy as np
import torch
import torch.nn.functional as F


def f_gan(t):
    r""":math:`f(t) = -\log(1 + e^{-t}) = \log\sigma(t)`: :math:`f'(t) = \sigma(-t)`, :math:`f'(0) = \tfrac12`,
    :math:`f''(0) = -\tfrac14`."""
    return -F.softplus(-t)


def f_wgan(t):
    r""":math:`f(t) = t`: WGAN's value, :math:`f'(0) = 1`, :math:`f'' = 0`."""
    return t


def no_penalty(theta, psi):
    return torch.zeros((), dtype=psi.dtype)


def r1_penalty(theta, psi):
    r"""R1's :math:`\Omega = \|\nabla_x l\|^2` at the data (x = 0): :math:`\psi^2`; the field subtracts
    :math:`\tfrac{\gamma}{2}\Omega`, the paper's :math:`\tfrac{\gamma}{2}\|\nabla D\|^2`."""
    return psi ** 2


def js_penalty(theta, psi):
    r"""Roth et al.'s :math:`\Omega`, as ``losses.js_regularizer``: the real (x = 0) weighted by
    :math:`(1 - \sigma(l(0)))^2 = \tfrac14`, the fake (x = :math:`\theta`) by :math:`\sigma(l(\theta))^2
    = \sigma(\psi\theta)^2`, each times :math:`\|\nabla_x l\|^2 = \psi^2`; the field subtracts
    :math:`\tfrac{\gamma}{2}\Omega`."""
    real = (1 - torch.sigmoid(torch.zeros((), dtype=psi.dtype))) ** 2  # l(0) = 0 at the data
    fake = torch.sigmoid(psi * theta) ** 2  # l(theta) = psi * theta at the fake
    return (real + fake) * psi ** 2


def gp_penalty(theta, psi):
    r"""WGAN-GP's penalty, :math:`2(|\psi| - 1)^2` (:math:`\|\nabla_x l\| = |\psi|` at every interpolate),
    so that the field's :math:`\tfrac{\gamma}{2}\Omega` is :math:`\lambda(|\psi| - 1)^2` with :math:`\gamma = \lambda`."""
    return 2 * (psi.abs() - 1) ** 2


def vector_field(theta, psi, f=f_gan, penalty=no_penalty, gamma=0.0, noise=0.0, nodes=40):
    r"""The gradient field :math:`v = (-\partial_\theta L,\ \partial_\psi (L - \tfrac{\gamma}{2}\Omega))` at one point,
    with :math:`L = f(-\psi\theta) + f(0)` (``l(x) = psi * x``, :math:`\sigma(l)` = P(real)).

    ``noise`` > 0 adds instance noise :math:`\varepsilon \sim \mathcal N(0, \sigma^2)` to data and fake,
    with the expectation taken exactly (Gauss-Hermite quadrature with ``nodes`` points).
    """
    theta, psi = (torch.as_tensor(v, dtype=torch.float64).clone().requires_grad_(True) for v in (theta, psi))
    if noise:
        x, w = np.polynomial.hermite_e.hermegauss(nodes)
        eps, weight = torch.as_tensor(noise * x), torch.as_tensor(w / math.sqrt(2 * math.pi))
        value = (weight * (f(-psi * (theta + eps)) + f(psi * eps))).sum()  # fake at theta + eps, data at eps
    else:
        value = f(-psi * theta) + f(torch.zeros((), dtype=torch.float64))
    g_theta, = torch.autograd.grad(value, theta, create_graph=True)
    g_psi, = torch.autograd.grad(value - gamma / 2 * penalty(theta, psi), psi, create_graph=True)
    return torch.stack([-g_theta, g_psi])


def jacobian(theta=0.0, psi=0.0, **field):
    """The 2 x 2 Jacobian of :func:`vector_field` at (theta, psi), by ``torch.autograd.functional.jacobian``."""
    point = torch.tensor([theta, psi], dtype=torch.float64)
    return torch.autograd.functional.jacobian(lambda p: vector_field(p[0], p[1], **field), point)


def eigenvalues(**field):
    """Eigenvalues of the Jacobian at the equilibrium (0, 0): real parts < 0 attract the gradient flow,
    = 0 circle. Discrete simultaneous steps of size h also need |1 + h lambda| < 1 for each."""
    return torch.linalg.eigvals(jacobian(**field))


def trajectory(theta, psi, steps, lr=0.1, lr_d=None, mode="simultaneous", clip=None, **field):
    """Discrete gradient steps from (theta, psi): ``simultaneous`` (both from the same point) or
    ``alternating`` (the discriminator first, then the generator against the discriminator's new
    slope, in the order of the course's loop, ``train.train``); ``lr_d`` gives the discriminator its
    own step size (two time-scale updates, Heusel et al. 2017); ``clip`` clamps psi to [-clip, clip]
    after the discriminator's step (WGAN). Returns (steps + 1, 2)."""
    if mode not in ("simultaneous", "alternating"):
        raise ValueError(f"mode {mode!r} is not one of simultaneous, alternating")
    lr_d = lr if lr_d is None else lr_d
    points = [torch.tensor([theta, psi], dtype=torch.float64)]
    for _ in range(steps):
        t, p = points[-1]
        v = vector_field(t, p, **field).detach()
        p_new = p + lr_d * v[1]
        if clip is not None:
            p_new = p_new.clamp(-clip, clip)
        if mode == "alternating":
            v = vector_field(t, p_new, **field).detach()
        t_new = t + lr * v[0]
        points.append(torch.stack([t_new, p_new]))
    return torch.stack(points)


def relativistic_field(theta, psi, regularizer=None, gamma=0.0):
    r"""The Dirac-GAN's gradient field under the relativistic pairing loss (R3GAN), built from the
    package's own losses and regularizers, in the course's convention :math:`D = \sigma(l)`,
    :math:`l(x) = \psi x`, data at 0 and the generator's point at :math:`\theta`:

    .. math:: L_D = \operatorname{softplus}(l(\theta) - l(0)) + \tfrac{\gamma}{2}\Omega, \qquad
              L_G = \operatorname{softplus}(l(0) - l(\theta)),

    and :math:`v = (-\partial_\theta L_G,\ -\partial_\psi L_D)`. ``regularizer`` is one of
    ``losses.r1_regularizer``, ``losses.r2_regularizer``, ``losses.r1_r2_regularizer`` (or None), called
    on the one real and the one fake sample exactly as the training loop calls it: for this linear D
    each of R1 and R2 is :math:`\psi^2`.
    """
    from . import losses

    theta, psi = (torch.as_tensor(v, dtype=torch.float64).clone().requires_grad_(True) for v in (theta, psi))
    x_real = torch.zeros(1, 1, dtype=torch.float64, requires_grad=True)
    x_fake = theta.reshape(1, 1)
    d_real, d_fake = psi * x_real.squeeze(1), psi * x_fake.squeeze(1)
    g_loss = losses.generator_loss_relativistic(d_real, d_fake)
    d_loss = losses.discriminator_loss_relativistic(d_real, d_fake)
    if regularizer is not None:
        # the penalty's x_fake is a leaf: D's regularizer is not a function of the generator's theta
        x_leaf = x_fake.detach().requires_grad_(True)
        omega = regularizer(psi * x_real.squeeze(1), x_real, psi * x_leaf.squeeze(1), x_leaf)
        d_loss = d_loss + gamma / 2 * omega
    g_theta, = torch.autograd.grad(g_loss, theta, create_graph=True)
    g_psi, = torch.autograd.grad(d_loss, psi, create_graph=True)
    return torch.stack([-g_theta, -g_psi])


def relativistic_jacobian(theta=0.0, psi=0.0, **field):
    """The 2 x 2 Jacobian of :func:`relativistic_field` at (theta, psi), by ``torch.autograd.functional.jacobian``."""
    point = torch.tensor([theta, psi], dtype=torch.float64)
    return torch.autograd.functional.jacobian(lambda p: relativistic_field(p[0], p[1], **field), point)


def relativistic_eigenvalues_closed_form(gamma, n_penalties):
    r"""The eigenvalues at the equilibrium derived in the capstone chapter: with ``n_penalties`` c of
    R1 and R2 (0, 1 for either alone, 2 for both), each adding :math:`\tfrac{\gamma}{2}\psi^2`,

    .. math:: J = \begin{pmatrix} 0 & f'(0) \\ -f'(0) & -c\gamma \end{pmatrix}, \qquad
              \lambda_\pm = -\tfrac{c\gamma}{2} \pm \sqrt{\tfrac{c^2\gamma^2}{4} - f'(0)^2},

    with :math:`f'(0) = \sigma(0) = \tfrac12`."""
    c_gamma = n_penalties * gamma
    root = complex(c_gamma ** 2 / 4 - 0.25) ** 0.5
    return [-c_gamma / 2 + root, -c_gamma / 2 - root]
