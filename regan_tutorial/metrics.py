"""Measures of what a generator learned."""

import contextlib
import io
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class ModeCoverage:
    """Modes captured, the fraction of high-quality samples, and the high-quality samples per mode."""

    modes: int
    n_modes: int
    high_quality: float
    counts: torch.Tensor

    def __str__(self):
        return f"{self.modes}/{self.n_modes} modes, {100 * self.high_quality:.1f}% high-quality samples"

    @property
    def reverse_kl(self):
        """PacGAN's reverse KL of the mode histogram: :func:`mode_histogram_kl` of ``counts``."""
        return mode_histogram_kl(self.counts)


def mode_histogram_kl(counts):
    r"""The reverse KL divergence from the uniform distribution over the K modes to a model's mode
    histogram (PacGAN, Lin et al. 2018, Table 1; their code's ``KLD(p, q)``, summing where p > 0):

    .. math:: \mathrm{KL}(\hat p \,\|\, U) = \sum_{k:\,\hat p_k > 0} \hat p_k \log(K \hat p_k)
              = \log K - H(\hat p),

    with :math:`\hat p_k` the share of the high-quality samples whose nearest mode is k (or, on
    Stacked-MNIST, of all samples classified as mode k). 0 for a perfectly balanced histogram,
    :math:`\log K` when every sample falls in one mode; nan when there is no sample to count.
    """
    counts = torch.as_tensor(counts, dtype=torch.float64)
    if counts.dim() != 1 or (counts < 0).any():
        raise ValueError(f"counts must be a 1D histogram of non-negative counts, got {counts.tolist()}")
    if counts.sum() == 0:
        return float("nan")
    share = counts[counts > 0] / counts.sum()
    return float((share * torch.log(len(counts) * share)).sum())


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


@torch.no_grad()
def stacked_mnist_coverage(classifier, images, threshold=0.9, batch_size=1000):
    """Modes of Stacked-MNIST samples (N, C, 28, 28), as VEEGAN and PacGAN count them: the classifier
    labels each channel, the digits make the mode (of 10 ** C), a mode is captured when at least one
    sample falls in it, and ``reverse_kl`` is the KL of the histogram of all samples to uniform.
    ``high_quality`` here is the share of samples whose every channel the classifier is sure of
    (probability > ``threshold``), a sign of how digit-like they are (not part of the protocol)."""
    n, channels = images.shape[:2]
    flat = images.reshape(n * channels, 1, *images.shape[2:])
    _check_images(flat)
    probs = torch.cat([F.softmax(classifier(flat[i:i + batch_size]), 1) for i in range(0, len(flat), batch_size)])
    digits, sure = probs.argmax(1).view(n, channels), (probs.max(1).values > threshold).view(n, channels)
    modes = (digits * 10 ** torch.arange(channels - 1, -1, -1, device=digits.device)).sum(1)
    counts = torch.bincount(modes.cpu(), minlength=10 ** channels)
    return ModeCoverage(int((counts > 0).sum()), 10 ** channels, sure.all(1).float().mean().item(), counts)


class DigitClassifier(nn.Module):
    """A LeNet-style CNN for 28x28 digits in [-1, 1]; its 64-d penultimate layer is the feature space."""

    num_features = 64  # read by torchmetrics' FrechetInceptionDistance

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, 16, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            # state size: (16, 14, 14)
            nn.Conv2d(16, 32, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            # state size: (32, 7, 7)
            nn.Flatten(), nn.Linear(32 * 7 * 7, self.num_features), nn.ReLU(),
        )
        self.head = nn.Linear(self.num_features, 10)

    def features(self, x):
        _check_images(x)
        return self.body(x)

    def forward(self, x):
        return self.head(self.features(x))


