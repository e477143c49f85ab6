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
from regan_tutorial.grading import FAILED, NOT_ATTEMPTED, PASSED

ROOT = Path(__file__).resolve().parent.parent
JOBS = os.environ.get("REGAN_GRADE_JOBS", "2")  # -j of the class's grading (1: to time it serially)
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
    roles = [(c.metadata["regan"].get("exercise"), c.metadata["regan"].get("role"))
             for c in edition.cells if "regan" in c.metadata]  # withheld listings and demos carry no exercise
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


WRONG = {  # chapter, exercise, a typical wrong answer, what the checker must say (the others of each
    # exercise: tests/test_grading.py, on one-exercise chapters that grade in seconds)
    "jsd without the halves": ("01_gan_theory", "ex-theory-code-jsd", '''
def my_jsd(p, q, dx):
    m = (p + q) / 2
    kl = lambda a, b: np.sum(a[a > 0] * np.log(a[a > 0] / b[a > 0])) * dx
    return kl(p, m) + kl(q, m)


def my_dstar(p_data, p_g):
    return p_data / (p_data + p_g + 1e-300)
''', "factor 1/2"),
}


def _file(name):
    """A hand-in's file name for a student called ``name``: NAME__chapter.ipynb (one student each)."""
    return name.replace(" ", "-")


@pytest.fixture(scope="module")
def graded(student, tmp_path_factory):
    """The whole class graded by one call of the grade command, two at a time, as an instructor runs
    it: every chapter's untouched handout, every chapter filled with the book's own solutions, the
    typical wrong answers, a check cell deleted or faked, and a notebook that breaks.
    Returns {name: report}."""
    folder = tmp_path_factory.mktemp("handin")
    paths = {}
    for path in CHAPTERS:
        paths[f"untouched {path.stem}"] = student / path.name
        if solutions(path):
            paths[f"solved {path.stem}"] = fill(student / path.name, solutions(path), folder / f"solved__{path.name}")
    for name, (chapter, label, answer, _) in WRONG.items():
        paths[name] = fill(student / f"{chapter}.ipynb", {label: answer}, folder / f"{_file(name)}__{chapter}.ipynb")
    chapter, label, wrong, _ = WRONG["jsd without the halves"]
    right = solutions(ROOT / "book" / f"{chapter}.ipynb")[label]
    faked = 'print("JSD: all checks passed.")\nexercises.check_jsd = lambda fn: print("JSD: all checks passed.")'
    for name, (answer, check) in {"check cell deleted": (right, None), "check cell faked": (wrong, faked)}.items():
        path = fill(student / f"{chapter}.ipynb", {label: answer}, folder / f"{_file(name)}__{chapter}.ipynb")
        nb = nbformat.read(path, as_version=4)
        (i,) = [i for i, c in enumerate(nb.cells) if c.metadata.get("regan", {}).get("role") == "check"]
        if check is None:
            del nb.cells[i]
        else:
            nb.cells[i].source = check
        nbformat.write(nb, path)
        paths[name] = path
    broken = nbformat.read(student / "01_gan_theory.ipynb", as_version=4)
    broken.cells.insert(3, nbformat.v4.new_code_cell("raise RuntimeError('my bug')"))
    nbformat.write(broken, folder / "broken__01_gan_theory.ipynb")
    paths["broken"] = folder / "broken__01_gan_theory.ipynb"
    out = folder / "report.json"
    assert book.main(["grade", *map(str, paths.values()), "--json", str(out), "-j", JOBS, "--timeout", "300"]) == 0
    return dict(zip(paths, json.loads(out.read_text())))


def test_grading_the_student_edition_says_not_attempted_everywhere_and_nothing_breaks(graded, student):
    reports = [r for name, r in graded.items() if name.startswith("untouched ")]
    assert len(reports) == len(CHAPTERS)
    graded_chapters = {p.stem for p in CODE_EXERCISES.values()}  # a page without code exercises has nothing to grade
    reports = [r for name, r in graded.items()
               if name.startswith("untouched ") and name.split(" ", 1)[1] in graded_chapters]
    assert sorted(p.name for p in student.glob("*.ipynb")) == sorted(p.name for p in CHAPTERS)
    found = {label: r for report in reports for label, r in report["exercises"].items()}
    assert set(found) == set(CODE_EXERCISES)
    assert all(r["status"] == NOT_ATTEMPTED for r in found.values()), found
    assert all(not report["errors"] and not report["timed_out"] for report in reports), reports  # Run All works


def test_grading_the_solutions_says_passed_everywhere(graded):
    solved = {name: r for name, r in graded.items() if name.startswith("solved ")}
    assert len(solved) == len({p for p in CODE_EXERCISES.values()})
    for name, report in solved.items():
        assert {r["status"] for r in report["exercises"].values()} == {PASSED}, (name, report)
        assert not report["errors"], (name, report["errors"])


def test_typical_wrong_answers_fail_with_the_checkers_explanation(graded):
    for name, (chapter, label, answer, words) in WRONG.items():
        result = graded[name]["exercises"][label]
        assert result["status"] == FAILED and words in result["message"], (name, result)


def test_the_grader_runs_the_checks_itself_whatever_the_check_cells_say(graded):
    """A check cell deleted, or edited to print a pass and replace the checker: the grader runs the
    autograder's checks, never the notebook's."""
    _, label, _, words = WRONG["jsd without the halves"]
    assert graded["check cell deleted"]["exercises"][label]["status"] == PASSED
    faked = graded["check cell faked"]["exercises"][label]
    assert faked["status"] == FAILED and words in faked["message"], faked


def test_a_notebook_that_breaks_is_reported_and_the_others_still_graded(graded):
    assert any("RuntimeError: my bug" in e for e in graded["broken"]["errors"])
    assert graded["untouched 02_toy_2d"]["exercises"]
