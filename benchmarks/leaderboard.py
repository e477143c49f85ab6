"""Remake the capstone chapter's stored studies: the leaderboard on PacGAN's ring of 8 and grid of 25
(``regan_tutorial/results/leaderboard_ring.json``, ``leaderboard_grid.json``) and the two-digit
Stacked-MNIST comparison (``stacked_mnist.json``).

Leaderboard: every arm of ``studies.leaderboard_study``, ten seeds per arm trained at once as one
batched model, scored as VEEGAN and PacGAN score them (2,500 samples per seed; modes, high-quality
share, reverse KL of the mode histogram), with each run's seconds. Stacked MNIST: the classic and the
modern recipe of ``studies.stacked_mnist_settings``, modes counted by the course's digit classifier.

Run: ``OMP_NUM_THREADS=1 REGAN_MNIST=bundled python benchmarks/leaderboard.py [ring] [grid] [stacked] [-j N]``
(each part can run in its own process, and ``-j 2`` trains two arms of a part at once;
one thread each was the faster on the shared 2-core CPU it was made on). Each file records its settings, the commit and the wall time; the chapter and
``tests/test_studies.py`` refuse a file once its settings no longer match the code.
"""

import sys
import time

import torch

from regan_tutorial import studies
from regan_tutorial.data import load_mnist


def _leaderboard_arm(job):
    torch.set_num_threads(1)
    dataset, name = job
    settings = studies.leaderboard_settings(dataset)
    options = {k: v for k, v in settings["common"].items() if k != "dataset"}
    mixture = studies.leaderboard_mixtures()[dataset]
    row = studies.coverage_rows(studies.train_toy_gans(mixture, **options, **settings["arms"][name], progress=False))
    print(f"{dataset:5s} {name:24s} modes {studies.summary(row['modes'])[0]:5.2f}, high quality "
          f"{100 * studies.summary(row['high_quality'])[0]:5.1f}%, reverse KL "
          f"{studies.summary(row['reverse_kl'])[0]:.3f}, {row['seconds']:.0f} s", flush=True)
    return row


def leaderboard(dataset, jobs=1):
    """Every arm on ``dataset``, ``jobs`` arms at once in processes of their own (one thread each)."""
    tic = time.perf_counter()
    settings = studies.leaderboard_settings(dataset)
    rows = _each([(dataset, name) for name in settings["arms"]], _leaderboard_arm, jobs)
    return studies.save_study(f"leaderboard_{dataset}", settings, dict(zip(settings["arms"], rows)),
                              "benchmarks/leaderboard.py", time.perf_counter() - tic)


def _each(jobs, run, n):
    """``run`` of each job, in order; ``n`` at once in processes of their own."""
    from concurrent.futures import ProcessPoolExecutor

    if n == 1:
        return [run(job) for job in jobs]
    with ProcessPoolExecutor(n) as pool:
        return list(pool.map(run, jobs))


def _stacked_arm(arm):
    torch.set_num_threads(1)
    name, extra = arm
    common, digits = studies.stacked_mnist_settings()["common"], load_mnist(train=True)
    row = studies.stacked_rows(studies.train_stacked_gans(digits, **common, **extra, progress=False))
    row["data"] = digits.name  # which MNIST: the full download or the offline subset
    print(f"stacked {name:24s} modes {row['modes']}, reverse KL {row['reverse_kl']}, {row['seconds']:.0f} s",
          flush=True)
    return row


def stacked(jobs=1):
    """The Stacked-MNIST arms, ``jobs`` of them at once in processes of their own (one thread each)."""
    tic = time.perf_counter()
    settings = studies.stacked_mnist_settings()
    rows = _each(list(settings["arms"].items()), _stacked_arm, jobs)
    return studies.save_study("stacked_mnist", settings, dict(zip(settings["arms"], rows)),
                              "benchmarks/leaderboard.py", time.perf_counter() - tic)


if __name__ == "__main__":
    torch.set_num_threads(1)
    args = sys.argv[1:]
    jobs = int(args.pop(args.index("-j") + 1)) if "-j" in args else 1
    for part in [a for a in args if a != "-j"] or ["ring", "grid", "stacked"]:
        print("wrote", stacked(jobs) if part == "stacked" else leaderboard(part, jobs))
