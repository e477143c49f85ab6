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


def test_a_player_is_a_figure_with_its_caption_alt_text_and_a_labelled_slider():
    x = np.linspace(-6, 6, 601)
    html = plots.game_player(x, theory.gaussian_mixture(x, [0.0], [1.0]), means=[-2, 0], caption="Move p_g <here>",
                             alt="p_data and p_g").data
    assert html.startswith('<figure class="regan-player">') and html.rstrip().endswith("</figure>")
    assert "<figcaption>Move p_g &lt;here&gt;</figcaption>" in html
    assert re.search(r'<img id="_anim_img\w+" alt="p_data and p_g"', html)
    slider = re.search(r'<label for="(_anim_slider\w+)"[^>]*>mean of p_g</label>\s*<input id="(\w+)" type="range" '
                       r'aria-label="mean of p_g"', html)
    assert slider and slider[1] == slider[2]
    bare = plots.player(range(2), lambda fig, i: fig.gca().plot([0, i])).data
    assert "<figure" not in bare and 'aria-label="frame"' in bare
