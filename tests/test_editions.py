"""The Colab editions: Markdown that Colab renders; code and outputs as in the sources, except the
install cell (pinned), players' icons (inline) and solutions (folded forms without outputs)."""

import contextlib
import io
import re
import subprocess
import sys
import types
from pathlib import Path

import nbformat
import pytest
import yaml

from regan_tutorial import book
from regan_tutorial.editions import (RUN_SWITCH, book_url, colab_edition, folded_solution, install_source,
                                     link_chapters, read_bibliography)
from regan_tutorial.plots import inline_icons

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = book.chapter_paths(ROOT)
MYST = re.compile(r"```\{|:::\{|\{(footcite|doc|ref|numref|prf:ref|cite|eq|term)[a-z:]*\}`")
COMMIT = "0123456789abcdef0123456789abcdef01234567"
is_solution = lambda cell: "solution" in cell.metadata.get("tags", [])


@pytest.fixture(scope="module")
def editions(tmp_path_factory):
    out = tmp_path_factory.mktemp("colab")
    assert book.main(["colab", str(ROOT / "book"), str(out), "--commit", COMMIT]) == 0
    return {path: nbformat.read(out / path.name, as_version=4) for path in CHAPTERS}


def icons_inline(outputs):
    outputs = [dict(o, data=dict(o.get("data", {}))) if "data" in o else o for o in outputs]
    for out in outputs:
        if isinstance(out.get("data", {}).get("text/html"), str):
            out["data"]["text/html"] = inline_icons(out["data"]["text/html"])
    return outputs


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_colab_edition_has_no_myst_and_keeps_every_other_code_cell_and_output(path, editions):
    source, edition = nbformat.read(path, as_version=4), editions[path]
    markdown = "\n".join(c.source for c in edition.cells if c.cell_type == "markdown")
    assert not MYST.search(markdown), MYST.search(markdown)
    code = lambda nb: [c for c in nb.cells if c.cell_type == "code"][1:]  # the first installs the package
    kept = [(c.source, icons_inline(c.outputs)) for c in code(source) if not is_solution(c)]
    assert [(c.source, c.outputs) for c in code(edition) if not is_solution(c)] == kept
    assert len(code(edition)) == len(code(source))
    assert not any("fa fa-" in str(o) or "font-awesome" in str(o) for c in edition.cells for o in c.get("outputs", []))


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_no_solution_code_or_output_is_visible_and_run_all_runs_none(path, editions):
    """Each solution code cell is a Colab form (code folded under its title) without a stored
    output, and run as it stands (what Run All does) it runs nothing of the solution."""
    solutions = [c for c in editions[path].cells if c.cell_type == "code" and is_solution(c)]
    assert solutions
    for cell in solutions:
        assert cell.metadata["cellView"] == "form" and cell.outputs == [] and cell.execution_count is None
        assert re.match(r'# @title Solution to Exercise \d+(\.\d+)?\b.*\{ display-mode: "form" \}\n', cell.source)
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            exec(cell.source, {})  # no name the solution uses is defined: any statement run would fail
        assert printed.getvalue() == ""


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_every_solution_is_inside_details(path, editions):
    source = "\n".join(c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "markdown")
    edition = "\n".join(c.source for c in editions[path].cells if c.cell_type == "markdown")
    solutions = [p for c in nbformat.read(path, as_version=4).cells if c.cell_type == "markdown"
                 for p in book.solution_prose(c.source)]
    details = re.findall(r"<details><summary>Solution to Exercise \d+(?:\.\d+)?</summary>(.*?)</details>", edition, re.S)
    assert len(details) == len(solutions) > 0
    outside = re.sub(r"<details>.*?</details>", "", edition, flags=re.S)
    for body in solutions:
        first = next(line for line in body.splitlines() if len(line) > 30 and line[0] not in ":`")
        assert first[:60] not in outside  # no solution sentence is visible outside a collapsed block


