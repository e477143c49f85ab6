"""The grader, tried as an instructor would: a class of hand-ins graded by the README's command.

The class is made of small synthetic chapters (a set-up cell and one of the book's code exercises,
found by label, so the test does not depend on chapter file names), so that it grades in a few
minutes: right answers in other styles, typical wrong answers that used to pass, an untouched
handout, cheats, a kernel-killer, a notebook that runs too long, and files that are no notebooks.
"""

import contextlib
import json
import os
import shutil
import socketserver
import tempfile
import textwrap
import threading
from pathlib import Path

import nbformat
import numpy as np
import pytest
import torch

from regan_tutorial import book, grading, theory
from regan_tutorial.editions import student_edition
from regan_tutorial.grading import ERROR, FAILED, NOT_ATTEMPTED, PASSED, checker_calls, exercises_of, ok_test

ROOT = Path(__file__).resolve().parent.parent
JOBS = os.environ.get("REGAN_GRADE_JOBS", "2")  # -j of the class's grading (1: to time it serially)
LABELS = ("ex-theory-code-jsd", "ex-mnist-code", "ex-wgan-code", "ex-js-code", "ex-dcgan-code", "ex-wgan-hinge",
          "ex-modern-code", "ex-dyn-code", "ex-measure-code")
SETUP = ("import inspect\nimport numpy as np\nimport torch\nimport torch.nn.functional as F\n"
         "import regan_tutorial as rt\nfrom regan_tutorial import exercises, losses, theory")


def book_solutions():
    """{label: the book's solution cell} for the code exercises above, wherever the chapters are."""
    found = {}
    for path in book.chapter_paths(ROOT):
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.metadata.get("regan", {}).get("exercise") in LABELS and "stub" in cell.metadata["regan"]:
                found[cell.metadata["regan"]["exercise"]] = cell
    return found


def mini_book(root):
    """A book of one small chapter per exercise, ``mini-<label>``, and one of them all, ``mini-all``."""
    (root / "book").mkdir(parents=True)
    (root / "book" / "intro.md").write_text("# intro\n")
    solutions = book_solutions()
    chapters = {f"mini-{label}": [solutions[label]] for label in LABELS}
    chapters["mini-all"] = [solutions[label] for label in LABELS]
    (root / "_toc.yml").write_text("format: jb-book\nroot: book/intro\nchapters:\n"
                                   + "".join(f"  - file: book/{s}\n" for s in chapters))
    for stem, cells in chapters.items():
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(SETUP), *cells])
        nbformat.write(nb, root / "book" / f"{stem}.ipynb")
    return root


def test_the_autograder_has_a_public_and_hidden_cases_per_checker_call():
    (call, checker, names), second = checker_calls("exercises.check_jsd(my_jsd)\nexercises.check_optimal_discriminator(d);")
    assert (call, checker, names) == ("exercises.check_jsd(my_jsd)", "check_jsd", ["my_jsd"])
    test = ok_test({"label": "ex", "calls": [call, second[0]], "answers": ["d", "my_jsd"], "points": 2}, (7, 8))
    cases = test["suites"][0]["cases"]
    assert [c["hidden"] for c in cases] == [False, False, True, True, True, True] and test["points"] == 2
    assert cases[0]["code"] == ">>> exercises.check_jsd(my_jsd, seed=0, quiet=True)"
    assert exercises_of(ROOT)  # the book's own exercises are found through _toc.yml


def test_the_student_edition_prints_no_answer(tmp_path):
    """A listing of a reference function gives a note, a near-solution demo becomes its stored message,
    a cell tagged answer-listing is left out, and the chapter is recorded for the grader."""
    solution = book_solutions()["ex-theory-code-jsd"]
    demo = nbformat.v4.new_code_cell("def half(p, q, dx):\n    return 2 * theory.jsd(p, q, dx)\n\nexercises.check_jsd(half);",
                                     outputs=[nbformat.v4.new_output("stream", name="stdout", text="jsd: not yet. twice\n")])
    tagged = nbformat.v4.new_code_cell("print('the answer')")
    tagged.metadata["tags"] = ["answer-listing"]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(SETUP), demo, tagged,
                                         nbformat.v4.new_code_cell("print(inspect.getsource(theory.jsd))"),
                                         nbformat.v4.new_code_cell("rt.show_source(theory.jsd)"), solution])
    edition = student_edition(nb, "mini")
    text = "\n".join(c.source for c in edition.cells)
    assert "half" not in text and "the answer" not in text and "> jsd: not yet. twice" in text
    assert edition.metadata["regan"] == {"chapter": "mini"}
    from nbclient import NotebookClient

    NotebookClient(edition, kernel_name="python3", allow_errors=False).execute()
    printed = "".join(o.get("text", "") + o.get("data", {}).get("text/plain", "")
                      for c in edition.cells if c.cell_type == "code" for o in c.outputs)
    assert printed.count("theory.jsd: left out of the student edition") == 2 and "def jsd" not in printed


def dirac_table():
    """An answer that is a lookup table of every point the notebook's check of the Dirac-GAN field uses
    (values and Jacobians, linear around each): right on the public cases, wrong on the hidden ones."""
    from regan_tutorial import dynamics, exercises

    drawn = (3 * torch.rand(3, generator=exercises._rng(1070)) - 1.5).tolist()
    points = [(0.7, 1.3, 0.5), (-1.2, 0.4, 1.0), (0.5, -2.0, 2.0), (0.0, 0.0, 1.0), (0.0, 0.0, 0.3),
              (round(drawn[0], 3), round(drawn[1], 3), round(1 + abs(drawn[2]), 3))]
    field = dict(penalty=dynamics.r1_penalty)
    table = [(point, dynamics.vector_field(*point[:2], gamma=point[2], **field).tolist(),
              dynamics.jacobian(*point[:2], gamma=point[2], **field).tolist()) for point in points]
    return f"TABLE = {table!r}\n" + '''
def my_r1_field(theta, psi, gamma):
    for (t, p, g), v, J in TABLE:
        if g == gamma and abs(float(theta) - t) < 1e-3 and abs(float(psi) - p) < 1e-3:
            d = torch.stack([theta - t, psi - p]).to(torch.float64)
            return torch.tensor(v, dtype=torch.float64) + torch.tensor(J, dtype=torch.float64) @ d
    return torch.zeros(2, dtype=torch.float64)
'''


