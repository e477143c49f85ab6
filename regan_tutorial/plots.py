"""Figures used across the chapters: image grids, loss curves, 2D fields."""

import re

import matplotlib.pyplot as plt
import numpy as np
import torch
from torchvision.utils import make_grid


def show_images(images, nrow=8, title=None, ax=None):
    """Show a batch of images in [-1, 1], shape (N, C, H, W), as one grid."""
    images = torch.as_tensor(images).detach().cpu()
    if images.dim() != 4:
        raise ValueError(f"images must have shape (N, C, H, W), got {tuple(images.shape)}")
    grid = make_grid((images.clamp(-1, 1) + 1) / 2, nrow=nrow, padding=2, pad_value=1.0)
    ax = ax or plt.figure(figsize=(0.6 * nrow, 0.6 * np.ceil(len(images) / nrow))).gca()
    ax.imshow(grid.permute(1, 2, 0).numpy(), cmap="gray", interpolation="nearest")
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    return ax


def smooth(values, window):
    """Moving average over ``window`` steps (shorter at the start), for noisy loss curves."""
    values = np.asarray(values, float)
    if window <= 1 or len(values) == 0:
        return values
    csum = np.cumsum(np.insert(values, 0, 0.0))
    idx = np.arange(1, len(values) + 1)
    lo = np.maximum(idx - window, 0)
    return (csum[idx] - csum[lo]) / (idx - lo)


def plot_losses(history, ax=None, window=50, title="losses"):
    """Discriminator and generator loss per step (moving average over ``window`` steps)."""
    ax = ax or plt.figure(figsize=(6, 3.5)).gca()
    ax.plot(history.step, smooth(history.d_loss, window), label="discriminator")
    ax.plot(history.step, smooth(history.g_loss, window), label="generator")
    ax.set_xlabel("generator step")
    ax.set_title(title)
    ax.legend()
    return ax


def field_grid(lim, n=120):
    """An n x n grid of 2D points covering [-lim, lim]^2, row by row from the bottom (for ``imshow``)."""
    ticks = torch.linspace(-lim, lim, n)
    yy, xx = torch.meshgrid(ticks, ticks, indexing="ij")
    return torch.stack([xx.flatten(), yy.flatten()], dim=1)


def plot_2d(samples, centres=None, lim=3.0, ax=None, title=None):
    """2D samples as a scatter plot, with the true mode centres (for D(x) as well, see :func:`plot_snapshots`)."""
    ax = ax or plt.figure(figsize=(4, 4)).gca()
    samples = torch.as_tensor(samples).detach().cpu()
    ax.scatter(samples[:, 0], samples[:, 1], s=2, c="k", alpha=0.5, label="samples")
    if centres is not None:
        ax.scatter(centres[:, 0], centres[:, 1], s=40, marker="x", c="tab:orange", label="modes")
    ax.set(xlim=(-lim, lim), ylim=(-lim, lim), aspect="equal")
    if title:
        ax.set_title(title)
    return ax


def plot_game(x, p_data, p_g, ax=None):
    """p_data, p_g and the optimal discriminator D* on a 1D grid, titled with JSD and C(G)."""
    from . import theory

    dx = x[1] - x[0]
    ax = ax or plt.figure(figsize=(9, 3.5)).gca()
    ax.plot(x, p_data, label=r"$p_{data}$", lw=2)
    ax.plot(x, p_g, label=r"$p_g$", lw=2)
    total = np.asarray(p_data) + np.asarray(p_g)
    # where both densities are negligible, D* is a ratio of tails that no sample will ever test
    d = np.where(total > 1e-3 * total.max(), theory.optimal_discriminator(p_data, p_g), np.nan)
    ax.plot(x, d, "k--", label="$D^*(x)$\n(where $p_{data} + p_g$\nis not negligible)")
    j, c = theory.jsd(p_data, p_g, dx), theory.virtual_training_criterion(p_data, p_g, dx)
    ax.set_title(f"JSD = {j:.3f},  C(G) = V(D*, G) = {c:.3f}  (minimum -log 4 = {-np.log(4):.3f})")
    ax.set(xlabel="x", ylim=(-0.02, 1.05), xlim=(-6, 6))
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1))
    ax.figure.tight_layout()
    return ax


# matplotlib's player draws its nine buttons with Font Awesome 4 icons from a CDN stylesheet that
# Colab and Jupyter do not load (nine empty boxes there); these SVG shapes travel inside the page.
_SVG = ('<svg class="regan-icon" viewBox="0 0 16 16" width="14" height="14" aria-hidden="true" '
        'fill="currentColor"{flip}>{shape}</svg>')