def test_a_gated_chapter_makes_the_same_edition(tmp_path, editions):
    """After ``gate-solutions`` (the sources' new form) every chapter's edition is what it was."""
    gated = tmp_path / "book"
    gated.mkdir()
    for path in CHAPTERS:
        nb, _ = book.gate_solutions(nbformat.read(path, as_version=4))  # no change once the sources are gated
        assert any("{solution-start}" in c.source for c in nb.cells if c.cell_type == "markdown")
        nbformat.write(nb, gated / path.name)
    context = book.colab_context(ROOT)
    for path in CHAPTERS:
        book.write_colab(gated / path.name, tmp_path / "out" / path.name, ROOT, COMMIT, context)
        edition = nbformat.read(tmp_path / "out" / path.name, as_version=4)
        same = lambda nb: [(c.cell_type, c.source, c.get("outputs")) for c in nb.cells]
        assert same(edition) == same(editions[path]), path.stem


def test_the_install_cell_pins_the_commit_and_fails_loudly(monkeypatch):
    source = install_source("https://github.com/o/r", COMMIT)
    assert f"git+https://github.com/o/r@{{COMMIT}}" in source and f'COMMIT = "{COMMIT}"' in source
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(source, {})  # not on Colab: installs nothing, says what it imports
    assert re.fullmatch(r"regan_tutorial 0\.\d+\.\d+\S*, commit .+\n", printed.getvalue())
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    failed = subprocess.CompletedProcess([], 1, stdout="", stderr="ERROR: Could not find a version that satisfies")
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: failed)
    with pytest.raises(RuntimeError, match="pip could not install .*\n.*Could not find a version"):
        exec(source, {})
    with pytest.raises(ValueError, match="40-digit"):
        install_source("https://github.com/o/r", "main")


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_each_edition_is_numbered_and_links_its_page_and_the_next_chapter(path, editions):
    at, number = CHAPTERS.index(path) + 1, book.chapter_numbers(ROOT).get(path.stem)  # the rendered book's
    cells = editions[path].cells
    assert f'COMMIT = "{COMMIT}"' in cells[0].source
    title = next(c.source for c in cells if c.cell_type == "markdown" and c.source.startswith("# "))
    assert title.startswith(f"# {number}. ") if number else not re.match(r"# \d", title)  # the practice page
    page = f"{book_url(yaml.safe_load((ROOT / '_config.yml').read_text())['repository']['url'])}book/{path.stem}.html"
    assert f"[this chapter on the web]({page})" in title
    run_time = [c.source for c in cells if "run-time" in c.metadata.get("tags", [])]
    assert all("REGAN_SOLUTIONS" not in text and "box" in text for text in run_time)
    if at < len(CHAPTERS):
        following = book.colab_link(CHAPTERS[at].relative_to(ROOT), ROOT)
        assert f"]({following})" in title and f"]({following})" in cells[-1].source
    else:
        assert "Next:" not in cells[-1].source


def test_references_to_chapters_become_links():
    chapters = [{"number": 1, "title": "The GAN game", "stem": "01_gan_theory", "url": "u1"},
                {"number": 2, "title": "GANs in two dimensions", "stem": "02_toy_2d", "url": "u2"},
                {"number": 3, "title": "Wasserstein GANs", "stem": "03_wgan", "url": "u3"},
                {"number": 4, "title": "Measuring a GAN on MNIST", "stem": "04_measuring", "url": "u4"},
                {"number": 5, "title": "A first GAN on MNIST", "stem": "05_mnist_gan", "url": "u5"}]
    text = ("As chapter 3 shows (the WGAN chapter, the Wasserstein GAN chapter), the previous chapter "
            "and the 2D chapter; not the MNIST chapter (two match), the final chapter, chapter 9, "
            "`chapter 2` or $chapter 2$ or [chapter 2](x). The ring of chapter 2.")
    assert link_chapters(text, chapters, current=4) == (
        "As [chapter 3](u3) shows (the [WGAN chapter](u3), the [Wasserstein GAN chapter](u3)), the "
        "[previous chapter](u3) and the [2D chapter](u2); not the MNIST chapter (two match), the final "
        "chapter, chapter 9, `chapter 2` or $chapter 2$ or [chapter 2](x). The ring of [chapter 2](u2).")
    assert link_chapters("See chapters 2 and 3, Chapters 1, 2, and 5, chapters 4\u20135, chapters 3 and 9.",
                         chapters) == ("See chapters [2](u2) and [3](u3), Chapters [1](u1), [2](u2), and [5](u5), "
                                       "chapters [4](u4)\u2013[5](u5), chapters [3](u3) and 9.")