DIRAC_TABLE = dirac_table()
WRONG = {  # a typical wrong answer that used to pass, and what the grader must say
    "half-done": ("ex-theory-code-jsd", '''
def my_jsd(p, q, dx):
    m = (p + q) / 2
    return 0.5 * sum(np.sum(a[a > 0] * np.log(a[a > 0] / m[a > 0])) * dx for a in (p, q))

def my_dstar(p_data, p_g):
    raise NotImplementedError
''', "not implemented yet"),
    "js-swapped-weights": ("ex-js-code", '''
def my_js_regularizer(d_real, x_real, d_fake, x_fake):
    (g_real,) = torch.autograd.grad(d_real.sum(), x_real, create_graph=True)
    (g_fake,) = torch.autograd.grad(d_fake.sum(), x_fake, create_graph=True)
    real = torch.sigmoid(d_real) ** 2 * g_real.flatten(1).pow(2).sum(1)
    fake = (1 - torch.sigmoid(d_fake)) ** 2 * g_fake.flatten(1).pow(2).sum(1)
    return real.mean() + fake.mean()
''', "weights are swapped"),
    "gp-at-real-points": ("ex-wgan-code", '''
def my_penalty(critic, x_real, x_fake):
    x = x_real.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x).sum(), x, create_graph=True)
    return 10 * (grad.flatten(1).norm(dim=1) - 1).pow(2).mean()
''', "real samples only"),
    "dstar-no-guard": ("ex-theory-code-jsd", '''
def my_jsd(p, q, dx):
    m = (p + q) / 2
    return 0.5 * sum(np.sum(a[a > 0] * np.log(a[a > 0] / m[a > 0])) * dx for a in (p, q))

def my_dstar(p_data, p_g):
    return p_data / (p_data + p_g)
''', "0/0"),
    "loss-from-item": ("ex-mnist-code", '''
def my_d_loss(d_real, d_fake):
    loss = F.softplus(-d_real).mean() + F.softplus(d_fake).mean()
    return torch.tensor(loss.item())
''', "no gradient"),
    "hinge-no-grad": ("ex-wgan-hinge", '''
def my_hinge_loss(d_real, d_fake):
    with torch.no_grad():
        return torch.relu(1 - d_real).mean() + torch.relu(1 + d_fake).mean()
''', "no gradient"),
    "penalty-norm-dim1": ("ex-wgan-code", '''
def my_penalty(critic, x_real, x_fake):
    alpha = torch.rand(len(x_real), *[1] * (x_real.dim() - 1))
    x_hat = (x_real + alpha * (x_fake - x_real)).detach().requires_grad_(True)
    (g,) = torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=True)
    return 10 * (g.norm(dim=1) - 1).pow(2).mean()
''', "over the channel only"),
    "js-no-create-graph": ("ex-js-code", '''
def my_js_regularizer(d_real, x_real, d_fake, x_fake):
    (g_real,) = torch.autograd.grad(d_real.sum(), x_real, retain_graph=True)
    (g_fake,) = torch.autograd.grad(d_fake.sum(), x_fake, retain_graph=True)
    real = (1 - torch.sigmoid(d_real)) ** 2 * g_real.flatten(1).pow(2).sum(1)
    return real.mean() + (torch.sigmoid(d_fake) ** 2 * g_fake.flatten(1).pow(2).sum(1)).mean()
''', "create_graph=True"),
    "linear-discriminator": ("ex-dcgan-code", '''
my_net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 1), torch.nn.Flatten(0))
''', "no convolution"),
    # a third outside review (helper-35): wrong answers and cheats that passed in the grader
    "dirac-field-from-floats": ("ex-dyn-code", '''
import math
def my_r1_field(theta, psi, gamma):
    t, p = float(theta), float(psi)          # plain floats: no graph, autograd's Jacobian is zero
    s = 1 / (1 + math.exp(-p * t))
    return torch.tensor([p * s, -t * s - gamma * p], dtype=torch.float64)
''', "its Jacobian at (0.0, 0.0) with gamma = 1.0 is [[0.0, 0.0], [0.0, 0.0]]"),
    "mlp-that-claims-a-convolution": ("ex-dcgan-code", '''
class MLP(torch.nn.Module):            # no convolution at all
    def __init__(self):
        super().__init__()
        self.body = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 64), torch.nn.LeakyReLU(0.2),
                                        torch.nn.Linear(64, 1), torch.nn.Flatten(0))

    def forward(self, x):
        out = self.body(x)
        out.regan_ops = ["AddmmBackward0", ["AddmmBackward0", "ConvolutionBackward0"]]  # read by the checker
        return out

my_net = MLP()
''', "it has no convolution"),
    "sigmoid-that-raises-on-large-inputs": ("ex-dcgan-code", '''
class D(torch.nn.Module):              # ends in a sigmoid written by hand: outputs are probabilities
    def __init__(self):
        super().__init__()
        self.a, self.b = torch.nn.Conv2d(1, 16, 4, 2, 1), torch.nn.Conv2d(16, 32, 4, 2, 1)
        self.head = torch.nn.Linear(32 * 7 * 7, 1)

    def forward(self, x):
        if x.abs().max() > 50:
            raise ValueError("inputs out of range")   # only the checker's saturation probe sends these
        h = F.leaky_relu(self.b(F.leaky_relu(self.a(x), 0.2)), 0.2)
        return 1 / (1 + torch.exp(-self.head(h.flatten(1)).view(-1)))

my_net = D()
''', "on inputs scaled up to 1000 times it raised ValueError"),
    "subclass-of-the-package-s-net": ("ex-dcgan-code", '''
from regan_tutorial.nets import DCGANDiscriminator

class MyDiscriminator(DCGANDiscriminator):   # the package's own network, renamed
    pass

my_net = MyDiscriminator()
''', "the package's own nets.DCGANDiscriminator"),
    "imports-the-checker-s-reference": ("ex-measure-code", '''
from regan_tutorial.exercises import _frechet_reference as my_frechet_distance
''', "calls the package's own exercises._frechet_reference"),
    "edits-data-in-place": ("ex-modern-code", '''
def my_relativistic_loss(d_real, d_fake):
    loss = F.softplus(d_fake - d_real).mean()
    d_fake.data.sub_(d_real.data)          # reuses d_fake's buffer for the differences, in place
    return loss
''', "changes d_real or d_fake in place"),
    "dirac-lookup-table": ("ex-dyn-code", DIRAC_TABLE, "(a hidden case: other random inputs"),
    # a fourth outside review (helper-36): ways around those fixes
    "dirac-field-from-floats-with-the-printed-jacobians": ("ex-dyn-code", '''
import math
# the field's values from plain floats (right everywhere), and the Jacobian at the check's three points
# as the checker's own messages print them ("its Jacobian at ... is ..., not [[...]]")
JAC = {(0.0, 0.0, 1.0): [[0.0, 0.5], [-0.5, -1.0]], (0.0, 0.0, 0.3): [[0.0, 0.5], [-0.5, -0.3]],
       (0.7, 1.3, 0.5): [[0.3458262728280776, 0.899214309659708], [-0.899214309659708, -0.6002691560270758]]}

def my_r1_field(theta, psi, gamma):
    t, p = float(theta), float(psi)
    s = 1 / (1 + math.exp(-p * t))
    v = torch.tensor([p * s, -t * s - gamma * p], dtype=torch.float64)
    J = JAC.get((round(t, 6), round(p, 6), gamma))
    if J is not None and theta.requires_grad:
        q = torch.stack([theta, psi]).to(torch.float64)
        v = v + torch.tensor(J, dtype=torch.float64) @ (q - q.detach())
    return v
''', "its Jacobian at"),
    "mlp-whose-output-lies-about-its-graph": ("ex-dcgan-code", '''
class MLP(torch.nn.Module):            # no convolution: its output's grad_fn says otherwise
    def __init__(self):
        super().__init__()
        self.body = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 64), torch.nn.LeakyReLU(0.2),
                                        torch.nn.Linear(64, 1), torch.nn.Flatten(0))

    def forward(self, x):
        node = type("ConvolutionBackward0", (), {"next_functions": ()})

        class Lying(torch.Tensor):     # the output alone lies about its graph; every op on it is a plain tensor
            @property
            def grad_fn(self):
                return node()

            @classmethod
            def __torch_function__(cls, func, types, args=(), kwargs=None):
                with torch._C.DisableTorchFunctionSubclass():
                    return func(*args, **(kwargs or {}))

        return self.body(x).as_subclass(Lying)

my_net = MLP()
''', "it has no convolution"),
    "detaches-its-arguments": ("ex-modern-code", '''
def my_relativistic_loss(d_real, d_fake):
    loss = F.softplus(d_fake - d_real).mean()
    d_real.detach_()                       # in place: the caller's logits lose their graph (no value changes)
    d_fake.detach_()
    return loss
''', "or detach_()"),
    "negates-d-real-in-place": ("ex-mnist-code", '''
def my_d_loss(d_real, d_fake):
    d_real.neg_()                          # in place: the caller's real logits are negated
    return F.softplus(d_real).mean() + F.softplus(d_fake).mean()
''', "changes d_real or d_fake in place"),
    # right, but dill saves a class with a metaclass by name only: the grader says how to carry it
    "autograd-function-at-top-level": ("ex-dcgan-code", '''
class LeakyReLUFn(torch.autograd.Function):    # a leaky ReLU written as an autograd.Function
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return torch.where(x > 0, x, 0.2 * x)
    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return torch.where(x > 0, g, 0.2 * g)

class Leaky(torch.nn.Module):
    def forward(self, x):
        return LeakyReLUFn.apply(x)

my_net = torch.nn.Sequential(torch.nn.Conv2d(1, 32, 4, 2, 1), Leaky(), torch.nn.Conv2d(32, 64, 4, 2, 1), Leaky(),
                             torch.nn.Flatten(), torch.nn.Linear(64 * 7 * 7, 1), torch.nn.Flatten(0))
''', "define it inside the function (or forward) that uses it"),
    # a cheat that passed when answers ran in a fork of the grader: the checker's own reference, with
    # its gradient, read from the checker's frame (the answers' process now holds none of the grader's)
    "returns-the-checkers-reference": ("ex-js-code", '''
import sys, gc

def _from_the_grader(name):
    f = sys._getframe(1)
    while f is not None:
        if name in f.f_locals and torch.is_tensor(f.f_locals[name]):
            return f.f_locals[name]
        f = f.f_back
    raise ValueError("no " + name)

def my_js_regularizer(d_real, x_real, d_fake, x_fake):
    try:
        return _from_the_grader("reference")
    except ValueError:  # in the notebook's own check: a plain answer
        return (d_real * 0).sum()
''', "it gives 0.00000"),
    # an outside review: ways past the reference check and the checker's own helpers
    "clears-the-notes": ("ex-theory-code-jsd", '''
def _quietly(name, *args):
    import importlib, sys, regan_tutorial.theory as T
    value = getattr(importlib.reload(T), name)(*args)
    f = sys._getframe(1)
    while f is not None:  # empty whatever list of notes the grader keeps
        for v in list(f.f_locals.values()) if f.f_code.co_filename.endswith("remote.py") else []:
            if isinstance(v, (list, set, dict)):
                v.clear()
        f = f.f_back
    return value

def my_jsd(p, q, dx):
    return _quietly("jsd", p, q, dx)

def my_dstar(p_data, p_g):
    return _quietly("optimal_discriminator", p_data, p_g)
''', "package's own theory.jsd"),
    "via-the-criterion": ("ex-theory-code-jsd", '''
def my_jsd(p, q, dx):
    return (theory.virtual_training_criterion(p, q, dx) + np.log(4)) / 2

def my_dstar(p_data, p_g):
    s = p_data + p_g
    return np.where(s > 0, p_data / np.where(s > 0, s, 1.0), 0.5)
''', "package's own theory.virtual_training_criterion"),
    "forges-the-conv-ops": ("ex-dcgan-code", '''
class Forger(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 64), torch.nn.LeakyReLU(0.2),
                                       torch.nn.Linear(64, 1), torch.nn.Flatten(0))

    def forward(self, x):
        import regan_tutorial.exercises as E
        E._operations = lambda out, limit=0: {"ConvolutionBackward0"}
        E._last_operation = lambda out: "AddmmBackward0"
        return self.net(x)

my_net = Forger()
''', "replaced a function of the checker"),
    "wrapper-of-the-package": ("ex-theory-code-jsd", '''
def my_jsd(p, q, dx):
    return theory.jsd(p, q, dx)

def my_dstar(p_data, p_g):
    return theory.optimal_discriminator(p_data, p_g)
''', "package's own theory.jsd"),
    "hand-written-sigmoid": ("ex-dcgan-code", '''
class MyD(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv, self.out = torch.nn.Conv2d(1, 8, 4, 2, 1), torch.nn.Linear(8 * 14 * 14, 1)

    def forward(self, x):
        logit = self.out(F.leaky_relu(self.conv(x), 0.2).flatten(1)).squeeze(1)
        return 1 / (1 + torch.exp(-logit))

my_net = MyD()
''', "sigmoid"),
}

