"""Combining the round's pseudo-gradients, and the outer Nesterov step — plain Python, bit-identical everywhere.

Every participant applies the same outer step to the same certified deltas, so these functions must give
the same float32 bits in CPython 3.11 and in Pyodide's 3.14: each sum is a written-out sequence of IEEE
additions or `math.fsum` (correctly rounded), never `sum()` over floats (compensated since 3.12).
"""

from __future__ import annotations

import math
from array import array

AGGREGATORS = ("mean", "robust")
# robust: values dropped at each end of every coordinate — a third of the deltas (rounded up, never all but
# the median), so colluding Byzantine peers are trimmed away as long as they are fewer than that: 1 of 3 or 4,
# 2 of 5 or 6, 3 of 7 to 9, ...
TRIM_FRACTION = 1 / 3


def all_finite(v: array) -> bool:
    return all(map(math.isfinite, v))


def norm(v: array) -> float:
    return math.sqrt(math.fsum(x * x for x in v))


def weighted_mean(deltas: list[array], weights: list[float]) -> array:
    total = math.fsum(weights)
    acc = [0.0] * len(deltas[0])
    for d, w in zip(deltas, weights, strict=True):
        f = w / total
        acc = [a + f * x for a, x in zip(acc, d, strict=False)]
    return array("f", acc)


def clip_to_median_norm(deltas: list[array]) -> list[array]:
    """Scale down every delta longer than the median length: a Byzantine ×100 counts like an honest one."""
    norms = [norm(d) for d in deltas]
    ordered = sorted(norms)
    mid = len(ordered) // 2
    bound = ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2
    out = []
    for d, n in zip(deltas, norms, strict=False):
        if n > bound > 0.0:
            f = bound / n
            out.append(array("f", [x * f for x in d]))
        else:
            out.append(d)
    return out


def trimmed_mean(deltas: list[array], weights: list[float], trim: int) -> array:
    """Per coordinate: drop the `trim` smallest and largest values, average the rest by weight."""
    n = len(deltas)
    if trim == 0:
        return weighted_mean(deltas, weights)
    if len(set(weights)) == 1:
        keep = n - 2 * trim
        return array("f", [math.fsum(sorted(c)[trim : n - trim]) / keep for c in zip(*deltas, strict=False)])
    out = array("f", bytes(4 * len(deltas[0])))
    for i, c in enumerate(zip(*deltas, strict=False)):
        kept = sorted(zip(c, weights, strict=False))[trim : n - trim]
        out[i] = math.fsum(v * w for v, w in kept) / math.fsum(w for _, w in kept)
    return out


def robust_trim(n: int) -> int:
    """Values trimmed at each end of a coordinate when `n` deltas are aggregated robustly."""
    return min((n - 1) // 2, math.ceil(n * TRIM_FRACTION - 1e-9))


def aggregate(method: str, deltas: list[array], weights: list[float]) -> array:
    """One pseudo-gradient from the round's deltas; `weights` are the samples each delta was trained on.

    Every delta must be finite (decoding refuses the rest): NaN has no place in a sort, so a trimmed mean
    over it would depend on where it happened to land. The result can still overflow float32 (finite inputs
    near its limit): callers check it with `all_finite`."""
    if not deltas:
        raise ValueError("nothing to aggregate")
    if not all(map(all_finite, deltas)):
        raise ValueError("a delta holds a non-finite value")
    if method == "mean":
        return weighted_mean(deltas, weights)
    if method == "robust":
        return trimmed_mean(clip_to_median_norm(deltas), weights, robust_trim(len(deltas)))
    raise ValueError(f"unknown aggregation {method!r}; one of {', '.join(AGGREGATORS)}")


def nesterov_step(theta: array, momentum: array, grad: array, lr: float, mu: float) -> tuple[array, array]:
    """SGD with Nesterov momentum on the outer pseudo-gradient, as DiLoCo's outer optimizer (torch.optim.SGD):
    b ← μ·b + g;  θ ← θ − lr·(g + μ·b)."""
    buf = array("f", [mu * b + g for b, g in zip(momentum, grad, strict=False)])
    new = array("f", [t - lr * (g + mu * b) for t, g, b in zip(theta, grad, buf, strict=False)])
    return new, buf


def pseudo_gradient(theta_start: array, theta_end: array) -> array:
    """Δ = θ_r − θ after the inner steps: the direction the outer optimizer descends."""
    return array("f", [a - b for a, b in zip(theta_start, theta_end, strict=False)])