def _check_images(x):
    """Refuse what the classifier would silently misjudge or crash on: another shape or dtype, nan,
    values outside [-1, 1], and [0, 1] images (no pixel below 0), whose features are not those of digits."""
    if not torch.is_tensor(x) or x.dim() != 4 or tuple(x.shape[1:]) != (1, 28, 28):
        shape = tuple(x.shape) if torch.is_tensor(x) else type(x).__name__
        raise ValueError(f"expected MNIST-shaped images (N, 1, 28, 28), got {shape}")
    if x.dtype != torch.float32:
        raise TypeError(f"expected float32 images (the classifier's dtype), got {x.dtype}: pass images.float()"
                        + ("" if x.is_floating_point() else ", scaled to [-1, 1] (e.g. x.float() / 127.5 - 1)"))
    if len(x) == 0:
        raise ValueError("expected at least one image, got an empty batch (0, 1, 28, 28)")
    finite = torch.isfinite(x.flatten(1)).all(1)
    if not finite.all():
        raise ValueError(f"{int((~finite).sum())} of the {len(x)} images hold nan or inf (the first is image "
                         f"{int((~finite).nonzero()[0])}): drop or repair them")
    if x.min() < -1.001 or x.max() > 1.001:
        raise ValueError(f"expected images in [-1, 1], got values in [{x.min().item():.3g}, {x.max().item():.3g}]; "
                         "scale [0, 1] images with 2 * x - 1")
    if x.min() >= 0 and x.max() > 0.5:
        raise ValueError(f"expected images in [-1, 1] (digits on a background of -1), got values in "
                         f"[{x.min().item():.3g}, {x.max().item():.3g}]: scale [0, 1] images with 2 * x - 1")


