"""One training loop for every GAN in the course, with checkpoints that resume exactly.

A training step is Algorithm 1 of Goodfellow et al. 2014: ``d_steps`` calls of
:func:`discriminator_step`, then one :func:`generator_step`. What differs between
chapters (losses, penalties, the prior, the optimisers) is passed in; every
extra term of a loss (a gradient penalty, a regularizer, InfoGAN's term) is a
*named term*, a function of the step's :class:`Batch` that the step adds to the
loss, checks for nan and records under its name.
"""

import hashlib
import math
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from .losses import clip_weights, discriminator_loss, generator_loss_nonsaturating

CHECKPOINT_FORMAT = "regan_tutorial.checkpoint/2"
PRIORS = ("normal", "uniform")


@dataclass
class History:
    """Per-step losses, each extra term under its own name, elapsed seconds, and
    ``(step, value)`` snapshots. ``d_terms`` / ``g_terms`` map a term's name (``"penalty"``,
    ``"regularizer"``, ``"info"``, ``"label"``) to its values, weights included."""

    step: list = field(default_factory=list)
    d_loss: list = field(default_factory=list)
    g_loss: list = field(default_factory=list)
    d_terms: dict = field(default_factory=dict)
    g_terms: dict = field(default_factory=dict)
    seconds: list = field(default_factory=list)
    snapshots: list = field(default_factory=list)

    def record(self, step, seconds, d_values, g_values):
        self.step.append(step)
        self.seconds.append(seconds)
        for losses, terms, values in ((self.d_loss, self.d_terms, d_values), (self.g_loss, self.g_terms, g_values)):
            values = dict(values)
            losses.append(values.pop("loss"))
            for name, value in values.items():
                terms.setdefault(name, []).append(value)

    def state(self):
        return {k: (dict(v) if isinstance(v, dict) else list(v)) for k, v in vars(self).items()}


@dataclass
class Batch:
    """What one step computed: noise, labels (or None), real and fake samples and D's logits on them."""

    step: int
    z: torch.Tensor
    y: object
    x_real: torch.Tensor
    x_fake: torch.Tensor
    d_real: torch.Tensor = None
    d_fake: torch.Tensor = None


def sample_z(n, z_dim, prior="normal", generator=None, device="cpu"):
    """Noise for the generator: N(0, I) or U(-1, 1)^z_dim (Tal Daniel's EE046202 tutorial), or
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


def _sum_finite(step, player, losses):
    """The sum of a player's loss and terms, after checking each is finite (before any weight moves)."""
    for name, value in losses.items():
        if not torch.isfinite(value).all():
            raise FloatingPointError(
                f"training diverged at step {step}: the {player}'s {name} is {value.item()}; "
                "the weights were not updated. Lower the learning rates, or add a regularizer, and start again.")
    return sum(losses.values())


def _d(discriminator, x, y):
    return discriminator(x) if y is None else discriminator(x, y)


def discriminator_step(generator, discriminator, d_opt, x_real, z, y=None, *, step=1, d_loss=discriminator_loss,
                       terms=None, clip=None, input_grad=False, conditional=True):
    """One discriminator update (the inner loop of Algorithm 1): descend ``d_loss(d_real, d_fake)``
    plus each named term ``terms[name](batch)``. With labels ``y``, G gets them, and D too if
    ``conditional``. Returns the :class:`Batch` and the values of the loss and terms."""
    with torch.no_grad():
        x_fake = _d(generator, z, y)
    # a regularizer differentiates the logits w.r.t. the inputs: mark them before the forward pass
    x_real, x_fake = (x.detach().requires_grad_(input_grad) for x in (x_real, x_fake))
    b = Batch(step, z, y, x_real, x_fake)
    b.d_real, b.d_fake = (_d(discriminator, x, y if conditional else None) for x in (x_real, x_fake))
    losses = {"loss": d_loss(b.d_real, b.d_fake), **{k: term(b) for k, term in (terms or {}).items()}}
    total = _sum_finite(step, "discriminator", losses)
    d_opt.zero_grad(set_to_none=True)
    total.backward()
    d_opt.step()
    if clip is not None:
        clip_weights(discriminator, clip)  # WGAN (Arjovsky et al. 2017)
    return b, {k: v.item() for k, v in losses.items()}


