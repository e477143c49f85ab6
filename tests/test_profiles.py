import subprocess
import sys

import pytest
import torch

import regan_tutorial as rt


def test_budget_follows_the_profile(monkeypatch):
    for name, expected in (("smoke", 1), ("book", 2), ("full", 3)):
        monkeypatch.setenv("REGAN_PROFILE", name)
        assert rt.profile() == name and rt.budget(smoke=1, book=2, full=3) == expected
    monkeypatch.setenv("REGAN_PROFILE", "full")
    assert rt.budget(smoke=1, book=2) == 2  # full defaults to book


def test_unknown_profile_lists_valid_names(monkeypatch):
    monkeypatch.setenv("REGAN_PROFILE", "quick")
    with pytest.raises(ValueError, match="smoke, book, full"):
        rt.budget(smoke=1, book=2)


def test_default_profile_is_book(monkeypatch):
    monkeypatch.delenv("REGAN_PROFILE")
    assert rt.profile() == "book"


def test_device_is_reported(capsys):
    device = rt.get_device()
    assert device.type in ("cuda", "mps", "cpu")
    assert capsys.readouterr().out.startswith(f"device: {device.type}")


def test_import_is_silent_and_offline():
    # importing prints nothing and touches no RNG (no seeding on import)
    code = ("import torch; s = torch.get_rng_state(); import regan_tutorial, regan_tutorial.data, "
            "regan_tutorial.train, regan_tutorial.plots; assert torch.equal(s, torch.get_rng_state())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout == ""
