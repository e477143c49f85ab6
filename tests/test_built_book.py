"""The built book (``_build/html``, made by ``jupyter-book build .``): its launch links.

Skipped when the book has not been built; ``.ci/run`` builds it and then runs this file.
"""

from pathlib import Path

import pytest
import yaml

from regan_tutorial import book

ROOT = Path(__file__).resolve().parent.parent
HTML = ROOT / "_build" / "html"
pytestmark = pytest.mark.skipif(not (HTML / "index.html").exists(), reason="the book is not built (_build/html)")


@pytest.mark.parametrize("path", book.chapter_paths(ROOT), ids=lambda p: p.stem)
def test_each_chapter_page_opens_its_colab_edition(path):
    import re

    config = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]
    org_repo = config["url"].removeprefix("https://github.com/")
    expected = f"https://colab.research.google.com/github/{org_repo}/blob/{config['branch']}/book/{path.name}"
    page = (HTML / "book" / f"{path.stem}.html").read_text()
    links = set(re.findall(r'href="(https://colab\.research\.google\.com/[^"]+)"', page))
    assert links == {expected}
    assert config["branch"] == "colab"  # the branch the Pages workflow publishes the editions to
