"""Maintain the book's notebooks.

``python -m regan_tutorial.book execute book/`` runs every notebook in place
(profile ``book`` unless ``--profile`` says otherwise), keeps the outputs
(no widget state: a static page has no kernel, and the book's players need none), and stamps the profile, package version and wall time into
the notebook's metadata, so a test can check what produced the stored outputs.

``python -m regan_tutorial.book strip-solutions book/ handout/`` writes copies
for students: every ``{solution}`` block and every cell tagged ``solution``
removed.

``python -m regan_tutorial.book student book/ handout/`` writes the student edition
(stubs and checkers in place of solutions); ``grade NOTEBOOK... [--json FILE [--force]]``
grades handed-in notebooks (see :mod:`regan_tutorial.grading`).

``python -m regan_tutorial.book colab book/ colab/`` writes the Colab editions:
Markdown that Colab renders, code cells and outputs unchanged (see
:mod:`regan_tutorial.editions`).
"""

import argparse
import os
import re
import sys
import tempfile
import time
from pathlib import Path

from . import __version__

SOLUTION = re.compile(r"^(`{3,}|:{3,})\{solution\}.*?^\1[ \t]*$\n?", re.S | re.M)


class UsageError(ValueError):
    """A command line that names something it cannot work on; the message says what."""


def notebooks(paths):
    """The .ipynb files named, or found below the folders named, in a stable order."""
    found = []
    for path in map(Path, paths):
        if not path.exists():
            raise UsageError(f"{path}: no such file or folder")
        if path.is_file() and path.suffix != ".ipynb":
            raise UsageError(f"{path}: not a notebook (.ipynb)")
        found += sorted(path.rglob("*.ipynb")) if path.is_dir() else [path]
    found = [p for p in found if ".ipynb_checkpoints" not in p.parts]
    if not found:
        raise UsageError(f"no notebooks in {', '.join(map(str, paths))}")
    return found


def check_target(source, target, force=False):
    """Refuse to write copies over their sources: a target that is the source, lies inside it,
    or is a folder with files in it (unless ``force``)."""
    source, target = Path(source).resolve(), Path(target).resolve()
    if target == source or (source.is_dir() and source in target.parents):
        raise UsageError(f"the target {target} is the source or lies inside it: the copies would overwrite "
                         "or mix with the originals; name a folder outside it")
    if target.exists() and not target.is_dir():
        raise UsageError(f"the target {target} is a file, not a folder: the command writes its copies into a "
                         "folder; name a new or empty one")
    if target.is_dir() and any(target.iterdir()) and not force:
        raise UsageError(f"the target {target} is not empty; name an empty or new folder, or pass --force")


def check_writes(pairs):
    """Refuse any write, of the (source, target) pairs, whose target file resolves to a source,
    whatever ``--force`` says: ``--force`` writes into a folder with files in it, it never
    replaces what the command reads."""
    read = {Path(source).resolve(): Path(source) for source, _ in pairs}
    inodes = {(st.st_dev, st.st_ino): Path(source) for source, _ in pairs for st in [os.stat(source)]}
    for _, target in pairs:
        found = read.get(Path(target).resolve())
        if found is None and Path(target).exists():  # a hard link is the same file under another name
            st = os.stat(target)
            found = inodes.get((st.st_dev, st.st_ino))
        if found is not None:
            raise UsageError(f"the target {target} is the source {found}: writing it would "
                             "replace the original; name another folder (or file)")


TRAINS = "trains"  # the tag of a solution cell that trains GANs: guarded by rt.run_solutions
RUN_TIME = "run-time"  # the tag of the Markdown cell near the top that says how long the chapter takes


def _cell_seconds(cell):
    from datetime import datetime

    timing = cell.metadata.get("execution", {})
    start, end = timing.get("iopub.execute_input"), timing.get("shell.execute_reply")
    if not (start and end):
        return 0.0
    parse = lambda s: datetime.fromisoformat(s.replace("Z", "+00:00"))
    return (parse(end) - parse(start)).total_seconds()


def run_time_note(seconds, date):
    """What the chapter's ``run-time`` cell says, from its execution stamp."""
    minutes = max(1, round(seconds / 60))
    return (f"*Running this chapter top to bottom takes about {minutes} minute{'s' * (minutes > 1)} on a "
            f"2-core CPU (`book` profile, measured {date}). Exercise solutions that train GANs do not run "
            "under Run All: the book shows their results, and `REGAN_SOLUTIONS=1` runs them.*")


