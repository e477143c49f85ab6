"""One training loop for every GAN in the course, with checkpoints that resume exactly.

A training step is Algorithm 1 of Goodfellow et al. 2014: ``d_steps`` calls of
:func:`discriminator_step`, then one :func:`generator_step`. What differs between
chapters (losses, penalties, the prior, the optimisers) is passed in; every
extra term of a loss (a gradient penalty, a regularizer, InfoGAN's term) is a
*named term*, a function of the step's :class:`Batch` that the step adds to the
loss, checks for nan and records under its name.
"""

import contextlib
import functools
import hashlib
import inspect
import math
import numbers
import os
import tempfile
import time
import types
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from .losses import (clip_weights, critic_loss_wasserstein, discriminator_loss, discriminator_loss_hinge,
                     discriminator_loss_least_squares, discriminator_loss_relativistic,
                     generator_loss_nonsaturating)

CHECKPOINT_FORMAT = "regan_tutorial.checkpoint/3"
PRIORS = ("normal", "uniform")
DISCRIMINATOR_LOSSES = (discriminator_loss, critic_loss_wasserstein, discriminator_loss_least_squares,
                        discriminator_loss_hinge, discriminator_loss_relativistic)


@dataclass
class History:
    """Per-step losses, each extra term under its own name, elapsed seconds, and
    ``(step, value)`` snapshots. ``d_terms`` / ``g_terms`` map a term's name (``"penalty"``,
    ``"regularizer"``, ``"info"``, ``"label"``) to its values, weights included. ``monitor``
    holds what ``train(..., monitor=True)`` records per step (see :func:`monitored`)."""

    step: list = field(default_factory=list)
    d_loss: list = field(default_factory=list)
    g_loss: list = field(default_factory=list)
    d_terms: dict = field(default_factory=dict)
    g_terms: dict = field(default_factory=dict)
    seconds: list = field(default_factory=list)
    snapshots: list = field(default_factory=list)
    monitor: dict = field(default_factory=dict)

    def record(self, step, seconds, d_values, g_values, monitor=None):
        self.step.append(step)
        self.seconds.append(seconds)
        for name, value in (monitor or {}).items():
            self.monitor.setdefault(name, []).append(value)
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


ARGUMENTS = {"penalty": "penalty=", "regularizer": "regularizer=", "info": "info_loss=", "label": "classifier="}


def _described(value):
    return f"a tensor of shape {tuple(value.shape)}" if isinstance(value, torch.Tensor) else f"a {type(value).__name__}"


def _sum_finite(step, player, losses):
    """The sum of a player's loss and terms, after checking each is one finite number in a tensor
    (before any weight moves)."""
    for name, value in losses.items():
        if not isinstance(value, torch.Tensor) or value.numel() != 1:
            what = ARGUMENTS.get(name, f"{player[0]}_loss=" if name == "loss" else f"the term {name!r}")
            raise ValueError(f"the {player}'s {what} returned {_described(value)}; it must return a scalar tensor "
                             "(the mean over the batch), e.g. end it with .mean()")
        if not torch.isfinite(value).all():
            raise FloatingPointError(
                f"training diverged at step {step}: the {player}'s {name} is {value.item()}; "
                "the weights were not updated. Lower the learning rates, or add a regularizer, and start again.")
    return sum(losses.values())


def _d(discriminator, x, y):
    return discriminator(x) if y is None else discriminator(x, y)


def discriminator_step(generator, discriminator, d_opt, x_real, z, y=None, *, step=1, d_loss=discriminator_loss,
                       terms=None, clip=None, input_grad=False, conditional=True):
    """One discriminator update, the inner loop of Algorithm 1.1 (Goodfellow et al. 2014, Algorithm 1):
    descend ``d_loss(d_real, d_fake)`` plus each named term ``terms[name](batch)``. With labels ``y``,
    G gets them, and D too if ``conditional``. Returns the :class:`Batch` and the values of the loss
    and terms."""
    with torch.no_grad():
        x_fake = _d(generator, z, y)
    # a regularizer differentiates the logits w.r.t. the inputs: mark them before the forward pass
    x_real, x_fake = (x.detach().requires_grad_(input_grad) for x in (x_real, x_fake))
    b = Batch(step, z, y, x_real, x_fake)
    b.d_real, b.d_fake = (_d(discriminator, x, y if conditional else None) for x in (x_real, x_fake))
    losses = {"loss": d_loss(b.d_real, b.d_fake), **{k: term(b) for k, term in (terms or {}).items()}}
    total = _sum_finite(step, "discriminator", losses)
    d_opt.zero_grad(set_to_none=True)
    # only what d_opt steps: the inputs' gradient, which a regularizer marks them for, is not needed
    total.backward(inputs=[p for group in d_opt.param_groups for p in group["params"] if p.requires_grad])
    d_opt.step()
    if clip is not None:
        clip_weights(discriminator, clip)  # WGAN (Arjovsky et al. 2017)
    return b, {k: v.item() for k, v in losses.items()}