def generator_step(generator, discriminator, g_opt, z, y=None, *, step=1, g_loss=generator_loss_nonsaturating,
                   terms=None, frozen=(), conditional=True):
    """One generator update: descend ``g_loss(d_fake)`` plus each named term. The parameters in
    ``frozen`` (the discriminator's, by default all of ``d_opt``'s) get no gradient in this step."""
    x_fake = _d(generator, z, y)
    b = Batch(step, z, y, None, x_fake)
    flags = [p.requires_grad for p in frozen]
    for p in frozen:
        p.requires_grad_(False)
    try:
        b.d_fake = _d(discriminator, x_fake, y if conditional else None)
        losses = {"loss": g_loss(b.d_fake), **{k: term(b) for k, term in (terms or {}).items()}}
        total = _sum_finite(step, "generator", losses)
        g_opt.zero_grad(set_to_none=True)
        total.backward()
    finally:
        for p, flag in zip(frozen, flags):
            p.requires_grad_(flag)
    g_opt.step()
    return b, {k: v.item() for k, v in losses.items()}


def _count(name, value, minimum=1):
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")


def _check_options(data, steps, batch_size, d_steps, labels, classifier, penalty, regularizer, gamma,
                   max_seconds, snapshot, snapshot_every, checkpoint_every):
    """Refuse settings that cannot train or that would combine into something half-working."""
    if not isinstance(data, torch.Tensor):
        raise TypeError(f"data= must be a tensor of the real samples, (N, ...) on the training device, got a "
                        f"{type(data).__name__}: the loop draws its own batches (for a Dataset of (x, y) pairs, "
                        f"pass torch.stack([x for x, _ in dataset]))")
    if steps is None and max_seconds is None:
        raise ValueError("pass steps= (the number of generator steps), max_seconds= (a time budget), or both")
    if steps is not None:
        _count("steps", steps)
    _count("batch_size", batch_size)
    _count("d_steps", d_steps)
    for name, value in (("snapshot_every", snapshot_every), ("checkpoint_every", checkpoint_every)):
        if value is not None:
            _count(name, value)
    if max_seconds is not None and not max_seconds > 0:
        raise ValueError(f"max_seconds must be a positive number of seconds, got {max_seconds!r}")
    if snapshot_every and snapshot is None:
        raise ValueError("snapshot_every= needs snapshot= (a function of generator and discriminator)")
    if gamma is not None and regularizer is None:
        raise ValueError("gamma= weights a regularizer: pass regularizer= too (e.g. losses.js_regularizer)")
    if regularizer is not None and gamma is None:
        raise ValueError("a regularizer needs its weight: pass gamma= (a number, or e.g. AnnealedGamma(2.0, steps))")
    if classifier is not None and labels is None:
        raise ValueError("classifier= learns the labels of the real samples: pass labels= (one per sample of data)")
    if labels is not None and len(labels) != len(data):
        raise ValueError(f"labels= needs one label per sample: {len(labels)} labels for {len(data)} samples")
    if penalty is not None and labels is not None and classifier is None:
        raise ValueError("penalty= calls the critic without labels, but this critic is conditional (labels= without "
                         "classifier=); use an unconditional critic with classifier=, or a regularizer= on the logits")


def _check_networks(data, generator, discriminator, g_opt, d_opt):
    """Refuse swapped optimisers and a network on another device than the data."""
    for name, net, opt, opt_name in (("generator", generator, g_opt, "g_opt"),
                                     ("discriminator", discriminator, d_opt, "d_opt")):
        held = {id(p) for group in opt.param_groups for p in group["params"]}
        if not held & {id(p) for p in net.parameters()}:
            raise ValueError(f"{opt_name} holds none of the {name}'s parameters: build it from "
                             f"{name}.parameters() (were g_opt and d_opt swapped?)")
        devices = sorted({str(p.device) for p in net.parameters()})
        if devices != [str(data.device)]:
            raise ValueError(f"the {name} is on {', '.join(devices)} and the data on {data.device}: "
                             f"move both to one device, e.g. with .to(device)")


def _name(obj):
    """A stable name for a function or object, for the checkpoint's record of the settings."""
    if obj is None or isinstance(obj, (int, float, str, bool)):
        return obj
    kind = obj if callable(obj) and hasattr(obj, "__qualname__") else type(obj)
    name = f"{kind.__module__}.{kind.__qualname__}"
    return name + (f"{vars(obj)}" if kind is type(obj) and hasattr(obj, "__dict__") else "")


