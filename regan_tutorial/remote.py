"""A student's answer, called in a process of its own, so that the checker never runs the student's code.

The grader (:mod:`regan_tutorial.grading`) hands each checker an :class:`Answer` in place of the
student's function. The answers run in the children of a server (:func:`start`) that the grader
forks from itself before it reads its job and before the notebook runs, so its memory holds
nothing that came later: no hidden case, seed, reference value or key. Each call sends the server the
checker's arguments (pickled with ``dill``, one pickle, so a tensor and the net or closure that
holds it stay one object); the server forks a child that loads the answer the student's kernel
saved, calls it and sends back plain data: the value, and the gradient of its sum with respect to
the arguments that need one and the tensors the checker names (``wrt``). A tensor argument with a
graph of the checker's is sent as a leaf, and its gradient is chained back through that graph
here; an argument the answer must differentiate through (D's logits, for its input gradient) is
sent as a :class:`Computed`, which the child computes. The grader rebuilds a tensor with that
value and that gradient (:class:`_Replay`), so the checker's own gradient tests run on it
unchanged, and reads the child's message with ``torch.load(weights_only=True)``, which builds
tensors and plain containers only. Whatever the student's code does in the child (patch the
checker, print, exit) ends with the child. In the child the package's reference functions of the
exercise are replaced by tripwires, so an answer that is, wraps or calls one is named as such.
"""

import decimal
import importlib
import io
import numbers
import os
import select
import signal
import struct
import time

import numpy as np
import torch

TAMPERED = "sys.setprofile"  # noted where the answer turned off or replaced the grader's profile hook
PATCHED = "the checker"  # noted where the answer replaced a helper of the checker while it ran
# what the checker reads in the answer's process (put back if the answer replaces one)
CHECKER_HELPERS = ("_graph_last_operation", "_graph_operations", "_last_operation", "_operations")


class UsesPackage(BaseException):
    """The answer called the package's own reference function ``args[0]`` (a BaseException: an
    ``except Exception`` in the answer does not hide it)."""


def _tripwire(name):
    def tripwire(*args, **kwargs):
        raise UsesPackage(name)

    tripwire.regan_tripwire = name
    return tripwire


def _module_attr(qualified):
    module, _, attr = qualified.rpartition(".")
    return importlib.import_module(f"regan_tutorial.{module}"), attr


def _portable(x, depth=0):
    """``x`` as data that ``torch.load(weights_only=True)`` reads back: tensors, numbers, text, lists."""
    if torch.is_tensor(x):
        return {"kind": "tensor", "data": x.detach().cpu().clone(), "requires_grad": bool(x.requires_grad)}
    if isinstance(x, np.ndarray) and x.dtype.kind in "biuf":
        return {"kind": "ndarray", "data": torch.from_numpy(np.array(x, dtype=np.float64))}
    if isinstance(x, (bool, np.bool_)):
        return {"kind": "number", "value": bool(x)}
    if isinstance(x, (int, np.integer)):
        return {"kind": "number", "value": int(x)}
    if isinstance(x, (numbers.Real, decimal.Decimal)):  # np.longdouble, Fraction, Decimal: as the float they are
        return {"kind": "number", "value": float(x)}
    if x is None or isinstance(x, str):
        return {"kind": "plain", "value": x}
    if isinstance(x, (list, tuple)) and depth < 2:
        return {"kind": "list", "items": [_portable(v, depth + 1) for v in x]}
    return {"kind": "opaque", "type": type(x).__name__}


class Opaque:
    """A result the child could not send as data; its type's name is what the checker reports."""

    def __init__(self, type_name):
        self.__class__ = type(type_name, (Opaque,), {})


class _Replay(torch.autograd.Function):
    """A tensor with the child's value whose backward pass gives the child's gradients (of the sum)."""

    @staticmethod
    def forward(ctx, value, grads, error, *wrt):
        ctx.grads, ctx.error = grads, error
        return value.clone()

    @staticmethod
    def backward(ctx, grad_out):
        if ctx.error:
            raise RuntimeError(ctx.error)
        scale = grad_out.sum() / max(grad_out.numel(), 1)
        return (None, None, None, *[None if g is None else scale * g for g in ctx.grads])


def _rebuild(item, wrt=(), grads=None, error=None, ops=None):
    kind = item["kind"]
    if kind == "tensor":
        value = item["data"]
        if not item["requires_grad"]:
            return value
        inputs = [t for t in wrt] or [torch.zeros((), requires_grad=True)]
        out = _Replay.apply(value, list(grads or [None] * len(inputs)), error, *inputs)
        out.regan_ops = ops
        return out
    if kind == "ndarray":
        return item["data"].numpy()
    if kind in ("number", "plain"):
        return item["value"]
    if kind == "list":
        return [_rebuild(v) for v in item["items"]]
    return Opaque(item["type"])


