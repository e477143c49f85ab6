"""The book's structure: what the rendered book and Colab readers will see."""

import re
from pathlib import Path

import nbformat
import pytest
import yaml

from regan_tutorial import book
from regan_tutorial.book import strip_solutions

ROOT = Path(__file__).resolve().parents[1]
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())
TOC = yaml.safe_load((ROOT / "_toc.yml").read_text())


def toc_files():
    return book.toc_files(ROOT)


CHAPTERS = book.chapter_paths(ROOT)


def test_toc_lists_every_page_and_every_page_exists():
    listed = {(ROOT / f).with_suffix("") for f in toc_files()}
    on_disk = {p.with_suffix("") for p in (ROOT / "book").glob("*") if p.suffix in (".ipynb", ".md")}
    assert listed == on_disk
    assert len(CHAPTERS) >= 1


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_chapter_has_stored_outputs_of_a_book_run(path):
    nb = nbformat.read(path, as_version=4)
    stamp = nb.metadata.get("regan_tutorial", {})
    assert stamp.get("profile") == "book", "run: python -m regan_tutorial.book execute " + str(path.relative_to(ROOT))
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.execution_count for c in code), "every code cell was executed"
    assert not [o for c in code for o in c.outputs if o.output_type == "error"]
    assert sum(bool(c.outputs) for c in code) >= len(code) // 2
    assert {"kernelspec", "language_info"} <= set(nb.metadata), "-W builds need a lexer"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_code_cells_fit_the_books_column(path):
    """80 columns: the width the web book's column shows without scrolling (the browser test checks it)."""
    nb = nbformat.read(path, as_version=4)
    wide = [line for c in nb.cells if c.cell_type == "code" for line in c.source.splitlines() if len(line) > 80]
    assert not wide, wide


BAR = re.compile(r"(\d+)%\|[^|\n]*\| *([\d.]+)/([\d.]+)")  # a tqdm text bar: "NN%|####| n/total"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_no_stored_progress_bar_misleads_a_reader_of_the_static_page(path):
    """A widget bar cannot render without a kernel, and a bar that stopped early or whose total
    exceeds the run reads as a failure: the book stores only complete text bars and summary lines."""
    nb = nbformat.read(path, as_version=4)
    assert "widgets" not in nb.metadata, "stored widget state: re-run with python -m regan_tutorial.book execute"
    for cell in (c for c in nb.cells if c.cell_type == "code"):
        for out in cell.outputs:
            assert "application/vnd.jupyter.widget-view+json" not in out.get("data", {}), cell.source[:80]
            bars = BAR.findall(out.get("text", ""))
            if bars:
                percent, n, total = bars[-1]
                assert percent == "100" and float(n) == float(total), (cell.source[:80], bars[-1])


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_first_cell_installs_the_package_on_colab_from_the_configured_repository(path):
    first = nbformat.read(path, as_version=4).cells[0]
    assert first.cell_type == "code" and "remove-cell" in first.metadata.get("tags", [])
    assert '"google.colab" in sys.modules' in first.source
    urls = re.findall(r"https://github\.com/[^\"'\s]+", first.source)
    assert urls == [CONFIG["repository"]["url"]]


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_chapter_has_objectives_exercises_and_summary(path):
    text = "\n".join(c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "markdown")
    assert "Learning objectives" in text and "## Summary" in text and "## Exercises" in text
    assert text.count("{exercise}") == text.count("{solution}") >= 3


def test_strip_solutions_removes_solutions_and_outputs(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("````{exercise}\nQ?\n````\n\n````{solution} ex\n:class: dropdown\nA!\n````\nafter"),
        nbformat.v4.new_code_cell("answer = 42", metadata={"tags": ["solution"]}),
        nbformat.v4.new_code_cell("print(1)", outputs=[nbformat.v4.new_output("stream", text="1\n")]),
    ])
    nbformat.write(nb, tmp_path / "a.ipynb")
    strip_solutions(tmp_path / "a.ipynb", tmp_path / "out" / "a.ipynb")
    out = nbformat.read(tmp_path / "out" / "a.ipynb", as_version=4)
    assert len(out.cells) == 2
    assert "Q?" in out.cells[0].source and "A!" not in out.cells[0].source and "after" in out.cells[0].source
    assert out.cells[1].outputs == []


def test_the_instructor_page_lists_every_exercise_once():
    text = "\n".join(c.source for path in CHAPTERS for c in nbformat.read(path, as_version=4).cells)
    labels = re.findall(r"```\{exercise\}\n:label: (\S+)", text)
    # a chapter's number, or "practice" for the unnumbered practice page
    listed = re.findall(r"^\| (?:\d+|practice) \| `?[\d.]+`? \| `(ex-[^`]+)`",
                        (ROOT / "book" / "instructors.md").read_text(), re.M)
    assert sorted(listed) == sorted(labels) and len(set(listed)) == len(listed)
