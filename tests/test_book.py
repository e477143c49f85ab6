"""The book's structure: what the rendered book and Colab readers will see."""

import re
from pathlib import Path

import nbformat
import pytest
import yaml

from regan_tutorial import book
from regan_tutorial.book import strip_solutions
from regan_tutorial.editions import student_edition

ROOT = Path(__file__).resolve().parents[1]
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())
TOC = yaml.safe_load((ROOT / "_toc.yml").read_text())


def toc_files():
    return book.toc_files(ROOT)


CHAPTERS = book.chapter_paths(ROOT)


def test_toc_lists_every_page_and_every_page_exists():
    listed = {(ROOT / f).with_suffix("") for f in toc_files()}
    on_disk = {p.with_suffix("") for p in (ROOT / "book").glob("*") if p.suffix in (".ipynb", ".md")}
    assert listed == on_disk
    assert len(CHAPTERS) >= 1


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_chapter_has_stored_outputs_of_a_book_run(path):
    nb = nbformat.read(path, as_version=4)
    stamp = nb.metadata.get("regan_tutorial", {})
    assert stamp.get("profile") == "book", "run: python -m regan_tutorial.book execute " + str(path.relative_to(ROOT))
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.execution_count for c in code), "every code cell was executed"
    assert not [o for c in code for o in c.outputs if o.output_type == "error"]
    assert sum(bool(c.outputs) for c in code) >= len(code) // 2
    assert {"kernelspec", "language_info"} <= set(nb.metadata), "-W builds need a lexer"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_code_cells_fit_the_books_column(path):
    """80 columns: the width the web book's column shows without scrolling (the browser test checks it)."""
    nb = nbformat.read(path, as_version=4)
    wide = [line for c in nb.cells if c.cell_type == "code" for line in c.source.splitlines() if len(line) > 80]
    assert not wide, wide


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_every_figure_has_a_caption_a_name_and_alt_text(path):
    """MyST-NB makes a numbered figure with caption and alt text from the cell's metadata
    ``mystnb: {figure: {caption, name}, image: {alt}}`` (the browser test checks the built page)."""
    names = []
    for cell in nbformat.read(path, as_version=4).cells:
        if cell.cell_type == "code" and any(k.startswith("image/") for o in cell.outputs for k in o.get("data", {})):
            options = cell.metadata.get("mystnb", {})
            figure, alt = options.get("figure", {}), options.get("image", {}).get("alt", "")
            assert figure.get("caption") and figure.get("name"), cell.source[:80]
            assert alt and not re.search(r"[\\/]|\.(png|jpe?g|svg)$", alt), (cell.source[:80], alt)
            names.append(figure["name"])
    assert len(names) == len(set(names)), names


