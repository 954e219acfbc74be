"""A surrogate of the board: which untried config looks most promising, before paying for its experiment.

Configs are flat-ish JSON, so any domain's config maps to features without knowing the domain: a number is a
coordinate (on a log scale when its values span more than two decades), a bool is 0/1, a choice is one-hot
(`key=value`), a list holds its items (`key∋item`), a mapping nests (`key.sub`). Two configs are as far apart
as Gower's distance says (the mean per-feature difference, numbers scaled by their range). A candidate's
predicted quality is a Gaussian-kernel mean of the results' quality ranks (ranks, not the metric itself: one
diverged run must not swamp the rest), the bandwidth being the typical distance between neighbouring results:
a candidate a hair's breadth from the best is predicted as good as the best's neighbourhood, not as the best
itself, so near-copies of the best (which teach nothing) do not win the screening by default. Its novelty is
the distance to the nearest result. Pure Python: it runs in a tab too.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

MIN_BANDWIDTH = (
    0.02  # the kernel's width when the results sit closer than this (Gower distances lie in [0, 1])
)
LOG_SPAN = 100.0  # a positive feature whose values span more than this factor is compared on a log scale

Features = dict[str, float]


def features(config: Mapping[str, Any], prefix: str = "") -> Features:
    out: Features = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, bool):
            out[name] = 1.0 if value else 0.0
        elif isinstance(value, int | float):
            out[name] = float(value)
        elif isinstance(value, str):
            out[f"{name}={value}"] = 1.0
        elif isinstance(value, list):
            for item in value:
                out[f"{name}∋{item}"] = 1.0
        elif isinstance(value, Mapping):
            out.update(features(value, f"{name}."))
    return out


class Space:
    """The features of a set of configs with each numeric feature's scale, so distances are comparable."""

    def __init__(self, configs: Sequence[Mapping[str, Any]]) -> None:
        self.rows = [features(c) for c in configs]
        values: dict[str, list[float]] = {}
        for row in self.rows:
            for k, v in row.items():
                values.setdefault(k, []).append(v)
        self.log = {k for k, vs in values.items() if min(vs) > 0 and max(vs) / min(vs) > LOG_SPAN}
        self.span: dict[str, float] = {}
        for k, vs in values.items():
            lo, hi = (min(map(math.log, vs)), max(map(math.log, vs))) if k in self.log else (min(vs), max(vs))
            self.span[k] = hi - lo

    def distance(self, i: int, j: int) -> float:
        a, b = self.rows[i], self.rows[j]
        keys = a.keys() | b.keys()
        if not keys:
            return 0.0
        total = 0.0
        for k in keys:
            if k not in a or k not in b:
                total += 1.0  # a setting only one of them has (a one-hot, a list item, an estimator's option)
                continue
            x, y = a[k], b[k]
            if k in self.log:
                x, y = math.log(x), math.log(y)
            span = self.span.get(k, 0.0)
            total += min(1.0, abs(x - y) / span) if span > 0 else 0.0
        return total / len(keys)


def quality_ranks(means: Sequence[float], direction: str) -> list[float]:
    """Each result's quality in [0, 1]: 1 for the best, 0 for the worst, ties sharing their mean rank."""
    n = len(means)
    if n < 2:
        return [1.0] * n
    order = sorted(range(n), key=lambda i: means[i], reverse=direction == "max")  # best first
    ranks = [0.0] * n
    i = 0
    while i < n:
        j = i
        while j + 1 < n and means[order[j + 1]] == means[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = 1.0 - ((i + j) / 2) / (n - 1)
        i = j + 1
    return ranks


def predict(
    board: Sequence[Mapping[str, Any]],
    means: Sequence[float],
    direction: str,
    candidates: Sequence[Mapping[str, Any]],
) -> list[tuple[float, float]]:
    """(predicted quality in [0, 1], novelty = distance to the nearest result) of each candidate."""
    space = Space([*board, *candidates])
    quality = quality_ranks(means, direction)
    n = len(board)
    if n == 0:
        return [(0.5, 1.0)] * len(candidates)
    nearest = sorted(min(space.distance(i, j) for j in range(n) if j != i) for i in range(n)) if n > 1 else []
    width = max(nearest[len(nearest) // 2] if nearest else 0.0, MIN_BANDWIDTH)
    out = []
    for c in range(n, n + len(candidates)):
        d = [space.distance(c, i) for i in range(n)]
        weights = [math.exp(-((x / width) ** 2)) for x in d]
        total = sum(weights)
        if total < 1e-12:  # far from every result: only the nearest says anything
            guess = quality[min(range(n), key=d.__getitem__)]
        else:
            guess = sum(w * q for w, q in zip(weights, quality, strict=True)) / total
        out.append((guess, min(d)))
    return out
