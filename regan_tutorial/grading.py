"""Grading handed-in notebooks: otter-grader's tests and scores, the course's checkers, a process per submission.

``python -m regan_tutorial.book autograder . autograder.zip`` writes the instructor's autograder
from the book: one otter-grader OK-format test per code exercise (``tests/<label>.py``), whose
cases are the exercise's checker calls, the public one (seed 0, what the student's check cell
runs) and hidden ones (other seeds), with the exercise's points; ``exercises.json`` (chapter ->
exercises, the names of the student's answers); and a copy of the package.

``python -m regan_tutorial.book grade NOTEBOOK... --json FILE --csv FILE -j N`` grades each
submission in a process of its own (:func:`_worker`), started with the autograder's bytes and
the submission's bytes, both read before any student code runs, in a fresh temporary folder,
and, where the system allows, in Linux namespaces of its own (:func:`_sandbox`, :data:`SANDBOX`):

1. the notebook runs top to bottom in a kernel that imports its own copy of the package, under a
   wall-clock limit for the whole notebook; a last cell, from the autograder, saves the answers
   (the functions and nets the exercises name) with ``dill``;
2. the kernel and every process it left behind are killed (the worker is their subreaper);
3. otter-grader runs each OK test in the worker, on the worker's copy of the checkers, imported
   before step 1; each answer is an :class:`regan_tutorial.remote.Answer`, called in a child of
   a server that the grader forked from itself before it read its job (:mod:`regan_tutorial.remote`),
   so the worker never runs the student's code, and the answer's process holds nothing of the
   worker's (no hidden case, reference value or key);
4. the worker prints its report, signed with a key only it and the parent know, as its last line.

The checks come from the autograder, never from the submission; a verdict is computed where no
student code runs. A submission that is not a notebook, crashes, kills its kernel or its grader,
or runs past the limit is reported so, and the others are graded. What this does not protect
against, with namespaces and without: see the instructors' page (book/instructors.md).
"""

import ast
import base64
import contextlib
import csv
import functools
import hashlib
import hmac
import io
import json
import os
import pprint
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

PASSED, FAILED, NOT_ATTEMPTED, ERROR = "passed", "failed", "not attempted", "error"
POINTS = 2  # per code exercise, unless its solution cell's metadata.regan.points says otherwise
HIDDEN_SEEDS = 2  # the autograder's hidden cases: each checker again on random cases drawn anew, from
# seeds that each autograder draws for itself (a student can run the checker with any seed, not these)
CHECK_SECONDS = 300  # the checks' own budget per notebook, on top of the notebook's limit


@dataclass
class Report:
    notebook: str
    student: str = ""
    chapter: str = ""
    exercises: dict = field(default_factory=dict)  # label -> {"status", "points", "possible", "message"}
    errors: list = field(default_factory=list)  # the notebook's own errors, and why it was not graded
    timed_out: bool = False
    seconds: float = 0.0
    isolation: str = ""  # how the notebook ran: in namespaces of its own, or as a process only (see _sandbox)

    def as_dict(self):
        return asdict(self)


# --- the autograder, generated from the book ---------------------------------------------------

def checker_calls(check):
    """The checker calls of a check cell: [(statement, checker name, answer names)]."""
    calls = []
    for stmt in ast.parse(check).body:
        call = stmt.value if isinstance(stmt, ast.Expr) else None
        if isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute):
            names = [a.id for a in call.args if isinstance(a, ast.Name)]
            calls.append((ast.unparse(call), call.func.attr, names))
    return calls


def exercises_of(root="."):
    """{chapter: [{label, calls, answers, points}]} for the chapters of ``_toc.yml`` under ``root``."""
    import nbformat

    from .book import chapter_paths

    found = {}
    for path in chapter_paths(root):
        for cell in nbformat.read(path, as_version=4).cells:
            regan = cell.metadata.get("regan", {})
            if "stub" in regan:
                calls = checker_calls(regan["check"])
                found.setdefault(path.stem, []).append({
                    "label": regan["exercise"], "calls": [c for c, _, _ in calls],
                    "answers": sorted({n for _, _, names in calls for n in names}),
                    "points": regan.get("points", POINTS)})
    return found


def ok_test(exercise, hidden):
    """The otter-grader OK-format test of one exercise: each checker call, public (seed 0) and
    hidden (the seeds ``hidden``)."""
    cases = []
    for seed in (0, *hidden):
        for call in exercise["calls"]:
            code = call[:-1] + f", seed={seed}, quiet=True)"
            cases.append({"code": f">>> {code}", "hidden": bool(seed), "locked": False})
    return {"name": exercise["label"], "points": exercise["points"],
            "suites": [{"cases": cases, "scored": True, "setup": "", "teardown": "", "type": "doctest"}]}


