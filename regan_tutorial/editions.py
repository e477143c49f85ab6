"""Editions of the chapters for places that do not render MyST, such as Colab.

:func:`colab_edition` turns each MyST directive into Markdown that Colab renders
(bold numbered headings, solutions inside ``<details>``), citations into
"(Goodfellow et al., 2014)" with a reference list at the end of the chapter,
``{doc}`` links and "chapter 5" or "the WGAN chapter" into links to the rendered
book, numbers the title and links the chapter to its web page and to the next
chapter's edition. Code cells and their stored outputs are kept, except that the
first cell installs the package at the edition's commit, players draw their own
icons, and each solution's code is a folded form that Run All leaves alone.
"""

import ast
import copy
import re
import textwrap

DIRECTIVE = re.compile(r"^(?P<fence>`{3,}|:{3,})\{(?P<name>[a-z:-]+)\}[ \t]*(?P<arg>.*?)\n(?P<body>.*?)^(?P=fence)[ \t]*$",
                       re.S | re.M)
OPTION = re.compile(r"^:(?P<key>[a-z-]+):[ \t]*(?P<value>.*)$")
GATED = re.compile(r"^(`{3,}|:{3,})\{solution-start\}(?P<head>[^\n]*\n(?::[a-z-]+:[^\n]*\n)*)\1[ \t]*(?:\n|\Z)"
                   r"(?P<after>.*?)(?:^(`{3,}|:{3,})\{solution-end\}[ \t]*\n\4[ \t]*$|\Z)", re.S | re.M)
GATE_END = re.compile(r"(`{3,}|:{3,})\{solution-end\}[ \t]*\n\1")
ROLE = re.compile(r"\{(?P<name>[a-z:]+)\}`(?P<text>[^`]*)`")
REFERENCES = "\x00references\x00"
NUMBERED = {"exercise": "Exercise", "prf:theorem": "Theorem", "prf:proposition": "Proposition",
            "prf:algorithm": "Algorithm", "prf:lemma": "Lemma", "prf:definition": "Definition"}


def book_url(repository_url):
    """The published book of ``https://github.com/ORG/REPO``: ``https://ORG.github.io/REPO/``."""
    match = re.fullmatch(r"https://github\.com/([^/]+)/([^/]+?)/?", repository_url)
    if not match:
        raise ValueError(f"repository.url must look like https://github.com/ORG/REPO, got {repository_url!r}")
    return f"https://{match[1]}.github.io/{match[2]}/"


def read_bibliography(path):
    """{key: (short author, year, full reference)} from a BibTeX file."""
    from pybtex.database import parse_file
    from pybtex.richtext import Text

    plain = lambda s: Text.from_latex(s).render_as("text")
    entries = {}
    for key, entry in parse_file(str(path)).entries.items():
        people = entry.persons.get("author", [])
        last = [plain(" ".join(p.last_names)) for p in people]
        short = last[0] if len(last) == 1 else " and ".join(last) if len(last) == 2 else f"{last[0]} et al."
        names = ", ".join(f"{plain(' '.join(p.first_names))} {n}".strip() for p, n in zip(people, last))
        fields = entry.fields
        where = fields.get("booktitle") or fields.get("journal") or ""
        link = fields.get("url") or (f"https://doi.org/{fields['doi']}" if "doi" in fields else "")
        full = f"{names} ({fields.get('year', '')}). *{plain(fields.get('title', key))}*." + \
            (f" {plain(where)}." if where else "") + (f" <{link}>" if link else "")
        entries[key] = (short, fields.get("year", ""), full)
    return entries


