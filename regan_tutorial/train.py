"""One training loop for every GAN in the course, with checkpoints that resume exactly.

What differs between chapters (losses, the number of D steps, the prior, the
optimisers) is passed in; the loop itself stays: sample, discriminator
step(s), generator step, log.
"""

import hashlib
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from .losses import clip_weights, discriminator_loss, generator_loss_nonsaturating

CHECKPOINT_FORMAT = "regan_tutorial.checkpoint/1"
PRIORS = ("normal", "uniform")


@dataclass
class History:
    """Per-step losses and elapsed seconds, and ``(step, value)`` snapshots."""

    step: list = field(default_factory=list)
    d_loss: list = field(default_factory=list)
    g_loss: list = field(default_factory=list)
    penalty: list = field(default_factory=list)
    seconds: list = field(default_factory=list)
    snapshots: list = field(default_factory=list)

    def state(self):
        return {k: list(v) for k, v in vars(self).items()}


def sample_z(n, z_dim, prior="normal", generator=None, device="cpu"):
    """Noise for the generator: N(0, I) or U(-1, 1)^z_dim (the seeds' tutorial prior), or
    ``prior(n, generator)`` when ``prior`` is callable (e.g. an :class:`InfoGANCode`)."""
    if callable(prior):
        return prior(n, generator).to(device)
    if prior not in PRIORS:
        raise ValueError(f"prior {prior!r} is not one of {', '.join(PRIORS)}")
    if prior == "normal":
        z = torch.randn(n, z_dim, generator=generator)
    else:
        z = 2 * torch.rand(n, z_dim, generator=generator) - 1
    return z.to(device)


class InfoGANCode:
    """InfoGAN's generator input: noise, a one-hot categorical code and continuous codes, concatenated.

    ``code(n, generator)`` samples z = [noise ~ N(0, I), one-hot c ~ Cat(K), c' ~ U(-1, 1)];
    ``code.split(z)`` returns (noise, category index, continuous codes).
    """

    def __init__(self, noise_dim=62, n_categories=10, n_continuous=2):
        self.noise_dim, self.n_categories, self.n_continuous = noise_dim, n_categories, n_continuous
        self.z_dim = noise_dim + n_categories + n_continuous

    def __call__(self, n, generator=None, category=None, continuous=None):
        noise = torch.randn(n, self.noise_dim, generator=generator)
        if category is None:
            category = torch.randint(self.n_categories, (n,), generator=generator)
        if continuous is None:
            continuous = 2 * torch.rand(n, self.n_continuous, generator=generator) - 1
        one_hot = torch.nn.functional.one_hot(torch.as_tensor(category), self.n_categories).float()
        return torch.cat([noise, one_hot, torch.as_tensor(continuous, dtype=torch.float32)], dim=1)

    def split(self, z):
        k = self.noise_dim + self.n_categories
        return z[:, :self.noise_dim], z[:, self.noise_dim:k].argmax(1), z[:, k:]


def _check_finite(step, **losses):
    for name, value in losses.items():
        if not math.isfinite(value):
            raise FloatingPointError(
                f"training diverged at step {step}: the {name} is {value}. "
                "Lower the learning rates, or add a regularizer, and start again."
            )