def takes_real(g_loss):
    """Whether ``g_loss`` is a paired generator loss ``g_loss(d_real, d_fake)`` (two required positional
    parameters, e.g. :func:`~regan_tutorial.losses.generator_loss_relativistic`) rather than
    ``g_loss(d_fake)``: read from its signature, so a loss of one's own needs no marker. Refused,
    since they would train with the wrong sign unseen: the package's discriminator losses (also
    under ``functools.partial`` or a decorator), and two parameters whose names put the generated
    logits first, e.g. ``(fake, real)``, ``(d_gen, d_real)``, ``(generated, data)``."""
    base = g_loss
    while isinstance(base, functools.partial) or hasattr(base, "__wrapped__"):
        base = base.func if isinstance(base, functools.partial) else base.__wrapped__
    if any(base is loss for loss in DISCRIMINATOR_LOSSES):
        raise ValueError(f"g_loss= is a discriminator's loss (losses.{base.__name__}): the generator "
                         "descends a generator loss, e.g. losses.generator_loss_nonsaturating")
    try:  # a module's call is its forward
        parameters = inspect.signature(g_loss.forward if isinstance(g_loss, nn.Module) else g_loss).parameters.values()
    except (TypeError, ValueError):  # a builtin without a signature: the classic one-argument form
        return False
    required = [p.name for p in parameters if p.default is p.empty
                and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if len(required) > 2:
        raise ValueError(f"g_loss= takes {len(required)} required arguments ({', '.join(required)}); "
                         "a generator loss takes (d_fake), or (d_real, d_fake) for a paired loss such as "
                         "losses.generator_loss_relativistic")
    if len(required) == 2:
        real = [any(w in name.lower() for w in ("real", "data")) for name in required]
        fake = [any(w in name.lower() for w in ("fake", "gen")) for name in required]
        if (fake[0] and not real[0]) or (real[1] and not fake[1]):  # called by position: the sign would flip
            raise ValueError(f"g_loss= takes ({', '.join(required)}), but a paired generator loss is called as "
                             "g_loss(d_real, d_fake): put the real logits first")
    return len(required) == 2


def generator_step(generator, discriminator, g_opt, z, y=None, *, step=1, g_loss=generator_loss_nonsaturating,
                   terms=None, frozen=(), conditional=True, x_real=None):
    """One generator update: descend ``g_loss(d_fake)`` plus each named term; a paired loss
    ``g_loss(d_real, d_fake)`` (see :func:`takes_real`) also gets D's logits on the real batch
    ``x_real``, row i paired with fake row i. The parameters in ``frozen`` (in :func:`train`: the
    discriminator's and the classifier's, by ownership, and any that only ``d_opt`` trains) get no
    gradient in this step."""
    paired = takes_real(g_loss)
    if paired and x_real is None:
        raise ValueError("this g_loss takes (d_real, d_fake): pass the real batch, x_real=")
    x_fake = _d(generator, z, y)
    b = Batch(step, z, y, x_real if paired else None, x_fake)
    flags = [p.requires_grad for p in frozen]
    for p in frozen:
        p.requires_grad_(False)
    try:
        b.d_fake = _d(discriminator, x_fake, y if conditional else None)
        if paired:  # D's logits on real data: constants for G, computed with D frozen like the fake ones
            b.d_real = _d(discriminator, x_real.detach(), y if conditional else None)
        loss = g_loss(b.d_real, b.d_fake) if paired else g_loss(b.d_fake)
        losses = {"loss": loss, **{k: term(b) for k, term in (terms or {}).items()}}
        total = _sum_finite(step, "generator", losses)
        g_opt.zero_grad(set_to_none=True)
        total.backward()
    finally:
        for p, flag in zip(frozen, flags):
            p.requires_grad_(flag)
    g_opt.step()
    return b, {k: v.item() for k, v in losses.items()}


def _count(name, value, minimum=1):
    """``value`` as an int if it is a whole number >= ``minimum`` (a numpy integer too), else a ValueError."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _seed(seed):
    """``seed`` as an int (a numpy integer too); ``seed + 1`` seeds torch's global stream, so both must fit a long."""
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or not -2**63 <= seed <= 2**63 - 2:
        raise ValueError(f"seed={seed!r} ({type(seed).__name__}): pass a whole number from -2**63 to 2**63 - 2, "
                         "e.g. seed=0")
    return int(seed)


def _is_number(value):
    """A real number, a numpy scalar or a 0-d tensor (not a bool)."""
    return (isinstance(value, numbers.Real) and not isinstance(value, bool)) or \
        (isinstance(value, torch.Tensor) and value.dim() == 0 and value.dtype != torch.bool)


def _check_data(data, labels):
    """Refuse real samples the loop cannot draw batches from, and labels that do not fit them."""
    if not isinstance(data, torch.Tensor):
        raise TypeError(f"data= must be a tensor of the real samples, (N, ...) on the training device, got a "
                        f"{type(data).__name__}: the loop draws its own batches (for a Dataset of (x, y) pairs, "
                        f"pass torch.stack([x for x, _ in dataset]))")
    if data.dim() == 0 or len(data) == 0:
        raise ValueError(f"data= holds no samples (shape {tuple(data.shape)}): pass the real samples, (N, ...) with N >= 1")
    if not data.is_floating_point():
        raise TypeError(f"data= holds {data.dtype} values, but the networks compute in floating point: convert it, "
                        "e.g. images in 0..255 with data.float() / 127.5 - 1 (to [-1, 1])")
    bad = (~torch.isfinite(data.flatten(1) if data.dim() > 1 else data[:, None])).any(1)
    if bad.any():
        raise ValueError(f"data= holds nan or inf in {int(bad.sum())} of its {len(data)} samples (the first is "
                         f"sample {int(bad.nonzero()[0])}): drop or repair them, e.g. data[torch.isfinite(data)"
                         f".flatten(1).all(1)]")
    if labels is None:
        return
    if not isinstance(labels, torch.Tensor) or labels.dim() != 1 or labels.is_floating_point() or labels.dtype == torch.bool:
        what = f"a {labels.dtype} tensor of shape {tuple(labels.shape)}" if isinstance(labels, torch.Tensor) \
            else f"a {type(labels).__name__}"
        raise TypeError(f"labels= must be a 1D integer tensor, one class index per sample of data, got {what}: "
                        "pass e.g. torch.as_tensor(labels, dtype=torch.long)")
    if len(labels) != len(data):
        raise ValueError(f"labels= needs one label per sample: {len(labels)} labels for {len(data)} samples")
    if labels.device != data.device:
        raise ValueError(f"labels= is on {labels.device} and data= on {data.device}: move both to one device, "
                         "e.g. with labels.to(data.device)")


def _check_options(data, steps, batch_size, d_steps, labels, classifier, penalty, regularizer, gamma, clip,
                   max_seconds, snapshot, snapshot_every, checkpoint, checkpoint_every):
    """Refuse settings that cannot train or that would combine into something half-working;
    returns the counts as ints (steps, batch_size, d_steps, snapshot_every, checkpoint_every)."""
    _check_data(data, labels)
    if steps is None and max_seconds is None:
        raise ValueError("pass steps= (the number of generator steps), max_seconds= (a time budget), or both")
    steps = None if steps is None else _count("steps", steps)
    batch_size, d_steps = _count("batch_size", batch_size), _count("d_steps", d_steps)
    snapshot_every, checkpoint_every = (None if value is None else _count(name, value) for name, value in
                                        (("snapshot_every", snapshot_every), ("checkpoint_every", checkpoint_every)))
    if max_seconds is not None and (not _is_number(max_seconds) or not max_seconds > 0):
        raise ValueError(f"max_seconds must be a positive number of seconds, got {max_seconds!r}")
    if steps is None and max_seconds == math.inf:
        raise ValueError("steps=None with max_seconds=inf never stops: pass steps= too, or a finite time budget")
    if snapshot_every and snapshot is None:
        raise ValueError("snapshot_every= needs snapshot= (a function of generator and discriminator)")
    if checkpoint_every and not checkpoint:
        raise ValueError(f"checkpoint_every={checkpoint_every} needs checkpoint= (the path of the file to save to)")
    if gamma is not None and regularizer is None:
        raise ValueError("gamma= weights a regularizer: pass regularizer= too (e.g. losses.js_regularizer)")
    if regularizer is not None and gamma is None:
        raise ValueError("a regularizer needs its weight: pass gamma= (a number, or e.g. AnnealedGamma(2.0, steps))")
    if gamma is not None and not callable(gamma) and not (_is_number(gamma) and 0 <= gamma < math.inf):
        raise ValueError(f"gamma= must be a number >= 0 (the regularizer's weight; a negative one rewards what the "
                         f"regularizer penalises) or a function of the step, got {gamma!r}")
    if clip is not None and not (_is_number(clip) and 0 < clip < math.inf):
        raise ValueError(f"clip= clamps the discriminator's weights to [-clip, clip]: pass a positive number, e.g. "
                         f"0.01 (WGAN), or None for no clipping; got {clip!r}")
    if classifier is not None and labels is None:
        raise ValueError("classifier= learns the labels of the real samples: pass labels= (one per sample of data)")
    if penalty is not None and labels is not None and classifier is None:
        raise ValueError("penalty= calls the critic without labels, but this critic is conditional (labels= without "
                         "classifier=); use an unconditional critic with classifier=, or a regularizer= on the logits")
    return steps, batch_size, d_steps, snapshot_every, checkpoint_every


def _held(opt):
    return {id(p) for group in opt.param_groups for p in group["params"]}


def _check_networks(data, generator, discriminator, g_opt, d_opt, classifier, prior):
    """Refuse swapped optimisers, networks whose trainable parameters their optimiser does not hold
    (they would never move), a network on another device or in another dtype than the data, and a
    generator whose noise size the loop cannot read, and a parameter that both G and D hold."""
    g_names = {id(p): n for n, p in generator.named_parameters()}
    shared = [(n, g_names[id(p)]) for n, p in discriminator.named_parameters() if id(p) in g_names]
    if shared:
        raise ValueError(f"the discriminator's {shared[0][0]} is also the generator's {shared[0][1]}"
                         f"{f' (and {len(shared) - 1} more shared parameters)' if len(shared) > 1 else ''}: a "
                         "parameter of both would be frozen in both steps (each player's step freezes the other's) "
                         "and never train; give each network its own layers (copy.deepcopy the shared one)")
    players = [("generator", generator, g_opt, "g_opt"), ("discriminator", discriminator, d_opt, "d_opt")]
    if classifier is not None:
        players.append(("classifier", classifier, d_opt, "d_opt"))
    for name, net, opt, opt_name in players:
        held = _held(opt)
        if name != "classifier" and not held & {id(p) for p in net.parameters()}:
            raise ValueError(f"{opt_name} holds none of the {name}'s parameters: build it from "
                             f"{name}.parameters() (were g_opt and d_opt swapped?)")
        left_out = [n for n, p in net.named_parameters() if p.requires_grad and id(p) not in held]
        if left_out:
            raise ValueError(f"{opt_name} does not hold {len(left_out)} trainable parameters of the {name} "
                             f"({', '.join(left_out[:3])}{', ...' if len(left_out) > 3 else ''}), which would never "
                             f"be trained: build {opt_name} from all of them"
                             + (", e.g. Adam([*discriminator.parameters(), *classifier.parameters()])"
                                if name == "classifier" else "") + ", or freeze them with requires_grad_(False)")
        devices = sorted({str(p.device) for p in net.parameters()})
        if devices and devices != [str(data.device)]:
            raise ValueError(f"the {name} is on {', '.join(devices)} and the data on {data.device}: "
                             f"move both to one device, e.g. with .to(device)")
        dtypes = sorted({str(p.dtype) for p in net.parameters() if p.is_floating_point()})
        if dtypes and dtypes != [str(data.dtype)]:
            raise TypeError(f"the {name}'s parameters are {', '.join(dtypes)} and data= is {data.dtype}: train in one "
                            f"dtype, e.g. data.float() for float32 networks (or convert the networks with .to(dtype))")
    z_dim = getattr(generator, "z_dim", None)
    if not callable(prior) and (isinstance(z_dim, bool) or not isinstance(z_dim, numbers.Integral) or z_dim < 1):
        raise ValueError(f"the loop draws the generator's noise z of size generator.z_dim, but this "
                         f"{type(generator).__name__} has z_dim={z_dim!r}: set it (e.g. generator.z_dim = 100), or "
                         "pass prior= a function (n, torch_generator) -> z")


def _check_sample_shape(generator, data, labels, prior):
    """Refuse a generator whose samples do not have the data's shape: by its ``out_shape`` when it has
    one, else by one forward pass of 2 samples without gradients, with torch's random state and the
    generator's buffers (batch-norm statistics) put back, so the run is the same as without it."""
    want, got = tuple(data.shape[1:]), getattr(generator, "out_shape", None)
    if got is None or not _plain(tuple(got)):
        buffers = list(generator.buffers())
        saved = [b.clone() for b in buffers]
        devices = [data.device.index or 0] if data.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices), torch.no_grad():
            z = sample_z(2, getattr(generator, "z_dim", None), prior, torch.Generator().manual_seed(0), data.device)
            got = _d(generator, z.to(data.dtype), None if labels is None else labels[:2].long()).shape[1:]
            for b, s in zip(buffers, saved):
                b.copy_(s)
    if tuple(got) != want:
        raise ValueError(f"the generator's samples have shape {tuple(got)} and the data's {want}: the discriminator "
                         "compares the two, so build the generator for samples of the data's shape")