def execute(path, profile="book", timeout=3600, solutions=False):
    """Execute one notebook in place under ``REGAN_PROFILE=profile``; returns its wall time.

    Solution cells tagged ``trains`` are skipped, keeping their stored outputs, unless
    ``solutions``; the stamp's ``seconds`` is the run without them (what Run All costs),
    and the chapter's ``run-time`` cell is rewritten from it.
    """
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    os.environ["REGAN_PROFILE"] = profile
    os.environ["REGAN_SOLUTIONS"] = "1" if solutions else "0"
    os.environ["TQDM_DISABLE"] = "1"  # a static page cannot draw a live bar; train() prints a summary line
    tic = time.perf_counter()
    NotebookClient(nb, timeout=timeout, kernel_name="python3", store_widget_state=False,
                   skip_cells_with_tag="__none__" if solutions else TRAINS,
                   resources={"metadata": {"path": str(Path(path).parent)}}).execute()
    seconds = time.perf_counter() - tic
    date = time.strftime("%Y-%m-%d")
    trains = [c for c in nb.cells if TRAINS in c.metadata.get("tags", [])]
    if solutions:
        for cell in trains:
            cell.metadata.setdefault("regan", {})["executed"] = {"date": date, "seconds": round(_cell_seconds(cell), 1)}
    seconds -= sum(_cell_seconds(c) for c in trains) if solutions else 0.0
    if trains and not solutions:  # their outputs may quote this run's numbers: they are now older than it
        print(f"  kept the stored outputs of {len(trains)} solution cell(s) that train; run with --solutions "
              "to refresh them (a test asks that they ran with the rest of the chapter)", flush=True)
    nb.metadata.pop("widgets", None)
    nb.metadata["regan_tutorial"] = {
        "profile": profile,
        "version": __version__,
        "seconds": round(seconds, 1),
        "executed": date,
    }
    for cell in nb.cells:
        if cell.cell_type == "markdown" and RUN_TIME in cell.metadata.get("tags", []) and profile == "book":
            cell.source = run_time_note(seconds, date)
    nbformat.write(nb, path)
    return seconds


def strip_solutions(source, target):
    """Copy a notebook without its solutions."""
    import nbformat

    nb = nbformat.read(source, as_version=4)
    nb.cells = [c for c in nb.cells if "solution" not in c.metadata.get("tags", [])]
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            cell.source = SOLUTION.sub("", cell.source)
        elif cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    Path(target).parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, target)


def toc_files(root="."):
    """Every page of ``_toc.yml`` (root, parts, chapters, sections) in reading order, as written there."""
    import yaml

    toc = yaml.safe_load((Path(root) / "_toc.yml").read_text())

    def walk(entries):
        for entry in entries:
            if "file" in entry:
                yield entry["file"]
            for key in ("chapters", "sections"):
                yield from walk(entry.get(key, []))

    return [toc["root"], *walk(toc.get("parts", [])), *walk(toc.get("chapters", []))]


def chapter_paths(root="."):
    """The chapters: the notebooks of ``_toc.yml``, in order."""
    return [Path(root) / f"{f}.ipynb" for f in toc_files(root) if (Path(root) / f"{f}.ipynb").exists()]


def chapter_numbers(root="."):
    """{notebook stem: chapter number} in the order of ``_toc.yml``, for the notebooks of its
    ``numbered`` parts (all of them if no part is numbered); a page of another part, such as
    the practice page, has no number, as in the rendered book."""
    import yaml

    parts = yaml.safe_load((Path(root) / "_toc.yml").read_text()).get("parts", [])
    numbered = [part for part in parts if part.get("numbered")]
    if not numbered:
        return {path.stem: i for i, path in enumerate(chapter_paths(root), 1)}
    files = [entry["file"] for part in numbered for entry in part.get("chapters", []) if "file" in entry]
    stems = [Path(f).name for f in files if (Path(root) / f"{f}.ipynb").exists()]
    return {stem: i for i, stem in enumerate(stems, 1)}


def write_colab(source, target, root="."):
    """The Colab edition of the notebook ``source``, written to ``target``."""
    import nbformat
    import yaml

    from .editions import book_url, colab_edition, read_bibliography

    config = yaml.safe_load((Path(root) / "_config.yml").read_text())
    bibliography = read_bibliography(Path(root) / config["bibtex_bibfiles"][0])
    nb = nbformat.read(source, as_version=4)
    chapter = chapter_numbers(root).get(Path(source).stem)
    edition = colab_edition(nb, bibliography, book_url(config["repository"]["url"]), chapter)
    Path(target).parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(edition, target)