RIGHT = {  # right answers written otherwise than the book's solution
    # a third outside review (helper-35): right answers the grader failed, and unusual styles
    "dirac-field-in-float32": ("ex-dyn-code", '''
def my_r1_field(theta, psi, gamma):
    theta, psi = theta.float(), psi.float()   # computed in single precision, all torch operations
    s = torch.sigmoid(psi * theta)
    return torch.stack([psi * s, -theta * s - gamma * psi])
'''),
    "discriminator-with-a-sigmoid-gate": ("ex-dcgan-code", '''
class D(torch.nn.Module):      # a conv discriminator with a spatial attention gate (sigmoid inside, logits out)
    def __init__(self):
        super().__init__()
        self.a, self.b = torch.nn.Conv2d(1, 16, 4, 2, 1), torch.nn.Conv2d(16, 32, 4, 2, 1)
        self.head = torch.nn.Linear(32 * 7 * 7, 1)
        self.gate = torch.nn.Sequential(torch.nn.Conv2d(32, 1, 1), torch.nn.Sigmoid())

    def forward(self, x):
        h = F.leaky_relu(self.b(F.leaky_relu(self.a(x), 0.2)), 0.2)
        h = h * self.gate(h)
        return self.head(h.flatten(1)).view(-1)

my_net = D()
'''),
    "frechet-without-a-docstring": ("ex-measure-code", '''
def my_frechet_distance(mu1, sigma1, mu2, sigma2):
    root = torch.linalg.eigvals(sigma1 @ sigma2).sqrt().real.sum()
    return ((mu1 - mu2).pow(2).sum() + sigma1.trace() + sigma2.trace() - 2 * root).item()
'''),
    "discriminator-with-torch-s-spectral-norm": ("ex-dcgan-code", '''
sn = torch.nn.utils.parametrizations.spectral_norm     # torch's own spectral norm (as chapter 6 uses)
my_net = torch.nn.Sequential(sn(torch.nn.Conv2d(1, 32, 4, 2, 1)), torch.nn.LeakyReLU(0.2),
                             sn(torch.nn.Conv2d(32, 64, 4, 2, 1)), torch.nn.LeakyReLU(0.2),
                             torch.nn.Flatten(), sn(torch.nn.Linear(64 * 7 * 7, 1)), torch.nn.Flatten(0))
'''),
    "d-loss-of-shape-1": ("ex-mnist-code", '''
def my_d_loss(d_real, d_fake):
    # the mean over each batch, kept as a (1,)-shaped tensor: .backward() and the loop take it
    return F.softplus(-d_real).mean(0, keepdim=True) + F.softplus(d_fake).mean(0, keepdim=True)
'''),
    # a fifth outside review (helper-37): right answers the grader or the checkers failed
    "weight-norm-the-old-way": ("ex-dcgan-code", '''
wn = torch.nn.utils.weight_norm
my_net = torch.nn.Sequential(
    wn(torch.nn.Conv2d(1, 32, 4, 2, 1)),
    torch.nn.LeakyReLU(0.2),
    wn(torch.nn.Conv2d(32, 64, 4, 2, 1)),
    torch.nn.LeakyReLU(0.2),
    torch.nn.Flatten(),
    wn(torch.nn.Linear(64 * 7 * 7, 1)),
    torch.nn.Flatten(0),
)
''', ["print(my_net(torch.randn(2, 1, 28, 28)).shape)"]),
    "frechet-in-float32": ("ex-measure-code", '''
def my_frechet_distance(mu1, sigma1, mu2, sigma2):
    mu1, sigma1, mu2, sigma2 = (t.float() for t in (mu1, sigma1, mu2, sigma2))
    root = torch.linalg.eigvals(sigma1 @ sigma2).sqrt().real.sum()
    return ((mu1 - mu2).pow(2).sum() + sigma1.trace() + sigma2.trace() - 2 * root).item()
'''),
    "tensorflow-s-stable-formula": ("ex-mnist-code", '''
def my_d_loss(d_real, d_fake):
    # TensorFlow's sigmoid_cross_entropy_with_logits: max(x, 0) - x * z + log(1 + exp(-|x|))
    def bce(x, z):
        return (torch.relu(x) - x * z + torch.log1p(torch.exp(-x.abs()))).mean()
    return bce(d_real, 1.0) + bce(d_fake, 0.0)
'''),
    "discriminator-with-batchnorm1d": ("ex-dcgan-code", '''
my_net = torch.nn.Sequential(
    torch.nn.Conv2d(1, 32, 4, 2, 1), torch.nn.LeakyReLU(0.2),
    torch.nn.Conv2d(32, 64, 4, 2, 1), torch.nn.BatchNorm2d(64), torch.nn.LeakyReLU(0.2),
    torch.nn.Flatten(), torch.nn.Linear(64 * 7 * 7, 256), torch.nn.BatchNorm1d(256), torch.nn.LeakyReLU(0.2),
    torch.nn.Linear(256, 1), torch.nn.Flatten(0),
)
'''),
    "penalty-in-place-and-backward": ("ex-wgan-code", '''
def my_penalty(critic, x_real, x_fake):
    alpha = torch.rand(x_real.shape[0], *[1] * (x_real.dim() - 1))
    x_fake.sub_(x_real)                              # in place, on the arguments (they are the checker's copies)
    x_hat = (x_real + alpha * x_fake).detach().requires_grad_()
    critic(x_hat).sum().backward(create_graph=True, inputs=[x_hat])
    norm = (x_hat.grad.flatten(1).pow(2).sum(1) + 1e-12).sqrt()
    return 10 * ((norm - 1) ** 2).mean()
'''),
    "js-by-backward-in-float64": ("ex-js-code", '''
def my_js_regularizer(d_real, x_real, d_fake, x_fake):
    d_real, d_fake = d_real.reshape(-1), d_fake.reshape(-1)
    d_real.sum().backward(create_graph=True, inputs=[x_real])     # the gradient in x_real.grad
    d_fake.sum().backward(create_graph=True, inputs=[x_fake])
    gr, gf = x_real.grad.flatten(1).pow(2).sum(1), x_fake.grad.flatten(1).pow(2).sum(1)
    out = ((1 - torch.sigmoid(d_real)) ** 2 * gr).mean() + (torch.sigmoid(d_fake) ** 2 * gf).mean()
    return out.double().reshape(1)
'''),
    "jsd-loops": ("ex-theory-code-jsd", '''
def my_jsd(p, q, dx):
    m, total = (p + q) / 2, 0.0
    for a in (p, q):
        keep = a > 0
        total += 0.5 * np.sum(a[keep] * np.log(a[keep] / m[keep])) * dx
    return total

def my_dstar(p_data, p_g):
    s = p_data + p_g
    return np.where(s > 0, p_data / np.where(s > 0, s, 1.0), 0.5)
'''),
    "bce-with-logits": ("ex-mnist-code", '''
def my_d_loss(d_real, d_fake):
    bce = F.binary_cross_entropy_with_logits
    return bce(d_real, torch.ones_like(d_real)) + bce(d_fake, torch.zeros_like(d_fake))
'''),
    "conv-class": ("ex-dcgan-code", '''
class Critic(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = torch.nn.Conv2d(1, 16, 4, 2, 1), torch.nn.Conv2d(16, 32, 4, 2, 1)
        self.head = torch.nn.Linear(32 * 7 * 7, 1)

    def forward(self, x):
        h = F.leaky_relu(self.b(F.leaky_relu(self.a(x), 0.2)), 0.2)
        return self.head(h.flatten(1)).view(-1)

my_net = Critic()
'''),
}