class _Unidentified(Exception):
    """A setting that a checkpoint could not tell apart from another one of the same name."""


def _code_digest(code, h=None):
    """SHA-256 over a function's byte code and constants (nested functions' code included)."""
    h = h or hashlib.sha256()
    h.update(code.co_code)
    for const in code.co_consts:
        _code_digest(const, h) if isinstance(const, types.CodeType) else h.update(repr(const).encode())
    h.update(repr(code.co_names).encode())
    return h.hexdigest()


def _plain(value):
    """A value a checkpoint records as it is: a number, a string, a bool, or a tuple of them."""
    return isinstance(value, (bool, str, numbers.Real)) or (isinstance(value, tuple) and all(map(_plain, value)))


def _names(code):
    """The global names a function's code (nested functions' code included) refers to."""
    return {*code.co_names, *(n for c in code.co_consts if isinstance(c, types.CodeType) for n in _names(c))}


def _function_identity(fn, identity):
    """A function by its module, name and code, and what its code reads besides its arguments: its
    defaults and the plain values (see :func:`_plain`) of the module globals it names. Globals that
    are objects (modules, functions, tensors) are not followed: changing one goes unnoticed."""
    text = f"{fn.__module__}.{fn.__qualname__}:{_code_digest(fn.__code__)[:12]}"
    found = {name: fn.__globals__[name] for name in sorted(_names(fn.__code__))
             if name in fn.__globals__ and _plain(fn.__globals__[name])}
    extra = [f"defaults={identity(list(fn.__defaults__))}" if fn.__defaults__ else "",
             f"kwdefaults={identity(fn.__kwdefaults__)}" if fn.__kwdefaults__ else "",
             f"globals={identity(found)}" if found else ""]
    return text + (f"({', '.join(e for e in extra if e)})" if any(extra) else "")


