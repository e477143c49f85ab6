"""Maintain the book's notebooks.

``python -m regan_tutorial.book execute book/`` runs every notebook in place
(profile ``book`` unless ``--profile`` says otherwise), keeps the outputs
(no widget state: a static page has no kernel, and the book's players need none), and stamps the profile, package version and wall time into
the notebook's metadata, so a test can check what produced the stored outputs.

``python -m regan_tutorial.book strip-solutions book/ handout/`` writes copies
for students: every ``{solution}`` block and every cell tagged ``solution``
removed.

``python -m regan_tutorial.book student book/ handout/`` writes the student edition
(stubs and checkers in place of solutions); ``autograder . autograder.zip`` the instructor's
autograder (otter-grader tests with hidden cases, the package); ``grade NOTEBOOK... [--json FILE]
[--csv FILE] [-j N] [--autograder ZIP] [--force]`` grades handed-in notebooks, each in a
process of its own (see :mod:`regan_tutorial.grading`).

``python -m regan_tutorial.book gate-solutions book/*.ipynb`` rewrites chapters in place so that
each solution's code cells and outputs fold inside its solution block (see :func:`gate_solutions`).

``python -m regan_tutorial.book player-icons book/*.ipynb`` redraws the icons of stored players
(made before :func:`regan_tutorial.plots.player` drew them itself) as inline SVG, in place.

``python -m regan_tutorial.book colab book/ colab/`` writes the Colab editions:
Markdown that Colab renders, code cells and outputs unchanged (see
:mod:`regan_tutorial.editions`).
"""

import argparse
import io
import os
import re
import sys
import tempfile
import time
from pathlib import Path

from . import __version__

# A solution block, whole (``{solution}``) or gated: a ``{solution-start}`` block, its prose after it,
# its code cells, and a ``{solution-end}`` cell tagged "solution" (see gate_solutions).
SOLUTION = re.compile(r"^(`{3,}|:{3,})\{solution\}.*?^\1[ \t]*$\n?", re.S | re.M)
# a gated solution's opening, with the prose after it up to its end (in the same cell) or the cell's end
GATED_SOLUTION = re.compile(r"^(`{3,}|:{3,})\{solution-start\}.*?^\1[ \t]*$"
                            r".*?(?:^(`{3,}|:{3,})\{solution-end\}[ \t]*\n\2[ \t]*$\n?|\Z)", re.S | re.M)
SOLUTION_BLOCK = re.compile(r"^(?P<fence>`{3,}|:{3,})\{solution\}(?P<rest>.*?^(?P=fence)[ \t]*$)", re.S | re.M)
SOLUTION_END = "```{solution-end}\n```"


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


def run_minutes(seconds):
    """The whole minutes a reader is told a chapter takes, from its stamp's ``seconds`` (at least 1):
    what the chapter's ``run-time`` cell and the landing page's chapter list say."""
    return max(1, round(seconds / 60))


def run_time_note(seconds, date):
    """What the chapter's ``run-time`` cell says, from its execution stamp."""
    minutes = run_minutes(seconds)
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
    if profile == "book":
        write_landing_time(Path(path), seconds)
    return seconds


def write_landing_time(path, seconds):
    """Rewrite the Run All time of chapter ``path``'s row in the landing page's chapter list
    (``intro.md`` beside it: ``| 2 | {doc}`02_toy_2d` | ... | 4 min |``), if it has one."""
    intro = path.parent / "intro.md"
    if not intro.exists():
        return
    text = intro.read_text()
    row = re.compile(rf"^(\|[^\n]*{{doc}}`{re.escape(path.stem)}`[^\n]*\| )\d+ min( \|)$", re.M)
    new = row.sub(lambda m: f"{m.group(1)}{run_minutes(seconds)} min{m.group(2)}", text)
    if new != text:  # only that row's time changes, and the command says so
        intro.write_text(new)
        print(f"{intro}: {path.stem}'s Run All time is now {run_minutes(seconds)} min")


def remove_solutions(text):
    """Markdown ``text`` without its solutions, whole or gated (prose and all)."""
    return SOLUTION.sub("", GATED_SOLUTION.sub("", text))