_BAR, _PLAY = '<rect x="{x}" y="3" width="2" height="10"/>', '<path d="M{x} 3v10l{w} -5z"/>'
ICONS = {
    "fa-minus": '<rect x="3" y="7" width="10" height="2"/>',
    "fa-plus": '<path d="M7 3h2v4h4v2h-4v4h-2v-4h-4v-2h4z"/>',
    "fa-play": _PLAY.format(x=4, w=9),
    "fa-pause": _BAR.format(x=4) + _BAR.format(x=10),
    "fa-step-forward": _PLAY.format(x=3, w=8) + _BAR.format(x=11),
    "fa-fast-forward": _PLAY.format(x=1, w=7) + _PLAY.format(x=8, w=7),
    "fa-step-backward": _BAR.format(x=3) + '<path d="M13 3v10l-8 -5z"/>',
    "fa-fast-backward": '<path d="M8 3v10l-7 -5z"/><path d="M15 3v10l-7 -5z"/>',
}
_FA_LINK = re.compile(r'<link rel="stylesheet"\s+href="[^"]*font-awesome[^"]*">\s*')
_FA_ICON = re.compile(r'<i class="fa (?P<name>fa-[a-z-]+)(?P<flip> fa-flip-horizontal)?"></i>')


def inline_icons(html):
    """A player's HTML (matplotlib's ``to_jshtml``) with its Font Awesome icons drawn as inline SVG
    and the stylesheet link gone; HTML without them comes back unchanged."""
    def svg(m):
        if m["name"] not in ICONS:
            raise ValueError(f"no inline icon for {m['name']}: add one to regan_tutorial.plots.ICONS")
        flip = ' style="transform: scaleX(-1)"' if m["flip"] else ""
        return _SVG.format(flip=flip, shape=ICONS[m["name"]])

    return _FA_ICON.sub(svg, _FA_LINK.sub("", html))


def player(frames, draw, figsize=(6, 3.5), dpi=60, interval=250, caption=None, alt=None, label="frame"):
    """A slider that needs no kernel: ``draw(fig, frame)`` renders every frame now, and matplotlib's
    JavaScript animation player (``to_jshtml``) steps through the pictures in any browser, on the
    static book page as in Jupyter or Colab. ``caption`` (plain text) goes under the player as a
    figure's caption, ``alt`` describes its picture to a screen reader, and ``label`` names what
    the slider moves. Returns the player as IPython HTML."""
    from IPython.display import HTML
    from matplotlib import animation

    frames = list(frames)
    fig = plt.figure(figsize=figsize, dpi=dpi)

    def update(i):
        fig.clear()
        draw(fig, frames[i])

    movie = animation.FuncAnimation(fig, update, frames=len(frames), interval=interval)
    html = _labelled(inline_icons(movie.to_jshtml(default_mode="once")), caption, alt, label)
    plt.close(fig)
    return HTML(html)


def _labelled(html, caption, alt, label):
    """A player's HTML with ``alt`` on its picture, ``label`` on its slider (for a screen reader and
    in words before it), and, with a ``caption``, the whole as a figure with that caption."""
    from html import escape

    if alt:
        html = re.sub(r'(<img id="_anim_img\w+")', lambda m: f'{m[1]} alt="{escape(alt)}"', html, count=1)
    html = re.sub(r'(<input id="(_anim_slider\w+)" type="range")',
                  lambda m: f'<label for="{m[2]}" class="regan-slider-label">{escape(label)}</label>\n'
                            f'{m[1]} aria-label="{escape(label)}"', html, count=1)
    if caption:
        html = (f'<figure class="regan-player">\n{html}\n'
                f'<figcaption>{escape(caption)}</figcaption>\n</figure>')
    return html


def game_player(x, p_data, means, std=1.0, **labels):
    """:func:`plot_game` for a Gaussian p_g of width ``std`` at each of ``means``, as a :func:`player`;
    each frame's title says where p_g is (the slider's readout). ``labels``: :func:`player`'s
    ``caption``, ``alt`` and ``label``."""
    from . import theory

    def draw(fig, m):
        ax = plot_game(x, p_data, theory.gaussian_mixture(x, [m], [std]), fig.gca())
        ax.set_title(f"$p_g = \\mathcal{{N}}({m:.2f}, {std:g}^2)$\n" + ax.get_title())
        fig.tight_layout()

    return player(means, draw, figsize=(8, 3.8), dpi=100, **{"label": "mean of p_g", **labels})


