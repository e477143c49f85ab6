r"""GAN objectives and penalties, all computed from logits.

Naming follows the course: ``d_real`` and ``d_fake`` are the discriminator's
*logits* :math:`l = \operatorname{logit} D(x)` on real and generated samples,
so :math:`D(x) = \sigma(l)`. Discriminator losses take ``(d_real, d_fake)``,
generator losses ``(d_fake)``. Logs of sigmoids are taken through
``binary_cross_entropy_with_logits`` / ``softplus``, which stay finite where
``log(sigmoid(l))`` underflows to ``-inf``.
"""

import torch
import torch.nn.functional as F


def discriminator_loss(d_real, d_fake):
    r"""Goodfellow et al. 2014, Eq. 1, as a loss to minimise (not halved, as in Roth et al.'s code):

    .. math:: L_D = -\mathbb{E}_x[\log D(x)] - \mathbb{E}_z[\log(1 - D(G(z)))]
    """
    real = F.binary_cross_entropy_with_logits(d_real, torch.ones_like(d_real))
    fake = F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake))
    return real + fake


def generator_loss_saturating(d_fake):
    r"""The minimax generator loss of Goodfellow et al. 2014:

    .. math:: L_G = \mathbb{E}_z[\log(1 - D(G(z)))] = -\mathbb{E}_z[\operatorname{softplus}(l)]

    Its gradient vanishes when D confidently rejects the fakes (:math:`l \to -\infty`).
    """
    return -F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake))


def generator_loss_nonsaturating(d_fake):
    r"""The non-saturating generator loss (Goodfellow et al. 2014, Sec. 3):

    .. math:: L_G = -\mathbb{E}_z[\log D(G(z))] = \mathbb{E}_z[\operatorname{softplus}(-l)]
    """
    return F.binary_cross_entropy_with_logits(d_fake, torch.ones_like(d_fake))