def strip_solutions(source, target):
    """Copy a notebook without its solutions."""
    import nbformat

    nb = nbformat.read(source, as_version=4)
    nb.cells = [c for c in nb.cells if "solution" not in c.metadata.get("tags", [])]
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            cell.source = remove_solutions(cell.source)
        elif cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    Path(target).parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, target)


def gate_solutions(nb):
    """The notebook ``nb`` with each solution's code cells inside its solution block.

    A chapter writes an exercise's solution as a ``{solution}`` block at the end of a Markdown cell,
    followed by code cells tagged ``solution`` (and ``hide-input``). Rendered, the block folds and
    the code cells stand below it, their outputs in view. sphinx-exercise's gated form folds them
    together: the block becomes ``{solution-start}`` (same label and options) followed by its prose
    (the gated directive drops content of its own), the code cells
    lose ``hide-input`` (the fold hides them), and a Markdown cell ``{solution-end}``, tagged
    ``solution`` so that the student edition drops it, closes the block after the last of them.
    Returns ``(new notebook, number of solutions gated)``; a notebook already gated comes back as
    it is. Raises ``ValueError`` for a solution code cell with no solution block just above it.
    """
    import copy

    import nbformat

    if any(c.cell_type == "markdown" and "{solution-start}" in c.source for c in nb.cells):
        return nb, 0  # gated already
    nb = copy.deepcopy(nb)
    cells, gated, i = [], 0, 0
    is_code = lambda c: c.cell_type == "code" and "solution" in c.metadata.get("tags", [])
    while i < len(nb.cells):
        cell = nb.cells[i]
        cells.append(cell)
        i += 1
        if not (i < len(nb.cells) and is_code(nb.cells[i])):
            continue
        where = f"cell {i} ({nb.cells[i].source.splitlines()[0][:60] if nb.cells[i].source else 'empty'})"
        if cell.cell_type == "code":
            raise ValueError(f"{where}: a solution code cell follows another code cell, not a "
                             "{solution} block; put it right after the block it belongs to")
        blocks = list(SOLUTION_BLOCK.finditer(cell.source)) if cell.cell_type == "markdown" else []
        if not blocks or cell.source[blocks[-1].end():].strip():
            raise ValueError(f"{where}: a solution code cell must follow a Markdown cell that ends "
                             "with its {solution} block")
        cell.source = cell.source[:blocks[-1].start()] + _solution_start(blocks[-1])
        while i < len(nb.cells) and is_code(nb.cells[i]):
            tags = nb.cells[i].metadata["tags"]
            nb.cells[i].metadata["tags"] = [t for t in tags if t != "hide-input"]
            cells.append(nb.cells[i])
            i += 1
        cells.append(nbformat.v4.new_markdown_cell(SOLUTION_END, metadata={"tags": ["solution"]}))
        cells[-1].id = f"solution-end-{gated + 1}"  # the same conversion twice gives the same file
        gated += 1
    nb.cells = cells
    return nb, gated


def solution_prose(text):
    """The prose of each solution in a Markdown cell's ``text``: the body of a ``{solution}`` block
    (options left out), or what follows a ``{solution-start}`` to a ``{solution-end}`` or the end."""
    found = []
    for m in re.finditer(r"^(?P<fence>`{3,}|:{3,})\{solution(?P<gated>-start)?\}[^\n]*\n(?P<body>.*?)^(?P=fence)[ \t]*$",
                         text, re.S | re.M):
        body = m["body"]
        if m["gated"]:
            body = text[m.end():].split("{solution-end}")[0]
        found.append("\n".join(line for line in body.split("\n") if not re.match(r"^:[a-z-]+:", line)).strip())
    return found


def _solution_start(block):
    """A ``{solution}`` block as ``{solution-start}`` (label and options) with its prose after it:
    the gated directive keeps none of its own content, only what lies between it and the end."""
    fence = block["fence"]
    head, *lines = block["rest"].removesuffix(fence).rstrip().split("\n")
    options = []
    while lines and re.match(r"^:[a-z-]+:", lines[0]):
        options.append(lines.pop(0))
    body = "\n".join(lines).strip("\n")
    return "\n".join(["```{solution-start}" + head, *options, "```", *([""] + [body] if body else [])]) + "\n"