def snapshot_2d(z, lim=3.0, n=80, copies=1):
    """A ``snapshot`` for :func:`regan_tutorial.train.train`: samples G(z) and D(x) on an n x n grid.

    For ``copies`` > 1 (an :class:`~regan_tutorial.nets.MLPEnsemble` of GANs) every copy gets the
    same z and grid, and the snapshot holds one of each per copy: samples (copies, N, 2) and D
    (copies, n, n); :func:`copy_snapshots` takes out one copy's."""
    points = field_grid(lim, n)

    def take(generator, discriminator):
        was_training = discriminator.training
        discriminator.eval()
        d = torch.sigmoid(discriminator(points.repeat(copies, 1).to(z.device))).view(copies, n, n).cpu()
        discriminator.train(was_training)
        samples = generator(z.repeat(copies, 1)).view(copies, len(z), -1).cpu()
        return {"samples": samples[0], "d": d[0]} if copies == 1 else {"samples": samples, "d": d}

    return take


def copy_snapshots(snapshots, k):
    """Copy ``k``'s ``(step, snapshot)`` pairs out of an ensemble's :func:`snapshot_2d` snapshots."""
    return [(step, {"samples": snap["samples"][k], "d": snap["d"][k]}) for step, snap in snapshots]


def draw_snapshot(ax, step, snap, centres, lim=3.0, label=""):
    """One GAN Lab style panel: samples over D(x) (red: 'fake', blue: 'real'), mode centres as crosses."""
    ax.imshow(snap["d"].numpy(), extent=(-lim, lim, -lim, lim), origin="lower", cmap="RdBu",
              vmin=0, vmax=1, alpha=0.55)
    ax.scatter(snap["samples"][:, 0], snap["samples"][:, 1], s=1.5, c="k", alpha=0.5)
    ax.scatter(centres[:, 0], centres[:, 1], s=25, marker="x", c="tab:orange")
    ax.set(xlim=(-lim, lim), ylim=(-lim, lim), xticks=[], yticks=[], title=f"{label}step {step}")


def d_colorbar(fig):
    """A colour bar for :func:`draw_snapshot`'s D(x) background, at the figure's right edge."""
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    fig.subplots_adjust(right=0.9)
    bar = fig.colorbar(ScalarMappable(Normalize(0, 1), "RdBu"), cax=fig.add_axes([0.92, 0.2, 0.012, 0.6]))
    bar.solids.set(alpha=0.55)
    bar.set_label("D(x): 0 fake, 1 real")


def plot_snapshots(snapshots, centres, lim=3.0, ncols=5, title=None):
    """A row of :func:`draw_snapshot` panels, one per ``(step, snapshot)``."""
    nrows = -(-len(snapshots) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(2.6 * ncols, 2.6 * nrows), squeeze=False)
    for ax, (step, snap) in zip(axes.flat, snapshots):
        draw_snapshot(ax, step, snap, centres, lim)
    for ax in axes.flat[len(snapshots):]:
        ax.set_axis_off()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    d_colorbar(fig)
    return fig


def training_player(runs, centres, lim=3.0, **labels):
    """Several runs' snapshots side by side, step by step, as a :func:`player` (``runs``: name ->
    list of ``(step, snapshot)``, all of the same length). ``labels``: :func:`player`'s ``caption``,
    ``alt`` and ``label``."""
    def draw(fig, i):
        axes = fig.subplots(1, len(runs))
        for ax, (name, snapshots) in zip(axes, runs.items()):
            draw_snapshot(ax, *snapshots[i], centres, lim, label=f"{name}\n")
        fig.tight_layout()
        d_colorbar(fig)

    return player(range(len(next(iter(runs.values())))), draw, figsize=(3.4 * len(runs), 3.8),
                  **{"label": "training step", **labels})


def interpolate(generator, z0, z1, n=10):
    """Images G((1 - t) z0 + t z1) for n evenly spaced t in [0, 1]."""
    t = torch.linspace(0, 1, n, device=z0.device).view(-1, 1)
    with torch.no_grad():
        return generator((1 - t) * z0 + t * z1)


def latent_player(generator, pairs, n=21, **labels):
    """G((1 - t) z0 + t z1) for each (z0, z1) of ``pairs``, side by side, as a :func:`player` over t.
    ``labels``: :func:`player`'s ``caption``, ``alt`` and ``label``."""
    ts = torch.linspace(0, 1, n).tolist()

    def draw(fig, t):
        with torch.no_grad():
            images = generator(torch.stack([(1 - t) * z0 + t * z1 for z0, z1 in pairs]))
        show_images(images, nrow=len(pairs), title=f"t = {t:.2f}", ax=fig.gca())

    return player(ts, draw, figsize=(1.6 * len(pairs), 2.0), dpi=72, **{"label": "t, from z0 to z1", **labels})
