r"""GAN objectives and penalties, all computed from logits.

Naming follows the course: ``d_real`` and ``d_fake`` are the discriminator's
*logits* :math:`l = \operatorname{logit} D(x)` on real and generated samples,
so :math:`D(x) = \sigma(l)`. Discriminator losses take ``(d_real, d_fake)``,
generator losses ``(d_fake)``. Logs of sigmoids are taken through
``binary_cross_entropy_with_logits`` / ``softplus``, which stay finite where
``log(sigmoid(l))`` underflows to ``-inf``.

Every function takes one logit per sample in any of the shapes discriminators
return, (N,), (N, 1) or (N, 1, 1, 1), and refuses anything else: a (N, 1) logit
times an (N,) weight would otherwise broadcast to an N x N matrix.
"""

import numbers

import torch
import torch.nn.functional as F


def per_sample(scores, n=None, name="logits"):
    """``scores`` with one value per sample as shape (N,): accepts (N,), (N, 1), (N, 1, 1, 1), ...;
    refuses a scalar (e.g. a batch mean), (N, K) with K > 1, or N different from ``n``."""
    if not torch.is_tensor(scores):
        raise TypeError(f"{name} must be a tensor, got {type(scores).__name__}")
    if not scores.is_floating_point():
        raise TypeError(f"{name} must be floating point (a network's outputs), got {scores.dtype}: "
                        f"pass e.g. {name}.float()")
    if scores.dim() == 0 or any(s != 1 for s in scores.shape[1:]):
        raise ValueError(f"{name} must hold one value per sample, shape (N,), (N, 1) or (N, 1, 1, 1), got "
                         f"{tuple(scores.shape)}"
                         + (": a critic must return per-sample scores, not their mean" if scores.dim() == 0 else ""))
    if len(scores) == 0:
        raise ValueError(f"{name} holds no samples (shape {tuple(scores.shape)}): the mean of an empty batch is nan; "
                         "pass a batch of at least one sample")
    if n is not None and len(scores) != n:
        raise ValueError(f"{name} has {len(scores)} values for {n} samples (shape {tuple(scores.shape)})")
    return scores.reshape(len(scores))


def discriminator_loss(d_real, d_fake, *, real_target=1.0):
    r"""Goodfellow et al. 2014, Eq. 1, as a loss to minimise (not halved, as in Roth et al.'s code):

    .. math:: L_D = -\mathbb{E}_x[\log D(x)] - \mathbb{E}_z[\log(1 - D(G(z)))]

    With ``real_target`` :math:`t < 1`, *one-sided label smoothing* (Salimans et al. 2016,
    Sec. 3.4): the real samples' target is t, the fakes' stays 0,

    .. math:: L_D = -\mathbb{E}_x[t \log D(x) + (1 - t) \log(1 - D(x))] - \mathbb{E}_z[\log(1 - D(G(z)))],

    whose optimum is :math:`D^* = t\, p_{data} / (p_{data} + p_g)`: at most t, and still 0 where
    only fakes are. Use it in :func:`~regan_tutorial.train.train` as
    ``functools.partial(discriminator_loss, real_target=0.9)``.
    """
    if isinstance(real_target, bool) or not isinstance(real_target, numbers.Real) or not 0 < real_target <= 1:
        raise ValueError(f"real_target is the real samples' label: a number in (0, 1], e.g. 0.9 (one-sided "
                         f"label smoothing) or 1 (none), got {real_target!r}")
    d_real, d_fake = per_sample(d_real, name="d_real"), per_sample(d_fake, name="d_fake")
    real = F.binary_cross_entropy_with_logits(d_real, torch.full_like(d_real, real_target))
    fake = F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake))
    return real + fake


