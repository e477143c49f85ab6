"""Grading handed-in notebooks with the course's own checkers.

``python -m regan_tutorial.book grade NOTEBOOK... [--json FILE]`` runs each notebook
top to bottom in a fresh kernel (``smoke`` profile, a time limit per notebook) and
reads, for every code exercise, what its checker printed: *passed*, *not attempted*
(the stub still raises ``NotImplementedError``), or *failed* with the checker's
explanation. The grader does not read the student's check cells: it runs each
exercise's checker call itself, in cells appended to the notebook, with the
course's checkers freshly imported. The calls come from the notebook's
``metadata.regan.checks``, which :func:`regan_tutorial.editions.student_edition`
writes (else from the check cells, ``metadata.regan.role == "check"``), so a check
cell that a student deleted or edited changes nothing. It is no sandbox: the
student's code runs in the same kernel. A notebook that errors elsewhere or runs
out of time is reported, and grading goes on; so is a file that is not a readable notebook, or
whose grading metadata is damaged.
"""

import os
import re
from dataclasses import asdict, dataclass, field

PASSED, NOT_ATTEMPTED, FAILED, NOT_RUN = "passed", "not attempted", "failed", "not run"


@dataclass
class Report:
    notebook: str
    exercises: dict = field(default_factory=dict)  # label -> {"status": ..., "message": ...}
    errors: list = field(default_factory=list)  # cells outside the checkers that raised
    timed_out: bool = False

    def as_dict(self):
        return asdict(self)


def _outcome(cell):
    """What a checker cell's outputs say: (status, message). A cell may call several checkers:
    passed if all passed, not attempted if none was attempted, else failed with their messages."""
    outputs = cell.get("outputs", [])
    error = next((o for o in outputs if o.get("output_type") == "error"), None)
    if error:
        return FAILED, f"{error['ename']}: {error['evalue']}"
    if not outputs and cell.get("execution_count") is None:
        return NOT_RUN, "the notebook stopped before its checks ran"
    lines = "".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream").splitlines()
    verdicts = [(NOT_ATTEMPTED, line) if "not implemented yet" in line else (PASSED, line)
                if re.search(r": all checks passed\.", line) else (FAILED, line)
                for line in lines if re.search(r": (all checks passed|not yet)\.", line)]
    if not verdicts:
        return FAILED, "the checker printed no verdict"
    statuses = {status for status, _ in verdicts}
    if statuses == {PASSED}:
        return PASSED, ""
    if statuses == {NOT_ATTEMPTED}:
        return NOT_ATTEMPTED, ""
    return FAILED, " ".join(line for status, line in verdicts if status != PASSED)


RELOAD = "import importlib\nimport regan_tutorial.exercises\nexercises = importlib.reload(regan_tutorial.exercises)\n"


def _a(value):
    name = type(value).__name__
    return f"{'an' if name[0] in 'aeiou' else 'a'} {name}"


def _regan(metadata, where):
    """A ``metadata.regan`` entry as a dict; a damaged one raises ValueError naming ``where``."""
    regan = metadata.get("regan", {})
    if not isinstance(regan, dict):
        raise ValueError(f"{where}metadata.regan is {_a(regan)}, not a mapping")
    return regan


def _checks(nb):
    """Exercise label -> its checker call, as the student edition recorded them. Damaged metadata
    (hand-edited, or written by another tool) raises ValueError saying which entry and how."""
    recorded = _regan(nb.metadata, "").get("checks")
    if recorded:
        if not isinstance(recorded, dict):
            raise ValueError(f"metadata.regan.checks is {_a(recorded)}, not a mapping of exercise label to checker call")
        for label, call in recorded.items():
            if not isinstance(call, str):
                raise ValueError(f"metadata.regan.checks[{label!r}] is {_a(call)}, not the checker call's text")
        return dict(recorded)
    checks = {}
    for i, c in enumerate(nb.cells):
        regan = _regan(c.metadata, f"cell {i}'s ")
        if regan.get("role") == "check":
            if not isinstance(regan.get("exercise"), str):
                raise ValueError(f"cell {i}'s metadata.regan has role 'check' but no exercise label (text)")
            checks[regan["exercise"]] = c.source
    return checks


def grade(path, timeout=600):
    """Execute the notebook at ``path`` (a copy, in its folder) and report each checked exercise."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    report = Report(str(path))
    try:
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
    except Exception as err:  # not JSON, not a notebook, unreadable: reported, and grading goes on
        reason = " ".join(str(err).split())[:300]
        report.errors.append(f"{path} is not a readable notebook ({type(err).__name__}: {reason}); "
                             "hand in the .ipynb file saved by Jupyter")
        return report
    try:
        checks = _checks(nb)
    except ValueError as err:  # reported, and grading goes on with the next notebook
        report.errors.append(f"{path}: damaged grading metadata ({err}); hand in the student edition's notebook, "
                             "with its metadata as the course wrote it")
        return report
    graders = [nbformat.v4.new_code_cell(RELOAD + call, metadata={"regan": {"exercise": label, "role": "grader"}})
               for label, call in checks.items()]
    nb.cells.extend(graders)
    env = {"REGAN_PROFILE": os.environ.get("REGAN_PROFILE", "smoke"), "TQDM_DISABLE": "1"}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=True,
                       resources={"metadata": {"path": os.path.dirname(os.path.abspath(path))}}).execute()
    except (CellTimeoutError, DeadKernelError) as err:
        report.timed_out = isinstance(err, CellTimeoutError)
        report.errors.append(f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}")
    finally:
        for k, v in saved.items():
            os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)
    for cell in nb.cells:
        regan = cell.metadata.get("regan", {}) if isinstance(cell.metadata.get("regan", {}), dict) else {}
        if regan.get("role") == "grader":
            status, message = _outcome(cell)
            report.exercises[regan["exercise"]] = {"status": status, "message": message}
        elif cell.cell_type == "code" and regan.get("role") not in ("stub", "check"):
            for out in cell.get("outputs", []):
                if out.get("output_type") == "error":
                    report.errors.append(f"{out['ename']}: {out['evalue']}")
    return report


def summary(report):
    """The report as lines a person reads."""
    lines = [f"{report.notebook}:" + (" TIMED OUT" if report.timed_out else "")]
    for label, result in report.exercises.items():
        lines.append(f"  {label:24s} {result['status']}" + (f": {result['message']}" if result["message"] else ""))
    if not report.exercises:
        lines.append("  (no checked exercises found: is this a student edition of a chapter?)")
    lines += [f"  error outside the exercises: {e}" for e in report.errors]
    return "\n".join(lines)