def _settings(generator, discriminator, g_opt, d_opt, **options):
    """What must be the same for a checkpoint to continue this run: optimiser settings,
    network classes and parameter shapes, and the loop's options by name."""
    def optimiser(opt):
        groups = [{k: v for k, v in g.items() if k != "params" and isinstance(v, (int, float, tuple, bool, str))}
                  for g in opt.param_groups]
        return {"class": type(opt).__name__, "groups": repr(groups)}

    def network(net):
        return {"class": _name(type(net)), "shapes": repr([tuple(p.shape) for p in net.state_dict().values()])}

    return {"generator": network(generator), "discriminator": network(discriminator),
            "g_opt": optimiser(g_opt), "d_opt": optimiser(d_opt),
            **{k: repr(_name(v)) if not isinstance(v, (int, float, str, type(None))) else v
               for k, v in options.items()}}


def _check_writable(path):
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"checkpoint={str(path)!r} is a folder: name a file in it, e.g. {str(path / 'run.pt')!r}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent):
            pass
    except OSError as err:
        raise ValueError(f"cannot write the checkpoint into {path.parent} ({err.strerror}); "
                         "pass a checkpoint= path in a writable folder") from None


SNAPSHOT_TYPES = (torch.Tensor, int, float, bool, str, type(None))


def _check_snapshot(value, where="a snapshot"):
    """A checkpoint is loaded with ``weights_only=True``: refuse a snapshot it could not restore."""
    if isinstance(value, (list, tuple)):
        for item in value:
            _check_snapshot(item, where)
    elif isinstance(value, dict):
        for item in value.values():
            _check_snapshot(item, where)
    elif not isinstance(value, SNAPSHOT_TYPES):
        raise ValueError(f"{where} holds a {type(value).__name__}, which a checkpoint cannot restore safely: "
                         "return tensors, numbers, strings, or lists, tuples and dicts of them")


