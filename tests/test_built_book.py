"""The built book (``_build/html``, made by ``jupyter-book build .``): its launch links and numbering.

Skipped when the book has not been built; ``.ci/run`` builds it and then runs this file.
"""

import re
from pathlib import Path

import pytest
import yaml

from regan_tutorial import book

ROOT = Path(__file__).resolve().parent.parent
HTML = ROOT / "_build" / "html"
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


NUMBER = re.compile(r"\b(Exercise|Theorem|Proposition|Algorithm|Lemma|Definition) (\d+\.\d+)")


def test_the_colab_editions_number_blocks_as_the_rendered_book_does(tmp_path):
    """"Exercise 7.2" on Colab is Exercise 7.2 on the web page: the same blocks in the same order."""
    import nbformat

    assert book.main(["colab", str(ROOT / "book"), str(tmp_path)]) == 0
    for path in book.chapter_paths(ROOT):
        page = re.sub(r"<[^>]+>", "", (HTML / "book" / f"{path.stem}.html").read_text())
        colab = "\n".join(c.source for c in nbformat.read(tmp_path / path.name, as_version=4).cells
                          if c.cell_type == "markdown")
        in_order = lambda text: list(dict.fromkeys(m.group(0) for m in NUMBER.finditer(text)))
        assert in_order(page) and in_order(page) == in_order(colab), path.stem
