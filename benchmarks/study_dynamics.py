"""Remake the training-dynamics chapter's stored ring study (``regan_tutorial/results/dynamics_ring.json``).

Ten seeds per arm of the small 2D GAN on the ring (``studies.dynamics_ring_study``): G's learning
rate 1e-4 and D's 1, 4 and 10 times that; at 10 times, the least-squares and hinge losses, the JS
regularizer, and the regularizer once more for as long as the plain 10-times run took. About 5 min
on a 2-core CPU (the file records how long its run took), too long for the chapter's budget: the
chapter shows this file and re-runs two of its arms.
Run: ``python benchmarks/study_dynamics.py``.
"""

import time

from regan_tutorial import studies
from regan_tutorial.data import ring

if __name__ == "__main__":
    tic = time.perf_counter()
    common, arms = studies.dynamics_ring_study()
    rows = studies.dynamics_ring_rows(ring(), common, arms, report=lambda name, row: print(
        f"{name:31s} modes {row['modes']}, {row['steps']:,} steps, {row['seconds']:.0f} s", flush=True))
    print("wrote", studies.save_study("dynamics_ring", {"common": common, "arms": arms}, rows,
                                      "benchmarks/study_dynamics.py", time.perf_counter() - tic))
