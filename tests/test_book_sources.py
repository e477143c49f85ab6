"""The book shows the package's own source: every ``rt.show_source(X)`` output stored in a chapter
must be the current source of X, so that a change to the package without re-running the chapter fails."""

import importlib
import inspect
import re

import nbformat
import pytest

from test_book import CHAPTERS

MODULES = {m: importlib.import_module(f"regan_tutorial.{m}")
           for m in ("losses", "nets", "train", "metrics", "theory", "plots", "exercises", "data")}
# the names a chapter uses: the modules (``losses.js_regularizer``), and functions and classes imported
# from them (``train``, ``MLPGenerator``), which take precedence, as ``from regan_tutorial.train import train`` does
NAMES = dict(MODULES)
for module in MODULES.values():
    NAMES.update({k: v for k, v in vars(module).items() if str(getattr(v, "__module__", "")).startswith("regan_tutorial")})
SHOWN = re.compile(r"show_source\(([A-Za-z_][\w.]*)\)")


def resolve(name):
    """``losses.js_regularizer``, ``nets.JSRegularized.forward`` or a bare name such as ``train``."""
    head, *rest = name.split(".")
    obj = NAMES.get(head)
    for part in rest:
        obj = getattr(obj, part, None)
    return obj if callable(obj) else None


def shown_sources():
    for path in CHAPTERS:
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type != "code":
                continue
            printed = "".join(o.get("text", "") + o.get("data", {}).get("text/plain", "") for o in cell.outputs)
            for name in SHOWN.findall(cell.source):
                obj = resolve(name)
                if obj is not None:  # e.g. ``fn``, a loop variable over several functions
                    yield pytest.param(printed, obj, id=f"{path.stem}:{name}")


@pytest.mark.parametrize("printed,obj", list(shown_sources()))
def test_stored_source_listing_is_the_current_source(printed, obj):
    assert inspect.getsource(obj).rstrip() in printed, "the package changed: re-run this chapter's book execution"