def _code_key(function):
    code = getattr(function, "__code__", None)
    return None if code is None else (code.co_code, code.co_names, repr(code.co_consts))


def _forbid(qualified_names):
    """In this (child) process, every name in the package bound to a reference function of the
    exercise becomes a tripwire, and the originals are dropped (an answer that walks up the stack
    finds none); returns {code key: name}, to know the reference's code wherever it is loaded again."""
    import sys

    codes, originals = {}, {}
    for qualified in qualified_names:
        module, attr = _module_attr(qualified)
        originals[qualified] = getattr(module, attr)
        codes[_code_key(originals[qualified])] = qualified
    for module in [m for n, m in list(sys.modules.items()) if n == "regan_tutorial" or n.startswith("regan_tutorial.")]:
        for attr, value in list(vars(module).items()):
            for qualified, original in originals.items():
                if value is original:
                    setattr(module, attr, _tripwire(qualified))
    return codes


def _watched(codes, notes, function, args):
    """``function(*args)`` with a profile hook that writes to the pipe ``notes`` each call of code
    that is a reference's, however it was reached (a reloaded module, a copy loaded from the source
    file, a thread): written to a pipe the parent reads, so that nothing the answer does afterwards
    (an ``except BaseException``, a walk up the stack) takes it back. The checker's own helpers,
    replaced by the answer while it runs, are put back and that too is written."""
    import sys
    import threading

    from . import exercises

    helpers = {name: getattr(exercises, name) for name in CHECKER_HELPERS}

    def restore():  # the checker's helpers, if the answer replaced them
        if any(vars(exercises).get(k) is not v for k, v in helpers.items()):
            vars(exercises).update(helpers)
            note(PATCHED)

    def note(name):
        try:
            os.write(notes, name.encode() + b"\n")
        except OSError:  # the answer closed the pipe: nothing it returns counts
            os._exit(3)

    def hook(frame, event, arg):
        if event == "call":
            name = codes.get((frame.f_code.co_code, frame.f_code.co_names, repr(frame.f_code.co_consts)))
            if name:
                note(name)
        elif event == "return":
            restore()

    sys.setprofile(hook)
    threading.setprofile(hook)  # and in every thread the answer starts
    try:
        return function(*args)
    finally:
        if sys.getprofile() is not hook or threading.getprofile() is not hook:
            note(TAMPERED)  # the answer turned the hook off, or replaced it
        sys.setprofile(None)
        threading.setprofile(None)
        restore()


class Computed:
    """An argument that the answer's process computes itself, ``fn(*inputs)``: a tensor whose graph to
    ``inputs`` the answer needs (D's logits, whose gradient with respect to D's input a regularizer
    takes), which a pickle does not carry. In the student's notebook :func:`resolved` computes it."""

    def __init__(self, fn, *inputs):
        self.fn, self.inputs = fn, inputs


def resolved(args):
    return tuple(a.fn(*a.inputs) if isinstance(a, Computed) else a for a in args)


def _child(request, notes):
    """Run in the server's child: the answer called on the checker's arguments, as a message of data."""
    import dill

    codes = _forbid(request["forbid"])  # from here on, no reference of the exercise is reachable by name
    try:
        if request["error"] is not None:
            raise RuntimeError(f"{request['name']} could not be saved for grading ({request['error']})")
        if request["saved"] is None:
            raise NameError(f"name {request['name']!r} is not defined in the notebook")
        try:
            obj = dill.loads(request["saved"])
        except AttributeError as err:  # dill saves such a class by its name, which the grader lacks
            if "<module '__main__'" not in str(err):
                raise
            raise RuntimeError(f"it uses a class defined in the notebook that could not be saved for grading "
                               f"({err}): a torch.autograd.Function or an Enum at the notebook's top level is "
                               "saved by its name only; define it inside the function (or forward) that uses it"
                               ) from None
        for candidate in (obj, getattr(obj, "__wrapped__", None), getattr(obj, "func", None)):
            name = getattr(candidate, "regan_tripwire", None) or codes.get(_code_key(candidate))
            if name:
                raise UsesPackage(name)
        sent = dill.loads(request["arguments"])
        args, leaves = list(sent["args"]), {}
        for i in sent["chained"]:  # a tensor of the checker's graph: a leaf here, the answer gets its clone
            leaves[i] = args[i].requires_grad_(True)
            args[i] = leaves[i].clone()
        args = list(resolved(args))
        torch.manual_seed(0)  # an answer's own random numbers, e.g. WGAN-GP's alpha: the same in every case
        np.random.seed(0)
        if sent["probe"] is not None:
            return {"value": _portable(_watched(codes, notes, sent["probe"], (obj,)))}
        before = [a.detach().clone() if torch.is_tensor(a) else None for a in args]
        graphs = [torch.is_tensor(a) and a.requires_grad for a in args]
        got = _watched(codes, notes, obj, args)
        message = {"value": _portable(got), "changed": {  # what it changed in place (.data too), for the checker
            i: a.detach().cpu().clone() for i, (a, b) in enumerate(zip(args, before))
            if b is not None and not torch.equal(a.detach(), b)},
            "detached": [i for i, (a, g) in enumerate(zip(args, graphs)) if g and not a.requires_grad]}
        if torch.is_tensor(got) and got.requires_grad:
            from .exercises import _graph_last_operation, _graph_operations

            message["ops"] = [_graph_last_operation(got), sorted(_graph_operations(got))]
            targets = [leaves.get(i, args[i]) for i in sent["inputs"]] + list(sent["wrt"])
            if targets:
                try:
                    message["grads"] = list(torch.autograd.grad(got.sum(), targets, allow_unused=True,
                                                                retain_graph=True))
                except RuntimeError as err:
                    message["grad_error"] = str(err).splitlines()[0]
        if sent["collect"] is not None:
            message["collected"] = _portable(sent["collect"]())
        return message
    except UsesPackage as err:
        return {"package": err.args[0]}
    except BaseException as err:  # reported in the grader as the same kind of error
        return {"raised": type(err).__name__, "message": str(err)[:500],
                "not_implemented": isinstance(err, NotImplementedError)}