def generator_loss_saturating(d_fake):
    r"""The minimax generator loss of Goodfellow et al. 2014:

    .. math:: L_G = \mathbb{E}_z[\log(1 - D(G(z)))] = -\mathbb{E}_z[\operatorname{softplus}(l)]

    Its gradient vanishes when D confidently rejects the fakes (:math:`l \to -\infty`).
    """
    d_fake = per_sample(d_fake, name="d_fake")
    return -F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake))


def generator_loss_nonsaturating(d_fake):
    r"""The non-saturating generator loss (Goodfellow et al. 2014, Sec. 3):

    .. math:: L_G = -\mathbb{E}_z[\log D(G(z))] = \mathbb{E}_z[\operatorname{softplus}(-l)]
    """
    d_fake = per_sample(d_fake, name="d_fake")
    return F.binary_cross_entropy_with_logits(d_fake, torch.ones_like(d_fake))


def critic_loss_wasserstein(d_real, d_fake):
    r"""WGAN critic loss (Arjovsky et al. 2017, Algorithm 1): the critic's outputs are scores, not logits.

    .. math:: L_C = \mathbb{E}_z[C(G(z))] - \mathbb{E}_x[C(x)]

    :math:`-L_C` estimates the Wasserstein-1 distance when C is 1-Lipschitz.
    """
    return per_sample(d_fake, name="d_fake").mean() - per_sample(d_real, name="d_real").mean()


def no_generator_loss(d_fake):
    r"""No loss on D's logits, :math:`L_G = 0`: for a generator trained by its terms alone, such as
    Salimans et al.'s feature matching (``train(..., g_loss=no_generator_loss, feature_matching=...)``)."""
    return per_sample(d_fake, name="d_fake").new_zeros(())


def generator_loss_wasserstein(d_fake):
    r"""WGAN generator loss: :math:`L_G = -\mathbb{E}_z[C(G(z))]`."""
    return -per_sample(d_fake, name="d_fake").mean()


def discriminator_loss_least_squares(d_real, d_fake):
    r"""Least-squares GAN (Mao et al. 2017, Eq. 2 with a = 0, b = c = 1), on the raw outputs:

    .. math:: L_D = \tfrac12\,\mathbb{E}_x[(D(x) - 1)^2] + \tfrac12\,\mathbb{E}_z[D(G(z))^2]
    """
    d_real, d_fake = per_sample(d_real, name="d_real"), per_sample(d_fake, name="d_fake")
    return 0.5 * (d_real - 1).pow(2).mean() + 0.5 * d_fake.pow(2).mean()


def generator_loss_least_squares(d_fake):
    r"""Least-squares GAN generator loss: :math:`L_G = \tfrac12\,\mathbb{E}_z[(D(G(z)) - 1)^2]`."""
    return 0.5 * (per_sample(d_fake, name="d_fake") - 1).pow(2).mean()


def discriminator_loss_hinge(d_real, d_fake):
    r"""Hinge loss (Lim and Ye 2017; Miyato et al. 2018, Eq. 16), on the raw outputs:

    .. math:: L_D = \mathbb{E}_x[\max(0, 1 - D(x))] + \mathbb{E}_z[\max(0, 1 + D(G(z)))]
    """
    d_real, d_fake = per_sample(d_real, name="d_real"), per_sample(d_fake, name="d_fake")
    return F.relu(1 - d_real).mean() + F.relu(1 + d_fake).mean()


def generator_loss_hinge(d_fake):
    r"""Hinge generator loss: :math:`L_G = -\mathbb{E}_z[D(G(z))]`."""
    return -per_sample(d_fake, name="d_fake").mean()


