"""Least squares and logistic regression in pure Python, over a design held as columns.

Where a result is defined — gradients X'W(y - Xb), means — sums are `math.fsum` (correctly rounded, so CPython
and a tab agree); Hessians only steer the steps towards that fixed point, so they use the 3x faster `sum`, and
least squares takes one refinement step on the exact gradient. Column 0 of every design is the intercept; the
ridge penalty never applies to it (nor to any column listed in `free`). Systems are solved by Cholesky
factorisation: X'WX plus a ridge is symmetric positive definite.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import repeat
from math import exp, log1p
from operator import add, mul, neg, sub

Column = Sequence[float]
# Near the optimum the Hessian barely moves: once a Newton step is this small (in standardised coefficients) the
# last Hessian is reused, so the final steps cost a gradient (p·n) instead of a Hessian (p²·n). The fixed point
# is the same: it depends only on the exact gradient.
REUSE_HESSIAN_BELOW = 0.1
Matrix = list[list[float]]


class SingularError(ArithmeticError):
    """A system that is not positive definite (a design whose columns are linearly dependent)."""


def cholesky_solve(a: Matrix, b: Sequence[float]) -> list[float]:
    """x with a x = b for symmetric positive definite a."""
    n = len(a)
    low = [[0.0] * n for _ in range(n)]
    for i in range(n):
        for j in range(i + 1):
            s = a[i][j] - math.fsum(low[i][k] * low[j][k] for k in range(j))
            if i == j:
                if s <= 0.0:
                    raise SingularError(f"matrix not positive definite at pivot {i}")
                low[i][i] = math.sqrt(s)
            else:
                low[i][j] = s / low[j][j]
    y = [0.0] * n
    for i in range(n):
        y[i] = (b[i] - math.fsum(low[i][k] * y[k] for k in range(i))) / low[i][i]
    x = [0.0] * n
    for i in reversed(range(n)):
        x[i] = (y[i] - math.fsum(low[k][i] * x[k] for k in range(i + 1, n))) / low[i][i]
    return x


def _ones(col: Column) -> bool:
    """Whether col is the intercept (every row 1.0): x·1.0 is x exactly, so its products need not be computed."""
    return col.count(1.0) == len(col)


def gram(cols: Sequence[Column], w: Column) -> Matrix:
    """X' diag(w) X (plain `sum`: it steers steps, it does not define results)."""
    weighted = [list(map(mul, w, c)) for c in cols]
    p = len(cols)
    ones = p > 0 and _ones(cols[0])
    out = [[0.0] * p for _ in range(p)]
    for j in range(p):
        for k in range(j + 1):
            out[j][k] = out[k][j] = sum(weighted[j] if ones and k == 0 else map(mul, weighted[j], cols[k]))
    return out


def cross(cols: Sequence[Column], w: Column, y: Column) -> list[float]:
    """X' diag(w) y."""
    wy = list(map(mul, w, y))
    ones = len(cols) > 0 and _ones(cols[0])
    return [math.fsum(wy if ones and j == 0 else map(mul, c, wy)) for j, c in enumerate(cols)]


def _same_length(cols: Sequence[Column], n: int) -> None:
    if any(len(c) != n for c in cols):
        raise ValueError(f"columns of {sorted({len(c) for c in cols})} rows where {n} were expected")


def predict(cols: Sequence[Column], beta: Sequence[float]) -> list[float]:
    # b0·x0 + b1·x1 + ... left to right; `map` over operator functions does each row's arithmetic in the same
    # order as a loop would, without the interpreter's per-row overhead
    _same_length(cols, len(cols[0]))
    out = [beta[0] * 1.0] * len(cols[0]) if _ones(cols[0]) else list(map(mul, repeat(beta[0]), cols[0]))
    for b, c in zip(beta[1:], cols[1:], strict=True):
        out = list(map(add, out, map(mul, repeat(b), c)))
    return out


