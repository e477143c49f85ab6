"""The Colab editions: Markdown that Colab renders, code and outputs exactly as in the sources."""

import re
from pathlib import Path

import nbformat
import pytest

from regan_tutorial import book
from regan_tutorial.editions import book_url, colab_edition, read_bibliography

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = book.chapter_paths(ROOT)
MYST = re.compile(r"```\{|:::\{|\{(footcite|doc|ref|numref|prf:ref|cite|eq|term)[a-z:]*\}`")
SOLUTION = re.compile(r"^(`{3,}|:{3,})\{solution\}.*?\n(.*?)^\1", re.S | re.M)


@pytest.fixture(scope="module")
def editions(tmp_path_factory):
    out = tmp_path_factory.mktemp("colab")
    assert book.main(["colab", str(ROOT / "book"), str(out)]) == 0
    return {path: nbformat.read(out / path.name, as_version=4) for path in CHAPTERS}


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_colab_edition_has_no_myst_and_keeps_every_code_cell_and_output(path, editions):
    source, edition = nbformat.read(path, as_version=4), editions[path]
    markdown = "\n".join(c.source for c in edition.cells if c.cell_type == "markdown")
    assert not MYST.search(markdown), MYST.search(markdown)
    code = lambda nb: [(c.source, c.outputs) for c in nb.cells if c.cell_type == "code"]
    assert code(edition) == code(source)


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_every_solution_is_inside_details(path, editions):
    source = "\n".join(c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "markdown")
    edition = "\n".join(c.source for c in editions[path].cells if c.cell_type == "markdown")
    solutions = [body for _, body in SOLUTION.findall(source)]
    details = re.findall(r"<details><summary>Solution</summary>(.*?)</details>", edition, re.S)
    assert len(details) == len(solutions) > 0
    outside = re.sub(r"<details>.*?</details>", "", edition, flags=re.S)
    for body in solutions:
        first = next(line for line in body.splitlines() if len(line) > 30 and line[0] not in ":`")
        assert first[:60] not in outside  # no solution sentence is visible outside a collapsed block


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
    assert "<details><summary>Solution</summary>\n\n```python\nx = 1\n```\n\n</details>" in text
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
