"""The classroom kit: the student edition runs top to bottom, and grading reads the course's checkers.

These tests execute notebooks (smoke profile), so they take a few minutes.
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from regan_tutorial import book
from regan_tutorial.grading import FAILED, NOT_ATTEMPTED, PASSED, grade

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = book.chapter_paths(ROOT)
CODE_EXERCISES = {c.metadata["regan"]["exercise"]: path for path in CHAPTERS
                  for c in nbformat.read(path, as_version=4).cells if "stub" in c.metadata.get("regan", {})}


@pytest.fixture(scope="module")
def student(tmp_path_factory):
    out = tmp_path_factory.mktemp("student")
    assert book.main(["student", str(ROOT / "book"), str(out)]) == 0
    return out


def sentences(text):
    """The prose sentences of a solution (code and options left out), each long enough to be unique."""
    prose = re.sub(r"```.*?```", "", text, flags=re.S)
    return [s.strip() for s in re.split(r"(?<=[.!?])\s+|\n", prose) if len(s.strip()) > 40 and not s.startswith(":")]


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_the_student_edition_holds_no_solution_and_a_stub_for_each_code_exercise(path, student):
    source = nbformat.read(path, as_version=4)
    edition = nbformat.read(student / path.name, as_version=4)
    text = "\n".join(c.source for c in edition.cells)
    for cell in source.cells:
        for body in book.solution_prose(cell.source) if cell.cell_type == "markdown" else []:
            for sentence in sentences(body):
                assert sentence not in text, sentence
        if "solution" in cell.metadata.get("tags", []) and cell.source.strip():
            assert cell.source not in text
    assert all(not c.get("outputs") for c in edition.cells if c.cell_type == "code")
    roles = [(c.metadata["regan"]["exercise"], c.metadata["regan"]["role"])
             for c in edition.cells if "regan" in c.metadata]
    for label in (k for k, p in CODE_EXERCISES.items() if p == path):
        assert (label, "stub") in roles and (label, "check") in roles
        stub = next(c for c in edition.cells if c.metadata.get("regan") == {"exercise": label, "role": "stub"})
        assert "NotImplementedError" in stub.source or "None" in stub.source


def fill(edition_path, answers, target):
    """A handed-in notebook: the student edition with ``answers`` (label -> code) in the stub cells."""
    nb = nbformat.read(edition_path, as_version=4)
    for cell in nb.cells:
        regan = cell.metadata.get("regan", {})
        if regan.get("role") == "stub" and regan["exercise"] in answers:
            cell.source = answers[regan["exercise"]]
    nbformat.write(nb, target)
    return target


def solutions(path):
    """The book's own solutions: the source of each code exercise's hidden solution cell."""
    return {c.metadata["regan"]["exercise"]: c.source for c in nbformat.read(path, as_version=4).cells
            if "stub" in c.metadata.get("regan", {})}


def test_grading_the_student_edition_says_not_attempted_everywhere_and_nothing_breaks(student, tmp_path):
    out = tmp_path / "report.json"
    assert book.main(["grade", str(student), "--json", str(out), "--timeout", "300"]) == 0
    reports = json.loads(out.read_text())
    assert len(reports) == len(CHAPTERS)
    graded = {label: r for report in reports for label, r in report["exercises"].items()}
    assert set(graded) == set(CODE_EXERCISES)
    assert all(r["status"] == NOT_ATTEMPTED for r in graded.values()), graded
    assert all(not report["errors"] and not report["timed_out"] for report in reports), reports  # Run All works


def test_the_student_edition_passes_nbval_in_the_smoke_profile(student):
    """Run All on every chapter of the student edition, through nbval as CI runs the book: stubs and
    checkers print, never raise. Its own pytest, outside this repository's configuration."""
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "--nbval-lax", "-q", "-p", "no:cacheprovider", "-c", os.devnull,
         "--rootdir", str(student), str(student)],
        capture_output=True, text=True, env=os.environ | {"REGAN_PROFILE": "smoke", "TQDM_DISABLE": "1"},
    )
    assert run.returncode == 0, run.stdout[-4000:]
    assert sorted(p.name for p in student.glob("*.ipynb")) == [p.name for p in CHAPTERS]
    assert re.search(r"\b\d+ passed", run.stdout) and "failed" not in run.stdout, run.stdout[-2000:]