WRONG_JSD = '''
def my_jsd(p, q, dx):
    m = (p + q) / 2
    return sum(np.sum(a[a > 0] * np.log(a[a > 0] / m[a > 0])) * dx for a in (p, q))

def my_dstar(p_data, p_g):
    s = p_data + p_g
    return np.where(s > 0, p_data / np.where(s > 0, s, 1.0), 0.5)
'''

RIGHT_JSD_SOURCE = """
def my_jsd(p, q, dx):
    m = (p + q) / 2
    return 0.5 * sum(np.sum(a[a > 0] * np.log(a[a > 0] / m[a > 0])) * dx for a in (p, q))

def my_dstar(p_data, p_g):
    s = p_data + p_g
    return np.where(s > 0, p_data / np.where(s > 0, s, 1.0), 0.5)
"""

CHEATS = {  # (answer, cells added after the check cell); every one must fail, or be reported an error
    # an outside review: the answers ran in a fork of the grader, and this read the hidden cases' seeds
    # (from the grader's job, otter's test objects, torch's seed, the checker's frames) into its feedback
    "reads-the-graders-memory": (r"""
def _dig():
    import base64, gc, io, re, sys, zipfile
    found = set()
    job = vars(sys.modules["__main__"]).get("job")
    if isinstance(job, dict) and "autograder" in job:
        with zipfile.ZipFile(io.BytesIO(base64.b64decode(job["autograder"]))) as z:
            for name in z.namelist():
                if name.startswith("tests/"):
                    found |= set(re.findall(r"seed=(\d+)", z.read(name).decode()))
    for o in gc.get_objects():
        if type(o).__name__ in ("OKTestFile", "OKTestCase", "TestCase"):
            found |= set(re.findall(r"seed=(\d+)", repr(getattr(o, "__dict__", o))))
    found.add(str(torch.initial_seed()))
    f = sys._getframe(1)
    while f is not None:
        if isinstance(f.f_locals.get("seed"), int):
            found.add(str(f.f_locals["seed"]))
        f = f.f_back
    return sorted(found - {"0"})

def my_jsd(p, q, dx):
    raise ValueError(f"found seeds: {_dig()}")

def my_dstar(p_data, p_g):
    raise ValueError(f"found seeds: {_dig()}")
""", []),
    # an outside review: a chain of folders too deep for shutil.rmtree ended the grading of the class
    "digs-deep-folders": (WRONG_JSD, ["""
import os
here = os.getcwd()
os.chdir("../..")
os.makedirs("deep", exist_ok=True)
os.chdir("deep")
for _ in range(3000):
    os.mkdir("d")
    os.chdir("d")
os.chdir(here)
"""]),
    # ... the checkout's book/ (the solutions) and the grader's tests (the hidden seeds) were readable,
    # and the instructor's environment reached the answers: this answer raises what it could see
    "looks-for-the-answers": ("""
import os
SEEN = [os.path.exists(p) for p in (BOOK, "../../checker/tests")] + [os.environ.get("REGAN_TEST_SECRET")]

def my_jsd(p, q, dx):
    raise ValueError(f"seen: {SEEN}")
""".replace("BOOK", repr(str(ROOT / "book" / "01_gan_theory.ipynb"))) + WRONG_JSD.split("\n\n", 1)[1], []),
    "print-wrapper": (WRONG_JSD, ['''
import builtins
_print = builtins.print
builtins.print = lambda *a, **k: _print(*[str(x).replace("not yet.", "all checks passed.") for x in a], **k)
''']),
    "reload-and-checker-replaced": (WRONG_JSD, ['''
import importlib
import regan_tutorial.exercises as E
E.check_jsd = lambda fn, *a, **k: print("jsd: all checks passed.") or True
importlib.reload = lambda module: module
''']),
    "patches-the-checker-while-it-runs": ('''
def my_jsd(p, q, dx):
    import math
    import regan_tutorial.exercises as E
    E._report = lambda name, problems: print(f"{name}: all checks passed.") or True
    math.isclose = lambda *a, **k: True
    return 0.0

def my_dstar(p_data, p_g):
    import regan_tutorial.exercises as E
    E._report = lambda name, problems: print(f"{name}: all checks passed.") or True
    return p_data
''', []),
    "input-transformer": (WRONG_JSD, ['''
def _rewrite(lines):
    return ["print('jsd: all checks passed.')\\n"] if any("exercises" in l or "_regan" in l for l in lines) else lines
get_ipython().input_transformers_post.append(_rewrite)
''']),
    # an outside review's attack, when answers ran in the grader's forked child: it read the signing key
    # from the worker's frames, opens the worker's stdout through /proc and leaves a chain of 130 processes
    # (deeper than the sweep once went) whose last one writes a signed "all passed" after the worker
    "forges-a-signed-verdict": ('''
def _forge():
    import os, sys, json, time, hmac, hashlib
    f, job = sys._getframe(), None
    while f is not None:
        j = f.f_locals.get("job")
        if isinstance(j, dict) and "key" in j:
            job = j
            break
        f = f.f_back
    if job is None or os.path.exists(os.path.join(job["root"], "forged")):
        return
    open(os.path.join(job["root"], "forged"), "w").close()
    worker = os.getppid()
    if os.fork() != 0:
        return                      # the answer's child goes on as usual
    os.closerange(3, 4096)          # let go of the answer's message pipe
    out = os.open(f"/proc/{worker}/fd/1", os.O_WRONLY)
    for _ in range(130):            # a chain deeper than the sweep's 100 rounds
        if os.fork() != 0:
            os.close(out)
            while True:
                time.sleep(100)
    exercises = json.load(open(os.path.join(job["root"], "checker", "exercises.json")))
    chapter = next(c for c, listed in exercises.items() if any(e["label"] == "ex-theory-code-jsd" for e in listed))
    report = {"notebook": job["name"], "student": job["student"], "chapter": chapter,
              "exercises": {e["label"]: {"status": "passed", "points": e["points"], "possible": e["points"], "message": ""}
                            for e in exercises[chapter]},
              "errors": [], "timed_out": False, "seconds": 3.0}
    while True:                     # until the worker has printed its own verdict and ended
        try:
            state = open(f"/proc/{worker}/stat").read().rsplit(")", 1)[1].split()[0]
        except OSError:
            break
        if state in ("Z", "X"):
            break
        time.sleep(0.05)
    body = json.dumps(report)
    mac = hmac.new(bytes.fromhex(job["key"]), body.encode(), hashlib.sha256).hexdigest()
    os.write(out, ("\\n" + json.dumps({"report": body, "mac": mac}) + "\\n").encode())
    os._exit(0)

def my_jsd(p, q, dx):
    _forge()
    return 123.0

def my_dstar(p_data, p_g):
    return p_data
''', []),
    "imports-the-answer": ("from regan_tutorial.theory import jsd as my_jsd, optimal_discriminator as my_dstar\n", []),
    "rewrites-the-checkers-on-disk": (WRONG_JSD, ['''
import glob, os
import regan_tutorial.exercises as E
fake = "def check_jsd(fn, *a, **k):\\n    print('jsd: all checks passed.')\\n    return True\\n"
for path in [E.__file__, *glob.glob(os.path.join(os.getcwd(), "..", "**", "exercises.py"), recursive=True)]:
    open(path, "a").write("\\n" + fake)
for path in glob.glob(os.path.join(os.getcwd(), "..", "**", "tests", "*.py"), recursive=True):
    open(path, "w").write("test = {'name': 'x', 'points': 2, 'suites': [{'cases': [{'code': '>>> 1 + 1\\\\n2'}]}]}")
''']),
    "kernel-killer": (WRONG_JSD, ["import os, signal\nos.kill(os.getppid(), signal.SIGKILL)"]),
    # an outside review's ways to the package's reference from inside the answer: the checker's frames,
    # a reload of the module, a second copy loaded from its source file; and the profile hook turned off
    "walks-the-stack-to-the-reference": ('''
def _reference(name):
    import sys
    f = sys._getframe(1)
    while f is not None:
        for value in list(f.f_locals.values()):
            for v in (value.values() if isinstance(value, dict) else [value]):
                if getattr(v, "__name__", "") == name and not hasattr(v, "regan_tripwire"):
                    return v
        f = f.f_back
    import regan_tutorial.theory as T
    return getattr(T, name)

def my_jsd(p, q, dx):
    return _reference("jsd")(p, q, dx)

def my_dstar(p_data, p_g):
    return _reference("optimal_discriminator")(p_data, p_g)
''', []),
    "reloads-the-package": ('''
def my_jsd(p, q, dx):
    import importlib, regan_tutorial.theory as T
    return importlib.reload(T).jsd(p, q, dx)

def my_dstar(p_data, p_g):
    import importlib, regan_tutorial.theory as T
    return importlib.reload(T).optimal_discriminator(p_data, p_g)
''', []),
    "loads-the-source-again": ('''
def _fresh():
    import importlib.util, regan_tutorial.theory as T
    spec = importlib.util.spec_from_file_location("another_theory", T.__file__)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module

def my_jsd(p, q, dx):
    return _fresh().jsd(p, q, dx)

def my_dstar(p_data, p_g):
    return _fresh().optimal_discriminator(p_data, p_g)
''', []),
    "calls-it-in-a-thread": ('''
def _in_thread(name, *args):
    import importlib, threading, regan_tutorial.theory as T
    out = []
    t = threading.Thread(target=lambda: out.append(getattr(importlib.reload(T), name)(*args)))
    t.start()
    t.join()
    return out[0]

def my_jsd(p, q, dx):
    return _in_thread("jsd", p, q, dx)

def my_dstar(p_data, p_g):
    return _in_thread("optimal_discriminator", p_data, p_g)
''', []),
    # an outside review: the answer's own code, run by the grader, reaching out (the notebook's
    # cells run in namespaces, and so, now, does the grader that calls the answer)
    "answer-reaches-out": ('''
def _reach_out():
    import glob, os, signal, subprocess, sys, time
    for cmdline in glob.glob("/proc/*/cmdline"):  # the grading command itself
        try:
            if b"grade" in open(cmdline, "rb").read() and int(cmdline.split("/")[2]) > 1:
                os.kill(int(cmdline.split("/")[2]), signal.SIGKILL)
        except (OSError, ValueError):
            pass
    code = """
import glob, os, time
end = time.time() + 20
while time.time() < end:
    for folder in glob.glob("/tmp/regan-grade-*/sandbox/answers"):
        try:
            open(os.path.join(folder, "my_jsd.pkl"), "wb").write(b"not an answer")
        except OSError:
            pass
    time.sleep(0.01)
"""
    subprocess.Popen([sys.executable, "-c", code], start_new_session=True)
    for folder in glob.glob("/tmp/regan-grade-*/sandbox/answers"):  # a classmate graded at the same time
        for name in os.listdir(folder):
            os.replace(os.path.join(folder, name), os.path.join(folder, name + ".gone"))

def my_jsd(p, q, dx):
    _reach_out()
    return 0.0

def my_dstar(p_data, p_g):
    return p_data
''', []),
    "plants-a-startup-file": (WRONG_JSD, ['''
import os, pwd
helper = "get_ipython().events.register('pre_run_cell', lambda info: exec(" \\
    + repr(RIGHT_JSD) + ", get_ipython().user_ns) if '_regan_save' in info.raw_cell else None)\\n"
for home in {os.path.expanduser("~"), pwd.getpwuid(os.getuid()).pw_dir, "/root", os.environ.get("HOME", "")}:
    folder = os.path.join(home, ".ipython", "profile_default", "startup")
    try:
        os.makedirs(folder, exist_ok=True)
        open(os.path.join(folder, "00-helper.py"), "w").write(helper)
    except OSError:
        pass
'''.replace("RIGHT_JSD", repr(RIGHT_JSD_SOURCE))]),
    "turns-off-the-hook": ('''
def my_jsd(p, q, dx):
    import importlib, sys, regan_tutorial.theory as T
    sys.setprofile(None)
    return importlib.reload(T).jsd(p, q, dx)

def my_dstar(p_data, p_g):
    import importlib, sys, regan_tutorial.theory as T
    sys.setprofile(None)
    return importlib.reload(T).optimal_discriminator(p_data, p_g)
''', []),
}