def inline_player_icons(nb):
    """The notebook ``nb`` with the stored players' Font Awesome icons redrawn as inline SVG
    (:func:`regan_tutorial.plots.inline_icons`, what :func:`~regan_tutorial.plots.player` now
    stores): outputs made before that change then show their buttons on Colab and in Jupyter.
    Returns ``(new notebook, number of outputs changed)``."""
    import copy

    from .plots import inline_icons

    nb, changed = copy.deepcopy(nb), 0
    for cell in (c for c in nb.cells if c.cell_type == "code"):
        for out in cell.outputs:
            html = out.get("data", {}).get("text/html")
            if html is None:
                continue
            new = inline_icons(html if isinstance(html, str) else "".join(html))
            if new != (html if isinstance(html, str) else "".join(html)):
                out["data"]["text/html"], changed = new, changed + 1
    return nb, changed


def _rewrite(path, convert):
    import nbformat

    nb, changed = convert(nbformat.read(path, as_version=4))
    if changed:
        nbformat.write(nb, path)
    return changed


def write_gated(path):
    """Gate the solutions of the notebook at ``path`` in place (see :func:`gate_solutions`)."""
    import nbformat

    nb, gated = gate_solutions(nbformat.read(path, as_version=4))
    if gated:
        nbformat.write(nb, path)
    return gated


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


def colab_link(path, root="."):
    """The Colab link of the notebook ``path`` (relative to the book's root): the edition on the branch
    that ``repository.branch`` of ``_config.yml`` names, as the page's launch button opens it."""
    import yaml

    config = yaml.safe_load((Path(root) / "_config.yml").read_text())
    repo = config["repository"]
    org_repo = repo["url"].removeprefix("https://github.com/").rstrip("/")
    colab = config["launch_buttons"]["colab_url"].rstrip("/")
    return f"{colab}/github/{org_repo}/blob/{repo['branch']}/{Path(path).as_posix()}"


def head_commit(root="."):
    """The commit checked out at ``root`` (what an edition made now installs), or ``None`` outside git."""
    import subprocess

    done = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True)
    return done.stdout.strip() if done.returncode == 0 else None


def chapter_titles(root="."):
    """[(number, title, notebook path)] of the chapters, titles from each notebook's first heading;
    the number is the rendered book's (:func:`chapter_numbers`), None for a page of an unnumbered part."""
    import json

    numbers, found = chapter_numbers(root), []
    for path in chapter_paths(root):
        number = numbers.get(path.stem)
        cells = json.loads(path.read_text())["cells"]  # no validation: only the headings are read
        text = lambda c: c["source"] if isinstance(c["source"], str) else "".join(c["source"])
        heading = next((line[2:].strip() for c in cells if c["cell_type"] == "markdown"
                        for line in text(c).splitlines() if line.startswith("# ")), path.stem)
        found.append((number, heading, path))
    return found


def colab_context(root="."):
    """What every chapter's Colab edition needs to know of the book: its configuration, the
    bibliography, the web address and each chapter's number, title, page and Colab link."""
    import yaml

    from .editions import book_url, read_bibliography

    config = yaml.safe_load((Path(root) / "_config.yml").read_text())
    web = book_url(config["repository"]["url"])
    chapters = [{"number": n, "title": title, "stem": path.stem, "path": path,
                 "url": f"{web}{path.relative_to(root).with_suffix('.html').as_posix()}",
                 "colab": colab_link(path.relative_to(root), root)} for n, title, path in chapter_titles(root)]
    return {"config": config, "web": web, "chapters": chapters,
            "bibliography": read_bibliography(Path(root) / config["bibtex_bibfiles"][0])}


