"""Training budgets, device choice and seeding.

One switch, the environment variable ``REGAN_PROFILE``, picks how long every
notebook trains:

* ``smoke``: seconds per notebook, for CI (results are meaningless);
* ``book``: good results on a laptop CPU in minutes (the default);
* ``full``: paper-scale budgets, meant for a GPU.
"""

import os
import random

import numpy as np
import torch

PROFILES = ("smoke", "book", "full")


def profile():
    """The active profile name, read from ``REGAN_PROFILE`` (default ``book``)."""
    name = os.environ.get("REGAN_PROFILE", "book").strip().lower()
    if name not in PROFILES:
        raise ValueError(
            f"REGAN_PROFILE={name!r} is not a profile; use one of {', '.join(PROFILES)}"
        )
    return name


def budget(smoke, book, full=None):
    """Pick the value for the active profile: ``budget(smoke=50, book=5000, full=50000)``.

    ``full`` defaults to ``book`` when a setting does not grow with compute.
    """
    return {"smoke": smoke, "book": book, "full": book if full is None else full}[profile()]


def get_device(verbose=True):
    """CUDA if present, then Apple MPS, then the CPU; says which when ``verbose``."""
    if torch.cuda.is_available():
        device = torch.device("cuda")
        label = f"cuda ({torch.cuda.get_device_name(0)})"
    elif getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        device, label = torch.device("mps"), "mps (Apple GPU)"
    else:
        device, label = torch.device("cpu"), f"cpu ({torch.get_num_threads()} threads)"
    if verbose:
        print(f"device: {label}")
    return device


def seed_everything(seed):
    """Seed Python, NumPy and torch so that CPU runs repeat exactly."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return seed