def not_digits(images, generator=None):
    """Images that are not digits, with the pixel statistics of digits: each image's pixels shuffled,
    and uniform noise. The classifier learns to be unsure about them (outlier exposure,
    Hendrycks et al. 2019), so early, blobby GAN samples do not count as confident digits."""
    n = len(images)
    flat = images.flatten(1)
    order = torch.rand(flat.shape, generator=generator).argsort(dim=1).to(images.device)
    shuffled = flat.gather(1, order).view_as(images)
    noise = (2 * torch.rand(images.shape, generator=generator) - 1).to(images.device)
    return torch.cat([shuffled[: n // 2], noise[n // 2:]])


def train_classifier(train, steps=3000, batch_size=64, seed=0, lr=1e-3):
    """Train :class:`DigitClassifier` on an :class:`~regan_tutorial.data.ImageData` (Adam, small random
    shifts), with a half batch of :func:`not_digits` whose target is the uniform distribution."""
    torch.manual_seed(seed)
    model = DigitClassifier().to(train.images.device)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    rng = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        index = torch.randint(len(train), (batch_size,), generator=rng).to(train.images.device)
        shift = torch.randint(-2, 3, (2,), generator=rng).tolist()  # augmentation: the classifier must judge
        x = torch.roll(train.images[index], shifts=shift, dims=(2, 3))  # generated digits that are off-centre
        outliers = model(not_digits(x[: batch_size // 2], rng))
        loss = F.cross_entropy(model(x), train.labels[index]) - F.log_softmax(outliers, 1).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return model.eval()


def accuracy(model, data):
    """Fraction of ``data`` (an ImageData) that ``model`` labels correctly."""
    return (predicted_digits(model, data.images) == data.labels).sum().item() / len(data)


WEIGHTS = Path(__file__).with_name("weights") / "digit_classifier.pt"


def load_classifier(path=WEIGHTS, device="cpu"):
    """The shipped reference classifier (reproduce it with ``python -m regan_tutorial.metrics``)."""
    model, path = DigitClassifier(), Path(path).expanduser()
    try:
        model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    except FileNotFoundError:
        raise FileNotFoundError(f"no classifier weights at {path}; create them with: python -m regan_tutorial.metrics") from None
    except Exception as err:
        raise ValueError(f"{path} does not hold DigitClassifier weights ({type(err).__name__}); "
                         "recreate them with: python -m regan_tutorial.metrics") from None
    return model.to(device).eval()


@dataclass
class SampleQuality:
    """Quality of generated digits as judged by the reference classifier."""

    fid: float
    confident: float
    histogram: list
    unsure: int

    def __str__(self):
        return (f"Frechet distance {self.fid:.0f}, {100 * self.confident:.1f}% confidently classified; "
                f"confident digits 0-9: {self.histogram}, {self.unsure} unsure")


class _Features(nn.Module):
    num_features = DigitClassifier.num_features

    def __init__(self, classifier):
        super().__init__()
        self.classifier = classifier

    def forward(self, x):
        return self.classifier.features(x)


_REAL = {}  # the last reference set's FID metric, which keeps its real features across calls


def _fid_with_real(real, classifier, device):
    """torchmetrics' FID metric holding ``real``'s features (``reset_real_features=False``): computed
    once for a run's many evaluations against one reference set, again when the images or the
    classifier's weights change (in-place edits bump a tensor's version)."""
    from torchmetrics.image.fid import FrechetInceptionDistance

    key = (id(real), real.data_ptr(), real._version, tuple(real.shape), str(device), id(classifier),
           tuple(p._version for p in classifier.parameters()))
    if _REAL.get("key") != key:
        fid = FrechetInceptionDistance(feature=_Features(classifier), reset_real_features=False).to(device)
        for i in range(0, len(real), 1000):
            fid.update(real[i:i + 1000], real=True)
        _REAL.update(key=key, fid=fid, real=real)  # holding real keeps its id from being reused
    fid = _REAL["fid"]
    fid.reset()  # the fake features only
    return fid


@torch.no_grad()
def sample_quality(fake, real, classifier, threshold=0.9):
    """Fréchet distance between ``fake`` and ``real`` in the classifier's feature space, the fraction of
    ``fake`` images it labels with probability > ``threshold``, the histogram of the digits of those
    confident samples, and the number of the others (unsure: for noise the classifier's argmax is an
    artefact, so unsure samples are not counted as any digit).

    Uses torchmetrics' Fréchet distance with the classifier as a custom feature extractor
    (the FID of Heusel et al. 2017, with a digit classifier in place of Inception).
    """
    _check_images(fake)
    _check_images(real)
    if not torch.isfinite(fake).all():
        raise ValueError("generated images contain nan or inf")
    if fake.min() >= 0 and fake.max() > 0.5 and real.min() < -0.9:  # [0, 1] images beside [-1, 1] digits
        raise ValueError(f"generated images lie in [{fake.min().item():.2g}, {fake.max().item():.2g}] but real ones "
                         "in [-1, 1]: scale [0, 1] images with 2 * x - 1")
    fid = _fid_with_real(real, classifier, fake.device)
    for i in range(0, len(fake), 1000):
        fid.update(fake[i:i + 1000], real=False)
    probs = torch.cat([F.softmax(classifier(fake[i:i + 1000]), 1) for i in range(0, len(fake), 1000)])
    sure = probs.max(1).values > threshold
    histogram = torch.bincount(probs.argmax(1)[sure], minlength=10).tolist()
    return SampleQuality(fid.compute().item(), sure.float().mean().item(), histogram, int((~sure).sum()))


@torch.no_grad()
def classifier_features(images, classifier, batch_size=1000):
    """The reference classifier's 64-d features of ``images`` (its penultimate layer), in float64."""
    _check_images(images)
    return torch.cat([classifier.features(images[i:i + batch_size]) for i in range(0, len(images), batch_size)]).double()


def frechet_terms(fake, real, classifier):
    r"""The Fréchet distance of Heusel et al. 2017 in the classifier's feature space, split into its
    two terms: for Gaussians fitted to the two sets of features (means :math:`\mu`, covariances
    :math:`\Sigma`),

    .. math:: \mathrm{FD} = \underbrace{\|\mu_f - \mu_r\|^2}_{\text{means}}
              + \underbrace{\mathrm{Tr}\big(\Sigma_f + \Sigma_r - 2(\Sigma_f\Sigma_r)^{1/2}\big)}_{\text{covariances}}.

    The trace of the matrix square root is the sum of the square roots of the eigenvalues of
    :math:`\Sigma_f\Sigma_r` (real and >= 0 in exact arithmetic), as torchmetrics computes it; the
    covariances are unbiased (1 / (n - 1)). Returns (means, covariances); their sum is
    :func:`sample_quality`'s ``fid`` up to rounding (a test checks it)."""
    (mu_f, cov_f), (mu_r, cov_r) = ((f.mean(0), torch.cov(f.T))
                                    for f in (classifier_features(fake, classifier), classifier_features(real, classifier)))
    root_trace = torch.linalg.eigvals(cov_f @ cov_r).sqrt().real.sum()
    return (mu_f - mu_r).pow(2).sum().item(), (cov_f.trace() + cov_r.trace() - 2 * root_trace).item()


@contextlib.contextmanager
def _quiet_torchmetrics():
    """torchmetrics warns that a metric keeps its features in memory (a few thousand 64-d vectors
    here) and, with one split, that the score's spread is undefined: true, and no news to a reader."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*will save all extracted features.*")
        warnings.filterwarnings("ignore", message=".*degrees of freedom is <= 0.*")
        yield


@torch.no_grad()
def kernel_distance(fake, real, classifier, subset_size=None, subsets=50, seed=0):
    r"""The kernel distance of Bińkowski et al. 2018 (KID, here in the classifier's feature space):
    the squared MMD with the polynomial kernel :math:`k(a, b) = (\gamma\, a \cdot b + 1)^3`, estimated
    without bias on ``subsets`` random subsets of ``subset_size`` images of each set (default: all of
    the smaller set). Unlike the Fréchet distance its expectation does not depend on the number of
    samples, and it is about 0 for two samples of one distribution (it can be slightly negative).
    Computed by torchmetrics' ``KernelInceptionDistance`` with the classifier as feature extractor.
    The paper's :math:`\gamma = 1/d` suits Inception's features; this classifier's are about 60
    times longer, which makes the cubic kernel's estimates swing by thousands, so :math:`\gamma` is
    1 / the real features' mean squared norm (a real image's kernel with itself is then about 8).
    Returns (mean, standard deviation over the subsets)."""
    from torchmetrics.image.kid import KernelInceptionDistance

    _check_images(fake)
    _check_images(real)
    size = subset_size or min(len(fake), len(real))
    if size < 2 or size > min(len(fake), len(real)):
        raise ValueError(f"subset_size must lie in [2, {min(len(fake), len(real))}] (the smaller set's size), "
                         f"got {size}")
    gamma = 1 / classifier_features(real, classifier).pow(2).sum(1).mean().item()
    with _quiet_torchmetrics():
        kid = KernelInceptionDistance(feature=_Features(classifier), subsets=subsets, subset_size=size,
                                      gamma=gamma).to(fake.device)
    for images, is_real in ((real, True), (fake, False)):
        for i in range(0, len(images), 1000):
            kid.update(images[i:i + 1000], real=is_real)
    state = torch.random.get_rng_state()
    torch.manual_seed(seed)  # torchmetrics draws the subsets from torch's global generator
    try:
        mean, std = kid.compute()
    finally:
        torch.random.set_rng_state(state)
    return mean.item(), std.item()


@torch.no_grad()
def classifier_score(fake, classifier, splits=1):
    r"""The Inception Score of Salimans et al. 2016 with the digit classifier in place of Inception:
    :math:`\exp\big(\mathbb{E}_x\, \mathrm{KL}(p(y \mid x) \,\|\, p(y))\big)`, between 1 (every
    sample gets the same label distribution) and 10 (each sample is sure of its digit and the digits
    are equally frequent). It never looks at real images, so it cannot see a generator that draws
    the wrong kind of digit well. Computed by torchmetrics' ``InceptionScore`` on the classifier's
    logits; ``splits=1`` scores all samples at once (the paper averages 10 splits of 5,000)."""
    from torchmetrics.image.inception import InceptionScore

    _check_images(fake)
    with _quiet_torchmetrics():
        score = InceptionScore(feature=classifier, splits=splits).to(fake.device)
    for i in range(0, len(fake), 1000):
        score.update(fake[i:i + 1000])
    state = torch.random.get_rng_state()
    torch.manual_seed(0)  # torchmetrics shuffles the samples before splitting them
    try:
        with _quiet_torchmetrics():
            return score.compute()[0].item()
    finally:
        torch.random.set_rng_state(state)


def memorisation(fake, train_images, held_out, quantile=0.01):
    """A memorisation check calibrated on real data: the share of ``fake`` images closer (in pixels) to
    their nearest training image than the ``quantile`` of new real digits (``held_out``) are to
    theirs. New real digits score ``quantile`` by construction; a generator that copies training
    images scores far more. Returns (share, the distance threshold)."""
    d_new, _ = nearest_neighbours(held_out, train_images)
    threshold = torch.quantile(d_new, quantile).item()
    d_fake, _ = nearest_neighbours(fake, train_images)
    return (d_fake < threshold).float().mean().item(), threshold


def noise_quality(real, classifier, n=1000, seed=0):
    """:func:`sample_quality` of ``n`` images of uniform noise in [-1, 1]: the Fréchet distance's
    ceiling for this real set, to read other distances against."""
    noise = torch.rand(n, 1, 28, 28, generator=torch.Generator().manual_seed(seed)) * 2 - 1
    return sample_quality(noise.to(real.device), real, classifier)


@torch.no_grad()
def predicted_digits(classifier, images, batch_size=1000):
    """The reference classifier's label for each image."""
    _check_images(images)
    return torch.cat([classifier(images[i:i + batch_size]).argmax(1) for i in range(0, len(images), batch_size)])


def code_assignment(classifier, images, codes, n_codes=10):
    """Match InfoGAN's categorical codes to digits without labels: the one-to-one assignment of codes
    to the classifier's digits that agrees with most samples (Hungarian algorithm), and that agreement.

    Returns (digit for each code, accuracy).
    """
    from scipy.optimize import linear_sum_assignment

    digits = predicted_digits(classifier, images).cpu()
    counts = torch.zeros(n_codes, 10)
    counts.index_put_((torch.as_tensor(codes).cpu(), digits), torch.ones(len(digits)), accumulate=True)
    rows, cols = linear_sum_assignment(-counts.numpy())
    return cols.tolist(), counts[rows, cols].sum().item() / len(digits)


@torch.no_grad()
def precision_recall(fake, real, classifier, k=5):
    """Precision and recall of ``fake`` against ``real`` in the classifier's feature space (Kynkäänniemi
    et al. 2019): precision, the share of fakes inside some real sample's k-nearest-neighbour ball
    (quality); recall, the share of reals inside some fake's ball (coverage); with the density and
    coverage of Naeem et al. 2020. Computed by their package ``prdc``; returns a dict of the four."""
    from prdc import compute_prdc

    _check_images(fake)
    _check_images(real)
    if min(len(fake), len(real)) <= k:
        raise ValueError(f"k={k} nearest neighbours need more than k samples of each set, got {len(fake)} fake and "
                         f"{len(real)} real images: pass more images, or a smaller k")
    features = [torch.cat([classifier.features(x[i:i + 1000]) for i in range(0, len(x), 1000)]).cpu().numpy()
                for x in (real, fake)]
    with contextlib.redirect_stdout(io.StringIO()):  # prdc prints the sample counts
        found = compute_prdc(*features, nearest_k=k)
    return {name: float(value) for name, value in found.items()}


@torch.no_grad()
def nearest_neighbours(images, reference, batch_size=500):
    """For each image, the Euclidean distance (in pixels, images in [-1, 1]) to its nearest image in
    ``reference`` and that image's index: a memorisation check, where copies of training images
    sit far closer to the training set than new real digits do."""
    _check_images(images)
    _check_images(reference)
    flat = reference.flatten(1)
    found = [torch.cdist(images[i:i + batch_size].flatten(1), flat).min(dim=1) for i in range(0, len(images), batch_size)]
    return torch.cat([f.values for f in found]), torch.cat([f.indices for f in found])


def main(argv=None):
    """Reproduce the shipped classifier: train on the training split, report held-out accuracy, save
    to ``--out`` (default ``digit_classifier.pt`` here; an existing file is kept unless ``--force``)."""
    import argparse

    from .data import load_mnist

    parser = argparse.ArgumentParser(prog="python -m regan_tutorial.metrics", description=main.__doc__)
    parser.add_argument("--out", type=Path, default=Path("digit_classifier.pt"),
                        help=f"where to save the weights (the package ships {WEIGHTS})")
    parser.add_argument("--steps", type=int, default=3000, help="training steps (3000 made the shipped weights)")
    parser.add_argument("--force", action="store_true", help="overwrite an existing file")
    args = parser.parse_args(argv)
    if args.out.exists() and not args.force:
        parser.error(f"{args.out} exists; pass --force to overwrite it, or another --out")
    train, held_out = load_mnist(train=True), load_mnist(train=False)
    model = train_classifier(train, steps=args.steps)
    print(f"held-out accuracy: {accuracy(model, held_out):.4f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), args.out)
    print(f"saved {args.out} ({args.out.stat().st_size / 1024:.0f} KiB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