def write_colab(source, target, root=".", commit=None, context=None):
    """The Colab edition of the notebook ``source``, written to ``target``; its first cell installs
    the package at ``commit`` (default: the checked-out one). ``context``: :func:`colab_context`
    (made once for many editions)."""
    import nbformat

    from .editions import colab_edition, install_source

    context = context or colab_context(root)
    nb = nbformat.read(source, as_version=4)
    chapters = context["chapters"]
    here = next((c for c in chapters if c["stem"] == Path(source).stem), None)
    at = chapters.index(here) if here else len(chapters)
    following = chapters[at + 1] if at + 1 < len(chapters) else None
    install = None
    if nb.cells and nb.cells[0].cell_type == "code" and '"google.colab" in sys.modules' in nb.cells[0].source:
        commit = commit or head_commit(root)
        if not commit:
            raise UsageError(f"{root} is not a git checkout: name the commit the editions install with --commit")
        install = install_source(context["config"]["repository"]["url"], commit)
    edition = colab_edition(
        nb, context["bibliography"], context["web"], here["number"] if here else None, install=install,
        page=here["url"] if here else None, chapters=chapters,
        next_chapter=((f"Chapter {following['number']}. " if following["number"] else "") + following["title"],
                      following["colab"]) if following else None)
    Path(target).parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(edition, target)


def write_student(source, target):
    """The student edition of the notebook ``source``, written to ``target``."""
    import nbformat

    from .editions import student_edition

    Path(target).parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(student_edition(nbformat.read(source, as_version=4), Path(source).stem), target)


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
    colab.add_argument("--commit", help="the commit whose package the editions install (default: the checked-out one)")
    gate = sub.add_parser("gate-solutions", help="rewrite notebooks in place so that each solution's code "
                          "cells fold inside its solution block (sphinx-exercise's solution-start/-end)")
    gate.add_argument("paths", nargs="+")
    icons = sub.add_parser("player-icons", help="redraw the stored players' Font Awesome icons as inline SVG, "
                           "in place")
    icons.add_argument("paths", nargs="+")
    student = sub.add_parser("student", help="write the student edition: stubs and checkers for the solutions")
    student.add_argument("source")
    student.add_argument("target")
    student.add_argument("--force", action="store_true", help="write into a target folder that is not empty")
    grade = sub.add_parser("grade", help="run handed-in notebooks and report each exercise")
    grade.add_argument("paths", nargs="+")
    grade.add_argument("--json", help="also write the reports to this JSON file")
    grade.add_argument("--csv", help="also write the gradebook (a row per student, points per exercise) to this CSV file")
    grade.add_argument("--timeout", type=int, default=600,
                       help="seconds for a whole notebook to run before it is stopped (its checks have their own)")
    grade.add_argument("-j", "--jobs", type=int, default=1, help="notebooks graded at once, each in its own process")
    grade.add_argument("--autograder", help="the autograder zip (default: made from this repository's book)")
    grade.add_argument("--force", action="store_true", help="replace the --json or --csv file if it exists")
    auto = sub.add_parser("autograder", help="write the autograder: otter tests with hidden cases, and the package")
    auto.add_argument("source", help="the book's root folder (with _toc.yml)")
    auto.add_argument("target", help="the zip file to write")
    auto.add_argument("--force", action="store_true", help="replace the target if it exists")
    args = parser.parse_args(argv)
    if args.command == "grade":
        return _grade(parser, args)
    if args.command == "autograder":
        return _autograder(parser, args)
    try:
        if args.command in ("strip-solutions", "colab", "student"):
            check_target(args.source, args.target, args.force)
        found = notebooks(args.paths if args.command in ("execute", "gate-solutions", "player-icons") else [args.source])
    except UsageError as err:
        parser.error(str(err))
    if args.command == "gate-solutions":
        for path in found:
            try:
                gated = write_gated(path)
            except ValueError as err:
                parser.error(f"{path}: {err}")
            print(f"{path}: {gated} solution(s) gated" if gated else f"{path}: nothing to gate")
    elif args.command == "player-icons":
        for path in found:
            changed = _rewrite(path, inline_player_icons)
            print(f"{path}: {changed} player(s) redrawn" if changed else f"{path}: no player to redraw")
    elif args.command == "execute":
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
        context = colab_context() if args.command == "colab" else None
        for path, target in pairs:
            if args.command == "colab":
                try:
                    write_colab(path, target, commit=args.commit, context=context)
                except ValueError as err:  # a --commit that is not a full hash, a directive without a form
                    parser.error(f"{path}: {err}")
            else:
                {"strip-solutions": strip_solutions, "student": write_student}[args.command](path, target)
            print(f"wrote {target}")
    return 0