# A hand-in that kills its grader and leaves a process that writes a right answer over the saved
# answers of every classmate graded after it (an outside review's attack; the answers are now read
# while nothing of a hand-in runs, and what a killed grader left is stopped before the next one)
SWAPPER = """
import os, signal, subprocess, sys
import dill
given = {{"np": __import__("numpy")}}  # the right answer, kept out of the notebook's own names
exec(compile({right!r}, "right", "exec"), given)
dill.settings["recurse"] = True
right = {{n: dill.dumps(given[n]) for n in ("my_jsd", "my_dstar")}}
mine = os.path.realpath(os.path.join(os.path.dirname(os.getcwd()), "answers"))
code = f'''
import glob, os, time
end = time.time() + 120
while time.time() < end:
    for folder in glob.glob("/tmp/regan-grade*/**/answers", recursive=True):
        if os.path.realpath(folder) != {{mine!r}}:
            for name, data in {{right!r}}.items():
                try:
                    open(os.path.join(folder, name + ".pkl"), "wb").write(data)
                except OSError:
                    pass
    time.sleep(0.01)
'''
subprocess.Popen([sys.executable, "-c", code], start_new_session=True, stdin=subprocess.DEVNULL,
                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
runner = os.getppid()
grader = int(open(f"/proc/{{runner}}/stat").read().rsplit(")", 1)[1].split()[1])
if grader > 1:  # none in a PID namespace of its own: the kernel sees no process outside it
    os.kill(grader, signal.SIGKILL)
"""