def _module_identity(net):
    """A network by its class, its ``repr`` (LeakyReLU's slope, Dropout's p: what shapes do not show),
    the plain attributes of each of its modules (but ``training``), and its parameter shapes."""
    attributes = {f"{name}.{k}" if name else k: v for name, m in net.named_modules() for k, v in vars(m).items()
                  if k != "training" and _plain(v)}
    return {"class": _identity(type(net)), "repr": repr(net), "attributes": repr(attributes),
            "shapes": repr([tuple(p.shape) for p in net.state_dict().values()])}


def _identity(obj, depth=0):
    """What identifies a setting in the checkpoint's record, as text: a number by its value (numpy and
    0-d tensors too), a function by its module, name and code, a ``functools.partial`` by its function
    and arguments, an object by its class and attributes, a network by its class and shapes (its weights
    are in the checkpoint). Raises :class:`_Unidentified` for a lambda or a closure, whose name says
    nothing about what they compute, and for what it cannot reach in a few steps (e.g. a cycle)."""
    if depth > 8:
        raise _Unidentified("an object nested too deeply to identify")
    identity = functools.partial(_identity, depth=depth + 1)
    if obj is None or isinstance(obj, (bool, str)):
        return repr(obj)
    if isinstance(obj, numbers.Number):
        return repr(obj.item() if hasattr(obj, "item") else obj)
    if isinstance(obj, torch.Tensor):
        return f"tensor({obj.tolist()!r})" if obj.numel() <= 16 else f"tensor{tuple(obj.shape)}:{_digest(obj)[:16]}"
    if isinstance(obj, (list, tuple)):
        return "[" + ", ".join(map(identity, obj)) + "]"
    if isinstance(obj, dict):
        return "{" + ", ".join(f"{k!r}: {identity(v)}" for k, v in sorted(obj.items(), key=lambda kv: str(kv[0]))) + "}"
    if isinstance(obj, functools.partial):
        return f"functools.partial({identity(obj.func)}, *{identity(obj.args)}, **{identity(obj.keywords)})"
    if isinstance(obj, types.MethodType):
        return f"{identity(obj.__self__)}.{obj.__func__.__name__}"
    if isinstance(obj, types.FunctionType):
        if obj.__name__ == "<lambda>" or obj.__closure__ or "<locals>" in obj.__qualname__:
            raise _Unidentified("a lambda" if obj.__name__ == "<lambda>" else f"a closure ({obj.__qualname__})")
        return _function_identity(obj, identity)
    if isinstance(obj, (type, types.BuiltinFunctionType)) or (callable(obj) and hasattr(obj, "__qualname__")):
        return f"{getattr(obj, '__module__', None)}.{obj.__qualname__}"
    if isinstance(obj, nn.Module):
        return "; ".join(f"{k}: {v}" for k, v in _module_identity(obj).items())
    if hasattr(obj, "__dict__"):
        return f"{identity(type(obj))}{identity(vars(obj))}"
    raise _Unidentified(f"a {type(obj).__name__} object")


def _settings(generator, discriminator, g_opt, d_opt, modules=None, **options):
    """What must be the same for a checkpoint to continue this run: optimiser settings, network
    classes, reprs, plain attributes and parameter shapes, and the loop's options (see :func:`_identity`);
    with a checkpoint, also a digest of the data and labels (added by :func:`train`); a setting that
    cannot be identified is recorded as None under ``"unidentified"``, with why."""
    def optimiser(opt):
        groups = [{k: (v.tolist() if isinstance(v, torch.Tensor) else v) for k, v in g.items()
                   if k != "params" and isinstance(v, (int, float, tuple, bool, str, torch.Tensor))}
                  for g in opt.param_groups]
        return {"class": type(opt).__name__, "groups": repr(groups)}

    found, unidentified = {}, {}
    for k, v in options.items():
        try:
            found[k] = v.item() if isinstance(v, numbers.Number) and hasattr(v, "item") else \
                v if isinstance(v, (int, float, str, type(None))) else _identity(v)
        except _Unidentified as why:
            found[k], unidentified[k] = None, str(why)
    return {"generator": _module_identity(generator), "discriminator": _module_identity(discriminator),
            "g_opt": optimiser(g_opt), "d_opt": optimiser(d_opt),
            "networks": {name: _module_identity(m) for name, m in (modules or {}).items()},
            **found, "unidentified": unidentified}


