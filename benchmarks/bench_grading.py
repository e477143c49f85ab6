"""How long grading takes: a class of handed-in chapters, graded serially and two at a time.

The class is each chapter's student edition filled with the book's own solutions (what a class
that did every code exercise hands in), graded by the README's ``grade`` command in the profile
the grader uses (``smoke``). Prints each notebook's seconds and the wall time per setting of
``-j``. Run: ``python benchmarks/bench_grading.py [-j 1 2] [--chapters 03_mnist_gan ...]``.
"""

import argparse
import json
import tempfile
import time
from pathlib import Path

import nbformat

from regan_tutorial import book

ROOT = Path(__file__).resolve().parent.parent


def handins(folder, chapters):
    """The student edition of ``chapters`` with the book's solutions in its stubs, one file each."""
    assert book.main(["student", str(ROOT / "book"), str(folder / "handout")]) == 0
    paths = []
    for path in book.chapter_paths(ROOT):
        solutions = {c.metadata["regan"]["exercise"]: c.source for c in nbformat.read(path, as_version=4).cells
                     if "stub" in c.metadata.get("regan", {})}
        if not solutions or (chapters and path.stem not in chapters):
            continue
        nb = nbformat.read(folder / "handout" / path.name, as_version=4)
        for cell in nb.cells:
            regan = cell.metadata.get("regan", {})
            if regan.get("role") == "stub":
                cell.source = solutions[regan["exercise"]]
        paths.append(folder / f"student__{path.stem}.ipynb")
        nbformat.write(nb, paths[-1])
    return paths


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-j", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--chapters", nargs="*", default=[])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        paths = handins(Path(tmp), set(args.chapters))
        for jobs in args.j:
            out = Path(tmp) / f"report-{jobs}.json"
            tic = time.perf_counter()
            assert book.main(["grade", *map(str, paths), "--json", str(out), "-j", str(jobs)]) == 0
            wall = time.perf_counter() - tic
            reports = json.loads(out.read_text())
            for r in reports:
                states = sorted({e["status"] for e in r["exercises"].values()})
                print(f"  -j {jobs} {Path(r['notebook']).stem:32s} {r['seconds']:6.1f} s  {', '.join(states)}")
            print(f"-j {jobs}: {len(paths)} notebooks in {wall:.0f} s, {wall / len(paths):.1f} s per notebook")


if __name__ == "__main__":
    main()
