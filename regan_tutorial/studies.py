"""The chapters' studies: many small 2D GANs over seeds, the cost of one discriminator step,
and studies too long for a chapter's budget, stored with what made them.

Built on :func:`regan_tutorial.train.train`; kept apart so that the loop depends on the losses alone.
"""

import base64
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
                   lim=3.0, d_steps=1, penalty=None, pack=1, spectral_norm=False, lr_factor=None, ema_decay=None,
                   **options):
    """Train ``copies`` independent 2D GANs at once, for a study over seeds: G and D are
    :class:`~regan_tutorial.nets.MLPEnsemble` s, each copy with its own initial weights, its own
    ``batch_size`` real samples and noise per step, and its own Adam state (Adam's update is
    scale-free but for its tiny eps, so the 1 / copies that averaging over copies puts on each
    gradient hardly matters). ``d_loss``, ``g_loss``, ``regularizer``, ``gamma`` and ``max_seconds`` are
    those of :func:`train` (``steps=None, max_seconds=s``: as many steps as fit in ``s`` seconds).
    ``snapshots`` > 0 stores that many snapshots of every copy (samples and D(x); take one copy's
    with :func:`~regan_tutorial.plots.copy_snapshots`).
    ``d_steps``, ``penalty`` (e.g. WGAN-GP's) and ``lr_factor`` are :func:`train`'s; ``pack`` = m > 1 makes D judge m
    samples at once (PacGAN: :class:`~regan_tutorial.nets.Packed`, D's input m * 2 wide, all else the
    same); ``spectral_norm`` normalises each of D's layers copy by copy
    (:func:`~regan_tutorial.nets.ensemble_spectral_normalized`).
    With ``ema_decay`` (e.g. 0.999), an
    exponential moving average of each generator is trained along (``torch.optim.swa_utils``'
    ``AveragedModel`` with ``get_ema_multi_avg_fn``) and scored too. ``options`` go to :func:`train`
    (e.g. ``monitor=True``, ``feature_matching=losses.feature_matching``).
    Returns a :class:`ToyRun` whose ``coverage`` (and ``ema_coverage``) is a list, one per copy.
    """
    from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

    from .metrics import mode_coverage
    from .nets import MLPEnsemble, Packed, ensemble_spectral_normalized
    from .plots import snapshot_2d

    torch.manual_seed(seed)
    generator = MLPEnsemble(copies, [z_dim, width, width, 2])
    discriminator = MLPEnsemble(copies, [2 * pack, width, width, 1], squeeze=True)
    if spectral_norm:
        ensemble_spectral_normalized(discriminator)
    if pack > 1:
        discriminator = Packed(discriminator, pack)
    data = mixture.sample(100_000, torch.Generator().manual_seed(seed))
    ema = None if ema_decay is None else \
        AveragedModel(generator, multi_avg_fn=get_ema_multi_avg_fn(ema_decay), use_buffers=True)
    history = train(
        generator, discriminator, data, steps=steps, batch_size=copies * batch_size, seed=seed, progress=progress,
        g_opt=torch.optim.Adam(generator.parameters(), g_lr, betas=betas),
        d_opt=torch.optim.Adam(discriminator.parameters(), d_lr, betas=betas), d_loss=d_loss, g_loss=g_loss,
        regularizer=regularizer, gamma=gamma, max_seconds=max_seconds, d_steps=d_steps, penalty=penalty,
        lr_factor=lr_factor,
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
    """The commit the package's code comes from, ``-dirty`` if the tree holds changes not yet committed
    (the stored studies themselves aside: another study written by a run beside this one is not one)."""
    try:
        run = lambda *args: subprocess.run(["git", *args], capture_output=True, text=True,
                                           cwd=Path(__file__).parent, timeout=10).stdout.strip()
        commit = run("rev-parse", "--short=7", "HEAD")
        dirty = run("status", "--porcelain", "--untracked-files=no", "--", ":/",
                    f":(top,exclude)regan_tutorial/{RESULTS}")
        return (commit + "-dirty" * bool(dirty)) or None
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
            "reverse_kl": [round(c.reverse_kl, 4) for c in run.coverage],
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


EQUAL_TIME = "JS gamma = 1, in equal time"  # the dynamics study's last row: as long as the plain 10x run
_EQUAL_TIME_ARMS = ("NS loss, D lr = 10 G lr", "JS gamma = 1, D lr = 10 G lr")  # (the plain run, the one timed to it)


def dynamics_ring_study(steps=4000, copies=10):
    """The training-dynamics chapter's ring study: ``copies`` seeds of the small 2D GAN with G's
    learning rate 1e-4 and D's 1, 4 and 10 times that; at 10 times, the least-squares and hinge
    losses and the JS regularizer (gamma = 1). Returns the settings common to every arm and each
    arm's own; :func:`dynamics_ring_rows` trains them and adds the regularizer once more for as
    long in wall time as the plain 10-times run took."""
    from .losses import (discriminator_loss_hinge, discriminator_loss_least_squares, generator_loss_hinge,
                         generator_loss_least_squares, js_regularizer)

    fast = dict(d_lr=1e-3)
    common = dict(copies=copies, steps=steps, g_lr=1e-4)
    arms = {
        "NS loss, D lr = G lr": dict(d_lr=1e-4),
        "NS loss, D lr = 4 G lr": dict(d_lr=4e-4),
        "NS loss, D lr = 10 G lr": fast,
        "least squares, D lr = 10 G lr": dict(fast, d_loss=discriminator_loss_least_squares,
                                              g_loss=generator_loss_least_squares),
        "hinge, D lr = 10 G lr": dict(fast, d_loss=discriminator_loss_hinge, g_loss=generator_loss_hinge),
        "JS gamma = 1, D lr = 10 G lr": dict(fast, regularizer=js_regularizer, gamma=1.0),
    }
    return common, arms


def dynamics_ring_rows(mixture, common, arms, only=None, report=None):
    """Train the arms of :func:`dynamics_ring_study` on ``mixture`` (``only``: just those names)
    and return their :func:`coverage_rows`; with every arm, also the :data:`EQUAL_TIME` row.
    ``report(name, row)`` is called after each. A name in ``only`` that is not an arm, or, for the
    equal-time row, ``arms`` without its two, raise a ValueError."""
    if isinstance(only, str):
        raise ValueError(f"only= takes a list of arm names, not the string {only!r}")
    unknown = sorted(set(only or ()) - set(arms))
    if unknown:
        raise ValueError(f"no such arm: {', '.join(unknown)}; the arms are: {', '.join(arms)}")
    needed = [name for name in _EQUAL_TIME_ARMS if name not in arms]
    if only is None and needed:
        raise ValueError(f"the {EQUAL_TIME!r} row needs the arms {', '.join(map(repr, needed))}; "
                         "pass only= to train some arms without it")
    rows, seconds = {}, {}
    for name, arm in arms.items():
        if only is None or name in only:
            run = train_toy_gans(mixture, **common, **arm, progress=False)
            rows[name], seconds[name] = coverage_rows(run), run.history.seconds[-1]
            if report:
                report(name, rows[name])
    if only is None:
        rows[EQUAL_TIME] = coverage_rows(train_toy_gans(
            mixture, **{**common, "steps": None}, **arms[_EQUAL_TIME_ARMS[1]], progress=False,
            max_seconds=seconds[_EQUAL_TIME_ARMS[0]]))
        if report:
            report(EQUAL_TIME, rows[EQUAL_TIME])
    return rows


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


def js_mnist_controls(steps=1500, equal_time_steps=2100, seeds=(0, 1, 2), gamma=1.0, snapshot_every=500,
                      n_eval=1000):
    """The JS regularizer chapter's controls for Evidence 2: the minimax DCGAN *without* batch norm
    (a recipe that trains without help), ``seeds`` per arm: no regularizer; the annealed JS
    regularizer; R1 and R1 + R2 at ``gamma`` (Mescheder et al. 2018; Huang et al. 2024); and no
    regularizer for ``equal_time_steps``, about as long in wall time as a regularized run (each row
    stores its seconds, which say how equal). Every run records, per step, the mean D(G(z)) and the
    norm of the generator's gradient (``train(..., monitor=True)``): the mechanism the regularizer
    is said to work by. Returns the common settings and each arm's own."""
    from .losses import js_regularizer, r1_r2_regularizer, r1_regularizer
    from .train import AnnealedGamma

    common = dict(steps=steps, width=32, batch_size=64, lr=2e-4, betas=(0.5, 0.999), snapshot_every=snapshot_every,
                  n_eval=n_eval, batch_norm=False, monitor=True)
    seeds = list(seeds)
    arms = {
        "no regularizer": dict(seeds=seeds),
        "JS, gamma_0 = 2, annealed": dict(seeds=seeds, regularizer=js_regularizer, gamma=AnnealedGamma(2.0, steps)),
        f"R1, gamma = {gamma:g}": dict(seeds=seeds, regularizer=r1_regularizer, gamma=gamma),
        f"R1 + R2, gamma = {gamma:g}": dict(seeds=seeds, regularizer=r1_r2_regularizer, gamma=gamma),
        f"no regularizer, {equal_time_steps:,} steps (equal time)": dict(
            seeds=seeds, steps=equal_time_steps),
    }
    return common, arms


def js_mnist_mechanism(steps=1500, snapshot_every=500, n_eval=1000):
    """Evidence 2's mechanism: seed 0 of the minimax DCGAN *with* batch norm (the recipe whose
    discriminator wins), without and with the annealed JS regularizer, each run recording per
    step the mean D(x), D(G(z)) and the gradient norms of both players (``monitor=True``).
    Returns the common settings and each arm's own."""
    from .losses import js_regularizer
    from .train import AnnealedGamma

    common = dict(steps=steps, width=32, batch_size=64, lr=2e-4, betas=(0.5, 0.999), snapshot_every=snapshot_every,
                  n_eval=n_eval, monitor=True)
    arms = {"no regularizer": dict(seeds=[0]),
            "JS, gamma_0 = 2, annealed": dict(seeds=[0], regularizer=js_regularizer,
                                              gamma=AnnealedGamma(2.0, steps))}
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


def tutorial_gans(copies, slope=0.2, hidden_d=128, dropout=0.5, optimizer="adam", device="cpu"):
    """``copies`` independent runs of :func:`train_mlp_gan`'s GAN stacked into one batched model
    (:class:`nets.MLPEnsemble`): the same nets, initial weights and optimisers, with one setting
    changed by a keyword (the MNIST chapter's ablation). Returns (g, d, g_opt, d_opt)."""
    from .nets import MLPEnsemble

    g = MLPEnsemble(copies, [100, 128, 784], slope, output="tanh", out_shape=(1, 28, 28)).to(device)
    d = MLPEnsemble(copies, [784, hidden_d, 1], slope, squeeze=True, dropout=dropout,
                    in_shape=(1, 28, 28)).to(device)
    if optimizer == "adam":
        return g, d, *(torch.optim.Adam(m.parameters(), 1e-3) for m in (g, d))
    if optimizer != "sgd":
        raise ValueError(f"optimizer must be 'adam' or 'sgd', not {optimizer!r}")
    # momentum SGD, lr 0.05 per run times copies: the ensemble's loss averages over the copies,
    # which scales each copy's gradient by 1 / copies
    return g, d, *(torch.optim.SGD(m.parameters(), 0.05 * copies, momentum=0.5) for m in (g, d))


def mnist_ablation(steps=2500, copies=3, n_eval=1000):
    """The MNIST chapter's ablation: the tutorial GAN with one design choice changed at a time,
    ``copies`` seeds per setting trained at once, for ``steps`` steps. Returns the settings
    common to every arm and each arm's own (keywords of :func:`tutorial_gans`, and ``prior``)."""
    common = dict(steps=steps, copies=copies, batch_size=128, n_eval=n_eval, eval_seed=2)
    arms = {
        "baseline (as above)": {},
        "normal prior N(0, I) instead of U(-1, 1)": dict(prior="normal"),
        "ReLU instead of leaky ReLU": dict(slope=0.0),
        "no dropout in D": dict(dropout=0.0),
        "narrow D (32 units)": dict(hidden_d=32),
        "momentum SGD instead of Adam": dict(optimizer="sgd"),
    }
    return common, arms


def mnist_ablation_rows(common, arms, train_images, held_out, classifier, only=None):
    """Train the arms of :func:`mnist_ablation` (``only``: just those names) and return, per arm,
    the sample quality of each seed (Fréchet distance, confident share, the line it prints), 16
    samples of the first seed as 8-bit images and the wall time."""
    from .metrics import sample_quality
    from .train import sample_z

    copies, n_eval, device = common["copies"], common["n_eval"], train_images.device
    rows = {}
    for name, arm in arms.items():
        if only is not None and name not in only:
            continue
        options = dict(arm)
        prior = options.pop("prior", "uniform")
        torch.manual_seed(0)  # the copies' initial weights, one after another
        g, d, g_opt, d_opt = tutorial_gans(copies, device=device, **options)
        history = train(g, d, train_images, steps=common["steps"], batch_size=common["batch_size"] * copies,
                        g_opt=g_opt, d_opt=d_opt, prior=prior, progress=False)
        g.eval()
        z = sample_z(n_eval, 100, prior, torch.Generator().manual_seed(common["eval_seed"]), device)
        with torch.no_grad():
            samples = g(z.repeat(copies, 1)).view(copies, n_eval, 1, 28, 28)
        qualities = [sample_quality(s, held_out, classifier) for s in samples]
        first = ((samples[0, :16] + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)
        rows[name] = {"fid": [round(q.fid, 1) for q in qualities],
                      "confident": [round(q.confident, 4) for q in qualities],
                      "quality": [str(q) for q in qualities],
                      "samples": base64.b64encode(first.cpu().numpy().tobytes()).decode(),
                      "seconds": round(history.seconds[-1], 1)}
    return rows


def uint8_images(text):
    """A stored study's 28 x 28 images (8-bit pixels, base64) back as a tensor in [-1, 1], (N, 1, 28, 28)."""
    pixels = torch.frombuffer(bytearray(base64.b64decode(text)), dtype=torch.uint8)
    return pixels.view(-1, 1, 28, 28).float() / 127.5 - 1


def mnist_study_rows(common, arms, train_images, held_out, classifier, z_eval, only=None, progress=False,
                     report=None):
    """Train every arm and seed of an MNIST study (e.g. :func:`js_mnist_study`)
    with :func:`train_small_dcgan` and return {"ARM, seed S": :func:`quality_rows`}; ``only`` (a set
    of such names) trains just those, e.g. the part a chapter re-runs live; ``report(name, row)``,
    if given, is called after each run (a script's progress)."""
    rows = {}
    for name, arm in arms.items():
        extra = {k: v for k, v in arm.items() if k != "seeds"}
        for seed in arm["seeds"]:
            key = f"{name}, seed {seed}"
            if only is not None and key not in only:
                continue
            settings = {k: v for k, v in {**common, **extra}.items() if k != "n_eval"}  # an arm may override
            history = train_small_dcgan(train_images, z_eval, seed, progress=progress, **settings)
            rows[key] = quality_rows(history, held_out, classifier)
            if report:
                report(key, rows[key])
    return rows


def quality_rows(history, held_out, classifier):
    """A :func:`train_small_dcgan` history as a stored study's row: sample quality at each snapshot."""
    from .metrics import sample_quality

    qualities = [(s, sample_quality(x, held_out, classifier)) for s, x in history.snapshots[1:]]
    return {"steps": [s for s, _ in qualities], "fid": [round(q.fid, 1) for _, q in qualities],
            "confident": [round(q.confident, 4) for _, q in qualities], "final": str(qualities[-1][1]),
            "ms_per_step": round(1000 * history.seconds[-1] / history.step[-1], 1),
            "seconds": round(history.seconds[-1], 1), **_monitor_means(history)}


def _monitor_means(history, last=100):
    """What ``monitor=True`` recorded, as means over the whole run, over its last ``last`` steps and
    over each 50 steps (nothing without it)."""
    import numpy as np

    means = {}
    for name, values in history.monitor.items():
        means[f"{name}_mean"] = round(float(np.mean(values)), 4)
        means[f"{name}_last{last}"] = round(float(np.mean(values[-last:])), 4)
        blocks = [values[i:i + 50] for i in range(0, len(values), 50)]  # the curve, as means of 50 steps
        means[f"{name}_per50"] = [round(float(np.mean(b)), 4) for b in blocks]
    return means


def leaderboard_mixtures():
    """The 2D benchmarks exactly as PacGAN defines them (Lin et al. 2018; fjxmlzn/PacGAN configs, the
    ring's VEEGAN's too): 8 Gaussians at (cos 2 pi k / 8, sin 2 pi k / 8), std 0.01, and 25 at
    {-4, -2, 0, 2, 4}^2, std 0.05. (The 2D chapter's ring is Metz et al.'s, radius 2 and std 0.02.)"""
    from .data import grid, ring

    return {"ring": ring(n_modes=8, radius=1.0, std=0.01), "grid": grid(side=5, spacing=2.0, std=0.05)}


def leaderboard_study(dataset, steps=15_000, copies=10, gamma=0.1):
    """The capstone's leaderboard: every arm trains ``copies`` seeds of the same networks (G 2-64-64-2,
    D 2-64-64-1, leaky ReLU 0.2; PacGAN2's D reads 4 numbers) with the same batches (128 per copy),
    the same Adam (lr 1e-3, betas 0.5, 0.999) for ``steps`` generator steps, its learning rate decayed
    geometrically to 3% by the last step; each regularizer at the same ``gamma``. What differs is the
    loss, the penalty, the packing, spectral norm, and WGAN-GP's 5 critic steps (Gulrajani et al.'s
    n_critic) with its lambda = 10. ``dataset`` ("ring" or "grid") names the mixture of
    :func:`leaderboard_mixtures`. Returns the settings common to every arm and each arm's own."""
    from .losses import (critic_loss_wasserstein, discriminator_loss_hinge, discriminator_loss_least_squares,
                         discriminator_loss_relativistic, generator_loss_hinge, generator_loss_least_squares,
                         generator_loss_relativistic, generator_loss_wasserstein, gradient_penalty, js_regularizer,
                         r1_r2_regularizer, r1_regularizer)
    from .train import LearningRateDecay

    if dataset not in ("ring", "grid"):
        raise ValueError(f"dataset {dataset!r} is not one of ring, grid")
    common = dict(dataset=dataset, copies=copies, steps=steps, width=64, batch_size=128, g_lr=1e-3, d_lr=1e-3, betas=(0.5, 0.999),
                  lr_factor=LearningRateDecay(0.03, steps), n_eval=2500)
    pairing = dict(d_loss=discriminator_loss_relativistic, g_loss=generator_loss_relativistic)
    arms = {
        "non-saturating GAN": {},
        "+ JS regularizer": dict(regularizer=js_regularizer, gamma=gamma),
        "+ R1": dict(regularizer=r1_regularizer, gamma=gamma),
        "+ R1 + R2": dict(regularizer=r1_r2_regularizer, gamma=gamma),
        "relativistic + R1": dict(**pairing, regularizer=r1_regularizer, gamma=gamma),
        "relativistic + R1 + R2": dict(**pairing, regularizer=r1_r2_regularizer, gamma=gamma),
        "WGAN-GP": dict(d_loss=critic_loss_wasserstein, g_loss=generator_loss_wasserstein,
                        penalty=gradient_penalty, d_steps=5),
        "hinge + spectral norm": dict(d_loss=discriminator_loss_hinge, g_loss=generator_loss_hinge,
                                      spectral_norm=True),
        "least squares": dict(d_loss=discriminator_loss_least_squares, g_loss=generator_loss_least_squares),
        "PacGAN2": dict(pack=2),
    }
    return common, arms


def code_digest(function, _seen=None):
    """A short digest of what ``function``'s code (or a class's) computes: its syntax tree without the
    docstring; the digests of the functions and classes of its own module that it names, and the
    values of the module's constants it names; for a class, those of its methods and properties and
    of its bases there (so that ``r1_r2_regularizer``'s covers ``r2_regularizer``'s, and
    ``LearningRateDecay``'s its base ``AnnealedGamma``'s). A decorated function is read through its
    decorator. A changed formula changes it; a reworded docstring or comment does not. It reads the
    code itself even where the student edition makes ``inspect.getsource`` give a note for an
    exercise's function (:func:`editions.withhold_sources`)."""
    import ast
    import hashlib
    import inspect
    import re
    import sys
    import textwrap

    getsource = getattr(inspect.getsource, "regan_original", inspect.getsource)
    seen = set() if _seen is None else _seen
    seen.add(function)
    function = inspect.unwrap(function)  # e.g. under @torch.no_grad(): the names of its own module
    methods = []
    if inspect.isfunction(function) and function.__name__ == "<lambda>":  # e.g. a patch: its bytecode
        code = function.__code__  # (its source is a line of some statement, not always parseable)
        parts = [repr((code.co_code, code.co_names, [c for c in code.co_consts if not inspect.iscode(c)]))]
        names = sorted(set(code.co_names) | set(code.co_freevars))
    else:
        tree = ast.parse(textwrap.dedent(getsource(function))).body[0]
        if tree.body and isinstance(tree.body[0], ast.Expr) and isinstance(tree.body[0].value, ast.Constant):
            tree.body = tree.body[1:]
        for _, member in sorted(vars(function).items()) if inspect.isclass(function) else ():
            for f in (member.fget, member.fset) if isinstance(member, property) else \
                    (getattr(member, "__func__", member),):  # a property's functions; a static or class method's
                if inspect.isfunction(f) and not inspect.unwrap(f).__code__.co_filename.startswith("<"):
                    methods.append(f)  # not a dataclass's generated ones
        if methods:  # each method from its own code, as a patched or edited method is
            tree.body = [node for node in tree.body if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))]
        parts = [ast.dump(tree)]
        names = sorted({n.id for n in ast.walk(tree) if isinstance(n, ast.Name)})
    scope = getattr(function, "__globals__", None) or vars(sys.modules[function.__module__])
    for name in names:  # constants by value (a function's address left out)
        value = scope.get(name)
        if isinstance(value, (int, float, str, bytes, tuple, list, dict, set, frozenset)):
            parts.append(f"{name} = {re.sub(r' at 0x[0-9a-f]+', '', repr(value))}")
    for called in methods + [scope.get(name) for name in names] + list(getattr(function, "__bases__", ())):
        if (inspect.isfunction(called) or inspect.isclass(called)) and called not in seen \
                and called.__module__ == function.__module__:
            parts.append(code_digest(called, seen))
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:12]