def _refuse_unidentified(settings):
    """A checkpoint must tell its own run from another: refuse settings it could not identify."""
    for name, why in settings["unidentified"].items():
        raise ValueError(f"checkpoint= resumes a run only with the settings that wrote it, but {name}= is {why}, "
                         "which a later run cannot tell apart from a different one: pass a function defined with def "
                         "at the top level, a functools.partial of one, a number, or an object such as "
                         "AnnealedGamma; or train without checkpoint=")


def _networks_to_keep(generator, discriminator, classifier, info_loss):
    """The networks besides G and D whose weights a checkpoint must keep: ``classifier=``, and the
    modules ``info_loss=`` holds (itself, a partial's arguments, a function's globals and closure,
    an object's attributes), e.g. a separate InfoGAN Q network. Returns {name: module}."""
    found = {} if classifier is None else {"classifier": classifier}

    def visit(obj, name, depth):
        if isinstance(obj, nn.Module):
            found.setdefault(name, obj)
            return
        if depth > 3 or isinstance(obj, (type, types.ModuleType)):
            return
        if isinstance(obj, functools.partial):
            children = [("func", obj.func), *enumerate(obj.args), *obj.keywords.items()]
        elif isinstance(obj, types.MethodType):
            children = [("self", obj.__self__)]
        elif isinstance(obj, types.FunctionType):
            closure = inspect.getclosurevars(obj)
            children = [*closure.nonlocals.items(), *closure.globals.items()]
        elif hasattr(obj, "__dict__"):
            children = list(vars(obj).items())
        else:
            return
        for key, child in children:
            visit(child, f"{name}.{key}", depth + 1)

    if info_loss is not None:
        visit(info_loss, "info_loss", 0)
    players = [m for net in (generator, discriminator) for m in net.modules()]
    return {k: m for k, m in found.items() if not any(m is p for p in players)}


def _check_restorable(g_opt, d_opt, networks):
    """Refuse checkpoint= when an optimiser trains parameters of no network the checkpoint keeps."""
    kept = {id(p) for net in networks for p in net.parameters()}
    for name, opt in (("g_opt", g_opt), ("d_opt", d_opt)):
        lost = [p for group in opt.param_groups for p in group["params"] if id(p) not in kept]
        if lost:
            raise ValueError(f"{name} trains {len(lost)} parameters (shapes {[tuple(p.shape) for p in lost[:4]]}) of no "
                             "network the checkpoint keeps (the generator, the discriminator, classifier= and the "
                             "modules info_loss= holds), so a resumed run would restart them from scratch: pass such a "
                             "network (e.g. InfoGAN's Q) inside info_loss=, as an nn.Module or a functools.partial "
                             "argument, or train without checkpoint=")


def _check_writable(path):
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


@contextlib.contextmanager
def _frozen(params):
    """``params`` get no gradient inside the block; their ``requires_grad`` flags are restored after it."""
    flags = [p.requires_grad for p in params]
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in zip(params, flags):
            p.requires_grad_(flag)


@contextlib.contextmanager
def _undone_on_divergence(nets):
    """A step that finds a nan raises before any weight moves; its forward passes have already
    updated the networks' buffers (batch-norm running statistics), so they are put back as well."""
    buffers = [b for net in nets for b in net.buffers()]
    saved = [b.clone() for b in buffers]
    try:
        yield
    except FloatingPointError:
        with torch.no_grad():
            for b, s in zip(buffers, saved):
                b.copy_(s)
        raise


@contextlib.contextmanager
def _finite_gradients(optimisers, owners, where):
    """Before each ``opt.step()``, refuse gradients that are not finite: a finite loss can still have
    nan gradients (a norm or sqrt at 0 without an epsilon), which the update would write into the
    weights and the optimiser's moments. ``owners`` maps a parameter's id to its network's name;
    ``where["step"]`` is the step being taken. One check (and one sync) per update."""
    def check(opt, args, kwargs):
        grads = [p.grad for group in opt.param_groups for p in group["params"] if p.grad is not None]
        if grads and not torch.isfinite(torch.stack(torch._foreach_norm(grads))).all():
            bad = next(p for group in opt.param_groups for p in group["params"]
                       if p.grad is not None and not torch.isfinite(p.grad).all())
            raise FloatingPointError(
                f"training diverged at step {where['step']}: the gradients of the {owners.get(id(bad), 'other')}'s "
                "parameters are not finite (nan or inf), although its loss and terms are; the weights were not "
                "updated. A norm or a sqrt at 0 has an infinite derivative: add an epsilon inside it (e.g. "
                "torch.sqrt(x + 1e-12)); or lower the learning rates, and start again.")
    handles = [opt.register_step_pre_hook(check) for opt in _unique(optimisers)]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def _finished(history, steps, max_seconds):
    """Whether a run resumed from its checkpoint has already spent its step or time budget."""
    return bool(history.step) and ((steps is not None and history.step[-1] >= steps) or
                                   (max_seconds is not None and history.seconds[-1] >= max_seconds))


def _unique(params):
    seen, out = set(), []
    for p in params:
        if id(p) not in seen:
            seen.add(id(p))
            out.append(p)
    return out


MONITORED = ("d_real", "d_fake", "d_grad_norm", "g_grad_norm")


def _gradient_norm(net):
    """The 2-norm of all of ``net``'s parameter gradients together (0 if none has one)."""
    grads = [p.grad for p in net.parameters() if p.grad is not None]
    return torch.nn.utils.get_total_norm(grads).item() if grads else 0.0


def monitored(batch, discriminator):
    """What ``train(..., monitor=True)`` records after the (last) discriminator step of a training
    step, from the logits that step computed and the gradients its backward pass left: the means
    of D(x) = sigmoid(logit) on the real and the fake batch (``"d_real"``, ``"d_fake"``; for
    the logistic losses, whose outputs are logits), and the norm of the gradient of D's loss
    w.r.t. D's parameters (``"d_grad_norm"``). The loop adds ``"g_grad_norm"``, the same for G
    after its step."""
    return {"d_real": torch.sigmoid(batch.d_real.detach()).mean().item(),
            "d_fake": torch.sigmoid(batch.d_fake.detach()).mean().item(),
            "d_grad_norm": _gradient_norm(discriminator)}


