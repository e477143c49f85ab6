"""Remake the capstone chapter's stored studies: the leaderboard on PacGAN's ring of 8 and grid of 25
(``regan_tutorial/results/leaderboard_ring.json``, ``leaderboard_grid.json``) and the two-digit
Stacked-MNIST comparison (``stacked_mnist.json``).

Leaderboard: every arm of ``studies.leaderboard_study``, ten seeds per arm trained at once as one
batched model, scored as VEEGAN and PacGAN score them (2,500 samples per seed; modes, high-quality
share, reverse KL of the mode histogram), with each run's seconds. Stacked MNIST: the classic and the
modern recipe of ``studies.stacked_mnist_settings``, modes counted by the course's digit classifier.

Run: ``OMP_NUM_THREADS=1 REGAN_MNIST=bundled python benchmarks/leaderboard.py [ring] [grid] [stacked]``
(each part can run in its own process; one thread each was the faster on the shared 2-core CPU it
was made on). Each file records its settings, the commit and the wall time; the chapter and
``tests/test_studies.py`` refuse a file once its settings no longer match the code.
"""

import sys
import time

import torch

from regan_tutorial import studies
from regan_tutorial.data import load_mnist


def leaderboard(dataset):
    tic = time.perf_counter()
    settings = studies.leaderboard_settings(dataset)
    common, arms = settings["common"], settings["arms"]
    mixture = studies.leaderboard_mixtures()[dataset]
    options = {k: v for k, v in common.items() if k != "dataset"}
    rows = {}
    for name, extra in arms.items():
        rows[name] = row = studies.coverage_rows(studies.train_toy_gans(mixture, **options, **extra, progress=False))
        print(f"{dataset:5s} {name:24s} modes {studies.summary(row['modes'])[0]:5.2f}, high quality "
              f"{100 * studies.summary(row['high_quality'])[0]:5.1f}%, reverse KL "
              f"{studies.summary(row['reverse_kl'])[0]:.3f}, {row['seconds']:.0f} s", flush=True)
    return studies.save_study(f"leaderboard_{dataset}", settings, rows,
                              "benchmarks/leaderboard.py", time.perf_counter() - tic)


def stacked():
    tic = time.perf_counter()
    settings = studies.stacked_mnist_settings()
    common, arms = settings["common"], settings["arms"]
    digits = load_mnist(train=True)
    rows = {}
    for name, extra in arms.items():
        run = studies.train_stacked_gans(digits, **common, **extra, progress=False)
        rows[name] = row = studies.stacked_rows(run)
        print(f"stacked {name:24s} modes {row['modes']}, reverse KL {row['reverse_kl']}, {row['seconds']:.0f} s",
              flush=True)
    return studies.save_study("stacked_mnist", settings, rows, "benchmarks/leaderboard.py", time.perf_counter() - tic)


if __name__ == "__main__":
    torch.set_num_threads(1)
    for part in sys.argv[1:] or ["ring", "grid", "stacked"]:
        print("wrote", stacked() if part == "stacked" else leaderboard(part))
