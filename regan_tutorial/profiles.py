"""Training budgets, device choice and seeding.

One switch, the environment variable ``REGAN_PROFILE``, picks how long every
notebook trains:

* ``smoke``: seconds per notebook, for CI (results are meaningless);
* ``book``: good results on a laptop CPU in minutes (the default);
* ``full``: paper-scale budgets, meant for a GPU.

A second switch, ``REGAN_SOLUTIONS``, decides whether the exercise solutions
that train GANs run: off by default, so that Run All (in Jupyter or on Colab)
trains only what the chapter's text needs; the book shows those solutions'
stored outputs. ``REGAN_SOLUTIONS=1`` runs them (the tests set it, so CI
executes every solution in the ``smoke`` profile).
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


def run_solutions(what):
    """Whether a solution cell that trains runs: ``if rt.run_solutions("trains 8 toy GANs"):``.

    True under ``REGAN_SOLUTIONS=1`` (read at each call, so ``os.environ`` set in the
    notebook works too); otherwise it says what was skipped and how to run it.
    """
    value = os.environ.get("REGAN_SOLUTIONS", "0").strip().lower()
    if value not in ("0", "1", "", "false", "true"):
        raise ValueError(f"REGAN_SOLUTIONS={value!r}: use 1 to run the solutions that train, 0 to skip them")
    if value in ("1", "true"):
        return True
    print(f"Not run: this solution {what}. The book shows its results; to train it here, "
          "run `import os; os.environ['REGAN_SOLUTIONS'] = '1'` and then this cell again.")
    return False


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