def train(generator, discriminator, data, *, steps, batch_size, g_opt, d_opt,
          d_loss=discriminator_loss, g_loss=generator_loss_nonsaturating, d_steps=1,
          prior="normal", labels=None, classifier=None, penalty=None, regularizer=None, gamma=None, clip=None,
          info_loss=None, snapshot=None,
          snapshot_every=None, checkpoint=None, checkpoint_every=None, seed=0, progress=True,
          max_seconds=None):
    """Train ``generator`` against ``discriminator`` on the real samples ``data`` (a tensor on the device).

    Each step: ``d_steps`` discriminator updates on fresh real and fake
    batches, then one generator update (Goodfellow et al. 2014, Algorithm 1).
    ``penalty(discriminator, x_real, x_fake)``, if given, is added to each
    discriminator loss (e.g. WGAN-GP's gradient penalty).
    ``regularizer(d_real, x_real, d_fake, x_fake)`` (e.g. ``losses.js_regularizer``) is a
    penalty on the logits the step already computed, with the inputs marked as requiring
    gradients; the loop adds ``gamma / 2`` times it, ``gamma`` a number or a function of the
    0-based step t (e.g. :class:`AnnealedGamma`). ``clip`` clamps the
    discriminator's weights to [-clip, clip] after each of its updates (WGAN).
    With ``labels`` (one per sample of ``data``) the GAN is conditional: each
    batch carries the labels of its real samples, and the loop calls
    ``generator(z, y)`` and ``discriminator(x, y)`` with them. With ``labels`` and a
    ``classifier`` (whose parameters belong in ``d_opt``), the discriminator stays
    unconditional instead: the classifier learns the real batch's labels in each
    discriminator step, and its cross-entropy on the fakes' requested labels is added
    to the generator loss (the seeds' "GAN + classifier" variants).
    ``info_loss(x_fake, z)`` (InfoGAN's mutual-information term) is added to both
    players' losses.
    Batches are drawn at random from ``data`` and noise from ``prior`` with one
    seeded ``torch.Generator``, so CPU runs repeat exactly. Every
    ``snapshot_every`` steps ``snapshot(generator, discriminator)`` is stored in
    the history. With ``checkpoint`` (a path), state is saved every
    ``checkpoint_every`` steps and at the end, and a run finding that file
    continues where it stopped. With ``max_seconds``, training also stops once
    that much time has passed (to compare models at equal wall time).
    Returns a :class:`History`.
    """
    device = data.device
    if regularizer is not None and gamma is None:
        raise ValueError("a regularizer needs its weight: pass gamma= (a number, or e.g. AnnealedGamma(2.0, steps))")
    weight = gamma if callable(gamma) else (lambda t: gamma)
    rng = torch.Generator().manual_seed(seed)
    history, start = History(), 0
    if checkpoint and Path(checkpoint).exists():
        start = load_checkpoint(checkpoint, generator, discriminator, g_opt, d_opt, rng, history)
    z_dim = generator.z_dim

    def batch():
        index = torch.randint(len(data), (batch_size,), generator=rng).to(device)
        y = labels[index] if labels is not None else None
        return data[index], sample_z(batch_size, z_dim, prior, rng, device), y

    def G(z, y):
        return generator(z) if y is None else generator(z, y)

    def D(x, y):
        return discriminator(x) if y is None or classifier is not None else discriminator(x, y)

    def label_loss(x, y):
        return F.cross_entropy(classifier(x), y) if classifier is not None else 0.0

    def take_snapshot(step):
        generator.eval()
        with torch.no_grad():
            history.snapshots.append((step, snapshot(generator, discriminator)))
        generator.train()

    if snapshot and start == 0:
        take_snapshot(0)
    elapsed = history.seconds[-1] if history.seconds else 0.0
    tic = time.perf_counter()
    bar = tqdm(range(start + 1, steps + 1), initial=start, total=steps, disable=not progress,
               desc="training", mininterval=1.0)
    for step in bar:
        for _ in range(d_steps):
            x_real, z, y = batch()
            with torch.no_grad():
                x_fake = G(z, y)
            if regularizer:  # the penalty differentiates the logits w.r.t. the inputs
                x_real, x_fake = x_real.requires_grad_(True), x_fake.requires_grad_(True)
            d_real, d_fake = D(x_real, y), D(x_fake, y)
            loss_d = d_loss(d_real, d_fake)
            extra = penalty(discriminator, x_real, x_fake) if penalty else torch.zeros((), device=device)
            if regularizer:
                extra = extra + weight(step - 1) / 2 * regularizer(d_real, x_real, d_fake, x_fake)
            if info_loss:
                extra = extra + info_loss(x_fake, z)
            extra = extra + label_loss(x_real, y)
            d_opt.zero_grad(set_to_none=True)
            (loss_d + extra).backward()
            d_opt.step()
            if clip is not None:
                clip_weights(discriminator, clip)
        _, z, y = batch()
        x_fake = G(z, y)
        loss_g = g_loss(D(x_fake, y)) + (info_loss(x_fake, z) if info_loss else 0.0) + label_loss(x_fake, y)
        g_opt.zero_grad(set_to_none=True)
        loss_g.backward()
        g_opt.step()

        values = {"discriminator loss": loss_d.item(), "generator loss": loss_g.item(), "penalty": extra.item()}
        _check_finite(step, **values)
        history.step.append(step)
        history.d_loss.append(values["discriminator loss"])
        history.g_loss.append(values["generator loss"])
        history.penalty.append(values["penalty"])
        history.seconds.append(elapsed + time.perf_counter() - tic)
        if step % 25 == 0 or step == steps:
            bar.set_postfix(d=f"{history.d_loss[-1]:.3f}", g=f"{history.g_loss[-1]:.3f}")
        if snapshot and snapshot_every and (step % snapshot_every == 0 or step == steps):
            take_snapshot(step)
        out_of_time = max_seconds is not None and history.seconds[-1] >= max_seconds
        if snapshot and out_of_time and history.snapshots[-1][0] != step:
            take_snapshot(step)
        if checkpoint and (step == steps or out_of_time or (checkpoint_every and step % checkpoint_every == 0)):
            save_checkpoint(checkpoint, generator, discriminator, g_opt, d_opt, rng, history, step)
        if out_of_time:
            break
    bar.close()
    return history


