"""Editions of the chapters for places that do not render MyST, such as Colab.

:func:`colab_edition` turns each MyST directive into Markdown that Colab renders
(bold numbered headings, solutions inside ``<details>``), citations into
"(Goodfellow et al., 2014)" with a reference list at the end of the chapter,
and ``{doc}`` links into links to the rendered book. Code cells and their
stored outputs are kept exactly.
"""

import copy
import re

DIRECTIVE = re.compile(r"^(?P<fence>`{3,}|:{3,})\{(?P<name>[a-z:-]+)\}[ \t]*(?P<arg>.*?)\n(?P<body>.*?)^(?P=fence)[ \t]*$",
                       re.S | re.M)
OPTION = re.compile(r"^:(?P<key>[a-z-]+):[ \t]*(?P<value>.*)$")
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

    def __init__(self, bibliography, book, chapter):
        self.bib, self.book, self.chapter = bibliography, book, chapter
        self.counts, self.cited = {}, []

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
            return f"{anchor}**{title}{f' ({arg})' if arg else ''}.** {body}"
        if name == "prf:proof":
            return f"*Proof.* {body} ∎"
        if name == "solution":
            return f"<details><summary>Solution</summary>\n\n{body}\n\n</details>"
        if name in ("admonition", "note", "tip", "warning", "important"):
            title = arg or name.capitalize()
            quoted = "\n".join(f"> {line}" if line else ">" for line in body.split("\n"))
            return f"> **{title}**\n>\n{quoted}"
        if name == "footbibliography":
            return REFERENCES  # filled in once every citation of the chapter is known
        raise ValueError(f"no Colab form for the MyST directive {{{name}}}: add one to regan_tutorial/editions.py")

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

    def convert(self, text):
        text = DIRECTIVE.sub(self.directive, text)
        return ROLE.sub(self.role, text)


def colab_edition(nb, bibliography, book, chapter=None):
    """A copy of the notebook ``nb`` whose Markdown Colab renders; code cells and outputs untouched.

    ``chapter`` numbers the blocks "Exercise 3.2" as the rendered book does; citations are listed
    where the source has ``{footbibliography}``, or at the end if it has none.
    """
    nb = copy.deepcopy(nb)
    converter = _Converter(bibliography, book, chapter)
    markdown = [cell for cell in nb.cells if cell.cell_type == "markdown"]
    for cell in markdown:
        cell.source = converter.convert(cell.source)
    if converter.cited and not any(REFERENCES in cell.source for cell in markdown):
        import nbformat

        nb.cells.append(nbformat.v4.new_markdown_cell(f"## References\n\n{REFERENCES}"))
        markdown.append(nb.cells[-1])
    for cell in markdown:
        cell.source = cell.source.replace(REFERENCES, converter.references())
    return nb


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
    from .book import SOLUTION
    from .exercises import REFERENCES

    nb = copy.deepcopy(nb)
    cells, withheld, first_listing = [], {}, None
    for cell in nb.cells:
        regan = cell.metadata.get("regan", {})
        tags = cell.metadata.get("tags", [])
        if "solution" not in tags:
            if cell.cell_type == "markdown":
                cell.source = SOLUTION.sub("", cell.source)
            elif LISTING in tags:
                continue
            elif CHECKER_CALL.search(cell.source):
                cell = _cell("markdown", _demo_note(cell), role="demo")
            elif first_listing is None and "getsource" in cell.source:
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
