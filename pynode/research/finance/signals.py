"""Strategy families as target positions: day i's target uses closes[0..i] and nothing later.

Each function returns one target per day (a fraction of capital in the index; negative is short). Before its
look-back is filled a strategy stays flat. The backtest trades a target at the next close, never the same one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from pynode.research.finance.limits import TRADING_DAYS


def rolling_mean(xs: Sequence[float], window: int) -> list[float | None]:
    """Mean of xs[i-window+1..i] (None until the window is full)."""
    out: list[float | None] = [None] * len(xs)
    total = 0.0
    for i, x in enumerate(xs):
        total += x
        if i >= window:
            total -= xs[i - window]
        if i >= window - 1:
            out[i] = total / window
    return out


def rolling_sd(xs: Sequence[float], window: int) -> list[float | None]:
    """Sample sd of xs[i-window+1..i] (None until the window is full); window >= 2. Two passes per window:
    running sums of squares would cancel catastrophically on prices near 2,000 with a 2-day window."""
    out: list[float | None] = [None] * len(xs)
    for i in range(window - 1, len(xs)):
        w = xs[i - window + 1 : i + 1]
        m = sum(w) / window
        out[i] = math.sqrt(sum((x - m) ** 2 for x in w) / (window - 1))
    return out


def _side(up: bool, long_short: bool) -> float:
    return 1.0 if up else (-1.0 if long_short else 0.0)


def hold(closes: Sequence[float]) -> list[float]:
    return [1.0] * len(closes)


def trend(closes: Sequence[float], fast: int, slow: int, long_short: bool) -> list[float]:
    """Moving-average crossover: long while the fast average is above the slow one."""
    f, s = rolling_mean(closes, fast), rolling_mean(closes, slow)
    return [0.0 if a is None or b is None else _side(a > b, long_short) for a, b in zip(f, s, strict=True)]


def momentum(closes: Sequence[float], lookback: int, skip: int, long_short: bool) -> list[float]:
    """Time-series momentum: the sign of the return from `lookback` to `skip` days ago."""
    return [
        0.0 if i < lookback else _side(closes[i - skip] > closes[i - lookback], long_short)
        for i in range(len(closes))
    ]


def mean_reversion(closes: Sequence[float], lookback: int, entry: float, long_short: bool) -> list[float]:
    """Buy when the close sits `entry` standard deviations below its `lookback`-day mean, sell back at the mean
    (and, long-short, the mirror image above it)."""
    means, sds = rolling_mean(closes, lookback), rolling_sd(closes, lookback)
    out, state = [], 0.0
    for c, m, s in zip(closes, means, sds, strict=True):
        if m is not None and s is not None:
            z = (c - m) / s if s > 0 else 0.0
            if z < -entry:
                state = 1.0
            elif z > entry:
                state = -1.0 if long_short else 0.0
            elif (state > 0 and z >= 0) or (state < 0 and z <= 0):
                state = 0.0
        out.append(state)
    return out


def daily_returns(closes: Sequence[float]) -> list[float]:
    """returns[i] = close i over close i-1, minus 1 (0 on the first day)."""
    return [0.0] + [b / a - 1.0 for a, b in zip(closes, closes[1:], strict=False)]


def vol_target(
    targets: Sequence[float], closes: Sequence[float], target: float, window: int, max_leverage: float
) -> list[float]:
    """Scale each target by target_vol / realised vol of the last `window` daily returns (annualised), capped at
    ±max_leverage. Flat until the window is full."""
    vols = rolling_sd(daily_returns(closes), window)
    out = []
    for i, (t, v) in enumerate(zip(targets, vols, strict=True)):
        if v is None or i < window:
            out.append(0.0)
            continue
        scale = target / (v * math.sqrt(TRADING_DAYS)) if v > 0 else max_leverage
        out.append(max(-max_leverage, min(max_leverage, t * scale)))
    return out
