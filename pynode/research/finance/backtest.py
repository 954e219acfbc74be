"""From target positions to daily net excess returns, Sharpe ratios and bootstrap resamples.

Timing (no look-ahead): the target computed from closes up to day i is traded at the close of day i + 1 and
so earns day i + 2's return. The position held over day j is therefore target[j - 2] (filtered by the no-trade
band), and day j's net excess return is

    held[j] * (return[j] - rf[j]) - cost * |held[j] - held[j - 1]|

Cash earns the risk-free rate, so a flat day's excess return is 0; borrowing for leverage pays it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from pynode.research.finance.limits import BLOCK_DAYS, TRADING_DAYS
from pynode.research.finance.signals import daily_returns
from pynode.train.rng import Stream, mix

EXECUTION_LAG = 2  # days from the close a target is computed at to the first return it earns
_RESAMPLE_KEY = 0xF1A4CE  # namespaces the bootstrap stream; with the seed it fixes which blocks are drawn


def held_positions(targets: Sequence[float], band: float) -> list[float]:
    """The position over each day: target[j - 2], changed only when it moves more than `band` from the
    current position (a no-trade band that saves costs on small rebalances)."""
    held = [0.0] * len(targets)
    for j in range(EXECUTION_LAG, len(targets)):
        want = targets[j - EXECUTION_LAG]
        held[j] = want if abs(want - held[j - 1]) > band or want == 0.0 else held[j - 1]
    return held


def net_excess_returns(
    closes: Sequence[float], rf: Sequence[float], held: Sequence[float], cost_bps: float
) -> list[float]:
    cost = cost_bps / 10_000
    out = [0.0]
    for j, r in enumerate(daily_returns(closes)[1:], start=1):
        out.append(held[j] * (r - rf[j]) - cost * abs(held[j] - held[j - 1]))
    return out


def sharpe(returns: Sequence[float]) -> float:
    """Annualised Sharpe ratio of daily excess returns (sample sd); 0 for a series without spread."""
    n = len(returns)
    if n < 2:
        raise ValueError("a Sharpe ratio needs at least 2 returns")
    m = math.fsum(returns) / n
    sd = math.sqrt(math.fsum((x - m) ** 2 for x in returns) / (n - 1))
    return 0.0 if sd == 0.0 else m / sd * math.sqrt(TRADING_DAYS)


def block_resample(n: int, seed: int) -> list[int]:
    """Indices of a circular block bootstrap (Politis & Romano 1992) of n days in blocks of BLOCK_DAYS: the
    same draw for every config, so two strategies are compared on the same resampled days."""
    stream = Stream(mix(_RESAMPLE_KEY, seed, n))
    out: list[int] = []
    while len(out) < n:
        start = stream.below(n)
        out.extend((start + k) % n for k in range(BLOCK_DAYS))
    return out[:n]


def resampled_sharpe(returns: Sequence[float], seed: int) -> float:
    return sharpe([returns[i] for i in block_resample(len(returns), seed)])
