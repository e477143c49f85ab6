"""Figures that move without a kernel: every frame is rendered into the page."""

import re

import numpy as np
import torch

from regan_tutorial import plots, theory
from regan_tutorial.nets import MLPGenerator


def frames_in(html):
    return len(re.findall(r"data:image/png;base64", html.data))


def test_game_player_renders_one_frame_per_mean():
    x = np.linspace(-6, 6, 601)
    html = plots.game_player(x, theory.gaussian_mixture(x, [0.0], [1.0]), means=[-2, 0, 2])
    assert frames_in(html) == 3 and "anim" in html.data


def test_latent_player_walks_every_pair_at_each_t():
    torch.manual_seed(0)
    g = MLPGenerator(4, (8,), (1, 28, 28)).eval()
    html = plots.latent_player(g, torch.randn(3, 2, 4), n=5)
    assert frames_in(html) == 5


def test_training_player_shows_runs_side_by_side():
    snap = {"samples": torch.randn(50, 2), "d": torch.rand(10, 10)}
    runs = {"a": [(0, snap), (10, snap)], "b": [(0, snap), (5, snap)]}
    html = plots.training_player(runs, torch.zeros(8, 2))
    assert frames_in(html) == 2