def input_gradient_norm2(outputs, inputs):
    r"""Per-sample squared norm of the gradient of ``outputs`` (one value per sample) w.r.t. ``inputs``:
    :math:`\|\nabla_x f(x_i)\|^2`, flattened over each sample's dimensions.

    Built with ``create_graph=True``, so a penalty on it can be back-propagated
    (double back-propagation). The one primitive behind every gradient penalty here.
    """
    if not inputs.requires_grad:
        raise ValueError("inputs must have requires_grad=True before the forward pass that made outputs")
    outputs = per_sample(outputs, len(inputs), "outputs")
    grad = None
    if outputs.requires_grad:
        grad, = torch.autograd.grad(outputs.sum(), inputs, create_graph=True, allow_unused=True)
    if grad is None:
        raise ValueError("outputs do not depend on inputs: compute them from inputs with gradients enabled")
    return grad.flatten(1).pow(2).sum(dim=1)


def gradient_penalty(critic, x_real, x_fake, lam=10.0, generator=None):
    r"""WGAN-GP penalty (Gulrajani et al. 2017, Eq. 3), at random interpolates of real and fake samples:

    .. math:: \lambda\, \mathbb{E}_{\hat x}\big[(\|\nabla_{\hat x} C(\hat x)\|_2 - 1)^2\big],
              \quad \hat x = x + \alpha (\tilde x - x),\ \alpha \sim U[0, 1] \text{ per sample}

    with :math:`\lambda = 10`. ``generator`` (a ``torch.Generator``) makes alpha reproducible.
    """
    if x_real.shape != x_fake.shape:
        raise ValueError(f"real and fake batches must have the same shape, got {tuple(x_real.shape)} and {tuple(x_fake.shape)}")
    alpha = torch.rand(len(x_real), *[1] * (x_real.dim() - 1), generator=generator).to(x_real.device, x_real.dtype)
    x_hat = (x_real.detach() + alpha * (x_fake.detach() - x_real.detach())).requires_grad_(True)
    scores = per_sample(critic(x_hat), len(x_hat), "the critic's output")
    norm = input_gradient_norm2(scores, x_hat).add(1e-12).sqrt()  # eps: sqrt is not differentiable at 0
    return lam * (norm - 1).pow(2).mean()


def clip_weights(module, c=0.01):
    """WGAN's crude Lipschitz constraint: clamp every parameter of ``module`` to [-c, c] (Arjovsky et al. 2017)."""
    with torch.no_grad():
        for p in module.parameters():
            p.clamp_(-c, c)


def _codes(mean, codes, n):
    """Q's means and the continuous codes as (N, K) each: (N,) is one code; any other mismatch is refused
    (a (N, 1) mean minus (N,) codes would broadcast to N x N)."""
    mean, codes = (x[:, None] if torch.is_tensor(x) and x.dim() == 1 else x for x in (mean, codes))
    if not (torch.is_tensor(mean) and torch.is_tensor(codes)) or mean.dim() != 2 or mean.shape != codes.shape \
            or len(mean) != n:
        shape = lambda x: tuple(x.shape) if torch.is_tensor(x) else type(x).__name__
        raise ValueError(f"continuous_mean and continuous must both have shape (N, K), one code vector per sample "
                         f"(N = {n}, the number of category logits), got {shape(mean)} and {shape(codes)}")
    return mean, codes


def mutual_information_loss(category_logits, continuous_mean, category, continuous, lam=1.0, lam_continuous=0.1):
    r"""InfoGAN's variational bound on :math:`-I(c; G(z, c))`, up to the constant entropy of c
    (Chen et al. 2016, Eq. 5), for a categorical code and continuous codes with a fixed-variance
    Gaussian Q:

    .. math:: L_I = \lambda\, \mathbb{E}[-\log Q(c \mid x)] + \lambda_{cont}\, \mathbb{E}\big[\tfrac12 \|c' - \mu_Q(x)\|^2\big]

    with :math:`\lambda = 1` for the discrete code (the paper's value) and 0.1 for the continuous ones.
    Zero exactly when Q predicts both codes perfectly. One code vector per sample: ``continuous_mean``
    and ``continuous`` of shape (N, K), or (N,) for one code.
    """
    continuous_mean, continuous = _codes(continuous_mean, continuous, len(category_logits))
    nll = F.cross_entropy(category_logits, category)
    gaussian = 0.5 * (continuous_mean - continuous).pow(2).sum(dim=1).mean()
    return lam * nll + lam_continuous * gaussian


