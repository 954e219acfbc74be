"""The S&P 500 daily closes with a daily risk-free rate, and the periods a backtest is split into.

The risk-free rate is the Fama-French monthly `RF` spread evenly (compounded) over the month's trading days, so
excess returns and Sharpe ratios use the T-bill rate of their month. Days after the last factor month are left
out rather than guessed.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from pynode.research.assets import read_asset
from pynode.research.finance.limits import MAX_WINDOW

SP500 = "sp500_daily.csv"
FACTORS = "ff_factors_monthly.csv"
VALIDATION = ("2000-01-01", "2011-12-31")  # selection: the dot-com bust, a bull market and the 2008 crash
TEST = ("2012-01-01", "2018-12-31")  # reported: a later stretch never used for selection


@dataclass(frozen=True)
class Period:
    name: str
    start: int  # index of the first day whose return counts
    stop: int  # one past the last


@dataclass(frozen=True)
class Market:
    dates: tuple[str, ...]
    closes: tuple[float, ...]
    rf: tuple[float, ...]  # the risk-free return earned from the previous close to this one
    validation: Period
    test: Period


def _csv(name: str) -> list[list[str]]:
    lines = read_asset(name).decode().splitlines()
    return [line.split(",") for line in lines[1:] if line]


def monthly_factors() -> dict[str, tuple[float, float, float, float]]:
    """YYYYMM -> (Mkt-RF, SMB, HML, RF) as fractions (the file holds percent)."""
    return {
        r[0]: (float(r[1]) / 100, float(r[2]) / 100, float(r[3]) / 100, float(r[4]) / 100)
        for r in _csv(FACTORS)
    }


def _period(name: str, dates: tuple[str, ...], bounds: tuple[str, str]) -> Period:
    idx = [i for i, d in enumerate(dates) if bounds[0] <= d <= bounds[1]]
    return Period(name, idx[0], idx[-1] + 1)


@cache
def sp500() -> Market:
    factors = monthly_factors()
    rows = [r for r in _csv(SP500) if r[0][:4] + r[0][5:7] in factors]
    dates = tuple(r[0] for r in rows)
    days_in_month: dict[str, int] = {}
    for d in dates:
        days_in_month[d[:7]] = days_in_month.get(d[:7], 0) + 1
    rf = tuple((1.0 + factors[d[:4] + d[5:7]][3]) ** (1.0 / days_in_month[d[:7]]) - 1.0 for d in dates)
    market = Market(
        dates,
        tuple(float(r[1]) for r in rows),
        rf,
        _period("validation", dates, VALIDATION),
        _period("test", dates, TEST),
    )
    if market.validation.start < MAX_WINDOW + 2:  # a signal at day i is traded at i + 1 and earns at i + 2
        raise ValueError("the warm-up before validation is shorter than the longest look-back")
    return market
