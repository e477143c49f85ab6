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

import importlib
import io
import os
import signal

import numpy as np
import torch


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
    if isinstance(x, (bool, int, float, np.bool_, np.integer, np.floating)):
        return {"kind": "number", "value": x.item() if isinstance(x, np.generic) else x}
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


class Answer:
    """The student's ``name``, saved by the kernel to ``folder/name.pkl``, called in a forked child.

    ``forbid`` names the package's reference functions of the exercise ("theory.jsd"); ``collected``
    holds, after a call with ``collect``, what that function returned in the child.
    """

    remote = True

    def __init__(self, name, folder, forbid=()):
        self.name, self.folder, self.forbid, self.collected = name, folder, tuple(forbid), None

    def __call__(self, *args):
        return self.call(args)

    def _load(self):
        import dill

        path = os.path.join(self.folder, f"{self.name}.pkl")
        if os.path.exists(path + ".error"):
            with open(path + ".error") as f:
                raise RuntimeError(f"{self.name} could not be saved for grading ({f.read().strip()})")
        if not os.path.exists(path):
            raise NameError(f"name {self.name!r} is not defined in the notebook")
        with open(path, "rb") as f:
            return dill.load(f)

    def _child(self, args, wrt, collect, probe):
        references = {}
        for qualified in self.forbid:
            module, attr = _module_attr(qualified)
            references[qualified] = getattr(module, attr)
            setattr(module, attr, _tripwire(qualified))
        try:
            obj = self._load()
            for qualified, ref in references.items():
                for candidate in (obj, getattr(obj, "__wrapped__", None), getattr(obj, "func", None)):
                    if getattr(candidate, "regan_tripwire", None) or candidate is ref or (
                            getattr(candidate, "__code__", None) is not None
                            and candidate.__code__.co_code == ref.__code__.co_code
                            and candidate.__code__.co_consts == ref.__code__.co_consts):
                        raise UsesPackage(qualified)
            if probe is not None:
                return {"value": _portable(probe(obj))}
            got = obj(*args)
            message = {"value": _portable(got)}
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
        pid = os.fork()
        if pid == 0:  # the child: never returns into the checker's code
            try:
                os.close(read)
                null = os.open(os.devnull, os.O_RDWR)
                for fd in (0, 1, 2):
                    os.dup2(null, fd)
                message = self._child(args, wrt, collect, probe)
                buffer = io.BytesIO()
                torch.save(message, buffer)
                os.write(write, buffer.getvalue())
            finally:
                os._exit(0)
        os.close(write)
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
        if "collected" in message:
            self.collected = _rebuild(message["collected"])
        ops = message.get("ops")
        return _rebuild(message["value"], wrt, message.get("grads"), message.get("grad_error"), ops)
