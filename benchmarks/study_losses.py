"""Remake the Wasserstein chapter's stored study of today's losses on MNIST
(``regan_tutorial/results/losses_mnist.json``, from ``studies.losses_mnist_study``): the DCGAN at
width 32 with the non-saturating loss and batch norm, hinge with spectral normalization, least
squares, and the JS regularizer, two seeds each, on the offline MNIST subset. Too long for the
chapter's five-minute budget on a 2-core CPU (the file records how long the run took), so the
chapter shows the file and re-runs the first steps of one run, which must match its stored row.
Run: ``REGAN_MNIST=bundled python benchmarks/study_losses.py``.
"""

import time

import torch

from regan_tutorial import metrics, studies
from regan_tutorial.data import load_mnist
from regan_tutorial.train import sample_z

if __name__ == "__main__":
    tic = time.perf_counter()
    common, arms = studies.losses_mnist_study()
    train_set, held_out = load_mnist(train=True), load_mnist(train=False)
    z_eval = sample_z(common["n_eval"], 100, "normal", torch.Generator().manual_seed(2))
    rows = studies.mnist_study_rows(
        common, arms, train_set.images, held_out.images, metrics.load_classifier(), z_eval,
        report=lambda key, row: print(f"{key}: FD {row['fid']}, {row['ms_per_step']} ms per step", flush=True))
    print("wrote", studies.save_study("losses_mnist", {"common": common, "arms": arms}, rows,
                                      "benchmarks/study_losses.py", time.perf_counter() - tic))