class _Converter:
    """One chapter's conversion: counters for the numbered blocks, the citations met so far."""

    def __init__(self, bibliography, book, chapter, chapters=()):
        self.bib, self.book, self.chapter, self.chapters = bibliography, book, chapter, list(chapters)
        self.counts, self.cited, self.titles = {}, [], {}  # titles: label -> "Exercise 3.2"

    def options(self, body):
        opts, lines = {}, body.split("\n")
        while lines and OPTION.match(lines[0]):
            m = OPTION.match(lines.pop(0))
            opts[m["key"]] = m["value"]
        return opts, "\n".join(lines).strip("\n")

    def directive(self, m):
        name, arg = m["name"], m["arg"].strip()
        opts, body = self.options(m["body"])
        body = self.convert(body)
        anchor = f'<a id="{opts["label"]}"></a>' if "label" in opts else ""
        if name in NUMBERED:
            self.counts[name] = self.counts.get(name, 0) + 1
            title = f"{NUMBERED[name]} {self.chapter}.{self.counts[name]}" if self.chapter else \
                f"{NUMBERED[name]} {self.counts[name]}"
            if "label" in opts:
                self.titles[opts["label"]] = title
            return f"{anchor}**{title}{f' ({arg})' if arg else ''}.** {body}"
        if name == "prf:proof":
            return f"*Proof.* {body} ∎"
        if name in ("solution", "solution-start"):  # a gated one's code cells follow as folded forms
            return f"<details><summary>{self.solution_title(arg)}</summary>\n\n{body}\n\n</details>"
        if name == "solution-end":
            return ""
        if name in ("admonition", "note", "tip", "warning", "important"):
            title = arg or name.capitalize()
            quoted = "\n".join(f"> {line}" if line else ">" for line in body.split("\n"))
            return f"> **{title}**\n>\n{quoted}"
        if name == "footbibliography":
            return REFERENCES  # filled in once every citation of the chapter is known
        raise ValueError(f"no Colab form for the MyST directive {{{name}}}: add one to regan_tutorial/editions.py")

    def solution_title(self, label):
        return f"Solution to {self.titles[label]}" if label in self.titles else "Solution"

    def cite(self, keys, style):
        found = []
        for key in (k.strip() for k in keys.split(",")):
            if key not in self.bib:
                raise ValueError(f"citation {key!r} is not in the bibliography")
            if key not in self.cited:
                self.cited.append(key)
            found.append(self.bib[key])
        if style == "t":
            return "; ".join(f"{short} ({year})" for short, year, _ in found)
        return "(" + "; ".join(f"{short}, {year}" for short, year, _ in found) + ")"

    def role(self, m):
        name, text = m["name"], m["text"]
        if name in ("footcite", "footcite:p", "cite", "cite:p"):
            return self.cite(text, "p")
        if name in ("footcite:t", "cite:t"):
            return self.cite(text, "t")
        if name == "doc":
            label, _, target = re.fullmatch(r"(?:(.*?)\s*<)?([^<>]+?)>?", text).groups()
            target = target or text
            return f"[{label or target}]({self.book}book/{target.strip()}.html)"
        if name == "math":
            return f"${text}$"
        raise ValueError(f"no Colab form for the MyST role {{{name}}}: add one to regan_tutorial/editions.py")

    def references(self):
        return "\n".join(f"- {self.bib[k][2]}" for k in self.cited)

    def ungate(self, m):
        """A gated solution's opening and the prose after it (to the end of the cell) as one block."""
        fence = "`" * max(3, 1 + max((len(r) for r in re.findall(r"`+", m["after"])), default=0))
        return f"{fence}{{solution}}{m['head']}{m['after'].rstrip()}\n{fence}"

    def convert(self, text):
        text = DIRECTIVE.sub(self.directive, GATED.sub(self.ungate, text))
        return link_chapters(ROLE.sub(self.role, text), self.chapters, self.chapter)


# Text that a chapter reference must not be looked for in: code, math, links, HTML tags.
PROTECTED = re.compile(r"```.*?```|`[^`\n]*`|\$\$.*?\$\$|\$[^$\n]*\$|\[[^\]\n]*\]\([^)\n]*\)|<[^>\n]+>", re.S)
CHAPTERS_REF = re.compile(r"\b(?P<word>[Cc]hapters) (?P<numbers>\d+(?:(?:,? and |, |\u2013|-| to )\d+)*)\b")
CHAPTER_REF = re.compile(r"\b(?P<word>[Cc]hapter) (?P<number>\d+)\b|"
                         r"\b(?P<the>[Tt]he) (?P<name>(?:[A-Za-z0-9-]+ ){1,2}?)?chapter\b(?! \d)")


def _words(text):
    return {w.lower().removesuffix("s") for w in re.findall(r"[A-Za-z0-9]+", text)}


