"""The chapters' studies: many small 2D GANs over seeds, the cost of one discriminator step,
and studies too long for a chapter's budget, stored with what made them.

Built on :func:`regan_tutorial.train.train`; kept apart so that the loop depends on the losses alone.
"""

import functools
import json
import subprocess
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import torch

from .losses import discriminator_loss, generator_loss_nonsaturating
from .train import History, train


@dataclass
class ToyRun:
    """A trained 2D GAN: its networks, its history and how many modes its samples cover; with an
    EMA of the generator, that average and its coverage (of samples from the same noise)."""

    generator: torch.nn.Module
    discriminator: torch.nn.Module
    history: History
    coverage: "object"
    ema: torch.nn.Module = None
    ema_coverage: "object" = None


def train_toy_gan(mixture, *, steps, seed=0, g_lr=1e-3, d_lr=1e-3, betas=(0.5, 0.999), width=128,
                  z_dim=2, batch_size=512, d_steps=1, g_loss=generator_loss_nonsaturating,
                  snapshots=0, lim=3.0, n_eval=2500, regularizer=None, gamma=None, progress=True):
    """Train the chapter's 2D GAN (two hidden layers of ``width`` in G and D, Adam) on ``mixture``.

    ``snapshots`` > 0 stores that many GAN Lab style snapshots (samples and D(x)).
    The coverage is scored on ``n_eval`` samples, as in VEEGAN and PacGAN. ``regularizer`` and
    ``gamma`` are those of :func:`~regan_tutorial.train.train`.
    """
    from .metrics import mode_coverage
    from .nets import MLPDiscriminator, MLPGenerator
    from .plots import snapshot_2d

    torch.manual_seed(seed)
    generator = MLPGenerator(z_dim, (width, width), (2,), output="none")
    discriminator = MLPDiscriminator((2,), (width, width))
    data = mixture.sample(100_000, torch.Generator().manual_seed(seed))
    history = train(
        generator, discriminator, data, steps=steps, batch_size=batch_size, d_steps=d_steps, g_loss=g_loss,
        g_opt=torch.optim.Adam(generator.parameters(), g_lr, betas=betas),
        d_opt=torch.optim.Adam(discriminator.parameters(), d_lr, betas=betas),
        snapshot=snapshot_2d(torch.randn(1000, z_dim), lim) if snapshots else None,
        snapshot_every=max(steps // snapshots, 1) if snapshots else None, seed=seed, progress=progress,
        regularizer=regularizer, gamma=gamma)
    with torch.no_grad():
        samples = generator(torch.randn(n_eval, z_dim, generator=torch.Generator().manual_seed(seed + 1)))
    return ToyRun(generator, discriminator, history, mode_coverage(samples, mixture.centres, mixture.std))


def discriminator_step_seconds(discriminator, x_real, x_fake, regularizer=None, gamma=2.0, repeats=20, warmup=3):
    """Mean wall time of one discriminator update (forward, loss, backward, Adam step) on fixed batches,
    plain or with ``regularizer`` weighted by ``gamma / 2`` as in :func:`train` (for the cost of a penalty)."""
    opt = torch.optim.Adam(discriminator.parameters(), 2e-4, betas=(0.5, 0.999))
    sync = torch.cuda.synchronize if x_real.is_cuda else (lambda: None)

    def step():
        xr, xf = (x.detach().clone().requires_grad_(regularizer is not None) for x in (x_real, x_fake))
        d_real, d_fake = discriminator(xr), discriminator(xf)
        loss = discriminator_loss(d_real, d_fake)
        if regularizer is not None:
            loss = loss + gamma / 2 * regularizer(d_real, xr, d_fake, xf)
        opt.zero_grad(set_to_none=True)
        loss.backward(inputs=params)  # as train's discriminator_step: no gradient for the inputs
        opt.step()

    params = list(discriminator.parameters())
    for _ in range(warmup):
        step()
    sync()
    tic = time.perf_counter()
    for _ in range(repeats):
        step()
    sync()
    return (time.perf_counter() - tic) / repeats


def train_toy_gans(mixture, *, copies, steps, seed=0, g_lr=1e-3, d_lr=1e-3, betas=(0.5, 0.999), width=64,
                   z_dim=2, batch_size=128, d_loss=discriminator_loss, g_loss=generator_loss_nonsaturating,
                   regularizer=None, gamma=None, max_seconds=None, n_eval=2500, progress=True, snapshots=0,
                   lim=3.0, ema_decay=None, **options):
    """Train ``copies`` independent 2D GANs at once, for a study over seeds: G and D are
    :class:`~regan_tutorial.nets.MLPEnsemble` s, each copy with its own initial weights, its own
    ``batch_size`` real samples and noise per step, and its own Adam state (Adam's update is
    scale-free but for its tiny eps, so the 1 / copies that averaging over copies puts on each
    gradient hardly matters). ``d_loss``, ``g_loss``, ``regularizer``, ``gamma`` and ``max_seconds`` are
    those of :func:`train` (``steps=None, max_seconds=s``: as many steps as fit in ``s`` seconds).
    ``snapshots`` > 0 stores that many snapshots of every copy (samples and D(x); take one copy's
    with :func:`~regan_tutorial.plots.copy_snapshots`). With ``ema_decay`` (e.g. 0.999), an
    exponential moving average of each generator is trained along (``torch.optim.swa_utils``'
    ``AveragedModel`` with ``get_ema_multi_avg_fn``) and scored too. ``options`` go to :func:`train`
    (e.g. ``monitor=True``, ``feature_matching=losses.feature_matching``).
    Returns a :class:`ToyRun` whose ``coverage`` (and ``ema_coverage``) is a list, one per copy.
    """
    from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

    from .metrics import mode_coverage
    from .nets import MLPEnsemble
    from .plots import snapshot_2d

    torch.manual_seed(seed)
    generator = MLPEnsemble(copies, [z_dim, width, width, 2])
    discriminator = MLPEnsemble(copies, [2, width, width, 1], squeeze=True)
    data = mixture.sample(100_000, torch.Generator().manual_seed(seed))
    ema = None if ema_decay is None else \
        AveragedModel(generator, multi_avg_fn=get_ema_multi_avg_fn(ema_decay), use_buffers=True)
    history = train(
        generator, discriminator, data, steps=steps, batch_size=copies * batch_size, seed=seed, progress=progress,
        g_opt=torch.optim.Adam(generator.parameters(), g_lr, betas=betas),
        d_opt=torch.optim.Adam(discriminator.parameters(), d_lr, betas=betas), d_loss=d_loss, g_loss=g_loss,
        regularizer=regularizer, gamma=gamma, max_seconds=max_seconds,
        snapshot=snapshot_2d(torch.randn(500, z_dim), lim, copies=copies) if snapshots else None,
        snapshot_every=max(steps // snapshots, 1) if snapshots else None, g_ema=ema, **options)
    with torch.no_grad():
        z = torch.randn(copies * n_eval, z_dim, generator=torch.Generator().manual_seed(seed + 1))
        scored = [[mode_coverage(s, mixture.centres, mixture.std) for s in net(z).view(copies, n_eval, 2)]
                  for net in (generator, ema) if net is not None]
    return ToyRun(generator, discriminator, history, scored[0], ema, scored[1] if ema is not None else None)


def describe(value):
    """A JSON description of a study's setting: numbers and strings as they are, functions by
    their qualified name, other objects by class and fields (e.g. an AnnealedGamma's)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [describe(v) for v in value]
    if isinstance(value, dict):
        return {str(k): describe(v) for k, v in value.items()}
    if isinstance(value, functools.partial):
        return {"partial": describe(value.func), "args": describe(value.args), "keywords": describe(value.keywords)}
    if callable(value) and hasattr(value, "__qualname__"):
        if "<" in value.__qualname__:  # <lambda>, <locals>: no name says what it computes
            raise ValueError(f"{value.__qualname__} cannot be identified in a stored study: use a named "
                             "module-level function or functools.partial")
        return f"{value.__module__}.{value.__qualname__}"
    if hasattr(value, "__dict__"):
        return {"class": f"{type(value).__module__}.{type(value).__qualname__}", **describe(vars(value))}
    raise ValueError(f"cannot describe {value!r} for a stored study")


RESULTS = "results"  # the package folder of stored studies (shipped, so that Colab finds them)


def study_path(name):
    """Where the stored study ``name`` lives: ``regan_tutorial/results/NAME.json``."""
    return Path(str(resources.files(__package__) / RESULTS / f"{name}.json"))


def _commit():
    try:
        # "-dirty": made from a working tree with changes not yet committed
        done = subprocess.run(["git", "describe", "--always", "--dirty", "--abbrev=7"], capture_output=True,
                              text=True, cwd=Path(__file__).parent, timeout=10)
        return done.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def save_study(name, settings, rows, script, seconds):
    """Store a study's ``rows`` with what made them: its ``settings`` (described), the script, the
    package version, torch version, git commit, date and wall time. Returns the path."""
    from . import __version__

    record = {"study": name, "settings": describe(settings), "rows": rows,
              "made_by": {"script": script, "commit": _commit(), "version": __version__,
                          "torch": torch.__version__, "date": time.strftime("%Y-%m-%d"),
                          "seconds": round(seconds)}}
    path = study_path(name)
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(record, indent=1) + "\n")
    return path


def load_study(name, settings):
    """The stored study ``name``, after checking that it was made with ``settings``: a file made
    with other settings is refused, naming what differs and the script that remakes it."""
    path = study_path(name)
    if not path.exists():
        raise FileNotFoundError(f"no stored study {name!r} at {path}: run its script under benchmarks/")
    record = json.loads(path.read_text())
    expected = describe(settings)
    if record["settings"] != expected:
        differ = sorted(k for k in set(expected) | set(record["settings"])
                        if expected.get(k) != record["settings"].get(k))
        raise ValueError(f"the stored study {name!r} was made with other settings ({', '.join(differ)} "
                         f"differ): re-run python {record['made_by']['script']}")
    return record


def coverage_rows(run):
    """A :func:`train_toy_gans` run as a stored study's row: per copy, modes and high-quality share."""
    return {"modes": [c.modes for c in run.coverage], "high_quality": [round(c.high_quality, 4) for c in run.coverage],
            "steps": run.history.step[-1], "seconds": round(run.history.seconds[-1], 1)}


def js_ring_study(steps=10_000, copies=10):
    """The JS regularizer chapter's Evidence 1: a discriminator ten times faster than its generator
    (learning rates 1e-3 and 1e-4) on the ring, ``copies`` seeds per arm, with and without the
    regularizer. Returns the settings common to every arm and each arm's own."""
    from .losses import js_regularizer
    from .train import AnnealedGamma

    common = dict(copies=copies, steps=steps, g_lr=1e-4, d_lr=1e-3)
    arms = {
        "no regularizer": {},
        "JS, gamma = 0.1": dict(regularizer=js_regularizer, gamma=0.1),
        "JS, gamma = 1": dict(regularizer=js_regularizer, gamma=1.0),
        "JS, gamma = 2": dict(regularizer=js_regularizer, gamma=2.0),
        "JS, gamma = 2, annealed": dict(regularizer=js_regularizer, gamma=AnnealedGamma(2.0, steps)),
    }
    return common, arms


def train_small_dcgan(images, z_eval, seed, steps, g_loss=None, lr=2e-4, betas=(0.5, 0.999), batch_norm=True,
                      width=32, batch_size=64, snapshot_every=250, progress=True, spectral_norm=False, **options):
    """The DCGAN chapter's recipe at ``width`` 32 (batch 64, Adam), by default with the minimax
    (saturating) generator loss, with G(z_eval) stored every ``snapshot_every`` steps; with
    ``spectral_norm``, D's layers are spectrally normalized; ``options`` go to :func:`train`
    (e.g. ``regularizer=``, ``d_loss=``). Returns the :class:`History`."""
    from .losses import generator_loss_saturating
    from .nets import DCGANDiscriminator, DCGANGenerator, spectral_normalized

    torch.manual_seed(seed)
    device = images.device
    g = DCGANGenerator(width=width).to(device)
    d = DCGANDiscriminator(width=width, batch_norm=batch_norm).to(device)
    if spectral_norm:
        d = spectral_normalized(d)
    adam = lambda net: torch.optim.Adam(net.parameters(), lr, betas=betas)
    return train(g, d, images, steps=steps, batch_size=batch_size, g_opt=adam(g), d_opt=adam(d), seed=seed,
                 g_loss=g_loss or generator_loss_saturating, snapshot=lambda g, d: g(z_eval),
                 snapshot_every=snapshot_every, progress=progress, **options)


def js_mnist_study(steps=1500, snapshot_every=250, n_eval=1000):
    """The JS regularizer chapter's Evidence 2: the minimax DCGAN with and without the annealed
    regularizer, with and without batch norm in D. Returns the common settings and each arm's
    own (seeds in the arm's ``seeds``)."""
    from .losses import js_regularizer
    from .train import AnnealedGamma

    js = dict(regularizer=js_regularizer, gamma=AnnealedGamma(2.0, steps))
    common = dict(steps=steps, width=32, batch_size=64, lr=2e-4, betas=(0.5, 0.999), snapshot_every=snapshot_every,
                  n_eval=n_eval)
    arms = {
        "no regularizer": dict(seeds=[0, 1]),
        "JS, gamma_0 = 2, annealed": dict(seeds=[0, 1], **js),
        "no batch norm, no regularizer": dict(seeds=[0], batch_norm=False),
        "no batch norm, JS, gamma_0 = 2, annealed": dict(seeds=[0], batch_norm=False, **js),
    }
    return common, arms


def train_mlp_gan(images, z_eval, seed=0, steps=8000, snapshot_every=1000, progress=True):
    """The MNIST chapter's fully connected GAN (Tal Daniel's EE046202 tutorial recipe: one hidden
    layer of 128 in each net, leaky ReLU 0.2, dropout 0.5 in D, tanh output, z ~ U(-1, 1) in 100-d,
    Adam with lr 1e-3, batch 128), with G(z_eval) stored every ``snapshot_every`` steps.
    Returns (generator, :class:`History`)."""
    from .nets import MLPDiscriminator, MLPGenerator

    torch.manual_seed(seed)
    device = images.device
    g = MLPGenerator(100, (128,), (1, 28, 28), output="tanh", slope=0.2).to(device)
    d = MLPDiscriminator((1, 28, 28), (128,), dropout=0.5, slope=0.2).to(device)
    history = train(g, d, images, steps=steps, batch_size=128, g_opt=torch.optim.Adam(g.parameters(), 1e-3),
                    d_opt=torch.optim.Adam(d.parameters(), 1e-3), prior="uniform", seed=seed, progress=progress,
                    snapshot=lambda g, d: g(z_eval), snapshot_every=snapshot_every)
    return g, history


def losses_mnist_study(steps=1500, snapshot_every=250, n_eval=1000):
    """The Wasserstein chapter's comparison of the losses in use today, on MNIST: the DCGAN of
    :func:`train_small_dcgan` with the non-saturating loss and batch norm; the hinge loss with a
    spectrally normalized D without batch norm (Miyato et al. 2018); least squares with batch norm
    (Mao et al. 2017); and the first with the JS regularizer at a constant gamma = 1. Two seeds
    each. Returns the common settings and each arm's own (seeds in the arm's ``seeds``)."""
    from . import losses

    ns = dict(g_loss=losses.generator_loss_nonsaturating)
    common = dict(steps=steps, width=32, batch_size=64, lr=2e-4, betas=(0.5, 0.999), snapshot_every=snapshot_every,
                  n_eval=n_eval)
    arms = {
        "non-saturating + batch norm": dict(seeds=[0, 1], **ns),
        "hinge + spectral norm": dict(seeds=[0, 1], d_loss=losses.discriminator_loss_hinge,
                                      g_loss=losses.generator_loss_hinge, batch_norm=False, spectral_norm=True),
        "least squares + batch norm": dict(seeds=[0, 1], d_loss=losses.discriminator_loss_least_squares,
                                           g_loss=losses.generator_loss_least_squares),
        "non-saturating + JS, gamma = 1": dict(seeds=[0, 1], regularizer=losses.js_regularizer, gamma=1.0, **ns),
    }
    return common, arms


def mnist_study_rows(common, arms, train_images, held_out, classifier, z_eval, only=None, progress=False):
    """Train every arm and seed of an MNIST study (:func:`js_mnist_study`, :func:`losses_mnist_study`)
    with :func:`train_small_dcgan` and return {"ARM, seed S": :func:`quality_rows`}; ``only`` (a set
    of such names) trains just those, e.g. the part a chapter re-runs live."""
    rows = {}
    for name, arm in arms.items():
        extra = {k: v for k, v in arm.items() if k != "seeds"}
        for seed in arm["seeds"]:
            key = f"{name}, seed {seed}"
            if only is not None and key not in only:
                continue
            history = train_small_dcgan(train_images, z_eval, seed, progress=progress,
                                        **{k: v for k, v in common.items() if k != "n_eval"}, **extra)
            rows[key] = quality_rows(history, held_out, classifier)
    return rows


def quality_rows(history, held_out, classifier):
    """A :func:`train_small_dcgan` history as a stored study's row: sample quality at each snapshot."""
    from .metrics import sample_quality

    qualities = [(s, sample_quality(x, held_out, classifier)) for s, x in history.snapshots[1:]]
    return {"steps": [s for s, _ in qualities], "fid": [round(q.fid, 1) for _, q in qualities],
            "confident": [round(q.confident, 4) for _, q in qualities], "final": str(qualities[-1][1]),
            "ms_per_step": round(1000 * history.seconds[-1] / history.step[-1], 1)}