def test_a_solution_becomes_a_form_that_runs_only_when_ticked():
    code = folded_solution("x = 1\nprint(x)", "Solution to Exercise 1.2")
    assert code.splitlines()[:2] == ['# @title Solution to Exercise 1.2 { display-mode: "form" }',
                                     f'{RUN_SWITCH} = False  # @param {{type:"boolean"}}']
    ticked = io.StringIO()
    with contextlib.redirect_stdout(ticked):
        exec(code.replace(f"{RUN_SWITCH} = False", f"{RUN_SWITCH} = True"), {})
    assert ticked.getvalue() == "1\n"
    trains = folded_solution('if rt.run_solutions("trains 2 GANs"):\n    fit()\n', "Solution to Exercise 2.3")
    assert trains.startswith("# @title Solution to Exercise 2.3: trains 2 GANs {")
    assert "run_solutions" not in trains and trains.endswith(f"if {RUN_SWITCH}:\n    fit()")
    with pytest.raises(ValueError, match="changed it"):
        folded_solution('s = """a\nb"""', "Solution")  # indenting would change the string


def test_numbered_blocks_citations_and_references():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(
        "```{prf:theorem} Optimum\n:label: thm-x\n\nText by {footcite:t}`goodfellow2014gan`.\n```\n\n"
        "```{exercise}\n:label: ex-a\nDo it {footcite:p}`roth2017stabilizing`.\n```\n"
        "````{solution} ex-a\n:class: dropdown\n```python\nx = 1\n```\n````\n\n"
        "```{exercise}\nAgain.\n```\n\n## References\n\n```{footbibliography}\n```")])
    bib = read_bibliography(ROOT / "references.bib")
    text = colab_edition(nb, bib, "https://o.github.io/r/", chapter=3).cells[0].source
    assert '<a id="thm-x"></a>**Theorem 3.1 (Optimum).** Text by Goodfellow et al. (2014).' in text
    assert "**Exercise 3.1.** Do it (Roth et al., 2017)." in text and "**Exercise 3.2.** Again." in text
    assert "<details><summary>Solution to Exercise 3.1</summary>\n\n```python\nx = 1\n```\n\n</details>" in text
    assert "- Ian Goodfellow, " in text and "<https://arxiv.org/abs/1705.09367>" in text


def test_unknown_directives_and_citations_are_refused():
    bib = read_bibliography(ROOT / "references.bib")
    for source, words in (("```{glossary}\nx\n```", "no Colab form"), ("{footcite:t}`nobody2020`", "nobody2020")):
        with pytest.raises(ValueError, match=words):
            colab_edition(nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(source)]), bib, "u/")


def test_book_url_follows_the_repository():
    assert book_url("https://github.com/regan-course/regan-tutorial") == "https://regan-course.github.io/regan-tutorial/"
    with pytest.raises(ValueError):
        book_url("https://gitlab.com/a/b")


def test_each_figure_s_caption_follows_it_on_colab_numbered_as_on_the_web_page():
    """Colab shows no cell metadata: the caption MyST-NB renders under a figure becomes a Markdown
    line under its cell, "Fig. 3.2" as the web page numbers it (a folded solution's figure counts)."""
    def figure(caption, solution=False):
        cell = nbformat.v4.new_code_cell("plot()", outputs=[nbformat.v4.new_output(
            "display_data", data={"image/png": "iVBORw0KGgo=", "text/plain": "<Figure>"})])
        cell.metadata["mystnb"] = {"figure": {"caption": caption, "name": caption}, "image": {"alt": "a plot"}}
        if solution:
            cell.metadata["tags"] = ["solution", "hide-input"]
        return cell

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# T"), figure("first"),
                                         figure("in a solution", solution=True), figure("third")])
    bib = read_bibliography(ROOT / "references.bib")
    cells = colab_edition(nb, bib, "https://o.github.io/r/", chapter=3).cells
    lines = [c.source for c in cells if c.cell_type == "markdown" and "<small>" in c.source]
    assert lines == ["<small>**Fig. 3.1.** first</small>", "<small>**Fig. 3.3.** third</small>"]
    assert cells[cells.index(next(c for c in cells if "Fig. 3.1" in c.source)) - 1].source == "plot()"
    unnumbered = colab_edition(nb, bib, "https://o.github.io/r/").cells
    assert "<small>first</small>" in [c.source for c in unnumbered]