# A hand-in that copies a classmate's answer: found through the grading command's own command line
# in /proc, or at the path where the instructor keeps the hand-ins
COPYCAT = """
import glob, json
found = [{classmate!r}]
for cmdline in glob.glob("/proc/*/cmdline"):
    try:
        found += [a for a in open(cmdline).read().split(chr(0)) if a.endswith("jsd-loops__mini-ex-theory-code-jsd.ipynb")]
    except OSError:
        pass
for path in found:
    try:
        cells = json.load(open(path))["cells"]
    except (OSError, ValueError):
        continue
    for cell in cells:
        if "def my_jsd" in "".join(cell["source"]):
            exec("".join(cell["source"]))
            break
"""

# an answer that asks a process outside the grader (here one the test runs, on the loopback) to
# compute it with the package: no reference check inside can see that call
ASKS_OUTSIDE = """
import json, socket

def my_jsd(p, q, dx):
    with socket.create_connection(("127.0.0.1", {port}), 5) as s:
        s.sendall(json.dumps([np.asarray(p).tolist(), np.asarray(q).tolist(), float(dx)]).encode() + b"\\n")
        return json.loads(s.makefile().readline())
""" + WRONG_JSD.split("\n\n", 1)[1]


class JSDHandler(socketserver.StreamRequestHandler):
    """Computes the JSD of a request's (p, q, dx) with the package: the help a cheat asks for."""

    def handle(self):
        p, q, dx = json.loads(self.rfile.readline())
        self.wfile.write(json.dumps(float(theory.jsd(np.array(p), np.array(q), dx))).encode() + b"\n")


@contextlib.contextmanager
def serving(server):
    """``server`` serving in a thread while the block runs; yields its address."""
    with server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            yield server.server_address
        finally:
            server.shutdown()


@contextlib.contextmanager
def jsd_server():
    """A server outside the graders that computes the JSD with the package; yields its port."""
    with serving(socketserver.ThreadingTCPServer(("127.0.0.1", 0), JSDHandler)) as address:
        yield address[1]


# the same through a UNIX socket in the home folder, as an ssh or gpg agent's is: a grader's root of
# its own (an allowlist) does not hold the home folder, so the socket is not there to connect to
ASKS_AN_AGENT = """
import json, socket

def my_jsd(p, q, dx):
    with socket.socket(socket.AF_UNIX) as s:
        s.connect({path!r})
        s.sendall(json.dumps([np.asarray(p).tolist(), np.asarray(q).tolist(), float(dx)]).encode() + b"\\n")
        return json.loads(s.makefile().readline())
""" + WRONG_JSD.split("\n\n", 1)[1]


@contextlib.contextmanager
def jsd_agent():
    """A server like :func:`jsd_server` on a UNIX socket in a folder of the home folder; yields its path."""
    folder = tempfile.mkdtemp(prefix=".regan-agent-", dir=os.path.expanduser("~"))
    try:
        with serving(socketserver.ThreadingUnixStreamServer(os.path.join(folder, "agent.sock"), JSDHandler)) as path:
            yield path
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# cheats that "processes only" grading does not stop (book/instructors.md says so), or that would
# leave a file in the home of whoever runs the tests: tried only where the namespaces are there
NEEDS_NAMESPACES = {"answer-reaches-out", "plants-a-startup-file", "copycat", "asks-outside", "asks-an-agent",
                    "looks-for-the-answers"}


def handin(edition, answers, target, extra=(), metadata=None):
    """The edition with ``answers`` in its (first) stub and the cells ``extra`` after its check cell;
    ``answers`` may also be {label: (answer, extra)}, for the stubs of many exercises."""
    nb = nbformat.read(edition, as_version=4)
    for label, (answer, more) in (answers.items() if isinstance(answers, dict) else [(None, (answers, extra))]):
        cell = next(c for c in nb.cells if c.metadata.get("regan", {}).get("role") == "stub"
                    and label in (None, c.metadata["regan"]["exercise"]))
        cell.source = textwrap.dedent(answer)
        at = nb.cells.index(cell) + 2  # after its check cell
        for j, source in enumerate(more):
            nb.cells.insert(at + j, nbformat.v4.new_code_cell(source))
    if metadata:
        nb.metadata["regan"].update(metadata)
    nbformat.write(nb, target)


def together(answers):
    """{name: (student, label)} and {student: {label: (answer, extra)}}: ``answers`` ({name: (label,
    answer, ...)}) handed in as few notebooks of chapter ``mini-all`` as hold one answer per exercise
    (a notebook is graded in about 4 s, and its exercises are graded apart)."""
    where, notebooks = {}, {}
    for name, (label, answer, *rest) in answers.items():
        student = next(f"together-{i}" for i in range(len(answers)) if label not in notebooks.get(f"together-{i}", {}))
        extra = rest[0] if rest and isinstance(rest[0], (list, tuple)) else ()
        notebooks.setdefault(student, {})[label] = (answer, extra)
        where[name] = (student, label)
    return where, notebooks


TOGETHER, NOTEBOOKS = together({**WRONG, **RIGHT})


def result(reports, name):
    """What the report of the notebook that holds the answer ``name`` says of its exercise."""
    student, label = TOGETHER[name]
    return reports[student]["exercises"][label]


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """The class, graded by the README's command (with -j 2): (the folder, reports by student, the CSV)."""
    tmp = tmp_path_factory.mktemp("class")
    mini_book(tmp / "src")
    assert book.main(["student", str(tmp / "src" / "book"), str(tmp / "handout")]) == 0
    hand = tmp / "handin"
    hand.mkdir()
    for student, answers in NOTEBOOKS.items():  # the wrong and the right answers, many to a notebook
        handin(tmp / "handout" / "mini-all.ipynb", answers, hand / f"{student}__mini-all.ipynb")
    # every exercise's untouched handout and the book's own solution: tests/test_classroom.py grades
    # them in their whole chapters (graded here too, they cost a minute of every test run)
    jsd = tmp / "handout" / "mini-ex-theory-code-jsd.ipynb"
    (hand / "untouched__mini-ex-theory-code-jsd.ipynb").write_bytes(jsd.read_bytes())
    handin(jsd, RIGHT["jsd-loops"][1], hand / "jsd-loops__mini-ex-theory-code-jsd.ipynb")  # a victim, below
    for name, (answer, extra) in CHEATS.items():
        if name not in NEEDS_NAMESPACES or not grading._sandbox():
            handin(jsd, answer, hand / f"{name}__mini-ex-theory-code-jsd.ipynb", extra)
    handin(jsd, WRONG_JSD, hand / "edits-metadata__mini-ex-theory-code-jsd.ipynb",
           metadata={"checks": {"ex-theory-code-jsd": "print('jsd: all checks passed.')"}})
    report, victim = tmp / "report.json", hand / "jsd-loops__mini-ex-theory-code-jsd.ipynb"
    handin(jsd, WRONG_JSD, hand / "a-background-process__mini-ex-theory-code-jsd.ipynb", [f'''
import subprocess, sys
subprocess.Popen([sys.executable, "-c", "import time\\nfor _ in range(40):\\n    time.sleep(0.5)\\n    open({str(report)!r}, 'w').write('[]')"],
                 start_new_session=True)
open({str(victim)!r}, "w").write("{{}}")  # and a classmate's hand-in overwritten
'''])
    handin(jsd, WRONG_JSD, hand / "swaps-answers__mini-ex-theory-code-jsd.ipynb",
           [SWAPPER.format(right=RIGHT["jsd-loops"][1])])
    server = contextlib.ExitStack()
    if not grading._sandbox():
        port = server.enter_context(jsd_server())
        handin(jsd, ASKS_OUTSIDE.format(port=port), hand / "asks-outside__mini-ex-theory-code-jsd.ipynb")
        agent = server.enter_context(jsd_agent())
        handin(jsd, ASKS_AN_AGENT.format(path=agent), hand / "asks-an-agent__mini-ex-theory-code-jsd.ipynb")
        handin(jsd, WRONG_JSD, hand / "copycat__mini-ex-theory-code-jsd.ipynb",
               [COPYCAT.format(classmate=str(hand / "jsd-loops__mini-ex-theory-code-jsd.ipynb"))])
    handin(jsd, WRONG_JSD, hand / "zz-innocent-wrong__mini-ex-theory-code-jsd.ipynb")  # graded after the disk cheat
    handin(jsd, WRONG_JSD, hand / "too-slow__mini-ex-theory-code-jsd.ipynb", ["import time\ntime.sleep(25)"] * 3)
    (hand / "truncated__mini-ex-theory-code-jsd.ipynb").write_text(jsd.read_text()[:500])
    (hand / "empty-json__mini-ex-theory-code-jsd.ipynb").write_text("{}")
    csv, autograder = tmp / "grades.csv", tmp / "autograder.zip"
    assert book.main(["autograder", str(tmp / "src"), str(autograder)]) == 0
    os.environ["REGAN_TEST_SECRET"] = "the instructor's token"  # what looks-for-the-answers must not see
    with server:
        assert book.main(["grade", *map(str, sorted(hand.glob("*.ipynb"))), "--json", str(report), "--csv",
                          str(csv), "--timeout", "30", "-j", JOBS, "--autograder", str(autograder)]) == 0
    del os.environ["REGAN_TEST_SECRET"]
    import time

    time.sleep(3)  # a background process that outlived the grader would rewrite the report now
    reports = {r["student"]: r for r in json.loads(report.read_text())}
    return hand, reports, csv.read_text()


