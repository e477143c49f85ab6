"""Checkers for the code exercises: ``check_jsd(my_jsd)`` says, in plain words, what is wrong.

Each checker runs the student's function on cases with known answers, prints
either a confirmation or the first problem it found with a hint, and returns
``True`` or ``False``. Nothing is raised, so a notebook keeps running.
"""

import math

import numpy as np
import torch

from . import metrics, theory


def _report(name, problems):
    if problems:
        print(f"{name}: not yet. {problems[0]}")
        return False
    print(f"{name}: all checks passed.")
    return True


def _call(fn, *args):
    try:
        return fn(*args), None
    except Exception as err:  # a student's bug is reported, not raised
        return None, f"it raised {type(err).__name__}: {err}"


def _grid():
    x = np.linspace(-8, 8, 4001)
    return x, x[1] - x[0]


def check_optimal_discriminator(fn):
    """Check ``fn(p_data, p_g)`` against D*(x) = p_data / (p_data + p_g)."""
    x, _ = _grid()
    p, q = theory.gaussian_mixture(x, [-1, 2], [0.5, 1.0]), theory.gaussian_mixture(x, [0.5], [1.5])
    d, err = _call(fn, p, q)
    if err:
        return _report("optimal discriminator", [err])
    d = np.asarray(d, float)
    expected = theory.optimal_discriminator(p, q)
    problems = []
    if d.shape != expected.shape:
        problems.append(f"it should return one value per grid point, shape {expected.shape}, not {d.shape}.")
    elif np.any(np.isnan(d)):
        problems.append("it returns nan somewhere: where both densities are tiny, 0/0 appears; guard the division.")
    elif np.any((d < 0) | (d > 1)):
        problems.append("D*(x) is a probability, but some values lie outside [0, 1].")
    elif np.allclose(d, 1 - expected, atol=1e-6):
        problems.append("it returns p_g / (p_data + p_g): D is the probability that x is *real*, so p_data goes on top.")
    elif not np.allclose(d, expected, atol=1e-6):
        i = int(np.argmax(np.abs(d - expected)))
        problems.append(f"at x = {x[i]:.2f} it gives {d[i]:.4f}, but D*(x) = {expected[i]:.4f}.")
    return _report("optimal discriminator", problems)


def check_jsd(fn):
    """Check ``fn(p, q, dx)`` against the Jensen-Shannon divergence (natural log)."""
    x, dx = _grid()
    p, q = theory.gaussian_mixture(x, [-1, 2], [0.5, 1.0]), theory.gaussian_mixture(x, [0.5], [1.5])
    far_p, far_q = theory.gaussian_mixture(x, [-5], [0.3]), theory.gaussian_mixture(x, [5], [0.3])
    problems = []
    same, err = _call(fn, p, p, dx)
    pq, err2 = _call(fn, p, q, dx)
    qp, _ = _call(fn, q, p, dx)
    far, err3 = _call(fn, far_p, far_q, dx)
    expected = theory.jsd(p, q, dx)
    if err or err2 or err3:
        problems.append(err or err2 or err3)
    elif not math.isfinite(float(far)):
        problems.append("for densities that do not overlap it returns inf: compare each density with the mixture "
                        "m = (p + q) / 2, never with each other, and treat 0 * log 0 as 0.")
    elif abs(float(same)) > 1e-8:
        problems.append(f"JSD(p, p) should be 0, got {float(same):.3g}.")
    elif abs(float(pq) - float(qp)) > 1e-8:
        problems.append("JSD is symmetric, but fn(p, q) != fn(q, p): use the mixture m = (p + q) / 2.")
    elif math.isclose(float(pq), 2 * expected, rel_tol=1e-4):
        problems.append("the result is twice the JSD: each KL term carries a factor 1/2.")
    elif math.isclose(float(pq), expected / math.log(2), rel_tol=1e-4):
        problems.append("the result is in bits: the course uses the natural log, so JSD <= log 2.")
    elif not math.isclose(float(pq), expected, rel_tol=1e-4):
        problems.append(f"for the test pair it gives {float(pq):.6f}, but JSD = {expected:.6f}. Did you multiply by dx?")
    elif not math.isclose(float(far), math.log(2), rel_tol=1e-4):
        problems.append(f"disjoint supports should give log 2 = {math.log(2):.4f}, got {float(far):.4f}.")
    return _report("jsd", problems)


def check_modes_captured(fn):
    """Check ``fn(samples, centres, std)`` counting the modes captured by high-quality samples."""
    centres = torch.tensor([[0.0, 0.0], [2.0, 0.0], [0.0, 2.0]])
    cases = [  # samples, expected, what the case tests
        (torch.tensor([[0.01, 0.0], [2.0, 0.02]]), 2, "two samples close to two different modes"),
        (torch.tensor([[0.01, 0.0], [0.0, -0.02]]), 1, "two samples near the same mode"),
        (torch.tensor([[1.0, 1.0], [0.0, 0.05]]), 1, "a sample far from every mode (it does not count) "
                                                     "and one within 3 std of mode 0"),
        (torch.tensor([[0.0, 0.2]]), 0, "a sample 0.2 from a mode with std 0.05 (more than 3 std away)"),
    ]
    problems = []
    for samples, expected, what in cases:
        got, err = _call(fn, samples, centres, 0.05)
        if err:
            problems.append(err)
            break
        if int(got) != expected:
            problems.append(f"with {what}, it says {int(got)} modes, but {expected} are captured. A mode counts if it "
                            "is the nearest centre of at least one sample within 3 std of it.")
            break
    rng = torch.Generator().manual_seed(0)
    samples = 2 * torch.randn(500, 2, generator=rng)
    if not problems and int(fn(samples, centres, 0.05)) != metrics.mode_coverage(samples, centres, 0.05).modes:
        problems.append("on 500 random samples it disagrees with the definition (nearest centre, within 3 std).")
    return _report("modes captured", problems)