def _digests(functions):
    return {f"{f.__module__}.{f.__qualname__}": code_digest(f) for f in sorted(functions, key=lambda f: f.__qualname__)}


def leaderboard_settings(dataset, **options):
    """Everything a stored leaderboard table comes from, as :func:`load_study` compares it: the
    arms and common settings of :func:`leaderboard_study` (``options`` go to it), the mixture (its
    means and std), the scoring (3 std, 2,500 samples, the code of ``mode_coverage`` and
    ``mode_histogram_kl``) and the code of every loss, penalty and regularizer an arm uses
    (:func:`code_digest`), and under ``"study code"`` that of the study's own parts (the batched
    runs of :func:`train_toy_gans`, the ensembles, PacGAN's packing, spectral norm copy by copy, the
    learning-rate decay, the mixture's sampling). A table made before any of them changed is refused.
    The training loop itself is checked by the chapter's live re-run: exactly the stored row on a
    CPU like the one that made the table, the same within its standard errors on another."""
    from .metrics import mode_coverage, mode_histogram_kl
    from .nets import MLPEnsemble, Packed, ensemble_spectral_normalized
    from .train import LearningRateDecay

    common, arms = leaderboard_study(dataset, **options)
    mixture = leaderboard_mixtures()[dataset]
    used = {v for arm in arms.values() for v in arm.values() if callable(v) and hasattr(v, "__qualname__")}
    used |= {discriminator_loss, generator_loss_nonsaturating}  # the arms' defaults
    return {"common": common, "arms": arms,
            "mixture": {"means": [[round(v, 6) for v in c] for c in mixture.centres.tolist()], "std": mixture.std},
            "scoring": {"n_std": 3.0, "n_eval": common["n_eval"], "code": {
                f.__name__: code_digest(f) for f in (mode_coverage, mode_histogram_kl)}},
            "code": _digests(used), "study code": _digests(
                {train_toy_gans, coverage_rows, type(mixture), MLPEnsemble, Packed, ensemble_spectral_normalized,
                 LearningRateDecay})}


