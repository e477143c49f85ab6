"""The book shows the package's own source: every ``inspect.getsource(X)`` output stored in a chapter
must be the current source of X, so that a change to the package without re-running the chapter fails."""

import importlib
import inspect
import re

import nbformat
import pytest

from test_book import CHAPTERS

MODULES = ["losses", "nets", "train", "metrics", "theory", "plots", "exercises", "data"]
SHOWN = re.compile(r"inspect\.getsource\(([A-Za-z_][\w.]*)\)")


def resolve(name):
    """``losses.js_regularizer``, ``nets.JSRegularized.forward`` or a bare name such as ``train``."""
    head, *rest = name.split(".")
    candidates = [importlib.import_module(f"regan_tutorial.{head}")] if head in MODULES else []
    candidates += [importlib.import_module(f"regan_tutorial.{m}") for m in MODULES]
    for obj in candidates:
        path = rest if head in MODULES and obj.__name__.endswith(head) else [head, *rest]
        try:
            for part in path:
                obj = getattr(obj, part)
        except AttributeError:
            continue
        if callable(obj):
            return obj
    return None


def shown_sources():
    for path in CHAPTERS:
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type != "code":
                continue
            printed = "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")
            for name in SHOWN.findall(cell.source):
                obj = resolve(name)
                if obj is not None:  # e.g. ``fn``, a loop variable over several functions
                    yield pytest.param(printed, obj, id=f"{path.stem}:{name}")


@pytest.mark.parametrize("printed,obj", list(shown_sources()))
def test_stored_source_listing_is_the_current_source(printed, obj):
    assert inspect.getsource(obj) in printed, "the package changed: re-run this chapter's book execution"
