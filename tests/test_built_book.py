"""The built book (``_build/html``, made by ``jupyter-book build .``): its launch links, numbering,
folded solutions, players and style sheet.

Skipped when the book has not been built; ``.ci/run`` builds it and then runs this file.
``REGAN_BUILT_BOOK=DIR`` checks the book built into ``DIR`` instead (``jupyter-book build .
--path-output X`` writes ``X/_build/html``), e.g. one built from another commit.
"""

import os
import re
from pathlib import Path

import pytest
import yaml

from regan_tutorial import book

ROOT = Path(__file__).resolve().parent.parent
HTML = Path(os.environ.get("REGAN_BUILT_BOOK") or ROOT / "_build" / "html")
pytestmark = pytest.mark.skipif(not (HTML / "index.html").exists(), reason="the book is not built (_build/html)")


@pytest.mark.parametrize("path", book.chapter_paths(ROOT), ids=lambda p: p.stem)
def test_each_chapter_page_opens_its_colab_edition(path):
    config = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]
    org_repo = config["url"].removeprefix("https://github.com/")
    expected = f"https://colab.research.google.com/github/{org_repo}/blob/{config['branch']}/book/{path.name}"
    page = (HTML / "book" / f"{path.stem}.html").read_text()
    links = set(re.findall(r'href="(https://colab\.research\.google\.com/[^"]+)"', page))
    assert links == {expected}
    assert config["branch"] == "colab"  # the branch the Pages workflow publishes the editions to


def test_every_page_stays_under_two_megabytes():
    """Players carry their frames inline (PNGs in base64); other figures are separate files."""
    sizes = {p.name: p.stat().st_size for p in (HTML / "book").glob("*.html")}
    assert len(sizes) == len(book.toc_files(ROOT))
    assert all(size < 2_000_000 for size in sizes.values()), sizes


NUMBER = re.compile(r"\b(Exercise|Theorem|Proposition|Algorithm|Lemma|Definition|Fig\.) (\d+\.\d+)")
# a page of an unnumbered part (the practice page) numbers its blocks "Exercise 2", without a chapter
PLAIN = re.compile(r"\b(Exercise|Theorem|Proposition|Algorithm|Lemma|Definition) (\d+)\b(?!\.\d)")


def test_the_colab_editions_number_blocks_as_the_rendered_book_does(tmp_path):
    """"Exercise 7.2" on Colab is Exercise 7.2 on the web page: the same blocks in the same order."""
    import nbformat

    assert book.main(["colab", str(ROOT / "book"), str(tmp_path)]) == 0
    numbered = book.chapter_numbers(ROOT)
    for path in book.chapter_paths(ROOT):
        page = re.sub(r"<[^>]+>", "", (HTML / "book" / f"{path.stem}.html").read_text())
        colab = "\n".join(c.source for c in nbformat.read(tmp_path / path.name, as_version=4).cells
                          if c.cell_type == "markdown")
        pattern = NUMBER if path.stem in numbered else PLAIN
        in_order = lambda text: list(dict.fromkeys(m.group(0) for m in pattern.finditer(text)))
        assert in_order(page) and in_order(page) == in_order(colab), path.stem


def soup_of(path):
    bs4 = pytest.importorskip("bs4")
    return bs4.BeautifulSoup((HTML / "book" / f"{path.stem}.html").read_text(), "html.parser")


def first_line(cell):
    text = "".join(o.get("text", "") or o.get("data", {}).get("text/plain", "") for o in cell.outputs)
    return next((line.strip() for line in text.splitlines() if len(line.strip()) > 20), None)


@pytest.mark.parametrize("path", book.chapter_paths(ROOT), ids=lambda p: p.stem)
def test_no_solution_code_or_output_stands_outside_its_folded_block(path):
    """Every solution code cell, code and output, lies inside a folded solution block (the gated
    form: python -m regan_tutorial.book gate-solutions), so nothing of it shows before a click."""
    import nbformat

    soup = soup_of(path)
    cells = soup.select("div.cell.tag_solution")
    solution_cells = [c for c in nbformat.read(path, as_version=4).cells
                      if c.cell_type == "code" and "solution" in c.metadata.get("tags", [])]
    assert len(cells) == len(solution_cells) > 0
    outside = [c for c in cells if not c.find_parent("div", class_="dropdown")
               or "solution" not in c.find_parent("div", class_="dropdown")["class"]]
    assert not outside, f"{len(outside)} of {len(cells)} solution cells stand outside a folded solution"
    assert not soup.select("div.solution div.tag_hide-input"), "a second fold inside the solution's"
    for block in soup.select("div.solution"):
        block.decompose()
    shown = soup.get_text()
    for cell in solution_cells:
        line = first_line(cell)
        assert line is None or line not in shown, f"solution output shown without a click: {line}"


def test_every_page_links_the_reading_style_sheet_once():
    """_css/pages.css (inline math, printed lines, solution bars): linked once from each page."""
    for page in (HTML / "book").glob("*.html"):  # index.html only redirects
        assert len(re.findall(r'href="[^"]*_static/pages\.css', page.read_text())) == 1, page.name


def test_players_draw_their_own_icons():
    """No Font Awesome 4 stylesheet from a CDN and no <i class="fa ..."> in a player: the icons are inline SVG."""
    pages = [p for p in (HTML / "book").glob("*.html") if "anim-buttons" in p.read_text()]
    assert pages
    for page in pages:
        text = page.read_text()
        buttons = re.findall(r'<div class="anim-buttons">(.*?)</div>', text, re.S)
        assert buttons and all(b.count("<svg") == 9 and 'class="fa' not in b for b in buttons), page.name
        assert "font-awesome/4" not in text, page.name