def _batch_size(x, name):
    """How many samples the batch ``x``, which a penalty differentiates against, holds."""
    if not torch.is_tensor(x):
        raise TypeError(f"{name} must be the batch the logits were computed from (a tensor with "
                        f"requires_grad=True), got {type(x).__name__}")
    return len(x)


def js_regularizer(d_real, x_real, d_fake, x_fake):
    r"""The JS regularizer of Roth et al. 2017 (``Discriminator_Regularizer`` in rothk/Stabilizing_GANs):

    .. math:: \Omega = \mathbb{E}_{x \sim P}\big[(1 - \sigma(l(x)))^2 \|\nabla_x l(x)\|^2\big]
              + \mathbb{E}_{x \sim Q}\big[\sigma(l(x))^2 \|\nabla_x l(x)\|^2\big]

    with :math:`l` the discriminator's logit, gradients taken per sample over the flattened input.
    The discriminator loss adds :math:`\tfrac{\gamma}{2}\Omega`. ``x_real`` and ``x_fake`` must have
    ``requires_grad`` set *before* the forward pass that produced ``d_real`` and ``d_fake``; the
    two batches may differ in size.
    """
    d_real, d_fake = per_sample(d_real, len(x_real), "d_real"), per_sample(d_fake, len(x_fake), "d_fake")
    real = (1 - torch.sigmoid(d_real)).pow(2) * input_gradient_norm2(d_real, x_real)
    fake = torch.sigmoid(d_fake).pow(2) * input_gradient_norm2(d_fake, x_fake)
    return real.mean() + fake.mean()


def r1_regularizer(d_real, x_real, d_fake=None, x_fake=None):
    r"""The R1 penalty of Mescheder et al. 2018, on the real data only, in the regularizers' interface:

    .. math:: \Omega_{R_1} = \mathbb{E}_{x \sim P}\big[\|\nabla_x l(x)\|^2\big],

    so that the loop's :math:`\tfrac{\gamma}{2}\Omega_{R_1}` is the paper's
    :math:`R_1 = \tfrac{\gamma}{2}\mathbb{E}_P\|\nabla D\|^2` (the authors' code omits the 1/2,
    i.e. its ``reg_param`` is our :math:`\gamma / 2`). The fake batch is ignored.
    """
    return input_gradient_norm2(per_sample(d_real, _batch_size(x_real, "x_real"), "d_real"), x_real).mean()


def _paired(d_real, d_fake):
    """Real and fake logits as (N,) each, one pair per row; a batch of another size cannot be paired."""
    d_real, d_fake = per_sample(d_real, name="d_real"), per_sample(d_fake, name="d_fake")
    if len(d_real) != len(d_fake):
        raise ValueError(f"the relativistic loss pairs each real sample with one fake: got {len(d_real)} real "
                         f"and {len(d_fake)} fake logits; pass batches of the same size")
    return d_real, d_fake


def discriminator_loss_relativistic(d_real, d_fake):
    r"""The relativistic pairing loss (RpGAN; Jolicoeur-Martineau 2019; Huang et al. 2024, R3GAN),
    for the discriminator, on paired real and fake samples:

    .. math:: L_D = \mathbb{E}_{x, \tilde x}\big[\operatorname{softplus}(l(\tilde x) - l(x))\big]
              = -\mathbb{E}\big[\log\sigma(l(x) - l(\tilde x))\big]

    Row i of ``d_real`` is paired with row i of ``d_fake`` (R3GAN's code pairs them the same way).
    Only differences of logits count: the loss is unchanged when a constant is added to ``l``.
    """
    d_real, d_fake = _paired(d_real, d_fake)
    return F.softplus(d_fake - d_real).mean()