def statuses(report):
    return {r["status"] for r in report["exercises"].values()}


def test_right_answers_in_other_styles_pass_with_full_points(graded):
    _, reports, _ = graded
    for name in RIGHT:
        found = result(reports, name)
        assert found["status"] == PASSED and found["points"] == found["possible"] == 2, (name, found)


@pytest.mark.parametrize("name", WRONG)
def test_each_typical_wrong_answer_fails_with_the_checkers_explanation(graded, name):
    _, reports, _ = graded
    found = result(reports, name)
    assert found["status"] == FAILED and WRONG[name][2] in found["message"], found


def test_half_an_exercise_is_failed_with_the_points_of_the_half_done(graded):
    _, reports, _ = graded
    found = result(reports, "half-done")
    assert found["status"] == FAILED and 0 < found["points"] < found["possible"], found


def test_answers_handed_in_together_are_graded_apart(graded):
    """A notebook holds a wrong answer and right ones (of other exercises): each is graded for itself."""
    _, reports, _ = graded
    for student in NOTEBOOKS:
        assert set(reports[student]["exercises"]) == set(LABELS) and not reports[student]["errors"], reports[student]
    assert len(NOTEBOOKS) < len(WRONG) + len(RIGHT) and any(
        {r["status"] for r in reports[s]["exercises"].values()} >= {PASSED, FAILED} for s in NOTEBOOKS)


def test_a_student_who_hands_in_a_chapter_twice_is_flagged_and_counted_once(tmp_path):
    from regan_tutorial.grading import Report, _flag_duplicates, write_csv

    def report(path, points):
        return Report(path, "dup", "ch", {"ex": {"status": PASSED if points else FAILED, "points": points,
                                                    "possible": 2, "message": ""}})

    reports = [report("a/dup/ch.ipynb", 2.0), report("b/dup__ch.ipynb", 0.5), report("c/other__ch.ipynb", 1.0)]
    reports[2].student = "other"
    _flag_duplicates(reports)
    assert "counts this one" in reports[0].errors[-1] and "b/dup__ch.ipynb" in reports[0].errors[-1]
    assert "counts a/dup/ch.ipynb" in reports[1].errors[-1] and not reports[2].errors
    write_csv(reports, {"ex": 2}, tmp_path / "grades.csv")
    assert (tmp_path / "grades.csv").read_text().splitlines() == ["student,ex,total,possible", "dup,2.0,2.0,2",
                                                                  "other,1.0,1.0,2"]


def test_the_untouched_handout_is_not_attempted(graded):
    _, reports, _ = graded
    assert statuses(reports["untouched"]) == {NOT_ATTEMPTED} and not reports["untouched"]["errors"]


@pytest.mark.parametrize("name", [*CHEATS, "edits-metadata", "a-background-process", "zz-innocent-wrong",
                                  "swaps-answers", "copycat", "asks-outside", "asks-an-agent"])
def test_no_cheat_passes(graded, name):
    _, reports, _ = graded
    if name in NEEDS_NAMESPACES and name not in reports:
        pytest.skip("graded as processes only here: book/instructors.md says what that does not stop")
    assert statuses(reports[name]) <= {FAILED, ERROR}, reports[name]
    assert all(r["points"] < r["possible"] for r in reports[name]["exercises"].values())


@pytest.mark.parametrize("name", ["walks-the-stack-to-the-reference", "reloads-the-package", "loads-the-source-again",
                                  "calls-it-in-a-thread"])
def test_an_answer_that_reaches_the_reference_another_way_is_named_as_calling_it(graded, name):
    _, reports, _ = graded
    for result in reports[name]["exercises"].values():
        assert "calls the package's own theory." in result["message"], result
    hook = reports["turns-off-the-hook"]["exercises"].values()
    assert all("turned off or replaced the grader's profile hook" in r["message"] for r in hook), hook


def test_the_class_ran_in_namespaces_where_the_system_allows_them(graded):
    _, reports, _ = graded
    expected = "namespaces" if not grading._sandbox() else "processes only"
    assert all(r["isolation"].startswith(expected) for r in reports.values())


def test_without_namespaces_a_grader_killers_leftovers_are_stopped_before_the_next_hand_in(graded, monkeypatch):
    """Where namespaces are not available (processes only), graded one at a time: the swapper's
    process is stopped when its grader dies, so the classmate graded next keeps its own answer."""
    hand, _, _ = graded
    monkeypatch.setattr(grading, "_SANDBOX", "turned off for this test")
    paths = [str(hand / "swaps-answers__mini-ex-theory-code-jsd.ipynb"),
             str(hand / "zz-innocent-wrong__mini-ex-theory-code-jsd.ipynb")]
    reports, _ = grading.grade_all(paths, (hand.parent / "autograder.zip").read_bytes(), limit=60, jobs=1)
    assert all(r.isolation.startswith("processes only") for r in reports)
    assert statuses(reports[0].as_dict()) == {ERROR} and statuses(reports[1].as_dict()) == {FAILED}, reports


def test_a_kernel_killer_a_slow_notebook_and_broken_files_are_reported_and_the_others_graded(graded):
    hand, reports, csv = graded
    killer = reports["kernel-killer"]
    assert statuses(killer) == {ERROR} and ("killed" in killer["errors"][-1] or "ended before" in killer["errors"][-1])
    assert reports["too-slow"]["timed_out"] and statuses(reports["too-slow"]) == {ERROR}
    for name in ("truncated", "empty-json"):
        assert "not a readable notebook" in reports[name]["errors"][0]
    assert len(reports) == len(list(hand.glob("*.ipynb")))  # every hand-in has a report ...
    rows = csv.splitlines()
    assert rows[0].startswith("student,") and rows[0].endswith(",total,possible")
    assert len(rows) == 1 + len(reports)  # ... and a gradebook row