def build_autograder(root="."):
    """The autograder's zip (bytes): tests/, exercises.json, otter_config.json and the package."""
    exercises = exercises_of(root)
    package = Path(__file__).resolve().parent
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        tests = {e["label"]: e for chapter in exercises.values() for e in chapter}  # a label in two chapters: one
        for label, exercise in tests.items():
            hidden = [1 + secrets.randbelow(10 ** 9) for _ in range(HIDDEN_SEEDS)]
            z.writestr(f"tests/{label}.py", "test = " + pprint.pformat(ok_test(exercise, hidden)) + "\n")
        z.writestr("exercises.json", json.dumps(exercises, indent=1))
        z.writestr("otter_config.json", json.dumps({"name": "regan-tutorial", "pdf": False,
                                                    "note": "graded by regan_tutorial.grading, not otter grade"}))
        for path in sorted(package.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                z.write(path, f"regan_tutorial/{path.relative_to(package)}")
    return buffer.getvalue()


# --- processes --------------------------------------------------------------------------------

def _subreaper():
    """Orphaned descendants of this process become its children (Linux), so :func:`_sweep` finds them."""
    import ctypes

    try:
        ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        pass


def _children():
    me, found = os.getpid(), []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == me:
                        found.append(int(entry))
            except (OSError, IndexError, ValueError):
                pass
    return found


def _sweep(keep=(), seconds=60):
    """Kill every child of this process but ``keep``, until none is left: the orphans of the killed
    become children here (see :func:`_subreaper`), a generation a round, however deep the chain.
    False if some were still there after ``seconds`` (processes that fork faster than they die)."""
    deadline = time.monotonic() + seconds
    while True:
        pids = [p for p in _children() if p not in keep]
        if not pids:
            return True
        if time.monotonic() > deadline:
            return False
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass


RUNNER = """\
import sys, nbformat
from nbclient import NotebookClient
nb = nbformat.read(sys.argv[1], as_version=4)
try:
    NotebookClient(nb, timeout=int(sys.argv[3]), kernel_name="python3", allow_errors=True,
                   shutdown_kernel="immediate",  # the answers are saved; the grader sweeps up after it
                   resources={"metadata": {"path": sys.argv[4]}}).execute()
finally:
    nbformat.write(nb, sys.argv[2])
"""

SAVE = """\
def _regan_save(names, folder):
    import copy, os, dill, torch
    from torch.nn.utils import parametrize
    dill.settings["recurse"] = True
    for name in names:
        if name in globals():
            try:
                answer = globals()[name]
                if isinstance(answer, torch.nn.Module) and any(parametrize.is_parametrized(m) for m in
                                                                answer.modules()):  # torch's parametrizations
                    answer = copy.deepcopy(answer)  # (spectral_norm) do not pickle: their weights as they are do
                    for m in answer.modules():
                        for p in list(getattr(m, "parametrizations", None) or ()):
                            parametrize.remove_parametrizations(m, p, leave_parametrized=True)
                with open(os.path.join(folder, name + ".pkl"), "wb") as f:
                    dill.dump(answer, f)
            except Exception as err:
                with open(os.path.join(folder, name + ".pkl.error"), "w") as f:
                    f.write(f"{{type(err).__name__}}: {{err}}")
    open(os.path.join(folder, "DONE"), "w").close()
_regan_save({names!r}, {folder!r})
"""

SANDBOX = """\
import ctypes, json, os, sys
job = json.loads(sys.argv[1])
libc = ctypes.CDLL(None, use_errno=True)
def check(result, what):
    if result != 0:
        raise OSError(ctypes.get_errno(), f"{what}: {os.strerror(ctypes.get_errno())}")
def mount(source, target, fstype, flags):
    check(libc.mount(source.encode(), target.encode(), fstype and fstype.encode(), flags, None), f"mount {target}")
def read_only(source, path):
    f = os.statvfs(source).f_flag  # a remount keeps the flags the mount has (nosuid, nodev, ...)
    mount(source, path, None, 4096 | 16384)  # MS_BIND | MS_REC
    keep = (f & (2 | 4 | 8 | 1024 | 2048)) | (2097152 if f & 4096 else 0)
    mount("none", path, None, 32 | 4096 | 1 | keep)  # MS_REMOUNT | MS_BIND | MS_RDONLY
def empty(path):
    os.makedirs(path, exist_ok=True)
    mount("tmpfs", path, "tmpfs", 2 | 4)  # MS_NOSUID | MS_NODEV
# A root of its own, built from an allowlist: the system's programs and libraries, /etc, the Python
# installation and sys.path, read-only; empty temporary folders; this grader's folder; nothing else
# (no home folder, hand-ins, /run, /sys or terminals). Every folder shown is opened first.
shown = {p: os.open(p, os.O_PATH | os.O_DIRECTORY) for p in job["readonly"]}
root = os.open(job["root"], os.O_PATH | os.O_DIRECTORY)
new = os.path.join(job["temporary"][0], ".root")
empty(job["temporary"][0])
empty(new)
for path, target in job["links"].items():  # e.g. /bin -> usr/bin
    os.makedirs(os.path.dirname(new + path), exist_ok=True)
    os.symlink(target, new + path)
for path in job["temporary"]:
    empty(new + path)
for path, fd in shown.items():  # after the temporary folders: a checkout under /tmp is shown in its place
    os.makedirs(new + path, exist_ok=True)
    read_only(f"/proc/self/fd/{fd}", new + path)
os.makedirs(new + job["inside"])
mount(f"/proc/self/fd/{root}", new + job["inside"], None, 4096)  # MS_BIND: this grader's folder, and only it
empty(new + "/dev")
for node in ("null", "zero", "full", "random", "urandom"):
    open(new + "/dev/" + node, "w").close()
    mount("/dev/" + node, new + "/dev/" + node, None, 4096)
for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1"),
                     ("stderr", "/proc/self/fd/2")):
    os.symlink(target, new + "/dev/" + name)
empty(new + "/dev/shm")
os.makedirs(new + "/proc")
mount("proc", new + "/proc", "proc", 2 | 4 | 8)  # this PID namespace's processes only
for name in ("sys", "sysrq-trigger", "irq", "bus", "fs"):  # the host kernel's settings: read-only
    if os.path.exists(new + "/proc/" + name):
        read_only(new + "/proc/" + name, new + "/proc/" + name)
for path in [*job["mask"], *("/proc/" + n for n in ("kcore", "keys", "timer_list", "sched_debug", "kallsyms"))]:
    if os.path.isdir(new + path):  # a folder of a shown one that must not be seen (the book's solutions)
        mount("tmpfs", new + path, "tmpfs", 1 | 2 | 4 | 8)  # MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC
    elif os.path.exists(new + path):  # a file only root may read (when graded as root), a kernel table
        mount("/dev/null", new + path, None, 4096)
for fd in (root, *shown.values()):
    os.close(fd)
os.chdir(new)
pivot_root = {"x86_64": 155, "aarch64": 41, "riscv64": 41, "ppc64le": 203, "s390x": 217}.get(os.uname().machine)
if pivot_root is None:
    raise OSError(f"pivot_root: no system call number known for {os.uname().machine}")
check(libc.syscall(pivot_root, b".", b"."), "pivot_root")  # the new root over the old, which is then
check(libc.umount2(b".", 2), "umount the old root")  # detached (MNT_DETACH): out of every path
os.chdir(job["inside"])
import fcntl, socket, struct  # a network of its own, the loopback only: up, for the kernel's connection
with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
    flags = struct.unpack_from("H", fcntl.ioctl(s, 0x8913, struct.pack("16s24x", b"lo")), 16)[0]
    fcntl.ioctl(s, 0x8914, struct.pack("16sH22x", b"lo", flags | 1))  # SIOCGIFFLAGS, SIOCSIFFLAGS: IFF_UP
os.execvp("setpriv", ["setpriv", "--bounding-set=-all", "--inh-caps=-all", "--no-new-privs",
                      sys.executable, "-I", "-c", job["boot"]])
"""
UNSHARE = ["unshare", "--user", "--map-root-user", "--mount", "--pid", "--net", "--ipc", "--fork", "--kill-child",
           "--mount-proc"]
INSIDE = "regan-grade"  # where a grader's folder appears in its namespaces: in the emptied temporary folder


def _sandbox():
    """Whether a grader can run in namespaces of its own (Linux user, mount, PID, IPC and network namespaces,
    through util-linux's ``unshare`` and ``setpriv``; no root needed where the system allows
    unprivileged user namespaces): "" if so, else why not. Inside, the grader, the notebook's
    kernel and the processes that run the answers see no other process (they cannot signal the
    grading command, read its arguments, or outlive their grader: they all end with it), their
    root is their own, built from an allowlist (:func:`_confinement`: no home folder, hand-ins'
    folders or services' sockets; the Python installation and /etc read-only, so nothing is
    planted for a later hand-in), their network is a loopback of their own (no server to ask for an answer or
    send one to), and they hold no capability that could undo that."""
    global _SANDBOX
    if _SANDBOX is None:
        try:
            done = subprocess.run([*UNSHARE, "setpriv", "--bounding-set=-all", "true"], capture_output=True,
                                  text=True, timeout=30)
            _SANDBOX = "" if done.returncode == 0 else " ".join(done.stderr.split())[:200] or f"exit {done.returncode}"
        except (OSError, subprocess.SubprocessError) as err:
            _SANDBOX = f"{type(err).__name__}: {err}"
    return _SANDBOX


_SANDBOX = None


SYSTEM = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc")  # in every grader's root


def _confinement(paths):
    """What a grader's root of its own shows, read-only, and what it leaves out, for the hand-ins at
    ``paths``: (hidden, read-only, not hidden). The root is built from an allowlist: read-only, the
    system's programs and libraries (:data:`SYSTEM`: /usr, /lib, ..., /etc), the Python
    installation, ``sys.path`` and the user's site folder; empty temporary folders, /dev's null,
    zero, random and urandom, and the grader's own folder. Nothing else is there: not the checkout's
    package and ``book/`` (the solutions; covered by :func:`_masked` if a shown folder holds it),
    the home folder (nor an agent's socket in it), /run (the services' sockets), /sys (the cgroup
    files) or /dev/pts. Hidden lists the folders of note left out, the temporary folder first; a hand-ins'
    folder that lies in a read-only folder cannot be hidden (the kernel needs what is there)."""
    import site

    temporary = os.path.realpath(tempfile.gettempdir())
    # the working folder is on sys.path only because `python -m` puts it there: the graders import
    # their own copy of the package, so it is not kept (hand-ins in it are hidden)
    here = os.path.realpath(os.getcwd())
    path = [p for p in sys.path if p and os.path.realpath(p) != here]
    system = [p for p in SYSTEM if not os.path.islink(p)]  # a link (/bin -> usr/bin) is made again, as a link
    readonly = _outermost(p for p in [*system, sys.prefix, sys.base_prefix, *path, site.getuserbase()]
                          if os.path.isdir(p) and os.path.realpath(p) != "/")
    # /run holds the sockets of the user's and the system's services (D-Bus, Docker, ...), reachable
    # through a file whatever the network; the cgroup files can kill or freeze the grading command;
    # /dev/pts holds the instructor's terminal
    folders = {temporary, "/tmp", "/var/tmp", "/dev/shm", "/run", "/sys/fs/cgroup", "/dev/pts",
               os.path.expanduser("~")} | {
        os.path.realpath(os.path.dirname(os.path.abspath(p))) for p in paths}
    folders = {f for f in folders if os.path.isdir(f)}
    shown = lambda f: f == "/" or any(f == k or f.startswith(k.rstrip("/") + "/") for k in readonly)
    hidden = sorted(_outermost(f for f in folders if not shown(f)), key=lambda f: f != temporary)
    return hidden, readonly, sorted(f for f in folders if shown(f))


def _outermost(folders):
    """The folders, real paths, without those that lie in another of them."""
    folders = {os.path.realpath(f) for f in folders}
    return sorted(f for f in folders if not any(f != g and f.startswith(g.rstrip("/") + "/") for g in folders))


BOOT = """\
import base64, io, json, os, sys, zipfile
def read(n):  # exactly n bytes of stdin, unbuffered: nothing of the job is read ahead before the fork
    # (remote._read_exactly, before the package that holds it is unpacked)
    chunks = []
    while n:
        chunks.append(os.read(0, n))
        if not chunks[-1]:
            raise EOFError("the job ended early")
        n -= len(chunks[-1])
    return b"".join(chunks)
first = json.loads(read(int(read(16))))  # where to grade, and the autograder's package: public
zipfile.ZipFile(io.BytesIO(base64.b64decode(first["package"]))).extractall(first["root"] + "/checker")
sys.path.insert(0, first["root"] + "/checker")
from regan_tutorial import remote
remote.start()  # the answers' server, forked before the job (the hidden tests, the key) is read
job = json.loads(sys.stdin.readline())
zipfile.ZipFile(io.BytesIO(base64.b64decode(job["autograder"]))).extractall(job["root"] + "/checker")
from regan_tutorial.grading import _worker
_worker(job)
"""


def _chapter(nb, exercises, name):
    """Which chapter of the autograder a submission is: the student edition's record, else its labels."""
    regan = nb.metadata.get("regan", {})
    chapter = regan.get("chapter") if isinstance(regan, dict) else None
    if chapter in exercises:
        return chapter
    labels = {c.metadata.get("regan", {}).get("exercise") for c in nb.cells
              if isinstance(c.metadata.get("regan", {}), dict)}
    for stem, listed in exercises.items():
        if labels & {e["label"] for e in listed} or stem == Path(name).stem.split("__")[-1]:
            return stem
    return None


def _message(result):
    """The checker's line from an otter test case's doctest report."""
    text = result.message
    if "Got:" in text:
        lines = text.split("Got:", 1)[1].splitlines()[1:]
        return " ".join(l.strip() for l in lines if l.startswith("    ")).strip()
    return " ".join(text.split())[-400:]


def _otter_test_file():
    """otter's ``OKTestFile`` (the reader and runner of its test files), imported without running
    ``otter/__init__``, which loads otter's command line, exporters, nbconvert and pandas: 0.3 s
    instead of 1.2 s in every submission's grader. Falls back to the plain import should a
    future otter's test files need its package's top level."""
    import importlib.util
    import types

    if "otter" not in sys.modules:
        spec = importlib.util.find_spec("otter")
        package = types.ModuleType("otter")
        package.__path__, package.__spec__ = list(spec.submodule_search_locations), spec
        sys.modules["otter"] = package
        try:
            from otter.test_files.ok_test import OKTestFile
            return OKTestFile
        except ImportError:
            for name in [m for m in sys.modules if m == "otter" or m.startswith("otter.")]:
                del sys.modules[name]
    from otter.test_files.ok_test import OKTestFile
    return OKTestFile


def _load_tests(exercises, checker):
    """The chapter's otter tests, read before any student code runs (it could rewrite the files)."""
    OKTestFile = _otter_test_file()
    return {e["label"]: OKTestFile.from_file(os.path.join(checker, "tests", f"{e['label']}.py")) for e in exercises}


def _grade_tests(exercises, tests, answers):
    """Run the chapter's otter tests with the checkers of this process on the answers in their own processes."""
    from regan_tutorial import exercises as checks
    from regan_tutorial.remote import Answer

    graded = {}
    for exercise in exercises:
        env = {"exercises": checks, **{n: Answer(n, answers) for n in exercise["answers"]}}
        test = tests[exercise["label"]]
        test.run(env)
        failed = [(r, _message(r)) for r in test.test_case_results if not r.passed]
        untouched = [m for _, m in failed if "not implemented yet" in m]
        if untouched and len(untouched) == len(test.test_case_results):  # a stub left as it was, all of it
            status, message = NOT_ATTEMPTED, ""
        elif not failed:
            status, message = PASSED, ""
        else:
            result, message = failed[0]
            status = FAILED
            message += " (a hidden case: other random inputs than the notebook's check)" if result.test_case.hidden \
                else ""
        graded[exercise["label"]] = {"status": status, "points": 0 if status == NOT_ATTEMPTED else round(test.score, 4),
                                     "possible": round(test.possible, 6), "message": message}
    return graded


def _worker(job):
    """Grade one submission (in its own process, see the module's docstring) and print the signed report."""
    import nbformat
    import torch

    from regan_tutorial import exercises as _checks, losses, metrics, nets, remote, theory  # noqa: F401, before any student code

    torch.set_num_threads(1)
    _subreaper()
    _keep_to_itself()
    answering = remote._server()  # forked before this process read its job (BOOT)
    root, name = job["root"], job["name"]
    checker = os.path.join(root, "checker")
    exercises = json.load(open(os.path.join(checker, "exercises.json")))
    report = Report(name, job["student"], isolation=job["isolation"])
    tic = time.perf_counter()
    try:
        nb = nbformat.reads(base64.b64decode(job["notebook"]).decode("utf-8"), as_version=4)
        nbformat.validate(nb)
    except Exception as err:
        reason = " ".join(str(err).split())[:300]
        report.errors.append(f"not a readable notebook ({type(err).__name__}: {reason}); hand in the .ipynb "
                             "file saved by Jupyter or Colab")
        return _finish(job, report, tic)
    chapter = _chapter(nb, exercises, name)
    if chapter is None:
        report.errors.append("not a student edition of a chapter of this autograder (no exercise of the course "
                             "found in it)")
        return _finish(job, report, tic)
    report.chapter = chapter
    listed = exercises[chapter]
    tests = _load_tests(listed, checker)
    # the notebook could read the hidden cases' seeds there, or rewrite a module this process has not
    # yet imported: the tests are in memory, every module the checks use is imported, the files go
    from regan_tutorial import data, dynamics, profiles, studies, train  # noqa: F401
    import shutil

    shutil.rmtree(os.path.join(checker, "tests"))
    sandbox = os.path.join(root, "sandbox")  # all that the notebook's processes see of this folder
    kernel, work, answers, home = (os.path.join(sandbox, d) for d in ("kernel", "work", "answers", "home"))
    for d in (work, answers, home):
        os.makedirs(d)
    with zipfile.ZipFile(io.BytesIO(base64.b64decode(job["autograder"]))) as z:
        z.extractall(kernel, [m for m in z.namelist() if m.startswith("regan_tutorial/")])
    names = sorted({n for e in listed for n in e["answers"]})
    nb.cells.append(nbformat.v4.new_code_cell(SAVE.format(names=names, folder=answers)))
    nbformat.write(nb, os.path.join(work, "submission.ipynb"))
    # a home of its own: no startup file or configuration of the user's is read, none is left for later
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "JPY_", "JUPYTER", "IPYTHON", "XDG_"))
           and k not in ("PWD", "OLDPWD", "MPLCONFIGDIR")}
    env.update(PYTHONPATH=kernel, REGAN_PROFILE=job["profile"], TQDM_DISABLE="1", MPLBACKEND="agg",
               OMP_NUM_THREADS=str(job["threads"]), MKL_NUM_THREADS=str(job["threads"]), HOME=home,
               PYTHONUSERBASE=job["userbase"], MPLCONFIGDIR=os.path.join(home, "matplotlib"))
    executed = os.path.join(sandbox, "executed.ipynb")
    runner = subprocess.Popen([sys.executable, "-c", RUNNER, os.path.join(work, "submission.ipynb"), executed,
                               str(job["limit"]), work], cwd=work, env=env, stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        code = runner.wait(timeout=job["limit"])
    except subprocess.TimeoutExpired:
        code, report.timed_out = None, True
    _sweep(keep=(answering.pid,))  # the kernel, the runner, and whatever they started
    with_cells = _executed_errors(executed)
    report.errors += with_cells
    if report.timed_out or any(e.startswith(("CellTimeoutError", "DeadKernelError")) for e in with_cells):
        report.timed_out = True
        why = f"the notebook ran past the limit of {job['limit']} s per notebook"
    elif code != 0:
        why = (f"the notebook's kernel or the process running it ended before the last cell "
               f"(exit code {code}: did the notebook kill it, or exit?)")
    elif not os.path.exists(os.path.join(answers, "DONE")):
        why = ("the grader's last cell, which saves the answers, did not run to its end (does the notebook "
               "change how cells run, or stop the kernel?)")
    else:
        why = None
    if why:
        report.errors.append(why)
        report.exercises = {e["label"]: {"status": ERROR, "points": 0, "possible": e["points"], "message": why}
                            for e in listed}
        return _finish(job, report, tic)
    # read now, while nothing the submission started runs: a later change to the files counts for nothing
    report.exercises = _grade_tests(listed, tests, _read_answers(answers))
    if not _sweep():  # a verdict is printed only when nothing the submission started is left to write it
        why = "the submission left processes behind that could not be stopped: it was not graded"
        report.errors.append(why)
        report.exercises = {e["label"]: {"status": ERROR, "points": 0, "possible": e["points"], "message": why}
                            for e in listed}
    return _finish(job, report, tic)


def _keep_to_itself():
    """The grader's memory, /proc files and stdout out of its notebook's reach (not dumpable: a
    process of the same user cannot trace it or open its files through /proc), and an interrupt
    from the kernel ignored (in namespaces the grader is their first process, whom nothing inside
    can kill)."""
    import ctypes

    try:
        ctypes.CDLL(None, use_errno=True).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE, 0
    except (OSError, AttributeError):
        pass
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _read_answers(folder):
    """The files the kernel saved its answers to, as {file name: bytes} (see :class:`remote.Answer`)."""
    found = {}
    for entry in os.scandir(folder):
        if entry.is_file(follow_symlinks=False):
            with open(entry.path, "rb") as f:
                found[entry.name] = f.read()
    return found


def _executed_errors(path):
    import nbformat

    try:
        nb = nbformat.read(path, as_version=4)
    except Exception:
        return []
    errors = []
    for cell in nb.cells:
        regan = cell.metadata.get("regan", {})
        role = regan.get("role") if isinstance(regan, dict) else None
        if cell.cell_type == "code" and role not in ("stub", "check"):
            errors += [f"{o.get('ename')}: {o.get('evalue')}"[:300] for o in cell.get("outputs", [])
                       if o.get("output_type") == "error"]
    return errors


def _sign(key, body):
    return hmac.new(bytes.fromhex(key), body.encode(), hashlib.sha256).hexdigest()


def _finish(job, report, tic):
    report.seconds = round(time.perf_counter() - tic, 1)
    body = json.dumps(report.as_dict())
    sys.stdout.write("\n" + json.dumps({"report": body, "mac": _sign(job["key"], body)}) + "\n")
    sys.stdout.flush()


# --- the class --------------------------------------------------------------------------------

def student_of(path):
    """The student of a hand-in: ``NAME__chapter.ipynb`` gives NAME, else the folder it lies in."""
    path = Path(path)
    return path.stem.split("__")[0] if "__" in path.stem else path.parent.name


_WORKERS, _WORKERS_LOCK = set(), threading.Lock()


def _command(root, confine, boot=None):
    """How a grader starts: in namespaces of its own with ``confine`` (hidden, read-only), where its
    folder ``root`` appears as INSIDE in the emptied temporary folder, else as a plain process.
    Returns (command, the folder's path as the grader sees it)."""
    boot = BOOT if boot is None else boot
    if not confine:
        return [sys.executable, "-I", "-c", boot], root
    hide, readonly = confine
    inside = os.path.join(hide[0], INSIDE)
    links = {p: os.readlink(p) for p in SYSTEM if os.path.islink(p)}
    temporary = list(dict.fromkeys([hide[0], "/tmp", "/var/tmp"]))
    return [*UNSHARE, sys.executable, "-I", "-c", SANDBOX, json.dumps(
        {"root": root, "inside": inside, "temporary": temporary, "readonly": readonly, "links": links,
         "mask": _masked(readonly), "boot": boot})], inside


def _masked(readonly):
    """What a grader's root covers up inside the folders it shows: the checkout's ``book/`` (the
    solutions) if a folder of ``sys.path`` holds it, and, when grading as root (root is mapped to
    root), the files in /etc that only root may read (/etc/shadow, ssh host keys, ...)."""
    book = os.path.realpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "book"))
    masked = [book] if os.path.isdir(book) and any(book.startswith(r.rstrip("/") + "/") for r in readonly) else []
    if os.geteuid() == 0:
        for folder, _, files in os.walk("/etc"):
            for name in files:
                path = os.path.join(folder, name)
                with contextlib.suppress(OSError):
                    if not os.path.islink(path) and not os.stat(path).st_mode & 0o004:
                        masked.append(path)
    return masked


