"""Small statistics shared by the simulators and benchmarks (pure Python: it runs in the browser too)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import TypeVar

D = TypeVar("D", float, None)


def percentile(values: Iterable[float], q: float, default: D = None) -> float | D:
    """Nearest-rank percentile (q in 0..100) — the definition the py-libp2p side of the gossip bench uses,
    so both columns of a comparison are computed alike. `default` for no values."""
    ordered = sorted(values)
    if not ordered:
        return default
    rank = max(1, math.ceil(len(ordered) * q / 100))
    return ordered[min(rank, len(ordered)) - 1]