def _penalise(a: Matrix, ridge: float, free: frozenset[int]) -> Matrix:
    out = [row[:] for row in a]
    for j in range(len(out)):
        if j not in free:
            out[j][j] += ridge
    return out


def ols(
    cols: Sequence[Column], y: Column, w: Column, ridge: float, free: frozenset[int] = frozenset({0})
) -> list[float]:
    """Weighted least squares with a ridge on the non-free coefficients, refined once on the exact gradient."""
    _same_length((*cols, w), len(y))
    hess = _penalise(gram(cols, w), ridge, free)
    beta = cholesky_solve(hess, cross(cols, w, y))
    residual = list(map(sub, y, predict(cols, beta)))
    grad = [
        g - (0.0 if j in free else ridge * b)
        for j, (g, b) in enumerate(zip(cross(cols, w, residual), beta, strict=True))
    ]
    return [b + d for b, d in zip(beta, cholesky_solve(hess, grad), strict=True)]


def sigmoid(eta: float) -> float:
    if eta >= 0:
        return 1.0 / (1.0 + math.exp(-eta))
    z = math.exp(eta)
    return z / (1.0 + z)


def sigmoids(eta: Sequence[float]) -> list[float]:
    """`sigmoid` of each, inlined (the same arithmetic, without a call per row)."""
    return [1.0 / (1.0 + exp(-e)) if e >= 0 else (z := exp(e)) / (1.0 + z) for e in eta]


def _log_likelihood(eta: Sequence[float], y: Column, w: Column, beta: Sequence[float], ridge: float) -> float:
    # Σ w·(y·η - log(1 + e^η)), log(1 + e^η) = max(η, 0) + log1p(e^-|η|) computed without overflow
    _same_length((y, w), len(eta))
    softplus = map(add, map(max, eta, repeat(0.0)), map(log1p, map(exp, map(neg, map(abs, eta)))))
    terms = map(mul, w, map(sub, map(mul, y, eta), softplus))
    return math.fsum(terms) - 0.5 * ridge * math.fsum(b * b for b in beta[1:])


def logistic(
    cols: Sequence[Column],
    y: Column,
    w: Column,
    ridge: float,
    start: Sequence[float] | None = None,
    max_iter: int = 100,
    tol: float = 1e-7,
) -> list[float]:
    """Ridge-penalised logistic regression by Newton's method (IRLS) with step halving; `start` warm-starts it
    (a bootstrap resample converges in a few steps from the full sample's fit)."""
    _same_length((*cols, w), len(y))
    if start is None:  # intercept at the base rate's logit: the slopes start from "no information"
        rate = min(max(math.fsum(map(mul, w, y)) / math.fsum(w), 1e-9), 1 - 1e-9)
        start = [math.log(rate / (1.0 - rate))] + [0.0] * (len(cols) - 1)
    beta = list(start)
    eta = predict(cols, beta)
    ll = _log_likelihood(eta, y, w, beta, ridge)
    hess: Matrix | None = None
    last = math.inf  # size of the previous step
    for _ in range(max_iter):
        p = sigmoids(eta)
        grad = cross(cols, w, list(map(sub, y, p)))
        grad = [g - (ridge * b if j else 0.0) for j, (g, b) in enumerate(zip(grad, beta, strict=True))]
        if hess is None or last > REUSE_HESSIAN_BELOW:
            curvature = list(map(mul, map(mul, w, p), map(sub, repeat(1.0), p)))
            hess = _penalise(gram(cols, curvature), ridge, frozenset({0}))
        step = cholesky_solve(hess, grad)
        for _halving in range(30):
            trial = [b + s for b, s in zip(beta, step, strict=True)]
            trial_eta = predict(cols, trial)
            trial_ll = _log_likelihood(trial_eta, y, w, trial, ridge)
            if trial_ll >= ll:
                break
            step = [s / 2 for s in step]
        else:
            return beta  # no ascent direction left: at the optimum up to rounding
        beta, eta, ll = trial, trial_eta, trial_ll
        last = max(abs(s) for s in step)
        if last < tol:
            break
    return beta