def train(generator, discriminator, data, *, steps=None, batch_size, g_opt, d_opt,
          d_loss=discriminator_loss, g_loss=generator_loss_nonsaturating, d_steps=1, prior="normal",
          labels=None, classifier=None, penalty=None, regularizer=None, gamma=None, clip=None, info_loss=None,
          snapshot=None, snapshot_every=None, checkpoint=None, checkpoint_every=None, seed=0, progress=True,
          max_seconds=None):
    """Train ``generator`` against ``discriminator`` on the real samples ``data`` (a tensor on the device).

    Each step: ``d_steps`` calls of :func:`discriminator_step` on fresh batches, then one
    :func:`generator_step` (Goodfellow et al. 2014, Algorithm 1), for ``steps`` steps or until
    ``max_seconds`` have passed (to compare models at equal wall time), whichever comes first.

    Extra terms of the discriminator's loss, each recorded under its name in the history:
    ``penalty(discriminator, x_real, x_fake)`` (e.g. WGAN-GP's ``losses.gradient_penalty``), and
    ``gamma / 2`` times ``regularizer(d_real, x_real, d_fake, x_fake)`` (e.g. ``losses.js_regularizer``),
    a penalty on the logits the step already computed, with ``gamma`` a number or a function of the
    0-based step t (e.g. :class:`AnnealedGamma`). ``clip`` clamps D's weights to [-clip, clip] after
    each of its updates (WGAN). ``info_loss(x_fake, z)`` (InfoGAN) is added to both players' losses.

    With ``labels`` (one per sample of ``data``) the GAN is conditional: ``generator(z, y)`` and
    ``discriminator(x, y)``. With ``labels`` and a ``classifier`` (its parameters in ``d_opt``),
    D stays unconditional: the classifier learns the real labels in each D step, and its
    cross-entropy on the fakes' requested labels is added to the generator's loss.

    ``seed`` seeds the batches, the noise, and everything that draws from torch's global random
    numbers during training (dropout, the penalty's interpolates), which are restored afterwards,
    so a CPU run repeats bit for bit whatever ran before. ``snapshot(generator, discriminator)``
    is stored every ``snapshot_every`` steps, both networks in eval mode. With ``checkpoint`` (a
    path) the state is saved every ``checkpoint_every`` steps and at the end, with the run's
    settings; a run finding that file continues where it stopped, and refuses if its settings differ.
    Returns a :class:`History`.
    """
    _check_options(data, steps, batch_size, d_steps, labels, classifier, penalty, regularizer, gamma,
                   max_seconds, snapshot, snapshot_every, checkpoint_every)
    _check_networks(data, generator, discriminator, g_opt, d_opt)
    weight = gamma if callable(gamma) else (lambda t: gamma)
    d_terms, g_terms = {}, {}
    if penalty is not None:
        d_terms["penalty"] = lambda b: penalty(discriminator, b.x_real, b.x_fake)
    if regularizer is not None:
        d_terms["regularizer"] = lambda b: weight(b.step - 1) / 2 * regularizer(b.d_real, b.x_real, b.d_fake, b.x_fake)
    if info_loss is not None:
        d_terms["info"] = g_terms["info"] = lambda b: info_loss(b.x_fake, b.z)
    if classifier is not None:
        d_terms["label"] = lambda b: F.cross_entropy(classifier(b.x_real), b.y)
        g_terms["label"] = lambda b: F.cross_entropy(classifier(b.x_fake), b.y)
    settings = _settings(generator, discriminator, g_opt, d_opt, steps=steps, batch_size=batch_size,
                         d_loss=d_loss, g_loss=g_loss, d_steps=d_steps, prior=prior, conditional=labels is not None,
                         classifier=classifier, penalty=penalty, regularizer=regularizer, gamma=gamma, clip=clip,
                         info_loss=info_loss, seed=seed, max_seconds=max_seconds)
    if checkpoint:
        _check_writable(checkpoint)
    d_kw = dict(d_loss=d_loss, terms=d_terms, clip=clip, input_grad=regularizer is not None,
                conditional=classifier is None)
    g_kw = dict(g_loss=g_loss, terms=g_terms, conditional=classifier is None,
                frozen=[p for group in d_opt.param_groups for p in group["params"]])
    device, rng = data.device, torch.Generator().manual_seed(seed)

    def batch():
        index = torch.randint(len(data), (batch_size,), generator=rng).to(device)
        y = labels[index] if labels is not None else None
        return data[index], sample_z(batch_size, generator.z_dim, prior, rng, device), y

    def take_snapshot(step):
        modes = generator.training, discriminator.training
        generator.eval(), discriminator.eval()
        with torch.no_grad():
            value = snapshot(generator, discriminator)
        generator.train(modes[0]), discriminator.train(modes[1])
        if checkpoint:
            _check_snapshot(value, f"the snapshot at step {step}")
        history.snapshots.append((step, value))

    with torch.random.fork_rng(devices=[device.index or 0] if device.type == "cuda" else []):
        torch.manual_seed(seed + 1)  # dropout, penalties' interpolates: the run's own stream, restored afterwards
        history, step = History(), 0
        if checkpoint and Path(checkpoint).exists():
            step = load_checkpoint(checkpoint, generator, discriminator, g_opt, d_opt, rng, history, settings)
        generator.train(), discriminator.train()
        if snapshot and step == 0:
            take_snapshot(0)
        elapsed, tic = (history.seconds[-1] if history.seconds else 0.0), time.perf_counter()
        bar = _ProgressBar(steps, max_seconds, step, elapsed, progress)
        while steps is None or step < steps:
            step += 1
            for _ in range(d_steps):
                _, d_values = discriminator_step(generator, discriminator, d_opt, *batch(), step=step, **d_kw)
            _, g_values = generator_step(generator, discriminator, g_opt, *batch()[1:], step=step, **g_kw)
            history.record(step, elapsed + time.perf_counter() - tic, d_values, g_values)
            done = step == steps or (max_seconds is not None and history.seconds[-1] >= max_seconds)
            bar.show(step, history.seconds[-1], d_values["loss"], g_values["loss"], done)
            if snapshot and snapshot_every and (step % snapshot_every == 0 or done):
                take_snapshot(step)
            if checkpoint and (done or (checkpoint_every and step % checkpoint_every == 0)):
                save_checkpoint(checkpoint, generator, discriminator, g_opt, d_opt, rng, history, step, settings)
            if done:
                break
        bar.close(history)
    return history