def generator_loss_relativistic(d_real, d_fake):
    r"""The relativistic pairing loss for the generator (RpGAN, R3GAN's code), on paired samples:

    .. math:: L_G = \mathbb{E}_{x, \tilde x}\big[\operatorname{softplus}(l(x) - l(\tilde x))\big]

    Unlike every other generator loss here it also needs D's logits on a real batch; the training
    loop sees from its two parameters that it must compute them (:func:`regan_tutorial.train.generator_step`).
    """
    d_real, d_fake = _paired(d_real, d_fake)
    return F.softplus(d_real - d_fake).mean()


def r2_regularizer(d_real, x_real, d_fake, x_fake):
    r"""The R2 penalty (Mescheder et al. 2018; Huang et al. 2024), on the generated samples only,
    in the regularizers' interface:

    .. math:: \Omega_{R_2} = \mathbb{E}_{\tilde x \sim Q}\big[\|\nabla_{\tilde x} l(\tilde x)\|^2\big],

    so that the loop's :math:`\tfrac{\gamma}{2}\Omega_{R_2}` is the paper's
    :math:`R_2 = \tfrac{\gamma}{2}\mathbb{E}_Q\|\nabla l\|^2`. The real batch is ignored.
    """
    return input_gradient_norm2(per_sample(d_fake, _batch_size(x_fake, "x_fake"), "d_fake"), x_fake).mean()


def r1_r2_regularizer(d_real, x_real, d_fake, x_fake):
    r"""R1 and R2 together, as R3GAN trains its discriminator (``(Gamma / 2) * (R1Penalty + R2Penalty)``
    in brownvc/R3GAN, ``R3GAN/Trainer.py``):

    .. math:: \Omega_{R_1 + R_2} = \mathbb{E}_P\|\nabla_x l(x)\|^2 + \mathbb{E}_Q\|\nabla_{\tilde x} l(\tilde x)\|^2,

    so the loop's :math:`\tfrac{\gamma}{2}\Omega` is :math:`R_1 + R_2`, each with weight :math:`\tfrac{\gamma}{2}`.
    """
    return r1_regularizer(d_real, x_real) + r2_regularizer(d_real, x_real, d_fake, x_fake)


def feature_matching(discriminator, x_real, x_fake):
    r"""Feature matching (Salimans et al. 2016, Sec. 3.1), a loss for the generator: the squared
    distance between the mean features of real and generated samples,

    .. math:: L_G = \big\|\mathbb{E}_x f(x) - \mathbb{E}_z f(G(z))\big\|_2^2 ,

    with :math:`f` = ``discriminator.features``, the activations of D's last hidden layer
    (the paper's "intermediate layer"). The real features are constants (no gradient); for an
    ensemble (a discriminator with ``copies``, e.g. :class:`~regan_tutorial.nets.MLPEnsemble`)
    each copy matches its own chunk of rows and the loss is the mean over copies. In
    :func:`~regan_tutorial.train.train`, ``feature_matching=`` adds it to the generator's loss.
    """
    if not callable(getattr(discriminator, "features", None)):
        raise TypeError(f"feature matching needs the discriminator's features, but this "
                        f"{type(discriminator).__name__} has no features(x) method: give it one that returns "
                        "the last hidden layer's activations, (N, F) (as nets.MLPDiscriminator does)")
    copies = getattr(discriminator, "copies", 1)
    with torch.no_grad():
        real = discriminator.features(x_real)  # the target: D is not trained by this loss
    fake = discriminator.features(x_fake)
    if real.dim() != 2 or fake.dim() != 2 or real.shape[1] != fake.shape[1]:
        raise ValueError(f"features(x) must return (N, F) for both batches, got {tuple(real.shape)} and "
                         f"{tuple(fake.shape)}")
    means = [f.reshape(copies, -1, f.shape[1]).mean(1) for f in (real, fake)]  # (copies, F) each
    return (means[0] - means[1]).pow(2).sum(1).mean()
