"""Remake the JS regularizer chapter's stored studies (``regan_tutorial/results/js_*.json``).

Evidence 1: ten seeds per arm on the ring, five arms (``studies.js_ring_study``); Evidence 2:
the minimax DCGAN on the offline MNIST subset, two seeds with batch norm and one without, each
with and without the regularizer (``studies.js_mnist_study``); its controls: three seeds of the
minimax DCGAN without batch norm, with no regularizer, the JS regularizer, R1, R1 + R2, and no
regularizer for as long in wall time (``studies.js_mnist_controls``); and its mechanism: seed 0 with
batch norm, with and without the regularizer, D(G(z)) and the gradient norms per step
(``studies.js_mnist_mechanism``). Too long for the chapter's
five-minute budget on a 2-core CPU (each file records how long its run took), so the chapter shows these files
and re-runs one part of each, which must match its stored row exactly.
Run: ``REGAN_MNIST=bundled python benchmarks/study_js.py [ring] [mnist] [controls] [mechanism]``.
"""

import sys
import time

import torch

from regan_tutorial import metrics, studies
from regan_tutorial.data import load_mnist, ring
from regan_tutorial.train import sample_z


def ring_study():
    tic = time.perf_counter()
    common, arms = studies.js_ring_study()
    rows = {name: studies.coverage_rows(studies.train_toy_gans(ring(), **common, **extra, progress=False))
            for name, extra in arms.items()}
    for name, row in rows.items():
        print(f"{name:26s} modes {row['modes']}, {row['seconds']:.0f} s")
    return studies.save_study("js_ring", {"common": common, "arms": arms}, rows, "benchmarks/study_js.py",
                              time.perf_counter() - tic)


def mnist_study(name="js_mnist", study=studies.js_mnist_study):
    tic = time.perf_counter()
    common, arms = study()
    train_set, held_out = load_mnist(train=True), load_mnist(train=False)
    z_eval = sample_z(common["n_eval"], 100, "normal", torch.Generator().manual_seed(2))
    rows = studies.mnist_study_rows(common, arms, train_set.images, held_out.images, metrics.load_classifier(),
                                    z_eval, report=lambda key, row: print(f"{key}: FD {row['fid']}", flush=True))
    return studies.save_study(name, {"common": common, "arms": arms}, rows, "benchmarks/study_js.py",
                              time.perf_counter() - tic)


if __name__ == "__main__":
    parts = {"ring": ring_study, "mnist": mnist_study,
             "controls": lambda: mnist_study("js_mnist_controls", studies.js_mnist_controls),
             "mechanism": lambda: mnist_study("js_mnist_mechanism", studies.js_mnist_mechanism)}
    for name in sys.argv[1:] or list(parts):
        print("wrote", parts[name]())