BAR = re.compile(r"(\d+)%\|[^|\n]*\| *([\d.]+)/([\d.]+)")  # a tqdm text bar: "NN%|####| n/total"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_no_stored_progress_bar_misleads_a_reader_of_the_static_page(path):
    """A widget bar cannot render without a kernel, and a bar that stopped early or whose total
    exceeds the run reads as a failure: the book stores only complete text bars and summary lines."""
    nb = nbformat.read(path, as_version=4)
    assert "widgets" not in nb.metadata, "stored widget state: re-run with python -m regan_tutorial.book execute"
    for cell in (c for c in nb.cells if c.cell_type == "code"):
        for out in cell.outputs:
            assert "application/vnd.jupyter.widget-view+json" not in out.get("data", {}), cell.source[:80]
            bars = BAR.findall(out.get("text", ""))
            if bars:
                percent, n, total = bars[-1]
                assert percent == "100" and float(n) == float(total), (cell.source[:80], bars[-1])


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_no_cell_shows_the_repr_of_a_plotting_call(path):
    """A cell that ends in ``ax.legend()`` stores "<matplotlib.legend.Legend at 0x...>": noise on the
    page, and beside a named figure a second target of that name (a warning, so the build fails)."""
    for cell in (c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"):
        for out in cell.outputs:
            if out.output_type == "execute_result" and "image/png" not in out.get("data", {}):
                text = out.get("data", {}).get("text/plain", "")
                assert not re.match(r"<matplotlib\.|\[<matplotlib\.|Text\(", text), (cell.source[-80:], text)


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_first_cell_installs_the_package_on_colab_from_the_configured_repository(path):
    first = nbformat.read(path, as_version=4).cells[0]
    assert first.cell_type == "code" and "remove-cell" in first.metadata.get("tags", [])
    assert '"google.colab" in sys.modules' in first.source
    urls = re.findall(r"https://github\.com/[^\"'\s]+", first.source)
    assert urls == [CONFIG["repository"]["url"]]


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_chapter_has_objectives_exercises_and_summary(path):
    text = "\n".join(c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "markdown")
    assert "Learning objectives" in text and "## Summary" in text and "## Exercises" in text
    assert text.count("{exercise}") == len(re.findall(r"\{solution(?:-start)?\}", text)) >= 3


def test_strip_solutions_removes_solutions_and_outputs(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("````{exercise}\nQ?\n````\n\n````{solution} ex\n:class: dropdown\nA!\n````\nafter"),
        nbformat.v4.new_code_cell("answer = 42", metadata={"tags": ["solution"]}),
        nbformat.v4.new_code_cell("print(1)", outputs=[nbformat.v4.new_output("stream", text="1\n")]),
    ])
    nbformat.write(nb, tmp_path / "a.ipynb")
    strip_solutions(tmp_path / "a.ipynb", tmp_path / "out" / "a.ipynb")
    out = nbformat.read(tmp_path / "out" / "a.ipynb", as_version=4)
    assert len(out.cells) == 2
    assert "Q?" in out.cells[0].source and "A!" not in out.cells[0].source and "after" in out.cells[0].source
    assert out.cells[1].outputs == []


def test_the_instructor_page_lists_every_exercise_once():
    text = "\n".join(c.source for path in CHAPTERS for c in nbformat.read(path, as_version=4).cells)
    labels = re.findall(r"```\{exercise\}\n:label: (\S+)", text)
    page = (ROOT / "book" / "instructors.md").read_text()
    rows = re.findall(r"^\| (\d+) \| (\d+)\.(\d+) \| `(ex-[^`]+)`", page, re.M)
    practice = re.findall(r"^\| practice \| \d+ \| `(ex-[^`]+)`", page, re.M)  # the unnumbered page
    listed = [label for *_, label in rows] + practice
    assert sorted(listed) == sorted(labels) and len(set(listed)) == len(listed)
    # the numbers readers see: chapter = position in the toc, exercise = order in the chapter
    numbered, numbers = {}, book.chapter_numbers(ROOT)
    for path in CHAPTERS:
        if path.stem not in numbers:
            continue
        n = numbers[path.stem]
        found = re.findall(r"```\{exercise\}\n:label: (\S+)",
                           "\n".join(c.source for c in nbformat.read(path, as_version=4).cells))
        numbered.update({label: (str(n), str(n), str(k)) for k, label in enumerate(found, 1)})
    assert {label: tuple(nums) for *nums, label in rows} == numbered


def synthetic_chapter():
    """An exercise whose solution block is followed by two solution code cells, and one without code."""
    return nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("```{exercise}\n:label: ex-a\nQ?\n```\n````{solution} ex-a\n:class: dropdown\n"
                                      "```python\nx = 1\n```\nThe reason.\n````"),
        nbformat.v4.new_code_cell("answer = 42", metadata={"tags": ["solution", "hide-input"]},
                                  outputs=[nbformat.v4.new_output("stream", text="best: 42\n")]),
        nbformat.v4.new_code_cell("print(answer)", metadata={"tags": ["solution", "hide-input"]}),
        nbformat.v4.new_markdown_cell("```{exercise}\n:label: ex-b\nWhy?\n```\n```{solution} ex-b\n:class: dropdown\nBecause.\n```"),
        nbformat.v4.new_code_cell("print('after')"),
    ])


