"""Fixtures shared by the test files: the offline MNIST subset and the shipped classifier."""

import pytest

from regan_tutorial import metrics
from regan_tutorial.data import load_mnist


@pytest.fixture(scope="module")
def mnist():
    return load_mnist(train=True, source="bundled"), load_mnist(train=False, source="bundled")


@pytest.fixture(scope="module")
def classifier():
    return metrics.load_classifier()