def link_chapters(text, chapters, current=None):
    """``text`` with "chapter 5", "chapters 8 and 9", "the previous chapter" and "the WGAN chapter"
    linked to that chapter's page (each number of a list). ``chapters``: dicts with ``number``, ``title``, ``stem`` and ``url``; a name
    ("WGAN", "Wasserstein GAN", "2D") names the one chapter whose title and file name hold all
    its words, else it stays plain text, as do "the final chapter" and "the last chapter"
    (numbers change when chapters are added)."""
    if not chapters:
        return text
    by_number = {c["number"]: c for c in chapters}

    def link(m):
        if m["number"]:
            target = by_number.get(int(m["number"]))
            return f"[{m[0]}]({target['url']})" if target else m[0]
        name = (m["name"] or "").strip()
        if name.lower() in ("previous", "next") and current is not None:
            target = by_number.get(current + (1 if name.lower() == "next" else -1))
        elif name and name.lower() not in ("this", "final", "last", "same", "first", "other"):
            found = [c for c in chapters if _words(name) <= _words(c["title"] + " " + c["stem"].replace("_", " "))]
            target = found[0] if len(found) == 1 else None
        else:
            target = None
        return f"{m['the']} [{name} chapter]({target['url']})" if target else m[0]

    def numbers(m):  # "chapters 8 and 9": each known number linked
        linked = re.sub(r"\d+", lambda n: f"[{n[0]}]({by_number[int(n[0])]['url']})" if int(n[0]) in by_number
                        else n[0], m["numbers"])
        return f"{m['word']} {linked}"

    both = lambda piece: CHAPTER_REF.sub(link, CHAPTERS_REF.sub(numbers, piece))
    pieces, last = [], 0
    for m in PROTECTED.finditer(text):
        pieces += [both(text[last:m.start()]), m[0]]
        last = m.end()
    return "".join(pieces + [both(text[last:])])


def install_source(repository, commit):
    """The first cell of an edition: on Colab, pip installs the package at ``commit`` (the one
    the edition was made from, not the head of ``main``) and stops Run All with pip's own
    message if that fails; everywhere, it prints the version and commit it imports."""
    if not re.fullmatch(r"[0-9a-f]{40}", commit or ""):
        raise ValueError(f"the commit to install must be a full 40-digit git hash, got {commit!r}")
    return textwrap.dedent(f"""\
        # On Colab, install the course package at the commit this edition was made from.
        # pip adds only what is missing, so Colab's own torch stays as it is.
        import importlib
        import importlib.metadata
        import json
        import subprocess
        import sys

        COMMIT = "{commit}"
        if "google.colab" in sys.modules:
            package = f"regan-tutorial[offline] @ git+{repository}@{{COMMIT}}"
            pip = subprocess.run([sys.executable, "-m", "pip", "install", "-q", package],
                                 capture_output=True, text=True)
            if pip.returncode != 0:
                raise RuntimeError(f"pip could not install {{package}}:\\n{{pip.stdout}}{{pip.stderr}}")
        importlib.invalidate_caches()  # a package installed while Python runs
        import regan_tutorial

        try:
            direct = importlib.metadata.distribution("regan-tutorial").read_text("direct_url.json")
        except importlib.metadata.PackageNotFoundError:  # imported from a checkout, not installed
            direct = None
        installed = json.loads(direct or "{{}}").get("vcs_info", {{}}).get("commit_id", "not installed from git")
        print(f"regan_tutorial {{regan_tutorial.__version__}}, commit {{installed}}")
        if "google.colab" in sys.modules and installed != COMMIT:
            print(f"warning: this edition was made from commit {{COMMIT}}; to install that one, run "
                  f"!pip install --no-deps --force-reinstall '{{package}}' and restart the session")""")


RUN_SWITCH = "run_this_solution"


def folded_solution(source, title):
    """A solution's code as a Colab form: folded under ``title`` (``# @title``), run only once the
    student ticks the form's box, so Run All leaves it alone. A cell that is one
    ``if rt.run_solutions("..."):`` block (a solution that trains) gets the box in that test's
    place, and what it trains in its title."""
    tree = ast.parse(source)
    body = tree.body
    trains = (len(body) == 1 and isinstance(body[0], ast.If) and not body[0].orelse
              and isinstance(body[0].test, ast.Call) and getattr(body[0].test.func, "attr", "") == "run_solutions")
    if trains:
        what = ast.literal_eval(body[0].test.args[0]) if body[0].test.args else ""
        title += f": {what}" if what else ""
        inner, reference = "\n".join(source.splitlines()[body[0].test.end_lineno:]), body[0].body
    else:
        inner, reference = textwrap.indent(source, "    "), body
    code = (f'# @title {title} {{ display-mode: "form" }}\n'
            f'{RUN_SWITCH} = False  # @param {{type:"boolean"}}\n'
            "# Double-click to see the code; tick the box and run the cell to run it.\n"
            f"if {RUN_SWITCH}:\n{inner}")
    wrapped = ast.parse(code).body[-1].body
    if ast.dump(ast.Module(wrapped, [])) != ast.dump(ast.Module(reference, [])):
        raise ValueError(f"{title}: folding the code into a form changed it (a string spanning lines?)")
    return code