def test_gate_solutions_folds_code_cells_into_their_solution_block():
    gated, n = book.gate_solutions(synthetic_chapter())
    assert n == 1
    kinds = [(c.cell_type, c.metadata.get("tags", [])) for c in gated.cells]
    assert kinds == [("markdown", []), ("code", ["solution"]), ("code", ["solution"]),
                     ("markdown", ["solution"]), ("markdown", []), ("code", [])]
    assert gated.cells[0].source.endswith(
        "```{solution-start} ex-a\n:class: dropdown\n```\n\n```python\nx = 1\n```\nThe reason.\n")
    assert gated.cells[3].source == "```{solution-end}\n```"
    assert gated.cells[4].source == synthetic_chapter().cells[3].source  # a solution without code stays whole
    assert gated.cells[1].outputs == synthetic_chapter().cells[1].outputs
    assert book.gate_solutions(gated) == (gated, 0)  # a second run changes nothing
    assert book.solution_prose(gated.cells[0].source) == ["```python\nx = 1\n```\nThe reason."]
    assert book.solution_prose(gated.cells[4].source) == ["Because."]


def test_a_gated_chapter_loses_all_its_solutions_in_the_handout(tmp_path):
    gated, _ = book.gate_solutions(synthetic_chapter())
    nbformat.write(gated, tmp_path / "a.ipynb")
    strip_solutions(tmp_path / "a.ipynb", tmp_path / "out" / "a.ipynb")
    text = "\n".join(c.source for c in nbformat.read(tmp_path / "out" / "a.ipynb", as_version=4).cells)
    student = "\n".join(c.source for c in student_edition(gated).cells)
    for edition in (text, student):
        for gone in ("solution", "The reason", "Because", "answer"):
            assert gone not in edition
        assert "Q?" in edition and "Why?" in edition and "print('after')" in edition


def test_gate_solutions_refuses_a_solution_cell_without_its_block():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("Some text."),
                                         nbformat.v4.new_code_cell("x", metadata={"tags": ["solution"]})])
    with pytest.raises(ValueError, match="must follow a Markdown cell that ends with its"):
        book.gate_solutions(nb)


def test_the_cli_gates_notebooks_in_place(tmp_path, capsys):
    nbformat.write(synthetic_chapter(), tmp_path / "a.ipynb")
    assert book.main(["gate-solutions", str(tmp_path)]) == 0
    assert "1 solution(s) gated" in capsys.readouterr().out
    assert "{solution-start}" in nbformat.read(tmp_path / "a.ipynb", as_version=4).cells[0].source
    assert book.main(["gate-solutions", str(tmp_path / "a.ipynb")]) == 0
    assert "nothing to gate" in capsys.readouterr().out


def test_stored_players_get_inline_icons(tmp_path):
    html = ('<link rel="stylesheet"\nhref="https://maxcdn.bootstrapcdn.com/font-awesome/4.4.0/css/font-awesome.min.css">'
            '<div class="anim-buttons"><button><i class="fa fa-play fa-flip-horizontal"></i></button>'
            '<button><i class="fa fa-pause"></i></button></div>')
    out = nbformat.v4.new_output("display_data", data={"text/html": html, "text/plain": "<HTML>"})
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("player()", outputs=[out])])
    new, changed = book.inline_player_icons(nb)
    drawn = new.cells[0].outputs[0]["data"]["text/html"]
    assert changed == 1 and "fa-" not in drawn and "font-awesome" not in drawn
    assert drawn.count("<svg") == 2 and "scaleX(-1)" in drawn
    assert book.inline_player_icons(new) == (new, 0)


def test_the_intros_local_recipe_installs_what_it_runs():
    """`pip install -e ".[X]"` then `jupyter lab`: the extra X must bring JupyterLab."""
    import tomllib

    recipe = re.search(r"\*\*Locally\.\*\*.*?```bash\n(.*?)```", (ROOT / "book" / "intro.md").read_text(), re.S)[1]
    extra = re.search(r'pip install -e "\.\[(\w+)\]"', recipe)[1]
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    wanted = {"jupyter lab": "jupyterlab", "jupyter notebook": "notebook", "jupyter-book": "jupyter-book"}
    for command, package in wanted.items():
        if command in recipe:
            assert any(re.match(rf"{package}\b", dep) for dep in extras[extra]), (command, extra, extras[extra])
    assert "jupyter lab" in recipe