def write_student(source, target):
    """The student edition of the notebook ``source``, written to ``target``."""
    import nbformat

    from .editions import student_edition

    Path(target).parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(student_edition(nbformat.read(source, as_version=4)), target)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m regan_tutorial.book", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("execute", help="execute notebooks in place and store their outputs")
    run.add_argument("paths", nargs="+")
    run.add_argument("--profile", default="book", choices=("smoke", "book", "full"))
    run.add_argument("--solutions", action="store_true",
                     help="also run the solution cells that train (tagged 'trains'); by default they keep their outputs")
    strip = sub.add_parser("strip-solutions", help="write copies of the notebooks without solutions")
    strip.add_argument("source")
    strip.add_argument("target")
    strip.add_argument("--force", action="store_true", help="write into a target folder that is not empty")
    colab = sub.add_parser("colab", help="write the Colab editions (Markdown that Colab renders)")
    colab.add_argument("source")
    colab.add_argument("target")
    colab.add_argument("--force", action="store_true", help="write into a target folder that is not empty")
    student = sub.add_parser("student", help="write the student edition: stubs and checkers for the solutions")
    student.add_argument("source")
    student.add_argument("target")
    student.add_argument("--force", action="store_true", help="write into a target folder that is not empty")
    grade = sub.add_parser("grade", help="run handed-in notebooks and report each exercise")
    grade.add_argument("paths", nargs="+")
    grade.add_argument("--json", help="also write the reports to this JSON file")
    grade.add_argument("--timeout", type=int, default=600, help="seconds per cell before a notebook is stopped")
    grade.add_argument("--force", action="store_true", help="replace the --json file if it exists")
    args = parser.parse_args(argv)
    if args.command == "grade":
        return _grade(parser, args)
    try:
        if args.command in ("strip-solutions", "colab", "student"):
            check_target(args.source, args.target, args.force)
        found = notebooks(args.paths if args.command == "execute" else [args.source])
    except UsageError as err:
        parser.error(str(err))
    if args.command == "execute":
        for path in found:
            print(f"executing {path} (profile {args.profile}) ...", flush=True)
            print(f"  done in {execute(path, args.profile, solutions=args.solutions):.0f} s", flush=True)
    else:
        source = Path(args.source)
        pairs = [(path, Path(args.target) / (path.relative_to(source) if source.is_dir() else path.name))
                 for path in found]
        try:
            check_writes(pairs)
        except UsageError as err:
            parser.error(str(err))
        for path, target in pairs:
            write = {"strip-solutions": strip_solutions, "colab": write_colab, "student": write_student}[args.command]
            write(path, target)
            print(f"wrote {target}")
    return 0


def _grade(parser, args):
    import json

    from .grading import grade, summary

    try:
        found = notebooks(args.paths)
        if args.json:  # checked before hours of grading, not after
            check_writes([(path, args.json) for path in found])
            _check_report_path(Path(args.json), args.force)
    except UsageError as err:
        parser.error(str(err))
    reports = []
    for path in found:
        reports.append(grade(path, args.timeout))
        print(summary(reports[-1]), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps([r.as_dict() for r in reports], indent=1))
    return 0


def _check_report_path(path, force=False):
    """The report file can be written: not a notebook, not an existing file (unless ``force``),
    its folder exists (or is made) and is writable."""
    if path.is_dir():
        raise UsageError(f"--json {path} is a folder: name a file in it, e.g. {path / 'report.json'}")
    if path.suffix == ".ipynb":  # `grade --json handin/*.ipynb` gives the first hand-in to --json
        raise UsageError(f"--json {path} is a notebook: the report would replace it; name a .json file, "
                         f"e.g. --json {path.with_suffix('.json')}, and put --json after the notebooks")
    if path.exists() and not force:
        raise UsageError(f"--json {path} exists: name a new file, or pass --force to replace it")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent):
            pass
        if path.exists() and not os.access(path, os.W_OK):
            raise PermissionError(13, "Permission denied")
    except OSError as err:
        raise UsageError(f"--json {path}: cannot write there ({err.strerror}); name a file in a writable folder") from None


if __name__ == "__main__":
    sys.exit(main())
