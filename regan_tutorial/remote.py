"""A student's answer, called in a process of its own, so that the checker never runs the student's code.

The grader (:mod:`regan_tutorial.grading`) hands each checker an :class:`Answer` in place of the
student's function. Calling it forks the checker's process; the child loads the answer that the
student's kernel saved (with ``dill``), calls it on the checker's arguments (which the fork
shares, autograd graphs included) and sends back plain data: the value, and the gradient of its
sum with respect to the tensors the checker names (``wrt``). The parent rebuilds a tensor with
that value and that gradient (:class:`_Replay`), so the checker's own gradient tests run on it
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
import signal

import numpy as np
import torch

TAMPERED = "sys.setprofile"  # noted where the answer turned off or replaced the grader's profile hook
PATCHED = "the checker"  # noted where the answer replaced a helper of the checker while it ran
CHECKER_HELPERS = ("_last_operation", "_operations")  # what the checker reads in the answer's process


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


class Answer:
    """The student's ``name``, saved by the kernel as ``name.pkl`` among ``files`` ({file name:
    bytes}, read by the grader before any check runs), called in a forked child.

    ``forbid`` names the package's reference functions of the exercise ("theory.jsd"); ``collected``
    holds, after a call with ``collect``, what that function returned in the child.
    """

    remote = True

    def __init__(self, name, files, forbid=()):
        self.name, self.files, self.forbid, self.collected = name, files, tuple(forbid), None

    def __call__(self, *args):
        return self.call(args)

    def _load(self):
        import dill

        saved, error = self.files.get(f"{self.name}.pkl"), self.files.get(f"{self.name}.pkl.error")
        if error is not None:
            raise RuntimeError(f"{self.name} could not be saved for grading ({error.decode(errors='replace').strip()})")
        if saved is None:
            raise NameError(f"name {self.name!r} is not defined in the notebook")
        return dill.loads(saved)

    def _child(self, args, wrt, collect, probe, notes):
        codes = _forbid(self.forbid)  # from here on, no reference of the exercise is reachable by name
        try:
            obj = self._load()
            for candidate in (obj, getattr(obj, "__wrapped__", None), getattr(obj, "func", None)):
                name = getattr(candidate, "regan_tripwire", None) or codes.get(_code_key(candidate))
                if name:
                    raise UsesPackage(name)
            if probe is not None:
                return {"value": _portable(_watched(codes, notes, probe, (obj,)))}
            versions = [a._version if torch.is_tensor(a) else None for a in args]
            got = _watched(codes, notes, obj, args)
            message = {"value": _portable(got), "changed": {  # what it changed in place, for the checker to see
                i: a.detach().cpu().clone() for i, (a, v) in enumerate(zip(args, versions)) if v is not None and a._version != v}}
            if torch.is_tensor(got) and got.requires_grad:
                from .exercises import _last_operation, _operations

                message["ops"] = [_last_operation(got), sorted(_operations(got))]
                if wrt:
                    try:
                        message["grads"] = list(torch.autograd.grad(got.sum(), list(wrt), allow_unused=True,
                                                                    retain_graph=True))
                    except RuntimeError as err:
                        message["grad_error"] = str(err).splitlines()[0]
            if collect is not None:
                message["collected"] = _portable(collect())
            return message
        except UsesPackage as err:
            return {"package": err.args[0]}
        except BaseException as err:  # reported in the parent as the same kind of error
            return {"raised": type(err).__name__, "message": str(err)[:500],
                    "not_implemented": isinstance(err, NotImplementedError)}

    def call(self, args, wrt=(), collect=None, probe=None):
        """``answer(*args)`` in a forked child; ``probe(answer)`` instead, if given (e.g. to describe a net)."""
        wrt = list(wrt)
        read, write = os.pipe()
        notes_read, notes = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: never returns into the checker's code
            try:
                os.close(read)
                os.close(notes_read)
                null = os.open(os.devnull, os.O_RDWR)
                for fd in (0, 1, 2):
                    os.dup2(null, fd)
                message = self._child(args, wrt, collect, probe, notes)
                buffer = io.BytesIO()
                torch.save(message, buffer)
                os.write(write, buffer.getvalue())
            finally:
                os._exit(0)
        os.close(write)
        os.close(notes)
        chunks = []
        try:
            while True:
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
            os.set_blocking(notes_read, False)  # the child and all it started are gone or hold no pipe now
            try:
                noted = os.read(notes_read, 1 << 16)
            except BlockingIOError:
                noted = b""
            os.close(notes_read)
        if noted:
            raise UsesPackage(noted.split(b"\n", 1)[0].decode(errors="replace"))
        try:
            message = torch.load(io.BytesIO(b"".join(chunks)), weights_only=True)
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
                args[i].copy_(value)
        if "collected" in message:
            self.collected = _rebuild(message["collected"])
        ops = message.get("ops")
        return _rebuild(message["value"], wrt, message.get("grads"), message.get("grad_error"), ops)