def test_grading_the_solutions_says_passed_everywhere(student, tmp_path):
    for path in CHAPTERS:
        answers = solutions(path)
        if answers:
            report = grade(fill(student / path.name, answers, tmp_path / path.name))
            assert {r["status"] for r in report.exercises.values()} == {PASSED}, report
            assert not report.errors, report.errors


WRONG = {  # chapter, exercise, a typical wrong answer, what the checker must say
    "jsd without the halves": ("01_gan_theory", "ex-theory-code-jsd", '''
def my_jsd(p, q, dx):
    m = (p + q) / 2
    kl = lambda a, b: np.sum(a[a > 0] * np.log(a[a > 0] / b[a > 0])) * dx
    return kl(p, m) + kl(q, m)


def my_dstar(p_data, p_g):
    return p_data / (p_data + p_g + 1e-300)
''', "factor 1/2"),
    "swapped weights": ("07_js_regularizer", "ex-js-code", '''
def my_js_regularizer(d_real, x_real, d_fake, x_fake):
    (g_real,) = torch.autograd.grad(d_real.sum(), x_real, create_graph=True)
    (g_fake,) = torch.autograd.grad(d_fake.sum(), x_fake, create_graph=True)
    real = torch.sigmoid(d_real) ** 2 * g_real.flatten(1).pow(2).sum(1)
    fake = (1 - torch.sigmoid(d_fake)) ** 2 * g_fake.flatten(1).pow(2).sum(1)
    return real.mean() + fake.mean()
''', "weights are swapped"),
    "penalty at real points": ("05_wgan", "ex-wgan-code", '''
def my_penalty(critic, x_real, x_fake):
    x = x_real.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x).sum(), x, create_graph=True)
    return 10 * (grad.flatten(1).norm(dim=1) - 1).pow(2).mean()
''', "real samples only"),
}


def test_typical_wrong_answers_fail_with_the_checkers_explanation(student, tmp_path):
    for name, (chapter, label, answer, words) in WRONG.items():
        report = grade(fill(student / f"{chapter}.ipynb", {label: answer}, tmp_path / f"{chapter}.ipynb"))
        result = report.exercises[label]
        assert result["status"] == FAILED and words in result["message"], (name, result)


def test_the_grader_runs_the_checks_itself_whatever_the_check_cells_say(student, tmp_path):
    """A check cell deleted, edited to print a pass, or a checker replaced in the notebook: the
    grader appends the recorded checker calls and imports the checkers afresh."""
    chapter, label, wrong, words = WRONG["jsd without the halves"]
    right = solutions(ROOT / "book" / f"{chapter}.ipynb")[label]
    faked = 'print("JSD: all checks passed.")\nexercises.check_jsd = lambda fn: print("JSD: all checks passed.")'
    cases = {"check cell deleted": (right, None, PASSED), "check cell faked": (wrong, faked, FAILED)}
    for name, (answer, check, expected) in cases.items():
        path = fill(student / f"{chapter}.ipynb", {label: answer}, tmp_path / f"{name}.ipynb")
        nb = nbformat.read(path, as_version=4)
        (i,) = [i for i, c in enumerate(nb.cells) if c.metadata.get("regan", {}).get("role") == "check"]
        if check is None:
            del nb.cells[i]
        else:
            nb.cells[i].source = check
        nbformat.write(nb, path)
        result = grade(path).exercises[label]
        assert result["status"] == expected, (name, result)
        assert expected == PASSED or words in result["message"], (name, result)


def test_a_notebook_that_breaks_is_reported_and_the_others_still_graded(student, tmp_path, capsys):
    broken = nbformat.read(student / "01_gan_theory.ipynb", as_version=4)
    broken.cells.insert(3, nbformat.v4.new_code_cell("raise RuntimeError('my bug')"))
    nbformat.write(broken, tmp_path / "broken.ipynb")
    out = tmp_path / "r.json"
    book.main(["grade", str(tmp_path / "broken.ipynb"), str(student / "02_toy_2d.ipynb"), "--json", str(out)])
    first, second = json.loads(out.read_text())
    assert "RuntimeError: my bug" in first["errors"][0] and second["exercises"]