def _check_practice(generator, g_opt, d_opt, monitor, g_ema, feature_matching):
    """Refuse a ``g_ema`` that cannot average this generator, and options that are not what they say."""
    if not isinstance(monitor, bool):
        raise ValueError(f"monitor= is True (record D(x), D(G(z)) and gradient norms) or False, got {monitor!r}")
    if feature_matching is not None and not callable(feature_matching):
        raise ValueError("feature_matching= is a function (discriminator, x_real, x_fake) -> scalar, "
                         "e.g. losses.feature_matching")
    if g_ema is None:
        return
    if not isinstance(g_ema, torch.optim.swa_utils.AveragedModel):
        raise TypeError(f"g_ema= must be a torch.optim.swa_utils.AveragedModel of the generator, got a "
                        f"{type(g_ema).__name__}: build it with AveragedModel(generator, "
                        "multi_avg_fn=get_ema_multi_avg_fn(0.999), use_buffers=True)")
    shapes = lambda net: [tuple(t.shape) for t in net.state_dict().values()]
    if g_ema.module is generator or shapes(g_ema.module) != shapes(generator):
        raise ValueError("g_ema= must average a copy of this generator: build it with "
                         "AveragedModel(generator, ...) from the generator you pass to train")
    if any(True for _ in generator.buffers()) and not g_ema.use_buffers:
        raise ValueError("the generator has buffers (batch-norm statistics), which this AveragedModel does not "
                         "average, so its copies would stay as they were when it was built: pass "
                         "use_buffers=True to AveragedModel")
    if {id(p) for p in g_ema.parameters()} & (_held(g_opt) | _held(d_opt)):
        raise ValueError("g_ema='s parameters are averages of the generator's: no optimiser may train them")


def _averaging_identity(g_ema):
    """How ``g_ema`` averages, for the checkpoint's settings: its function and the plain values it
    closes over (``get_ema_multi_avg_fn``'s decay)."""
    fn = g_ema.multi_avg_fn or g_ema.avg_fn
    if fn is None:
        return "equal weights (stochastic weight averaging)"
    fn = inspect.unwrap(fn)  # get_ema_multi_avg_fn's update is wrapped by torch.no_grad()
    cells = inspect.getclosurevars(fn).nonlocals if isinstance(fn, types.FunctionType) else {}
    plain = ", ".join(f"{k}={v!r}" for k, v in sorted(cells.items()) if _plain(v))
    return f"{fn.__module__}.{fn.__qualname__}({plain})"


def _naming_packs(term, discriminator):
    """A penalty ``term`` whose count error, for a discriminator that judges packs of samples
    (:class:`nets.Packed`: one logit per pack), names the packing."""
    from .nets import Packed

    packs = next((m.m for m in discriminator.modules() if isinstance(m, Packed)), None)
    if packs is None:
        return term

    def named(batch):
        try:
            return term(batch)
        except ValueError as error:
            if " values for " not in str(error):
                raise
            raise ValueError(f"{error}: the discriminator judges packs of {packs} samples (nets.Packed) and "
                             "gives one logit per pack, and a penalty on each sample's input gradient needs "
                             "one logit per sample") from error
    return named