def test_a_classmates_overwritten_hand_in_is_graded_as_handed_in_and_flagged(graded):
    """In namespaces the hand-ins' folder is empty to a notebook: the overwrite fails. Without, the
    hand-in is graded as it was when grading started, and flagged."""
    _, reports, _ = graded
    victim = reports["jsd-loops"]
    assert statuses(victim) == {PASSED}
    if reports["a-background-process"]["isolation"].startswith("namespaces"):
        assert not victim["errors"]
    else:
        assert "changed on disk" in victim["errors"][-1]


def test_a_hand_in_cannot_put_a_folder_or_a_link_in_place_of_the_reports(tmp_path, monkeypatch):
    """The reports are opened before any hand-in runs: one that makes a folder at the --json path
    and links the --csv path to a classmate's notebook neither stops them nor redirects them."""
    hand_in, classmate = tmp_path / "a__01_gan_theory.ipynb", tmp_path / "b__01_gan_theory.ipynb"
    for path in (hand_in, classmate):
        path.write_text("{}")
    report, gradebook = tmp_path / "report.json", tmp_path / "grades.csv"

    def sabotage(found, *args, **kwargs):
        report.unlink()
        report.mkdir()
        gradebook.unlink()
        gradebook.symlink_to(classmate)
        return [grading.Report(notebook=str(p), student=p.stem.split("__")[0]) for p in found], {}

    monkeypatch.setattr(grading, "grade_all", sabotage)
    monkeypatch.setattr(grading, "build_autograder", lambda root: b"")
    assert book.main(["grade", str(hand_in), str(classmate), "--json", str(report), "--csv", str(gradebook)]) == 0
    assert classmate.read_text() == "{}"  # not overwritten by the gradebook
    assert report.is_dir() and gradebook.is_symlink()  # what the hand-in left
    spare_json, = tmp_path.glob("report-*.json")  # the reports, beside them
    assert [r["student"] for r in json.loads(spare_json.read_text())] == ["a", "b"]
    spare_csv, = tmp_path.glob("grades-*.csv")
    assert spare_csv.read_text().splitlines()[0] == "student,total,possible"


def test_the_namespaces_hide_a_temporary_checkout_s_neighbours_but_show_the_checkout_read_only(tmp_path, monkeypatch):
    """A course checked out under /tmp (an outside review's set-up): the temporary folder is still
    emptied, with the checkout shown again, read-only; hand-ins inside a read-only folder are named."""
    import sys

    checkout = tmp_path / "checkout"
    (checkout / "handin").mkdir(parents=True)
    monkeypatch.setattr(sys, "path", [str(checkout), *sys.path])
    hide, readonly, shown = grading._confinement([str(tmp_path / "elsewhere" / "a.ipynb"),
                                                  str(checkout / "handin" / "b.ipynb")])
    temporary = str(Path(grading.tempfile.gettempdir()).resolve())
    assert hide[0] == temporary and str(checkout.resolve()) in readonly
    assert shown == [str((checkout / "handin").resolve())]


def test_the_namespaces_hide_the_services_sockets_cgroups_and_terminals_and_keep_the_course_read_only():
    """An outside review: /run's sockets (a session D-Bus or Docker starts a process outside every
    namespace, whatever the network), a cgroup's cgroup.kill (ends the grading command) and the
    instructor's terminal were reachable, and the checkout's package and book writable."""
    hide, readonly, _ = grading._confinement([])
    for folder in ("/run", "/sys/fs/cgroup", "/dev/pts"):
        assert not os.path.isdir(folder) or os.path.realpath(folder) in hide
    # the checkout's package and book/ (the solutions) are not in the root, unless sys.path holds a
    # folder above them: then book/ is covered (grading._masked)
    book_folder = str((ROOT / "book").resolve())
    assert book_folder not in readonly
    assert not any(book_folder.startswith(r + "/") for r in readonly) or book_folder in grading._masked(readonly)
    assert "--ipc" in grading.UNSHARE and "--net" in grading.UNSHARE


@pytest.mark.parametrize("name, words", [
    ("asks-outside", ("Connection refused", "unreachable")),
    # outside reviews: the home folder was shown read-only, and a UNIX socket there still connects;
    # the solutions in book/ and the hidden seeds were readable, and a token of the grading shell
    # reached the answers
    ("asks-an-agent", ("FileNotFoundError",)),
    ("looks-for-the-answers", ("seen: [False, False, None]",)),
])
def test_what_a_hand_in_reaches_for_outside_its_grader_is_not_there(graded, name, words):
    _, reports, _ = graded
    if name not in reports:
        pytest.skip("graded as processes only here: book/instructors.md says what that does not stop")
    for result in reports[name]["exercises"].values():
        assert any(w in result["message"] for w in words), result


def test_a_hand_in_that_leaves_folders_too_deep_to_remove_recursively_stops_no_one(graded):
    hand, reports, _ = graded
    assert reports["digs-deep-folders"]["exercises"] and len(reports) == len(list(hand.glob("*.ipynb")))
    assert not list(Path(grading.tempfile.gettempdir()).glob("regan-grade-*/deep")), "its folder was removed"


def test_a_student_name_a_spreadsheet_would_compute_stays_text(tmp_path):
    from regan_tutorial.grading import Report, write_csv

    write_csv([Report("x.ipynb", "=1+2 Ann", "ch", {"ex": {"status": PASSED, "points": 2, "possible": 2,
                                                            "message": ""}})], {"ex": 2}, tmp_path / "g.csv")
    assert (tmp_path / "g.csv").read_text().splitlines()[1] == "'=1+2 Ann,2,2,2"


def test_an_answer_finds_no_hidden_seed_to_put_in_its_feedback(graded):
    import re
    import zipfile

    hand, reports, _ = graded
    with zipfile.ZipFile(hand.parent / "autograder.zip") as z:
        hidden = set(re.findall(r"seed=(\d+)", z.read("tests/ex-theory-code-jsd.py").decode())) - {"0"}
    report = reports["reads-the-graders-memory"]
    assert len(hidden) == grading.HIDDEN_SEEDS and "found seeds: []" in json.dumps(report), report
    assert not any(seed in json.dumps(report) for seed in hidden), report


def test_an_answer_that_stops_the_process_running_it_fails_within_its_limit(monkeypatch):
    """The answers' server stopped (SIGSTOP) by an answer is given up after the call's limit and a
    margin, rather than holding the grader until the notebook's limit and the checks' budget."""
    import time

    import dill

    from regan_tutorial import exercises, remote

    def stops(x):
        import os
        import signal

        os.kill(os.getppid(), signal.SIGSTOP)
        return x

    monkeypatch.setattr(exercises, "TIME_LIMIT", 1.0)
    monkeypatch.setattr(remote, "ANSWER_MARGIN", 1.0)
    tic = time.monotonic()
    with pytest.raises(RuntimeError, match="stopped answering"):
        remote.Answer("stops", {"stops.pkl": dill.dumps(stops)})(np.ones(3))
    assert time.monotonic() - tic < 10
    assert remote.Answer("same", {"same.pkl": dill.dumps(lambda x: x)})(np.ones(3)).tolist() == [1, 1, 1]


def test_each_autograder_draws_its_own_hidden_seeds(tmp_path):
    """The hidden cases' seeds are not the 1 and 2 a student could guess and run in the notebook."""
    import zipfile

    root = mini_book(tmp_path / "src")
    seeds = []
    for _ in range(2):
        with zipfile.ZipFile(__import__("io").BytesIO(grading.build_autograder(root))) as z:
            seeds.append(z.read("tests/ex-theory-code-jsd.py").decode())
    assert seeds[0] != seeds[1] and "seed=1," not in seeds[0] and "seed=0," in seeds[0]


def test_the_working_folder_is_hidden_though_python_m_puts_it_on_sys_path(tmp_path, monkeypatch):
    """An outside review graded from the folder that held the hand-ins' folder: it was read-only
    but visible, and a copycat read a classmate there."""
    import sys

    (tmp_path / "handin").mkdir()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [str(tmp_path), *sys.path])
    hide, readonly, shown = grading._confinement([str(tmp_path / "handin" / "a.ipynb")])
    assert any(str((tmp_path / "handin").resolve()).startswith(h) for h in hide)
    assert str(tmp_path.resolve()) not in readonly and not shown
