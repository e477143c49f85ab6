"""Measures of what a generator learned."""

from dataclasses import dataclass

import torch


@dataclass
class ModeCoverage:
    """Modes captured, the fraction of high-quality samples, and the high-quality samples per mode."""

    modes: int
    n_modes: int
    high_quality: float
    counts: torch.Tensor

    def __str__(self):
        return f"{self.modes}/{self.n_modes} modes, {100 * self.high_quality:.1f}% high-quality samples"


def mode_coverage(samples, centres, std, n_std=3.0):
    """Score 2D samples against a Gaussian mixture (VEEGAN, Srivastava et al. 2017; PacGAN).

    A sample is *high quality* if it lies within ``n_std`` standard deviations
    of its nearest mode centre; a mode is *captured* if it is the nearest centre
    of at least one high-quality sample. The papers use 2,500 samples.
    """
    samples, centres = torch.as_tensor(samples, dtype=torch.float32), torch.as_tensor(centres, dtype=torch.float32)
    if samples.dim() != 2 or samples.shape[1] != centres.shape[1]:
        raise ValueError(f"samples must have shape (N, {centres.shape[1]}), got {tuple(samples.shape)}")
    if not torch.isfinite(samples).all():
        raise ValueError("samples contain nan or inf")
    dist, nearest = torch.cdist(samples, centres).min(dim=1)
    good = dist <= n_std * std
    counts = torch.bincount(nearest[good], minlength=len(centres))
    return ModeCoverage(int((counts > 0).sum()), len(centres), good.float().mean().item(), counts)