def colab_edition(nb, bibliography, book, chapter=None, *, install=None, page=None, next_chapter=None,
                  chapters=()):
    """A copy of the notebook ``nb`` whose Markdown Colab renders.

    ``chapter`` numbers the title ("# 3. ...") and the blocks "Exercise 3.2" as the rendered book
    does; citations are listed where the source has ``{footbibliography}``, or at the end if it
    has none. ``install`` replaces the first cell (the package's install cell); ``page`` (this
    chapter's web page) and ``next_chapter`` (``(title, url)``) go under the title and at the end;
    ``chapters`` (see :func:`link_chapters`) turns references to chapters into links. Solution
    code cells become folded forms without stored outputs (:func:`folded_solution`), the
    ``{solution-end}`` cells of gated solutions go, players draw their own icons; other code
    cells and their outputs are kept exactly.
    """
    import nbformat

    from .plots import inline_icons

    nb = copy.deepcopy(nb)
    converter = _Converter(bibliography, book, chapter, chapters)
    is_solution = lambda c: "solution" in c.metadata.get("tags", [])
    gate_end = lambda c: c.cell_type == "markdown" and is_solution(c) and GATE_END.fullmatch(c.source.strip())
    nb.cells = [c for c in nb.cells if not gate_end(c)]
    markdown = [cell for cell in nb.cells if cell.cell_type == "markdown"]
    for cell in markdown:
        cell.source = converter.convert(cell.source)
        if "run-time" in cell.metadata.get("tags", []):  # the switch of a local run; on Colab, the form's box
            cell.source = cell.source.replace("`REGAN_SOLUTIONS=1` runs them", "ticking a solution's box runs it")
    if converter.cited and not any(REFERENCES in cell.source for cell in markdown):
        nb.cells.append(nbformat.v4.new_markdown_cell(f"## References\n\n{REFERENCES}"))
        nb.cells[-1].id = "regan-references"
        markdown.append(nb.cells[-1])
    for cell in markdown:
        cell.source = cell.source.replace(REFERENCES, converter.references())
    _title_and_links(nb, markdown, chapter, book, page, next_chapter)
    for i, cell in enumerate(c for c in nb.cells if c.cell_type == "code"):
        if i == 0 and install is not None:
            cell.source = install
        elif is_solution(cell):
            label = cell.metadata.get("regan", {}).get("exercise")
            cell.source = folded_solution(cell.source, converter.solution_title(label))
            cell.outputs, cell.execution_count = [], None
            cell.metadata["cellView"] = "form"
            cell.metadata.pop("execution", None)
        for out in cell.outputs:
            if isinstance(out.get("data", {}).get("text/html"), str):
                out["data"]["text/html"] = inline_icons(out["data"]["text/html"])
    _figure_captions(nb, chapter)
    return nb


def _figure_captions(nb, chapter):
    """Each figure's caption (MyST-NB's ``mystnb.figure`` metadata, which Colab does not show) as a
    Markdown line under its cell, numbered as the web book numbers it: "Fig. 3.2" in chapter 3;
    on an unnumbered page the caption alone (the web book's count runs on from other pages)."""
    import nbformat

    cells, k = [], 0
    for cell in nb.cells:
        cells.append(cell)
        caption = cell.metadata.get("mystnb", {}).get("figure", {}).get("caption") if cell.cell_type == "code" \
            else None
        k += bool(caption)  # a solution's figure counts on the web page, folded or not
        if caption and cell.outputs:
            number = f"**Fig. {chapter}.{k}.** " if chapter else ""
            cells.append(nbformat.v4.new_markdown_cell(f"<small>{number}{caption}</small>"))
            cells[-1].id = f"regan-caption-{k}"
    nb.cells = cells


def _title_and_links(nb, markdown, chapter, book, page, next_chapter):
    import nbformat

    where = [f"[the web book]({book})" if book else ""]
    if page:
        where.append(f"[this chapter on the web]({page})")
    if next_chapter:
        where.append(f"next: [{next_chapter[0]}]({next_chapter[1]})")
    line = "*" + " · ".join(w for w in where if w) + "*"
    for cell in markdown:
        if cell.source.startswith("# "):
            heading, _, rest = cell.source.partition("\n")
            if chapter:
                heading = f"# {chapter}. {heading[2:]}"
            cell.source = f"{heading}\n\n{line}\n{rest}"
            break
    if next_chapter:
        nb.cells.append(nbformat.v4.new_markdown_cell(
            f"---\n\n**Next: [{next_chapter[0]}]({next_chapter[1]})** (opens in Colab)" +
            (f" · [this chapter on the web]({page})" if page else "")))
        nb.cells[-1].id = "regan-next-chapter"  # the same edition twice is the same file


