"""The publishing script of the Pages workflow: the Colab editions reach the branch the launch buttons name.

Runs ``.ci/publish-colab`` against a local bare repository, twice (a second run on one machine
must work too), clones the branch and finds every chapter's edition where its launch link points.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from regan_tutorial import book

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / ".ci" / "publish-colab"
pytestmark = pytest.mark.skipif(not (ROOT / ".git").exists() or not shutil.which("git"),
                                reason="needs a git checkout of the course and git")


def git(*args, cwd=None):
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def test_the_script_publishes_every_chapters_edition_where_its_launch_link_points(tmp_path):
    remote = tmp_path / "remote.git"
    git("init", "--bare", "-q", str(remote))
    env = {**os.environ, "PYTHON": sys.executable, "PYTHONPATH": str(ROOT)}
    before = git("status", "--porcelain", cwd=ROOT), git("rev-parse", "--abbrev-ref", "HEAD", cwd=ROOT)
    for run in (1, 2):  # the old workflow's fixed /tmp/colab folder failed on the second run
        done = subprocess.run(["bash", str(SCRIPT), str(remote)], cwd=tmp_path, env=env, capture_output=True, text=True)
        said = done.stdout + done.stderr
        assert done.returncode == 0, said
        assert "fatal:" not in said and "error:" not in said.lower(), said
    clone = tmp_path / "clone"
    git("clone", "-q", "--branch", "colab", str(remote), str(clone))
    head = git("rev-parse", "HEAD", cwd=ROOT)
    assert git("log", "--format=%s", cwd=clone) == f"Colab editions of {head}"  # one commit, no history
    for path in book.chapter_paths(ROOT):
        rel = path.relative_to(ROOT).as_posix()
        link = book.colab_link(rel, ROOT)
        assert link.endswith(f"/blob/colab/{rel}"), link  # the launch link names this branch and file
        edition = nbformat.read(clone / rel, as_version=4)
        assert f'COMMIT = "{head}"' in edition.cells[0].source  # it installs the package it was made from
    # the checkout is left as it was: same branch, same files (the old step switched to an orphan branch)
    assert (git("status", "--porcelain", cwd=ROOT), git("rev-parse", "--abbrev-ref", "HEAD", cwd=ROOT)) == before


def test_a_failing_step_stops_the_script(tmp_path):
    """No step goes on after a failure: a remote that does not exist fails the run."""
    env = {**os.environ, "PYTHON": sys.executable, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(["bash", str(SCRIPT), str(tmp_path / "missing.git")], env=env, capture_output=True, text=True)
    assert done.returncode != 0
    assert "published" not in done.stdout