def page_title(path):
    """The first level-1 heading of a Markdown page or notebook: the title the sidebar shows."""
    path = Path(path)
    if path.suffix == ".ipynb":
        text = "\n".join(c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "markdown")
    else:
        text = path.read_text()
    return next(line[2:].strip() for line in text.splitlines() if line.startswith("# "))


def page_path(entry):
    return next(p for p in ((ROOT / f"{entry}.md"), (ROOT / f"{entry}.ipynb")) if p.exists())


INTRO = (ROOT / "book" / "intro.md").read_text()
# a row of the landing page's chapter list: | number | {doc}`stem` | what you learn | N min |
CHAPTER_ROW = re.compile(r"^\| *(\d*) *\| \{doc\}`([\w-]+)` \| [^|]+ \| (\d+) min \|$", re.M)


def test_the_landing_page_lists_every_chapter_with_the_run_time_of_its_stamp():
    """The times come from each chapter's execution stamp, as the chapter's own run-time note does:
    after a re-execution, the landing page must say the new time too."""
    rows = {stem: (number, int(minutes)) for number, stem, minutes in CHAPTER_ROW.findall(INTRO)}
    numbers = book.chapter_numbers(ROOT)
    expected = {}
    for path in CHAPTERS:
        stamp = nbformat.read(path, as_version=4).metadata["regan_tutorial"]
        expected[path.stem] = (str(numbers.get(path.stem, "")), book.run_minutes(stamp["seconds"]))
    assert rows == expected, "re-run `book execute` (it rewrites the landing page's time), or fix book/intro.md"


def test_execute_rewrites_the_landing_pages_time_of_that_chapter_only(tmp_path):
    (tmp_path / "intro.md").write_text(INTRO)
    book.write_landing_time(tmp_path / "02_toy_2d.ipynb", 600)
    rows = {stem: minutes for _, stem, minutes in CHAPTER_ROW.findall((tmp_path / "intro.md").read_text())}
    assert rows == {**{stem: m for _, stem, m in CHAPTER_ROW.findall(INTRO)}, "02_toy_2d": "10"}


def test_the_landing_page_starts_with_a_figure_a_start_here_and_the_chapters():
    start = INTRO.index("Start here")
    chapters = CHAPTER_ROW.search(INTRO).start()
    assert start < chapters < INTRO.index("## How the book is built")
    pointer = INTRO[start:chapters]
    assert "{doc}`prerequisites`" in pointer and f"{{doc}}`{CHAPTERS[0].stem}`" in pointer
    figures = re.findall(r"```\{figure\} (\S+)\n:alt: \S", INTRO[:start])
    assert figures and all((ROOT / "book" / f).is_file() for f in figures)


def test_the_intro_names_the_instructors_pages_commands():
    """The intro's commands for teachers are the ones the instructors' page describes."""
    command = re.compile(r"python -m regan_tutorial\.book ([a-z-]+)")
    section = INTRO[INTRO.index("## For instructors"):]
    named = set(command.findall(section))
    described = set(command.findall((ROOT / "book" / "instructors.md").read_text()))
    assert named and named <= described, named - described
    assert "{doc}`instructors`" in section


def test_the_site_title_fits_two_lines_of_the_sidebar():
    """The sidebar sets the title in large type, about 21 characters a line at 1280 px."""
    assert "ReGAN" in CONFIG["title"] and len(CONFIG["title"]) <= 42, CONFIG["title"]


def test_no_page_has_the_name_of_its_part():
    """A part "Before you start" holding a page "Before you start" reads as a doubled entry."""
    doubled = [(part["caption"], entry["file"]) for part in TOC.get("parts", []) for entry in part.get("chapters", [])
               if page_title(page_path(entry["file"])).lower() == part["caption"].lower()]
    assert not doubled