def _write_all(fd, data):
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _read_exactly(fd, n):
    chunks = []
    while n:
        chunk = os.read(fd, min(n, 1 << 20))
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def _frame(*parts):
    return b"".join(struct.pack(">Q", len(p)) + p for p in parts)


def _read_frame(fd, parts):
    return [_read_exactly(fd, struct.unpack(">Q", _read_exactly(fd, 8))[0]) for _ in range(parts)]


def _fork(close, run):
    """A child that closes the descriptors ``close``, has /dev/null for stdin, stdout and stderr, runs
    ``run()`` and exits (it never returns into its parent's code); its pid."""
    pid = os.fork()
    if pid == 0:
        try:
            for fd in close:
                os.close(fd)
            null = os.open(os.devnull, os.O_RDWR)
            for fd in (0, 1, 2):
                os.dup2(null, fd)
            run()
        finally:
            os._exit(0)
    return pid


def _one_call(request, limit, server_fds):
    """Fork a child for one call and read what it sends, within ``limit`` seconds: (message, notes, timed out)."""
    read, write = os.pipe()
    notes_read, notes = os.pipe()

    def call():
        buffer = io.BytesIO()
        torch.save(_child(request, notes), buffer)
        _write_all(write, buffer.getvalue())

    pid = _fork((read, notes_read, *server_fds), call)
    os.close(write)
    os.close(notes)
    chunks, deadline, timed_out = [], time.monotonic() + limit, False
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([read], [], [], left)[0]:
                timed_out = True
                break
            chunk = os.read(read, 1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(read)
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        os.waitpid(pid, 0)
        os.set_blocking(notes_read, False)  # the child is gone; what it started holds no pipe, or is ignored
        try:
            noted = os.read(notes_read, 1 << 16)
        except BlockingIOError:
            noted = b""
        os.close(notes_read)
    return b"".join(chunks), noted, timed_out


def _serve(requests, replies):
    """The answers' server: for each request, a child (:func:`_one_call`) and its reply; ends when
    the requests' pipe closes."""
    import ctypes
    import pickle

    try:
        ctypes.CDLL(None, use_errno=True).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE, 0: no tracing by the kernel
    except (OSError, AttributeError):
        pass
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    torch.set_num_threads(1)
    while True:
        try:
            header, request = _read_frame(requests, 2)
        except EOFError:
            return
        message, noted, timed_out = _one_call(pickle.loads(request), float(header), (requests, replies))
        _write_all(replies, _frame(message, noted, b"1" if timed_out else b""))


class _Server:
    """The answers' server (a child of this process) and the two pipes to it."""

    def __init__(self, pid, requests, replies):
        self.pid, self.requests, self.replies, self.ended = pid, requests, replies, False

    def alive(self):
        try:
            self.ended = self.ended or os.waitpid(self.pid, os.WNOHANG) != (0, 0)
        except ChildProcessError:
            self.ended = True
        return not self.ended

    def call(self, request, limit):
        """(the child's message, its notes, whether it ran past ``limit`` s). The caller's alarms wait
        until the reply is read: a frame read halfway would garble the next."""
        import pickle

        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
        try:
            _write_all(self.requests, _frame(str(limit).encode(), pickle.dumps(request)))
            if not select.select([self.replies], [], [], limit + ANSWER_MARGIN)[0]:  # stopped, e.g. by SIGSTOP
                os.kill(self.pid, signal.SIGKILL)
                self.ended = True
                raise EOFError
            message, noted, timed_out = _read_frame(self.replies, 3)
        except (EOFError, BrokenPipeError):
            raise RuntimeError("the process that runs the answers ended or stopped answering (did an answer "
                               "kill or stop it?)") from None
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        return message, noted, bool(timed_out)


_SERVER = {"server": None, "restart": False}
ANSWER_MARGIN = 10  # seconds a reply may take beyond the call's own limit before the server is given up


def start(restart=False):
    """Fork the answers' server from this process, now: the grader calls this before it reads its job
    (the hidden cases, the key), so that nothing an answer must not see is in the server's memory,
    and before any student code runs, so that the modules it has imported are the autograder's.
    Later calls use it and, if it ends, fail rather than start another (unless ``restart``: in a
    notebook or a test, where no answer has run yet)."""
    import dill  # noqa: F401

    from . import data, dynamics, exercises, losses, metrics, nets, profiles, studies, theory, train  # noqa: F401

    requests_read, requests = os.pipe()
    replies, replies_write = os.pipe()
    # not the grader's stdin (its job) nor its stdout (its report)
    pid = _fork((requests, replies), lambda: _serve(requests_read, replies_write))
    os.close(requests_read)
    os.close(replies_write)
    _SERVER.update(server=_Server(pid, requests, replies), restart=restart)
    return _SERVER["server"]


def _server():
    server = _SERVER["server"]
    if server is None or (_SERVER["restart"] and not server.alive()):  # in a notebook or a test
        server = start(restart=True)
    return server


class Answer:
    """The student's ``name``, saved by the kernel as ``name.pkl`` among ``files`` ({file name:
    bytes}, read by the grader before any check runs), called in a child of the answers' server.

    ``forbid`` names the package's reference functions of the exercise ("theory.jsd"); ``collected``
    holds, after a call with ``collect``, what that function returned in the child.
    """

    remote = True

    def __init__(self, name, files, forbid=()):
        self.name, self.files, self.forbid, self.collected = name, files, tuple(forbid), None

    def __call__(self, *args):
        return self.call(args)

    def call(self, args, wrt=(), collect=None, probe=None):
        """``answer(*args)`` in a child of the server; ``probe(answer)`` instead, if given (e.g. to describe
        a net). The result's gradient reaches ``wrt`` and the arguments that require one."""
        import dill

        from .exercises import TIME_LIMIT, _TooSlow

        args, inputs, at = list(args), [], []
        for i, a in enumerate(args):  # each tensor once: its gradient comes back once
            if torch.is_tensor(a) and a.requires_grad and not any(a is t for t in inputs):
                inputs.append(a)
                at.append(i)
        extra = [w for w in wrt if not any(w is t for t in inputs)]
        chained = [i for i in at if args[i].grad_fn is not None]
        sent = [a.detach() if torch.is_tensor(a) and a.grad_fn is not None else a for a in args]
        error = self.files.get(f"{self.name}.pkl.error")
        request = {"name": self.name, "saved": self.files.get(f"{self.name}.pkl"), "forbid": self.forbid,
                   "error": None if error is None else error.decode(errors="replace").strip(),
                   "arguments": dill.dumps({"args": sent, "chained": chained, "wrt": extra, "probe": probe,
                                            "collect": collect, "inputs": at})}
        raw, noted, timed_out = _server().call(request, TIME_LIMIT)
        if noted:
            raise UsesPackage(noted.split(b"\n", 1)[0].decode(errors="replace"))
        if timed_out:
            raise _TooSlow
        try:
            message = torch.load(io.BytesIO(raw), weights_only=True)
        except Exception:
            raise RuntimeError("its process ended without a result (did it exit, or crash the interpreter?)") \
                from None
        if "package" in message:
            raise UsesPackage(message["package"])
        if "raised" in message:
            if message["not_implemented"]:
                raise NotImplementedError(message["message"])
            name = "".join(c for c in message["raised"] if c.isalnum() or c == "_") or "Error"
            raise type(name, (Exception,), {})(message["message"])
        with torch.no_grad():
            for i, value in message.get("changed", {}).items():
                if torch.is_tensor(args[i]):
                    args[i].copy_(value)
        if "collected" in message:
            self.collected = _rebuild(message["collected"])
        got = _rebuild(message["value"], inputs + extra, message.get("grads"), message.get("grad_error"),
                       message.get("ops"))
        for i in message.get("detached", []):  # e.g. d_real.detach_() after its use: the checker sees it too
            if torch.is_tensor(args[i]) and args[i].grad_fn is not None:
                args[i].detach_()
        return got
