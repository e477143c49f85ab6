"""Run All trains only what the chapter's text needs: solutions that train wait for REGAN_SOLUTIONS=1."""

import re

import nbformat
import pytest
from nbclient import NotebookClient

import regan_tutorial as rt
from regan_tutorial import book

from test_book import CHAPTERS, ROOT

TRAINING_CALLS = re.compile(r"\b(train|train_toy_gans?|train_small_dcgan|dcgan|wgan|conditional_gan|"
                            r"classifier_guided|infogan|mnist_gan|fit_discriminator)\(")


def test_the_switch_is_off_by_default_and_says_how_to_turn_it_on(monkeypatch, capsys):
    monkeypatch.delenv("REGAN_SOLUTIONS", raising=False)
    assert rt.run_solutions("trains 8 GANs") is False
    out = capsys.readouterr().out
    assert "Not run: this solution trains 8 GANs" in out and "REGAN_SOLUTIONS" in out
    monkeypatch.setenv("REGAN_SOLUTIONS", "1")
    assert rt.run_solutions("trains 8 GANs") is True
    assert capsys.readouterr().out == ""
    monkeypatch.setenv("REGAN_SOLUTIONS", "yes please")
    with pytest.raises(ValueError, match="REGAN_SOLUTIONS='yes please'"):
        rt.run_solutions("trains")


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_every_solution_that_trains_waits_for_the_switch(path):
    for cell in nbformat.read(path, as_version=4).cells:
        tags = cell.metadata.get("tags", [])
        if cell.cell_type == "code" and "solution" in tags and TRAINING_CALLS.search(cell.source):
            assert cell.source.startswith("if rt.run_solutions("), cell.source[:200]
            assert book.TRAINS in tags, "tag it 'trains', so that `book execute` keeps its stored outputs"


def run_all(path, solutions, monkeypatch):
    """Execute a chapter top to bottom as Jupyter's Run All does (smoke profile)."""
    nb = nbformat.read(path, as_version=4)
    for name, value in (("REGAN_PROFILE", "smoke"), ("REGAN_SOLUTIONS", solutions), ("TQDM_DISABLE", "1")):
        monkeypatch.setenv(name, value)
    NotebookClient(nb, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    return [c for c in nb.cells if book.TRAINS in c.metadata.get("tags", [])]


def text(cell):
    return "".join(o.get("text", "") for o in cell.outputs)


def test_run_all_skips_the_solutions_that_train_and_the_switch_runs_them(monkeypatch):
    path = ROOT / "book" / "02_toy_2d.ipynb"
    skipped = run_all(path, "0", monkeypatch)
    assert skipped and all(text(c).startswith("Not run: this solution") for c in skipped)
    assert not any("modes" in text(c) for c in skipped)
    ran = run_all(path, "1", monkeypatch)
    assert all("Not run" not in text(c) and "modes" in text(c) for c in ran)


def test_execute_keeps_the_stored_outputs_of_skipped_solutions_and_stamps_the_run_time(tmp_path, monkeypatch):
    for name in ("REGAN_PROFILE", "REGAN_SOLUTIONS", "TQDM_DISABLE"):
        monkeypatch.setenv(name, "")  # execute sets them; restored after the test
    nb = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                            "language": "python"}})
    stored = nbformat.v4.new_output("stream", name="stdout", text="stored result\n")
    nb.cells = [nbformat.v4.new_markdown_cell("# A chapter"),
                nbformat.v4.new_markdown_cell("not measured", metadata={"tags": [book.RUN_TIME]}),
                nbformat.v4.new_code_cell("print('main text')"),
                nbformat.v4.new_code_cell("import regan_tutorial as rt\nif rt.run_solutions('trains'):\n"
                                          "    print('trained')", metadata={"tags": ["solution", book.TRAINS]},
                                          outputs=[stored])]
    path = tmp_path / "chapter.ipynb"
    nbformat.write(nb, path)
    book.execute(path, profile="book")
    done = nbformat.read(path, as_version=4)
    assert done.cells[3].outputs[0]["text"] == "stored result\n"
    assert done.cells[2].outputs[0]["text"] == "main text\n"
    assert done.cells[1].source.startswith("*Running this chapter top to bottom takes about 1 minute")
    assert done.metadata["regan_tutorial"]["profile"] == "book"
    book.execute(path, profile="book", solutions=True)
    done = nbformat.read(path, as_version=4)
    assert done.cells[3].outputs[0]["text"] == "trained\n"
    assert "executed" in done.cells[3].metadata["regan"]


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_each_chapter_says_how_long_it_takes_from_its_own_stamp(path):
    nb = nbformat.read(path, as_version=4)
    stamp = nb.metadata["regan_tutorial"]
    notes = [c.source for c in nb.cells if book.RUN_TIME in c.metadata.get("tags", [])]
    assert notes == [book.run_time_note(stamp["seconds"], stamp["executed"])]


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_the_stored_solutions_ran_with_the_rest_of_their_chapter(path):
    """A solution may quote the chapter's own runs (e.g. a time-budgeted baseline): its stored
    output must come from the same execution (``book execute --solutions``)."""
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if book.TRAINS in cell.metadata.get("tags", []):
            executed = cell.metadata.get("regan", {}).get("executed", {})
            assert executed.get("date") == nb.metadata["regan_tutorial"]["executed"], cell.source[:80]
