"""Nearest-neighbour matching on the logit of the propensity score.

Each unit of the source group (the treated for the ATT; both groups in turn for the ATE) is matched to its k
nearest units of the other group; a unit drawn twice by the bootstrap is two units. Without replacement a
target unit serves once, and sources are matched from the highest score down for the treated (the lowest up
for controls): those in the sparsest part of the other group choose first. A caliper (in standard deviations of
the logit) drops matches that are too far; a source left without matches is dropped from the estimate.
Bias adjustment corrects each match by the outcome model's prediction gap, m(x_source) - m(x_target).
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass

from pynode.research.causes.estimators import View, outcome_model


@dataclass(frozen=True)
class Matching:
    k: int
    replacement: bool
    caliper: float  # in sd of the logit score; 0 = none
    bias_adjust: bool


def _expand(v: View, g: int) -> list[int]:
    return [i for i in v.group(g) for _ in range(int(v.w[i]))]


def _nearest(scores: list[float], x: float, k: int, width: float) -> list[int]:
    """Positions of the k scores nearest x (within width), nearest first; ties go to the lower position."""
    hi = bisect_left(scores, x)
    lo = hi - 1
    out: list[int] = []
    while len(out) < k and (lo >= 0 or hi < len(scores)):
        take_lo = hi >= len(scores) or (lo >= 0 and x - scores[lo] <= scores[hi] - x)
        pos = lo if take_lo else hi
        if abs(scores[pos] - x) > width:
            break
        out.append(pos)
        lo, hi = (lo - 1, hi) if take_lo else (lo, hi + 1)
    return out


def match_effects(v: View, eta: Sequence[float], source: int, m: Matching, width: float) -> list[float]:
    """One effect per matched source unit: ±(y_source - mean of its matches' (adjusted) outcomes)."""
    target = sorted(_expand(v, 1 - source), key=lambda i: (eta[i], i))
    scores = [eta[i] for i in target]
    adjust = outcome_model(v, 1 - source) if m.bias_adjust else None
    sources = sorted(_expand(v, source), key=lambda i: (eta[i], i), reverse=source == 1)
    sign = 1.0 if source == 1 else -1.0
    effects = []
    for i in sources:
        found = _nearest(scores, eta[i], m.k, width)
        if not found:
            continue
        matched = [target[p] for p in found]
        ys = [v.y[j] + (adjust[i] - adjust[j] if adjust else 0.0) for j in matched]
        effects.append(sign * (v.y[i] - sum(ys) / len(ys)))
        if not m.replacement:
            for p in sorted(found, reverse=True):
                del target[p], scores[p]
    return effects


def matching(v: View, eta: Sequence[float], m: Matching, att: bool) -> float | None:
    """The matching estimate, or None when no unit found a match."""
    n = math.fsum(v.w)
    mean = math.fsum(e * w for e, w in zip(eta, v.w, strict=True)) / n
    sd = math.sqrt(math.fsum(w * (e - mean) ** 2 for e, w in zip(eta, v.w, strict=True)) / n)
    width = m.caliper * sd if m.caliper > 0 else math.inf
    effects = match_effects(v, eta, 1, m, width)
    if not att:
        effects += match_effects(v, eta, 0, m, width)
    return math.fsum(effects) / len(effects) if effects else None
