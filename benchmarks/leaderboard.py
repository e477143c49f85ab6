"""Remake the capstone chapter's stored leaderboard (``regan_tutorial/results/leaderboard.json``):
every arm of ``studies.leaderboard_study`` on PacGAN's ring of 8 and grid of 25, ten seeds per arm
trained at once as one batched model, scored as VEEGAN and PacGAN score them (2,500 samples per
seed; modes, high-quality share, reverse KL of the mode histogram), with each run's seconds.

Run: ``OMP_NUM_THREADS=1 python benchmarks/leaderboard.py`` (one thread was the faster on the
shared 2-core CPU it was made on). The file records the settings, the commit and the wall time;
the chapter and ``tests/test_studies.py`` refuse it once the settings no longer match the code.
"""

import time

import torch

from regan_tutorial import studies


def leaderboard():
    tic = time.perf_counter()
    common, arms = studies.leaderboard_study()
    rows = {}
    for dataset, mixture in studies.leaderboard_mixtures().items():
        for name, extra in arms.items():
            run = studies.train_toy_gans(mixture, **common, **extra, progress=False)
            rows[f"{dataset}: {name}"] = row = studies.coverage_rows(run)
            print(f"{dataset:5s} {name:24s} modes {studies.summary(row['modes'])[0]:5.2f}, high quality "
                  f"{100 * studies.summary(row['high_quality'])[0]:5.1f}%, reverse KL "
                  f"{studies.summary(row['reverse_kl'])[0]:.3f}, {row['seconds']:.0f} s", flush=True)
    return studies.save_study("leaderboard", {"common": common, "arms": arms}, rows, "benchmarks/leaderboard.py",
                              time.perf_counter() - tic)


if __name__ == "__main__":
    torch.set_num_threads(1)
    print("wrote", leaderboard())
