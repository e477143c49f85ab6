"""Remake the MNIST chapter's stored ablation (``regan_tutorial/results/mnist_ablation.json``).

The tutorial's fully connected GAN with one design choice changed at a time (the prior, ReLU,
no dropout in D, a narrow D, momentum SGD), three seeds per setting trained at once as one
batched model, 2,500 steps each (``studies.mnist_ablation``). About four minutes on a 2-core CPU
(the file records its wall time):
too long beside the rest of the chapter's five-minute budget, so the chapter shows this file and
re-runs two of its rows, which must match the stored ones exactly on the CPU that made them.
Run: ``REGAN_MNIST=bundled python benchmarks/study_mnist.py``.
"""

import time

from regan_tutorial import metrics, studies
from regan_tutorial.data import load_mnist


def main():
    tic = time.perf_counter()
    common, arms = studies.mnist_ablation()
    rows = studies.mnist_ablation_rows(common, arms, load_mnist(train=True).images,
                                       load_mnist(train=False).images, metrics.load_classifier())
    for name, row in rows.items():
        print(f"{name:42s} FD {row['fid']}, {row['seconds']:.0f} s", flush=True)
    return studies.save_study("mnist_ablation", {"common": common, "arms": arms}, rows,
                              "benchmarks/study_mnist.py", time.perf_counter() - tic)


if __name__ == "__main__":
    print("wrote", main())