def _environment():
    """What of the instructor's environment a grader gets: the search path, the locale and the course's
    own settings, not the tokens and keys a shell may hold (the student's code could print them)."""
    return {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "LANGUAGE", "TZ", "REGAN_MNIST", "REGAN_DATA")
            or k.startswith("LC_")}


@contextlib.contextmanager
def _folder():
    """A temporary folder for one grader, removed afterwards whatever the notebook left in it (a chain
    of folders too deep for ``shutil.rmtree``'s recursion, files made read-only): by ``rm -rf``."""
    root = tempfile.mkdtemp(prefix="regan-grade-")
    try:
        yield root
    finally:
        for _ in range(5):  # again while a process that is being killed still writes there
            subprocess.run(["chmod", "-R", "u+rwx", root], capture_output=True)
            subprocess.run(["rm", "-rf", "--one-file-system", root], capture_output=True)
            if not os.path.exists(root):
                break
            time.sleep(1)


@functools.lru_cache(maxsize=4)
def _package_of(autograder):
    """The autograder's copy of the package alone (base64 of a zip): what a grader reads before its job."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(autograder)) as source, zipfile.ZipFile(buffer, "w") as z:
        for name in source.namelist():
            if name.startswith("regan_tutorial/"):
                z.writestr(name, source.read(name))
    return base64.b64encode(buffer.getvalue()).decode()


def _grade_one(path, data, autograder, limit, profile, threads, confine, isolation):
    import site

    key = secrets.token_hex(32)
    report = Report(str(path), student_of(path), isolation=isolation)
    tic = time.perf_counter()
    with _folder() as root:
        command, seen = _command(root, confine)
        job = {"root": seen, "key": key, "name": str(path), "student": report.student, "limit": limit,
               "profile": profile, "threads": threads, "notebook": base64.b64encode(data).decode(),
               "autograder": base64.b64encode(autograder).decode(), "isolation": isolation,
               "userbase": site.getuserbase()}
        with _WORKERS_LOCK:
            worker = subprocess.Popen(command, stdin=subprocess.PIPE, env=_environment(),
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=root, start_new_session=True)
            _WORKERS.add(worker.pid)
        try:
            first = json.dumps({"root": seen, "package": _package_of(autograder)}).encode()
            out, err = worker.communicate(b"%016d" % len(first) + first + json.dumps(job).encode() + b"\n",
                                          timeout=limit + CHECK_SECONDS)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
            out, err = worker.communicate()
            report.timed_out, report.seconds = True, round(time.perf_counter() - tic, 1)
            report.errors.append(f"its grading ran past {limit + CHECK_SECONDS} s and was stopped")
        finally:  # what a killed worker left behind was reparented here: it goes before the next hand-in
            with _WORKERS_LOCK:
                _WORKERS.discard(worker.pid)
                _sweep(keep=_WORKERS)
        if report.timed_out:
            return report
    for line in reversed(out.decode(errors="replace").splitlines()):
        try:
            signed = json.loads(line)
            if worker.returncode == 0 and hmac.compare_digest(signed["mac"], _sign(key, signed["report"])):
                return Report(**json.loads(signed["report"]))
        except (ValueError, KeyError, TypeError, AttributeError):
            continue
    report.seconds = round(time.perf_counter() - tic, 1)
    tail = " ".join(err.decode(errors="replace").split()[-40:])
    report.errors.append(f"its grader ended without a verdict (exit code {worker.returncode}; the notebook may "
                         f"have killed it): {tail}"[:600])
    return report


def grade_all(paths, autograder, limit=600, jobs=1, profile="smoke", progress=None):
    """Grade the notebooks at ``paths`` with the autograder (zip bytes), ``jobs`` at a time; in order."""
    _subreaper()
    snapshot = {}
    for path in paths:
        with open(path, "rb") as f:
            snapshot[path] = f.read()
    exercises = json.loads(zipfile.ZipFile(io.BytesIO(autograder)).read("exercises.json"))
    possible = {e["label"]: e["points"] for chapter in exercises.values() for e in chapter}
    # The cores shared out: two kernels that each spin the threads of every core are many times slower.
    threads = max(1, (os.cpu_count() or 1) // max(1, jobs))
    confine, why_not, shown = None, _sandbox(), []
    if not why_not:
        hide, readonly, shown = _confinement(paths)
        if not hide or hide[0] != os.path.realpath(tempfile.gettempdir()):
            why_not = "the temporary folder holds the Python installation or a folder of sys.path"
        else:
            with tempfile.TemporaryDirectory(prefix="regan-grade-") as root:  # a trial of the real thing
                done = subprocess.run(_command(root, (hide, readonly), boot="pass")[0], capture_output=True,
                                      text=True, timeout=60)
            why_not = "" if done.returncode == 0 else " ".join(done.stderr.split())[-200:]
            confine = None if why_not else (hide, readonly)
    isolation = (f"processes only: namespaces are not available here ({why_not})" if why_not else
                 "namespaces" + (f"; the hand-ins in {', '.join(shown)} are not hidden from it, as the Python "
                                 "installation or a folder of sys.path is there" if shown else "")
                 + ("; graded as root, which the namespaces map to root: /proc/sys is read-only and the files "
                    "of /etc only root may read are covered, but grade as a user who owns nothing else"
                    if os.geteuid() == 0 else ""))

    def one(path):
        try:
            report = _grade_one(path, snapshot[path], autograder, limit, profile, threads, confine, isolation)
        except Exception as err:  # whatever a hand-in did to its grader, the others are graded
            report = Report(str(path), student_of(path), isolation=isolation)
            report.errors.append(f"its grading failed ({type(err).__name__}: {' '.join(str(err).split())[:300]})")
        if not report.chapter:  # a grader that died: which chapter, from the file itself (read as data only)
            report.chapter = _chapter_of_bytes(snapshot[path], exercises, path) or ""
        if not report.exercises and report.chapter in exercises:
            report.exercises = {e["label"]: {"status": ERROR, "points": 0, "possible": e["points"],
                                             "message": report.errors[-1] if report.errors else ""}
                                for e in exercises[report.chapter]}
        if progress:
            progress(report)
        return report

    with ThreadPoolExecutor(max(1, jobs)) as pool:
        reports = list(pool.map(one, paths))
    _sweep()
    for path, report in zip(paths, reports):
        with open(path, "rb") as f:
            if f.read() != snapshot[path]:
                report.errors.append("the file changed on disk while the class was graded: this grade is of the "
                                     "file as it was when grading started")
    _flag_duplicates(reports)
    return reports, possible


def _total(report):
    return sum(r["points"] for r in report.exercises.values())


def _flag_duplicates(reports):
    """Two hand-ins of one student for one chapter: both reports say so; the gradebook counts the one
    with more points (:func:`write_csv`), the first of them on a tie."""
    groups = {}
    for r in reports:
        if r.student and r.chapter:
            groups.setdefault((r.student, r.chapter), []).append(r)
    for group in (g for g in groups.values() if len(g) > 1):
        kept = max(group, key=_total)
        for r in group:
            others = ", ".join(o.notebook for o in group if o is not r)
            r.errors.append(f"{r.student} handed in {r.chapter} more than once (also {others}): the gradebook "
                            + ("counts this one, which has the most points" if r is kept else
                               f"counts {kept.notebook}, which has more points"))


def _chapter_of_bytes(data, exercises, name):
    import nbformat

    try:
        return _chapter(nbformat.reads(data.decode("utf-8"), as_version=4), exercises, str(name))
    except Exception:  # not a notebook: the chapter its name gives, as in NAME__chapter.ipynb
        stem = Path(name).stem.split("__")[-1]
        return stem if stem in exercises else None


def grade(path, timeout=600, autograder=None, profile=None):
    """Grade one notebook (the book's autograder unless ``autograder`` is given): its Report."""
    autograder = autograder or build_autograder(Path(__file__).resolve().parent.parent)
    return grade_all([path], autograder, timeout, 1, profile or os.environ.get("REGAN_PROFILE", "smoke"))[0][0]


def write_csv(reports, possible, path):
    """The gradebook: one row per student, the points of each exercise, the total and what was possible.
    ``path`` is a file name or a file already open for writing (``grade`` opens its reports before
    grading, so that no hand-in can put a folder or a link in their place while it runs)."""
    labels = sorted({label for r in reports for label in r.exercises} or possible)
    best = {}  # (student, chapter) -> the hand-in with the most points (see _flag_duplicates)
    for r in reports:
        key = (r.student or r.notebook, r.chapter or r.notebook)
        if key not in best or _total(r) > _total(best[key]):
            best[key] = r
    rows = {}
    for r in best.values():
        row = rows.setdefault(r.student or r.notebook, {})
        for label, result in r.exercises.items():
            row[label] = result["points"]
    with contextlib.ExitStack() as stack:
        f = path if hasattr(path, "write") else stack.enter_context(open(path, "w", newline=""))
        out = csv.writer(f)
        out.writerow(["student", *labels, "total", "possible"])
        for student, row in sorted(rows.items()):
            # a name that a spreadsheet would read as a formula (=, +, -, @) is kept as text
            shown = "'" + student if student[:1] in ("=", "+", "-", "@", "\t", "\r") else student
            out.writerow([shown, *[row.get(label, "") for label in labels],
                          sum(row.values()), sum(possible[label] for label in row)])


def summary(report):
    """The report as lines a person reads."""
    lines = [f"{report.notebook} ({report.student or '?'}, {report.chapter or 'no chapter'}, {report.seconds:.0f} s):"
             + (" TIMED OUT" if report.timed_out else "")]
    for label, result in report.exercises.items():
        lines.append(f"  {label:24s} {result['status']:13s} {result['points']:g}/{result['possible']:g}"
                     + (f": {result['message']}" if result["message"] else ""))
    if not report.exercises:
        lines.append("  (no exercise graded)")
    lines += [f"  error: {e}" for e in report.errors]
    return "\n".join(lines)