def train(generator, discriminator, data, *, steps=None, batch_size, g_opt, d_opt,
          d_loss=discriminator_loss, g_loss=generator_loss_nonsaturating, d_steps=1, prior="normal",
          labels=None, classifier=None, penalty=None, regularizer=None, gamma=None, clip=None, info_loss=None,
          snapshot=None, snapshot_every=None, checkpoint=None, checkpoint_every=None, seed=0, progress=True,
          max_seconds=None, lr_factor=None, monitor=False, g_ema=None, feature_matching=None):
    """Train ``generator`` against ``discriminator`` on the real samples ``data`` (a tensor on the device).

    Each step: ``d_steps`` calls of :func:`discriminator_step` on fresh batches, then one
    :func:`generator_step` (Goodfellow et al. 2014, Algorithm 1), for ``steps`` steps or until
    ``max_seconds`` have passed (to compare models at equal wall time), whichever comes first.

    Extra terms of the discriminator's loss, each recorded under its name in the history:
    ``penalty(discriminator, x_real, x_fake)`` (e.g. WGAN-GP's ``losses.gradient_penalty``), and
    ``gamma / 2`` times ``regularizer(d_real, x_real, d_fake, x_fake)`` (e.g. ``losses.js_regularizer``),
    a penalty on the logits the step already computed, with ``gamma`` a number >= 0 or a function of
    the 0-based step t (e.g. :class:`AnnealedGamma`). ``clip`` (> 0) clamps D's weights to [-clip, clip]
    after each of its updates (WGAN). ``info_loss(x_fake, z)`` (InfoGAN) is added to both players' losses.
    ``lr_factor(t)``, a function of the 0-based step t (e.g. :class:`LearningRateDecay`), multiplies
    the initial learning rate of every group of both optimisers at each step (the initial one is kept
    in the group as ``initial_lr``, as torch's schedulers keep it, so a checkpoint resumes it).

    With ``labels`` (one per sample of ``data``) the GAN is conditional: ``generator(z, y)`` and
    ``discriminator(x, y)``. With ``labels`` and a ``classifier`` (its parameters in ``d_opt``),
    D stays unconditional: the classifier learns the real labels in each D step, and its
    cross-entropy on the fakes' requested labels is added to the generator's loss.

    Each optimiser must hold every trainable parameter of its network(s). They may overlap (one
    optimiser for both networks, or a ``d_opt`` that also holds G's parameters, as InfoGAN code
    often has): each step moves its own player only, by ownership, not by optimiser. The D step
    freezes the generator's parameters, so ``d_opt`` cannot move G; the G step freezes the
    discriminator's and the classifier's, so ``g_opt`` cannot move them. Parameters of other networks
    in ``d_opt`` (e.g. a separate InfoGAN Q network) are updated in the D step only.

    ``seed`` seeds the batches, the noise, and everything that draws from torch's global random
    numbers during training (dropout, the penalty's interpolates), which are restored afterwards,
    so a CPU run repeats bit for bit whatever ran before. ``snapshot(generator, discriminator)``
    is stored every ``snapshot_every`` steps, both networks in eval mode. With ``checkpoint`` (a
    path; ``~`` is the home folder) the state is saved every ``checkpoint_every`` steps and at the
    end: both networks, the classifier and the networks ``info_loss`` holds, the optimisers, the
    random states and the run's settings. A run finding that file continues where it stopped; one
    whose budget it had spent returns the history without training or rewriting the file. It refuses
    a file written with other settings, and refuses settings it cannot identify (a lambda or a
    closure: use a named function, ``functools.partial``, or an object such as :class:`AnnealedGamma`).
    Settings are told apart by what identifies them: a function by its code, its defaults and the
    plain values (numbers, strings, bools, tuples of them) of the module globals it names; a network
    or a module-valued setting by its ``repr``, its modules' plain attributes and its shapes; the data
    and labels by a SHA-256 digest. Not followed: globals that are objects (a function the penalty
    calls, a tensor), so changing one of them is not noticed.

    Options for practice (all off by default; off, a run is bit for bit what it was without them):
    ``monitor=True`` records per step, in ``history.monitor``, the mean D(x) and D(G(z)) of the
    last D step and the gradient norms of D's and G's parameters after their steps (see
    :func:`monitored`). ``g_ema`` (a ``torch.optim.swa_utils.AveragedModel`` of the generator, e.g.
    with ``multi_avg_fn=get_ema_multi_avg_fn(0.999), use_buffers=True``) is updated after each
    generator step, and kept in the checkpoint. ``feature_matching(discriminator, x_real, x_fake)``
    (e.g. ``losses.feature_matching``, Salimans et al. 2016) is added to the generator's loss as
    the term ``"feature_matching"``, with the real batch of the step's last D step.
    Returns a :class:`History`.
    """
    steps, batch_size, d_steps, snapshot_every, checkpoint_every = _check_options(
        data, steps, batch_size, d_steps, labels, classifier, penalty, regularizer, gamma, clip, max_seconds,
        snapshot, snapshot_every, checkpoint, checkpoint_every)
    _check_networks(data, generator, discriminator, g_opt, d_opt, classifier, prior)
    takes_real(g_loss)  # a g_loss with more than (d_real, d_fake) is refused before the first step
    if lr_factor is not None and not callable(lr_factor):
        raise ValueError(f"lr_factor= must be a function of the step t (e.g. LearningRateDecay(0.01, steps)), "
                         f"got {lr_factor!r}")
    _check_practice(generator, g_opt, d_opt, monitor, g_ema, feature_matching)
    seed = _seed(seed)
    _check_sample_shape(generator, data, labels, prior)
    labels = None if labels is None else labels.long()  # cross-entropy's targets; no copy if already long

    def weight(t):
        value = gamma(t) if callable(gamma) else gamma
        if isinstance(value, torch.Tensor) and value.numel() != 1:
            raise ValueError(f"gamma({t}) is {_described(value)}: the regularizer's weight must be a number >= 0 "
                             "at every step")
        if isinstance(value, bool) or not isinstance(value, (numbers.Real, torch.Tensor)) or not 0 <= value < math.inf:
            raise ValueError(f"gamma({t}) is {value!r}: the regularizer's weight must be a number >= 0 at every step")
        return value

    d_terms, g_terms = {}, {}
    if penalty is not None:
        d_terms["penalty"] = _naming_packs(lambda b: penalty(discriminator, b.x_real, b.x_fake), discriminator)
    if regularizer is not None:
        d_terms["regularizer"] = _naming_packs(
            lambda b: weight(b.step - 1) / 2 * regularizer(b.d_real, b.x_real, b.d_fake, b.x_fake), discriminator)
    if info_loss is not None:
        d_terms["info"] = g_terms["info"] = lambda b: info_loss(b.x_fake, b.z)
    if classifier is not None:
        d_terms["label"] = lambda b: F.cross_entropy(classifier(b.x_real), b.y)
        g_terms["label"] = lambda b: F.cross_entropy(classifier(b.x_fake), b.y)
    seen = {}  # what the last D step saw: its real batch (for feature matching), the monitored values
    if feature_matching is not None:
        g_terms["feature_matching"] = lambda b: feature_matching(discriminator, seen["x_real"], b.x_fake)
    checkpoint = Path(checkpoint).expanduser() if checkpoint else None
    kept = _networks_to_keep(generator, discriminator, classifier, info_loss)
    practice = {k: v for k, v in dict(monitor=monitor, feature_matching=feature_matching).items() if v}
    if g_ema is not None:  # its weights in the checkpoint, its decay in the settings
        kept["g_ema"], practice["g_ema"] = g_ema, _averaging_identity(g_ema)
    settings = _settings(generator, discriminator, g_opt, d_opt, kept, steps=steps, batch_size=batch_size,
                         d_loss=d_loss, g_loss=g_loss, d_steps=d_steps, prior=prior, conditional=labels is not None,
                         classifier=classifier, penalty=penalty, regularizer=regularizer, gamma=gamma, clip=clip,
                         info_loss=info_loss, seed=seed, max_seconds=max_seconds, **practice,
                         **({} if lr_factor is None else {"lr_factor": lr_factor}))  # older checkpoints resume
    if checkpoint:
        settings["data"] = _digest([data, labels])  # the same shape is not the same data
        _refuse_unidentified(settings)
        _check_restorable(g_opt, d_opt, [generator, discriminator, *kept.values()])
        _check_writable(checkpoint)
    g_owned = {id(p) for p in generator.parameters()}
    only_d_opt = [p for group in d_opt.param_groups for p in group["params"] if id(p) not in g_owned | _held(g_opt)]
    g_frozen = _unique([*discriminator.parameters(), *(classifier.parameters() if classifier is not None else ()),
                        *only_d_opt])  # by ownership: D's, the classifier's, and what only d_opt trains (a Q network)
    d_frozen = [p for p in generator.parameters() if id(p) in _held(d_opt)]  # d_opt may hold G's: it must not move them
    nets = [net for net in (generator, discriminator, classifier, *kept.values()) if net is not None]
    d_kw = dict(d_loss=d_loss, terms=d_terms, clip=clip, input_grad=regularizer is not None,
                conditional=classifier is None)
    g_kw = dict(g_loss=g_loss, terms=g_terms, conditional=classifier is None, frozen=g_frozen)
    device, dtype, rng = data.device, data.dtype, torch.Generator().manual_seed(seed)
    z_dim = getattr(generator, "z_dim", None)

    def batch():
        index = torch.randint(len(data), (batch_size,), generator=rng).to(device)
        y = labels[index] if labels is not None else None
        z = sample_z(batch_size, z_dim, prior, rng, device)
        return data[index], (z if z.dtype == dtype else z.to(dtype)), y

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
        if checkpoint and checkpoint.exists():
            step = load_checkpoint(checkpoint, generator, discriminator, g_opt, d_opt, rng, history, settings, kept)
            if _finished(history, steps, max_seconds):  # re-running a finished run's cell changes nothing
                if progress:
                    print(f"{checkpoint} holds this run, finished: {history.step[-1]:,} steps in "
                          f"{history.seconds[-1]:.0f} s; returning its history without training")
                return history
        generator.train(), discriminator.train()
        if snapshot and step == 0:
            take_snapshot(0)
        elapsed, tic = (history.seconds[-1] if history.seconds else 0.0), time.perf_counter()
        bar = _ProgressBar(steps, max_seconds, step, elapsed, progress)
        owners = {id(p): name for name, net in reversed([("generator", generator), ("discriminator", discriminator),
                                                          ("classifier", classifier), *kept.items()])
                  if net is not None for p in net.parameters()}
        where = {"step": step}
        with _finite_gradients([d_opt, g_opt], owners, where):
            while steps is None or step < steps:
                step += 1
                where["step"] = step
                if lr_factor is not None:
                    _scale_learning_rates((d_opt, g_opt), lr_factor, step - 1)
                for _ in range(d_steps):
                    with _undone_on_divergence(nets), _frozen(d_frozen):
                        d_batch, d_values = discriminator_step(generator, discriminator, d_opt, *batch(), step=step,
                                                               **d_kw)
                    seen["x_real"] = d_batch.x_real.detach()
                if monitor:  # before the G step, which may clear D's gradients (one optimiser for both)
                    seen.update(monitored(d_batch, discriminator))
                with _undone_on_divergence(nets):
                    x_real, z, y = batch()  # one draw as before; the real batch is used by a paired g_loss only
                    _, g_values = generator_step(generator, discriminator, g_opt, z, y, step=step, x_real=x_real,
                                                 **g_kw)
                if g_ema is not None:
                    g_ema.update_parameters(generator)
                if monitor:
                    seen["g_grad_norm"] = _gradient_norm(generator)
                history.record(step, elapsed + time.perf_counter() - tic, d_values, g_values,
                               {k: seen[k] for k in MONITORED} if monitor else None)
                done = step == steps or (max_seconds is not None and history.seconds[-1] >= max_seconds)
                bar.show(step, history.seconds[-1], d_values["loss"], g_values["loss"], done)
                if snapshot and snapshot_every and (step % snapshot_every == 0 or done):
                    take_snapshot(step)
                if checkpoint and (done or (checkpoint_every and step % checkpoint_every == 0)):
                    save_checkpoint(checkpoint, generator, discriminator, g_opt, d_opt, rng, history, step, settings, kept)
                if done:
                    break
        bar.close(history)
    return history


