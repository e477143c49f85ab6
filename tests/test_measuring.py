"""The measures of the chapter "Measuring a GAN": each against an independent computation or a
property that a wrong implementation would break."""

import numpy as np
import pytest
import torch
from scipy import linalg

from regan_tutorial import metrics


@pytest.fixture(scope="module")
def sets(mnist):
    train, held_out = mnist
    order = torch.randperm(len(train), generator=torch.Generator().manual_seed(0))
    return train.images[order[:600]], held_out.images[:500], held_out.images[500:1000], train.images


def test_frechet_terms_add_up_to_torchmetrics_and_match_scipy(sets, classifier):
    fake, real, _, _ = sets
    means, covariances = metrics.frechet_terms(fake, real, classifier)
    assert means + covariances == pytest.approx(metrics.sample_quality(fake, real, classifier).fid, rel=1e-3)
    f, r = (metrics.classifier_features(x, classifier).numpy() for x in (fake, real))
    cf, cr = np.cov(f, rowvar=False), np.cov(r, rowvar=False)
    assert means == pytest.approx(((f.mean(0) - r.mean(0)) ** 2).sum(), rel=1e-9)
    # SciPy's sqrtm on the product: a second, independent route to the covariance term
    assert covariances == pytest.approx(np.trace(cf + cr - 2 * linalg.sqrtm(cf @ cr).real), rel=1e-2)


def test_a_shift_shows_in_the_means_term_only(sets, classifier):
    fake, real, _, _ = sets
    base = metrics.frechet_terms(real, real, classifier)
    assert base[0] == pytest.approx(0, abs=1e-9) and abs(base[1]) < 1e-3 * 64


def test_kernel_distance_is_unbiased_where_the_frechet_distance_is_not(sets, classifier):
    fake, real, other, train = sets
    small = metrics.kernel_distance(train[:100], real, classifier, subsets=50)
    large = metrics.kernel_distance(train[:500], real, classifier, subsets=50)
    fd_small = metrics.sample_quality(train[:100], real, classifier).fid
    fd_large = metrics.sample_quality(train[:500], real, classifier).fid
    assert fd_small > 2 * fd_large  # the Fréchet distance's small-sample bias
    # real against real: about zero at both sizes (the training and held-out digits differ a
    # little, so not exactly), the small sample no further from it than its spread says
    assert abs(large[0]) < 0.01 and abs(small[0] - large[0]) < 3 * small[1] + 1e-3
    noise = torch.rand(500, 1, 28, 28, generator=torch.Generator().manual_seed(0)) * 2 - 1
    assert metrics.kernel_distance(noise, real, classifier)[0] > 100 * large[1]


def test_kernel_distance_refuses_a_subset_larger_than_a_set(sets, classifier):
    fake, real, _, _ = sets
    with pytest.raises(ValueError, match=r"subset_size must lie in \[2, 500\]"):
        metrics.kernel_distance(fake, real, classifier, subset_size=600)


def test_classifier_score_between_its_bounds(sets, classifier, mnist):
    train, _ = mnist
    assert metrics.classifier_score(sets[0], classifier) > 9  # real digits, all ten, confidently
    ones = train.images[train.labels == 1][:300]
    assert metrics.classifier_score(ones, classifier) < 1.5  # one digit: a score near 1
    state = torch.random.get_rng_state()
    metrics.classifier_score(sets[0], classifier)
    assert torch.equal(torch.random.get_rng_state(), state)  # leaves torch's global generator alone


def test_memorisation_flags_copies_and_not_new_digits(sets):
    _, real, other, train = sets
    copies, _ = metrics.memorisation(train[:200], train, real)
    new, threshold = metrics.memorisation(other, train, real, quantile=0.05)
    assert copies == 1.0 and threshold > 0
    assert new < 0.15  # calibrated: about 5% of new real digits fall below the 5% quantile


def _fd(sqrt_of_product=True, factor=2.0, squared=True, real=True):
    def fn(mu1, s1, mu2, s2):
        roots = linalg.sqrtm(s1.numpy() @ s2.numpy()) if sqrt_of_product else \
            linalg.sqrtm(s1.numpy()) @ linalg.sqrtm(s2.numpy())
        mean = ((mu1 - mu2) ** 2).sum().item()
        value = (mean if squared else mean ** 0.5) + np.trace(s1.numpy() + s2.numpy() - factor * roots)
        return float(value.real) if real else complex(value) + 1e-12j
    return fn


@pytest.mark.parametrize("answer, verdict", [
    (_fd(), "all checks passed"),
    (_fd(factor=1.0), "the factor 2"),
    (_fd(sqrt_of_product=False), "right only when the covariances commute"),
    (_fd(squared=False), "squared distance"),
    (_fd(real=False), "complex number"),
    (lambda mu1, s1, mu2, s2: metrics.frechet_terms, "should return a number"),
])
def test_frechet_checker_names_the_slip(answer, verdict, capsys):
    from regan_tutorial import exercises

    exercises.check_frechet_distance(answer)
    assert verdict in capsys.readouterr().out