def test_the_site_shows_one_search_box():
    """pydata-sphinx-theme 0.17 adds a header bar with its own search field unless navbar_persistent
    is set; sphinx-book-theme already has one in the sidebar. The option reaches the theme only if
    Jupyter Book merges it into the theme options it makes (recursive_update)."""
    sphinx = CONFIG["sphinx"]
    assert sphinx["config"]["html_theme_options"]["navbar_persistent"] == []
    assert sphinx.get("recursive_update") is True
    jb_config = pytest.importorskip("jupyter_book.config")
    final, _ = jb_config.get_final_config(user_yaml=ROOT / "_config.yml", sourcedir=ROOT,
                                          cli_config={"latex_individualpages": False})
    options = final["html_theme_options"]
    assert options["navbar_persistent"] == []
    assert options["use_repository_button"] and options["launch_buttons"]["colab_url"], "the buttons stay"


NUMBERED_KINDS = {"Algorithm": "prf:algorithm", "Theorem": "prf:theorem", "Proposition": "prf:proposition",
                  "Lemma": "prf:lemma", "Definition": "prf:definition", "Corollary": "prf:corollary",
                  "Exercise": "exercise"}
BLOCK = re.compile(r"^(?:`{3,}|:{3,})\{(prf:[a-z]+|exercise)\}", re.M)
BLOCK_REF = re.compile(r"\b(" + "|".join(NUMBERED_KINDS) + r") (\d+)(?:\.(\d+))?\b")
# a paper's own number, as in "(Goodfellow et al. 2014, Algorithm 1)" or "their Algorithm 1"
PAPERS_NUMBER = re.compile(r"(?:et al\.,? \d{4}[a-z]?,? |their |paper's )$")


def reader_texts():
    """What a reader of the book reads: the Markdown pages, the chapters' Markdown cells and the
    text the code cells print (the package's docstrings among it)."""
    for entry in toc_files():
        path = page_path(entry)
        if path.suffix == ".md":
            yield path.name, path.read_text()
            continue
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type == "markdown":
                yield path.name, cell.source
            elif cell.cell_type == "code":
                yield path.name, "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")


def test_numbered_references_use_the_numbers_the_reader_sees():
    """The book numbers its blocks by chapter (Algorithm 1.1, Proposition 1.1): "Algorithm 1" for
    the book's block is a number the reader finds nowhere; a paper's own number says whose it is."""
    numbers, shown = book.chapter_numbers(ROOT), set()
    for path in CHAPTERS:
        if path.stem in numbers:
            counts = {}
            for cell in nbformat.read(path, as_version=4).cells:
                for kind in BLOCK.findall(cell.source) if cell.cell_type == "markdown" else []:
                    counts[kind] = counts.get(kind, 0) + 1
                    shown.add((kind, numbers[path.stem], counts[kind]))
    assert ("prf:algorithm", 1, 1) in shown
    wrong = []
    for name, text in reader_texts():
        for m in BLOCK_REF.finditer(text):
            kind, chapter, k = NUMBERED_KINDS[m[1]], int(m[2]), m[3]
            if k is None:
                if kind != "exercise" and not PAPERS_NUMBER.search(text[:m.start()]):
                    wrong.append((name, m[0], text[max(0, m.start() - 50):m.end() + 10]))
            elif (kind, chapter, int(k)) not in shown:
                wrong.append((name, m[0], "no such block"))
    assert not wrong, wrong


def test_no_nbval_marker_shows_in_a_code_cell():
    """nbval's markers are cell tags (nbval-check-output), not comments the page would show; every
    nbval tag is one nbval knows (a misspelt tag would silently check nothing)."""
    plugin = pytest.importorskip("nbval.plugin")
    for path in CHAPTERS:
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type != "code":
                continue
            assert "NBVAL_" not in cell.source, (path.name, cell.source[:60])
            tags = [t for t in cell.metadata.get("tags", []) if t.startswith("nbval-")]
            assert set(tags) <= set(plugin.metadata_tags), (path.name, tags)