def _scale_learning_rates(optimisers, lr_factor, t):
    """Set every group's learning rate to its initial one times ``lr_factor(t)`` (each optimiser once)."""
    factor = lr_factor(t)
    if isinstance(factor, bool) or not isinstance(factor, numbers.Real) or not 0 <= factor < math.inf:
        raise ValueError(f"lr_factor({t}) is {factor!r}: a learning rate's factor must be a number >= 0")
    for opt in {id(o): o for o in optimisers}.values():
        for group in opt.param_groups:
            group.setdefault("initial_lr", group["lr"])
            group["lr"] = group["initial_lr"] * factor


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


def save_checkpoint(path, generator, discriminator, g_opt, d_opt, rng, history, step, settings=None, networks=None):
    """Write everything a run needs to continue exactly, and the settings it ran with;
    atomic, so a crash never leaves half a file. ``networks`` ({name: module}) are the other
    networks the run trains, e.g. ``classifier=`` or a separate InfoGAN Q network."""
    state = {
        "format": CHECKPOINT_FORMAT,
        "step": step,
        "settings": settings or {},
        "generator": generator.state_dict(),
        "discriminator": discriminator.state_dict(),
        "networks": {name: net.state_dict() for name, net in (networks or {}).items()},
        "g_opt": g_opt.state_dict(),
        "d_opt": d_opt.state_dict(),
        "rng": rng.get_state(),
        "torch_rng": torch.get_rng_state(),
        "history": history.state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda_rng"] = torch.cuda.get_rng_state()
    state["sha256"] = _digest(state)
    path = Path(path).expanduser()
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def load_checkpoint(path, generator, discriminator, g_opt, d_opt, rng, history, settings=None, networks=None):
    """Restore a checkpoint written by :func:`save_checkpoint`; returns its step.

    Loads with ``weights_only=True`` (no code runs from the file), refuses a file that is
    corrupt or was not written by this package, and, given ``settings``, one written by a run
    with other settings (it names them).
    """
    path = Path(path).expanduser()
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
        if set(state["networks"]) != set(networks or {}):
            raise ValueError(f"it holds the networks {sorted(state['networks'])}, this run trains {sorted(networks or {})}")
        for name, net in (networks or {}).items():
            net.load_state_dict(state["networks"][name])
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


class LearningRateDecay(AnnealedGamma):
    """A learning rate's factor for :func:`train`'s ``lr_factor=``: 1 at step t = 0, ``decay`` at
    t = T - 1, geometric in between (the schedule of :class:`AnnealedGamma` with gamma_0 = 1).
    R3GAN's configurations decay their learning rate too (2e-4 to 5e-5, brownvc/R3GAN ``train.py``)."""

    def __init__(self, decay, total_steps):
        super().__init__(1.0, total_steps, decay)