def summary(values):
    """Mean and standard error over seeds (PacGAN's mean +- s.e.), ignoring nan (no sample to count)."""
    import numpy as np

    values = np.asarray(values, dtype=float)
    values = values[~np.isnan(values)]
    if len(values) == 0:
        return float("nan"), float("nan")
    se = values.std(ddof=1) / np.sqrt(len(values)) if len(values) > 1 else float("nan")
    return float(values.mean()), float(se)


def train_stacked_gans(digits, *, copies, steps, seed=0, z_dim=64, width=256, batch_size=64, lr=2e-4,
                       betas=(0.5, 0.999), d_loss=discriminator_loss, g_loss=generator_loss_nonsaturating,
                       regularizer=None, gamma=None, n_data=20_000, n_eval=5000, channels=2, classifier=None,
                       progress=True):
    """Train ``copies`` MLP GANs at once on Stacked MNIST (:func:`~regan_tutorial.data.stacked_mnist`,
    ``n_data`` stacked images drawn from ``digits``): G z -> width -> width -> (channels, 28, 28) with
    tanh, D the mirror image, as :class:`~regan_tutorial.nets.MLPEnsemble` s, Adam for both. Each copy's
    modes are counted on ``n_eval`` samples by :func:`~regan_tutorial.metrics.stacked_mnist_coverage`.
    Returns a :class:`ToyRun` whose ``coverage`` is a list, one per copy."""
    import math

    from .data import stacked_mnist
    from .metrics import load_classifier, stacked_mnist_coverage
    from .nets import MLPEnsemble

    shape = (channels, 28, 28)
    torch.manual_seed(seed)
    generator = MLPEnsemble(copies, [z_dim, width, width, math.prod(shape)], output="tanh", out_shape=shape)
    discriminator = MLPEnsemble(copies, [math.prod(shape), width, width, 1], squeeze=True, in_shape=shape)
    data, _ = stacked_mnist(digits, n_data, channels, torch.Generator().manual_seed(seed))
    history = train(
        generator, discriminator, data, steps=steps, batch_size=copies * batch_size, seed=seed, progress=progress,
        g_opt=torch.optim.Adam(generator.parameters(), lr, betas=betas),
        d_opt=torch.optim.Adam(discriminator.parameters(), lr, betas=betas), d_loss=d_loss, g_loss=g_loss,
        regularizer=regularizer, gamma=gamma)
    classifier = classifier or load_classifier()
    with torch.no_grad():
        generator.eval()
        z = torch.randn(copies * n_eval, z_dim, generator=torch.Generator().manual_seed(seed + 1))
        samples = generator(z.to(data.device)).view(copies, n_eval, *shape)
    coverage = [stacked_mnist_coverage(classifier, s) for s in samples]
    return ToyRun(generator, discriminator, history, coverage)


