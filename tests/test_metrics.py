import math

import pytest
import torch

from regan_tutorial.data import grid, ring
from regan_tutorial.metrics import mode_coverage


def test_hand_made_samples():
    centres = torch.tensor([[0.0, 0.0], [2.0, 0.0], [0.0, 2.0]])
    samples = torch.tensor([[0.1, 0.0], [0.0, -0.14], [2.0, 0.2], [1.0, 1.0]])  # std 0.05: 3 std = 0.15
    cov = mode_coverage(samples, centres, std=0.05)
    assert cov.modes == 1 and cov.high_quality == pytest.approx(0.5)
    assert cov.counts.tolist() == [2, 0, 0]
    assert str(cov) == "1/3 modes, 50.0% high-quality samples"


def test_samples_from_the_true_mixture_cover_every_mode():
    for mix in (ring(), grid()):
        cov = mode_coverage(mix.sample(2500, torch.Generator().manual_seed(0)), mix.centres, mix.std)
        assert cov.modes == len(mix.centres)
        # a 2D isotropic Gaussian puts 1 - exp(-3^2 / 2) = 98.9% of its mass within 3 std
        assert cov.high_quality == pytest.approx(1 - math.exp(-4.5), abs=0.006)


def test_collapsed_samples_cover_one_mode():
    mix = ring()
    samples = mix.centres[3] + 0.01 * torch.randn(2500, 2, generator=torch.Generator().manual_seed(0))
    cov = mode_coverage(samples, mix.centres, mix.std)
    assert cov.modes == 1 and cov.counts[3] == cov.counts.sum()


def test_wrong_shapes_and_nan_are_refused():
    with pytest.raises(ValueError, match=r"shape \(N, 2\)"):
        mode_coverage(torch.zeros(5, 3), ring().centres, 0.02)
    with pytest.raises(ValueError, match="nan"):
        mode_coverage(torch.full((5, 2), float("nan")), ring().centres, 0.02)


def test_sample_quality_reuses_the_reference_features_only_while_they_are_the_same():
    """The real set's features are computed once per reference set (a run evaluates many snapshots
    against one): the same numbers as a fresh metric, recomputed after an in-place edit."""
    from regan_tutorial import metrics
    from regan_tutorial.metrics import DigitClassifier

    torch.manual_seed(0)
    classifier = DigitClassifier().eval()
    real, fake = torch.rand(300, 1, 28, 28) * 2 - 1, torch.rand(200, 1, 28, 28) * 2 - 1
    first = metrics.sample_quality(fake, real, classifier).fid
    assert metrics.sample_quality(fake, real, classifier).fid == first
    metrics._REAL.clear()
    assert metrics.sample_quality(fake, real, classifier).fid == first
    real[:100] = -1.0  # a changed reference set must not reuse the old features
    changed = metrics.sample_quality(fake, real, classifier).fid
    metrics._REAL.clear()
    assert changed != first and metrics.sample_quality(fake, real, classifier).fid == changed