def _digest(obj, h=None):
    """SHA-256 over a checkpoint's contents, so that a modified or damaged file is detected."""
    h = h or hashlib.sha256()
    if isinstance(obj, dict):
        for key in sorted(obj, key=str):
            h.update(repr(key).encode())
            _digest(obj[key], h)
    elif isinstance(obj, (list, tuple)):
        h.update(f"[{len(obj)}".encode())
        for item in obj:
            _digest(item, h)
    elif isinstance(obj, torch.Tensor):
        h.update(f"{obj.dtype}{tuple(obj.shape)}".encode())
        h.update(obj.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    else:
        h.update(repr(obj).encode())
    return h.hexdigest()


def save_checkpoint(path, generator, discriminator, g_opt, d_opt, rng, history, step):
    """Write everything a run needs to continue exactly; atomic, so a crash never leaves half a file."""
    state = {
        "format": CHECKPOINT_FORMAT,
        "step": step,
        "generator": generator.state_dict(),
        "discriminator": discriminator.state_dict(),
        "g_opt": g_opt.state_dict(),
        "d_opt": d_opt.state_dict(),
        "rng": rng.get_state(),
        "torch_rng": torch.get_rng_state(),
        "history": history.state(),
    }
    state["sha256"] = _digest(state)
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def load_checkpoint(path, generator, discriminator, g_opt, d_opt, rng, history):
    """Restore a checkpoint written by :func:`save_checkpoint`; returns its step.

    Loads with ``weights_only=True`` (no code runs from the file) and refuses
    a file that is corrupt or was not written by this package.
    """
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise ValueError(f"{path} is not a readable checkpoint ({type(err).__name__}); delete it to start afresh") from None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is not a regan_tutorial checkpoint (expected format {CHECKPOINT_FORMAT!r})")
    if state.pop("sha256", None) != _digest(state):
        raise ValueError(f"{path} is damaged or was modified (its checksum does not match); delete it to start afresh")
    try:
        generator.load_state_dict(state["generator"])
        discriminator.load_state_dict(state["discriminator"])
        g_opt.load_state_dict(state["g_opt"])
        d_opt.load_state_dict(state["d_opt"])
    except (KeyError, RuntimeError, ValueError) as err:
        raise ValueError(f"{path} does not fit these networks and optimisers: {err}") from None
    rng.set_state(state["rng"])
    torch.set_rng_state(state["torch_rng"])
    for key, values in state["history"].items():
        setattr(history, key, list(values))
    return state["step"]


def fit_discriminator(discriminator, x_real, x_fake, steps=500, lr=1e-2, loss=discriminator_loss, penalty=None):
    """Train ``discriminator`` alone on fixed real and fake samples (toward the optimal D, or with the
    Wasserstein loss and a gradient penalty toward the optimal critic); returns its final loss."""
    opt = torch.optim.Adam(discriminator.parameters(), lr=lr)
    for _ in range(steps):
        value = loss(discriminator(x_real), discriminator(x_fake))
        extra = penalty(discriminator, x_real, x_fake) if penalty else 0.0
        opt.zero_grad(set_to_none=True)
        (value + extra).backward()
        opt.step()
    return value.item()


@dataclass
class ToyRun:
    """A trained 2D GAN: its networks, its history and how many modes its samples cover."""

    generator: torch.nn.Module
    discriminator: torch.nn.Module
    history: History
    coverage: "object"


def train_toy_gan(mixture, *, steps, seed=0, g_lr=1e-3, d_lr=1e-3, betas=(0.5, 0.999), width=128,
                  z_dim=2, batch_size=512, d_steps=1, g_loss=generator_loss_nonsaturating,
                  snapshots=0, lim=3.0, n_eval=2500, progress=True):
    """Train the chapter's 2D GAN (two hidden layers of ``width`` in G and D, Adam) on ``mixture``.

    ``snapshots`` > 0 stores that many GAN Lab style snapshots (samples and D(x)).
    The coverage is scored on ``n_eval`` samples, as in VEEGAN and PacGAN.
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
        snapshot_every=max(steps // snapshots, 1) if snapshots else None, seed=seed, progress=progress)
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
        loss.backward()
        opt.step()

    for _ in range(warmup):
        step()
    sync()
    tic = time.perf_counter()
    for _ in range(repeats):
        step()
    sync()
    return (time.perf_counter() - tic) / repeats


def train_toy_gans(mixture, *, copies, steps, seed=0, g_lr=1e-3, d_lr=1e-3, betas=(0.5, 0.999), width=64,
                   z_dim=2, batch_size=128, regularizer=None, gamma=None, n_eval=2500, progress=True):
    """Train ``copies`` independent 2D GANs at once, for a study over seeds: G and D are
    :class:`~regan_tutorial.nets.MLPEnsemble` s, each copy with its own initial weights, its own
    ``batch_size`` real samples and noise per step, and its own Adam state (Adam's update is
    scale-free but for its tiny eps, so the 1 / copies that averaging over copies puts on each
    gradient hardly matters). ``regularizer`` and ``gamma`` are those of :func:`train`.
    Returns a :class:`ToyRun` whose ``coverage`` is a list, one per copy.
    """
    from .metrics import mode_coverage
    from .nets import MLPEnsemble

    torch.manual_seed(seed)
    generator = MLPEnsemble(copies, [z_dim, width, width, 2])
    discriminator = MLPEnsemble(copies, [2, width, width, 1], squeeze=True)
    data = mixture.sample(100_000, torch.Generator().manual_seed(seed))
    history = train(
        generator, discriminator, data, steps=steps, batch_size=copies * batch_size, seed=seed, progress=progress,
        g_opt=torch.optim.Adam(generator.parameters(), g_lr, betas=betas),
        d_opt=torch.optim.Adam(discriminator.parameters(), d_lr, betas=betas), regularizer=regularizer, gamma=gamma)
    with torch.no_grad():
        z = torch.randn(copies * n_eval, z_dim, generator=torch.Generator().manual_seed(seed + 1))
        samples = generator(z).view(copies, n_eval, 2)
    coverage = [mode_coverage(s, mixture.centres, mixture.std) for s in samples]
    return ToyRun(generator, discriminator, history, coverage)


class AnnealedGamma:
    """Roth et al.'s annealing of the regularizer weight, per iteration t of T (rothk/Stabilizing_GANs,
    gan_64x64.py): gamma_t = gamma_0 * decay ** (t / (T - 1)), so gamma_0 at t = 0 and gamma_0 * decay at
    t = T - 1. ``decay=1`` keeps gamma constant."""

    def __init__(self, gamma0, total_steps, decay=0.01):
        if total_steps < 2:
            raise ValueError("annealing needs at least 2 steps")
        self.gamma0, self.total_steps, self.decay = gamma0, total_steps, decay

    def __call__(self, t):
        return self.gamma0 * self.decay ** (t / (self.total_steps - 1))