def _grade(parser, args):
    import json

    from .grading import build_autograder, grade_all, summary, write_csv

    try:
        found = notebooks(args.paths)
        for option, suffix in (("--json", ".json"), ("--csv", ".csv")):
            target = getattr(args, option[2:])
            if target:  # checked before hours of grading, not after
                check_writes([(path, target) for path in found])
                _check_report_path(Path(target), args.force, option, suffix)
        if args.autograder and not Path(args.autograder).is_file():
            raise UsageError(f"--autograder {args.autograder}: no such file; write one with "
                             "python -m regan_tutorial.book autograder . autograder.zip")
        if args.jobs < 1:
            raise UsageError(f"-j {args.jobs}: grade at least one notebook at a time")
    except UsageError as err:
        parser.error(str(err))
    autograder = Path(args.autograder).read_bytes() if args.autograder else \
        build_autograder(Path(__file__).resolve().parent.parent)
    # opened now, before any hand-in runs: a hand-in that later puts a folder or a link at either
    # path cannot stop the reports or redirect them onto a classmate's file
    with open(args.json or os.devnull, "w") as json_out, open(args.csv or os.devnull, "w", newline="") as csv_out:
        tic = time.perf_counter()
        reports, possible = grade_all(found, autograder, args.timeout, args.jobs,
                                      os.environ.get("REGAN_PROFILE", "smoke"),
                                      progress=lambda r: print(summary(r), flush=True))
        print(f"graded {len(reports)} notebook(s) in {time.perf_counter() - tic:.0f} s with -j {args.jobs}")
        for isolation in sorted({r.isolation for r in reports if r.isolation}):
            print(f"each notebook ran with isolation: {isolation} (book/instructors.md says what that protects)")
        gradebook = io.StringIO()
        write_csv(reports, possible, gradebook)
        _keep_report(json_out, args.json, json.dumps([r.as_dict() for r in reports], indent=1))
        _keep_report(csv_out, args.csv, gradebook.getvalue())
    return 0


def _keep_report(out, path, text):
    """Write ``text`` to ``out``, the report file opened before grading; where a hand-in has since
    removed it or put something else at ``path``, write it to a new file beside it and say so."""
    out.write(text)
    out.flush()
    if not path:
        return
    try:
        same = os.path.samestat(os.fstat(out.fileno()), os.lstat(path))
    except OSError:
        same = False
    if not same:
        path = Path(path)
        with tempfile.NamedTemporaryFile("w", dir=path.parent, prefix=f"{path.stem}-", suffix=path.suffix,
                                         delete=False) as spare:
            spare.write(text)
        print(f"{path} was replaced while grading (by a hand-in?): the report is in {spare.name}")


def _autograder(parser, args):
    target = Path(args.target)
    if target.exists() and not args.force:
        parser.error(f"{target} exists: name a new file, or pass --force to replace it")
    if not (Path(args.source) / "_toc.yml").is_file():
        parser.error(f"{args.source} has no _toc.yml: name the book's root folder")
    from .grading import build_autograder

    target.write_bytes(build_autograder(args.source))
    print(f"wrote {target}")
    return 0


def _check_report_path(path, force=False, option="--json", suffix=".json"):
    """The report file can be written: not a notebook, not an existing file (unless ``force``),
    its folder exists (or is made) and is writable."""
    if path.is_dir():
        raise UsageError(f"{option} {path} is a folder: name a file in it, e.g. {path / ('report' + suffix)}")
    if path.suffix == ".ipynb":  # `grade --json handin/*.ipynb` gives the first hand-in to --json
        raise UsageError(f"{option} {path} is a notebook: the report would replace it; name a {suffix} file, "
                         f"e.g. {option} {path.with_suffix(suffix)}, and put {option} after the notebooks")
    if path.exists() and not force:
        raise UsageError(f"{option} {path} exists: name a new file, or pass --force to replace it")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent):
            pass
        if path.exists() and not os.access(path, os.W_OK):
            raise PermissionError(13, "Permission denied")
    except OSError as err:
        raise UsageError(f"{option} {path}: cannot write there ({err.strerror}); name a file in a writable folder") from None


if __name__ == "__main__":
    sys.exit(main())