class _ProgressBar:
    """Steps against the step budget, or seconds against the time budget; it ends complete
    when the budget is spent, and a one-line summary follows (what the static book shows)."""

    def __init__(self, steps, max_seconds, start, elapsed, enabled):
        self.timed, self.enabled = steps is None, enabled
        # TQDM_DISABLE=1 (set by the book's execute) hides the live bar and keeps the summary line
        live = enabled and os.environ.get("TQDM_DISABLE", "").lower() not in ("1", "true")
        fmt = "{l_bar}{bar}| {n:.0f}/{total:.0f} s of the time budget [{postfix}]"
        self.bar = tqdm(total=max_seconds if self.timed else steps, initial=int(elapsed) if self.timed else start,
                        disable=not live, desc="training", bar_format=fmt if self.timed else None,
                        unit="step", mininterval=1.0)

    def show(self, step, seconds, d, g, done):
        if step % 25 and not done:
            return
        self.bar.set_postfix_str(f"step {step:,}, d {d:.3f}, g {g:.3f}", refresh=False)
        position = min(seconds, self.bar.total) if self.timed else step
        if done and self.timed:
            position = self.bar.total  # the time budget is spent
        elif done:
            self.bar.total = step  # stopped by the time budget before the step budget
        self.bar.update(position - self.bar.n)

    def close(self, history):
        self.bar.close()
        if self.enabled and history.step:
            seconds, steps = history.seconds[-1], history.step[-1]
            print(f"trained {steps:,} steps in {seconds:.0f} s ({1000 * seconds / steps:.1f} ms per step)")


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


def save_checkpoint(path, generator, discriminator, g_opt, d_opt, rng, history, step, settings=None):
    """Write everything a run needs to continue exactly, and the settings it ran with;
    atomic, so a crash never leaves half a file."""
    state = {
        "format": CHECKPOINT_FORMAT,
        "step": step,
        "settings": settings or {},
        "generator": generator.state_dict(),
        "discriminator": discriminator.state_dict(),
        "g_opt": g_opt.state_dict(),
        "d_opt": d_opt.state_dict(),
        "rng": rng.get_state(),
        "torch_rng": torch.get_rng_state(),
        "history": history.state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda_rng"] = torch.cuda.get_rng_state()
    state["sha256"] = _digest(state)
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def load_checkpoint(path, generator, discriminator, g_opt, d_opt, rng, history, settings=None):
    """Restore a checkpoint written by :func:`save_checkpoint`; returns its step.

    Loads with ``weights_only=True`` (no code runs from the file), refuses a file that is
    corrupt or was not written by this package, and, given ``settings``, one written by a run
    with other settings (it names them).
    """
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise ValueError(f"{path} is not a readable checkpoint ({type(err).__name__}); delete it to start afresh") from None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is not a checkpoint of this version of regan_tutorial (expected format "
                         f"{CHECKPOINT_FORMAT!r}); delete it, or pass another checkpoint= path, to start afresh")
    if state.pop("sha256", None) != _digest(state):
        raise ValueError(f"{path} is damaged or was modified (its checksum does not match); delete it to start afresh")
    if settings is not None and state["settings"] != settings:
        old = state["settings"]
        differ = [f"{k}: {old.get(k)!r} in the checkpoint, {settings.get(k)!r} now"
                  for k in sorted(set(old) | set(settings)) if old.get(k) != settings.get(k)]
        raise ValueError(f"{path} was written by a run with other settings ({'; '.join(differ)}). "
                         "To start afresh, delete the file or pass another checkpoint= path; "
                         "to continue that run, call train with its settings.")
    try:
        generator.load_state_dict(state["generator"])
        discriminator.load_state_dict(state["discriminator"])
        g_opt.load_state_dict(state["g_opt"])
        d_opt.load_state_dict(state["d_opt"])
    except (KeyError, RuntimeError, ValueError) as err:
        raise ValueError(f"{path} does not fit these networks and optimisers: {err}") from None
    rng.set_state(state["rng"])
    torch.set_rng_state(state["torch_rng"])
    if "cuda_rng" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state(state["cuda_rng"])
    for key, values in state["history"].items():
        setattr(history, key, dict(values) if isinstance(values, dict) else list(values))
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