def stacked_mnist_study(steps=1500, copies=3, gamma=1.0):
    """The capstone's modes on images: two-digit Stacked MNIST (100 modes), the classic recipe (the
    non-saturating GAN) against the modern one (relativistic pairing loss with R1 + R2), ``copies``
    seeds each, the same MLPs, batches and Adam. Returns the common settings and each arm's own."""
    from .losses import discriminator_loss_relativistic, generator_loss_relativistic, r1_r2_regularizer

    common = dict(copies=copies, steps=steps, z_dim=64, width=128, batch_size=64, lr=2e-4, betas=(0.5, 0.999),
                  n_data=20_000, n_eval=2600, channels=2)  # 26 samples per mode, as 26,000 for 1,000 modes
    arms = {
        "non-saturating GAN": {},
        "relativistic + R1 + R2": dict(d_loss=discriminator_loss_relativistic, g_loss=generator_loss_relativistic,
                                       regularizer=r1_r2_regularizer, gamma=gamma),
    }
    return common, arms


def stacked_mnist_settings(**options):
    """Everything the stored Stacked-MNIST comparison comes from, as :func:`load_study` compares it:
    the arms and common settings of :func:`stacked_mnist_study` (``options`` go to it), the code of
    the losses and regularizer, of the run (:func:`train_stacked_gans`, the ensembles, the stacked
    data, the stored row) and of the mode count (:func:`~regan_tutorial.metrics.stacked_mnist_coverage`,
    the classifier's network), and the SHA-256 of the classifier's weights. Which MNIST the run drew
    its digits from is in each stored row (``"data"``), as the loader names it."""
    import hashlib

    from .data import stacked_mnist
    from .metrics import WEIGHTS, DigitClassifier, load_classifier, stacked_mnist_coverage
    from .nets import MLPEnsemble

    common, arms = stacked_mnist_study(**options)
    used = {v for arm in arms.values() for v in arm.values() if callable(v) and hasattr(v, "__qualname__")}
    return {"common": common, "arms": arms, "code": _digests(
        used | {discriminator_loss, generator_loss_nonsaturating, train_stacked_gans, stacked_rows, stacked_mnist,
                MLPEnsemble, stacked_mnist_coverage, DigitClassifier, load_classifier}),
        "classifier": hashlib.sha256(WEIGHTS.read_bytes()).hexdigest()[:16]}


def stacked_rows(run):
    """A :func:`train_stacked_gans` run as a stored study's row: per copy, modes, reverse KL and the
    share of samples whose every channel the classifier is sure of."""
    return {"modes": [c.modes for c in run.coverage], "reverse_kl": [round(c.reverse_kl, 4) for c in run.coverage],
            "confident": [round(c.high_quality, 4) for c in run.coverage], "counts": [c.counts.tolist() for c in
                                                                                      run.coverage],
            "steps": run.history.step[-1], "seconds": round(run.history.seconds[-1], 1)}