def _cell(kind, source, **regan):
    import nbformat

    make = nbformat.v4.new_code_cell if kind == "code" else nbformat.v4.new_markdown_cell
    cell = make(source)
    cell.metadata["regan"] = regan
    return cell


LISTING = "answer-listing"  # the tag of a lesson cell that the student edition leaves out: it shows an answer
CHECKER_CALL = re.compile(r"\bexercises\.(check_\w+)\(")


def withheld_listing(names, exercise):
    """The student edition's first code cell before any listing: ``inspect.getsource`` of the package's
    functions ``names`` (an exercise asks for them) gives a note instead of their code."""
    return (f"# The student edition does not list the package's {', '.join(names)}: exercise {exercise} asks you\n"
            "# to write it. The book shows the listing with the solution.\n"
            f"from regan_tutorial.editions import withhold_sources\nwithhold_sources({list(names)!r}, {exercise!r})")


def withhold_sources(names, exercise):
    """Make ``inspect.getsource`` return a note for the package's functions ``names`` ("theory.jsd")."""
    import importlib
    import inspect

    hidden = {}
    for qualified in names:
        module, _, attr = qualified.rpartition(".")
        hidden[getattr(importlib.import_module(f"regan_tutorial.{module}"), attr)] = qualified
    original = getattr(inspect.getsource, "regan_original", inspect.getsource)
    hidden.update(getattr(inspect.getsource, "regan_hidden", {}))

    def getsource(obj):
        if obj in hidden:
            return f"# {hidden[obj]}: left out of the student edition; exercise {exercise} asks you to write it\n"
        return original(obj)

    getsource.regan_original, getsource.regan_hidden = original, hidden
    inspect.getsource = getsource


def _demo_note(cell):
    """A lesson cell that calls a checker on a near-solution, as Markdown: what the checker said, not the code."""
    said = "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("output_type") == "stream").strip()
    quoted = "\n".join(f"> {line}" for line in said.splitlines()) or "> (the book shows its output)"
    return ("*The book runs the course's checker here on a version of the exercise's function with one "
            "mistake; the student edition shows only what the checker said, since that version is the "
            f"solution minus one step:*\n\n{quoted}")


def student_edition(nb, chapter=None):
    """The notebook for students: solutions removed, outputs cleared; each code exercise's hidden
    solution becomes a stub (its signature and docstring, raising ``NotImplementedError``) and the
    checker call, each experiment's a starter cell. Both carry the exercise's label in
    ``metadata.regan.exercise``; the notebook records its chapter (``metadata.regan.chapter``, the
    source's stem, as the autograder names it). It prints no answer: a lesson cell that calls a checker
    on a near-solution becomes the checker's stored message, one tagged ``answer-listing`` is left out,
    and ``inspect.getsource`` of a reference function of the chapter's exercises gives a note."""
    from .book import remove_solutions
    from .exercises import REFERENCES

    nb = copy.deepcopy(nb)
    cells, withheld, first_listing = [], {}, None
    for cell in nb.cells:
        regan = cell.metadata.get("regan", {})
        tags = cell.metadata.get("tags", [])
        if "solution" not in tags:
            if cell.cell_type == "markdown":
                cell.source = remove_solutions(cell.source)
            elif LISTING in tags:
                continue
            elif CHECKER_CALL.search(cell.source):
                cell = _cell("markdown", _demo_note(cell), role="demo")
            elif first_listing is None and ("getsource" in cell.source or "show_source" in cell.source):
                first_listing = len(cells)
            cells.append(cell)
        elif "stub" in regan:
            cells.append(_cell("code", regan["stub"], exercise=regan["exercise"], role="stub"))
            cells.append(_cell("code", regan["check"], exercise=regan["exercise"], role="check"))
            for checker in CHECKER_CALL.findall(regan["check"]):
                for name in REFERENCES.get(checker, ()):
                    withheld.setdefault(name, regan["exercise"])
        elif "starter" in regan:
            cells.append(_cell("code", regan["starter"], exercise=regan["exercise"], role="starter"))
    if withheld and first_listing is not None:
        labels = sorted(set(withheld.values()))
        cells.insert(first_listing, _cell("code", withheld_listing(sorted(withheld), " and ".join(labels)),
                                          role="withhold"))
    for cell in cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
            cell.metadata.pop("execution", None)
    nb.cells = cells
    nb.metadata.pop("regan_tutorial", None)  # the book's execution stamp
    nb.metadata["regan"] = {"chapter": chapter} if chapter else {}
    return nb
