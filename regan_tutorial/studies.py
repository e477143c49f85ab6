"""The chapters' studies: many small 2D GANs over seeds, and the cost of one discriminator step.

Built on :func:`regan_tutorial.train.train`; kept apart so that the loop depends on the losses alone.
"""

import time
from dataclasses import dataclass

import torch

from .losses import discriminator_loss, generator_loss_nonsaturating
from .train import History, train


@dataclass
class ToyRun:
    """A trained 2D GAN: its networks, its history and how many modes its samples cover."""

    generator: torch.nn.Module
    discriminator: torch.nn.Module
    history: History
    coverage: "object"


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
                   z_dim=2, batch_size=128, d_loss=discriminator_loss, g_loss=generator_loss_nonsaturating,
                   regularizer=None, gamma=None, max_seconds=None, n_eval=2500, progress=True):
    """Train ``copies`` independent 2D GANs at once, for a study over seeds: G and D are
    :class:`~regan_tutorial.nets.MLPEnsemble` s, each copy with its own initial weights, its own
    ``batch_size`` real samples and noise per step, and its own Adam state (Adam's update is
    scale-free but for its tiny eps, so the 1 / copies that averaging over copies puts on each
    gradient hardly matters). ``d_loss``, ``g_loss``, ``regularizer``, ``gamma`` and ``max_seconds`` are
    those of :func:`train` (``steps=None, max_seconds=s``: as many steps as fit in ``s`` seconds).
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
        d_opt=torch.optim.Adam(discriminator.parameters(), d_lr, betas=betas), d_loss=d_loss, g_loss=g_loss,
        regularizer=regularizer, gamma=gamma, max_seconds=max_seconds)
    with torch.no_grad():
        z = torch.randn(copies * n_eval, z_dim, generator=torch.Generator().manual_seed(seed + 1))
        samples = generator(z).view(copies, n_eval, 2)
    coverage = [mode_coverage(s, mixture.centres, mixture.std) for s in samples]
    return ToyRun(generator, discriminator, history, coverage)
