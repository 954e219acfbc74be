"""The finance domain: timing the S&P 500 with trend, momentum, mean-reversion and volatility-target
strategies after transaction costs.

What `evaluate(task, config, seed)` returns. A config's backtest is deterministic; it runs once over 1999-2018
(1999 only warms the look-backs up) and is cached. The value is the annualised Sharpe ratio of the strategy's
daily net excess returns over the VALIDATION period (2000-2011) after a circular block bootstrap (21-day blocks)
keyed by `seed`: seed s resamples the same days for every config. The validation period is what agents select
on. The TEST period (2012-2018) is never the value, so never the basis of selection: its Sharpe, next to buy
and hold's on both periods, travels in the details for papers and benchmarks to report.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pynode.research.config import canonical
from pynode.research.domain import Config, ConfigError, Evaluation, Mutation, Task
from pynode.research.finance import mutations as hypotheses
from pynode.research.finance import schema, signals
from pynode.research.finance.backtest import held_positions, net_excess_returns, resampled_sharpe, sharpe
from pynode.research.finance.limits import COST_BPS, RESULTS_CACHE, TRADING_DAYS
from pynode.research.finance.market import Market, Period, sp500

TASK = Task(
    domain="finance",
    id="sp500-sharpe",
    metric="sharpe",
    unit="sharpe",
    direction="max",
    title=(
        "S&P 500 timing after 5 bps costs: annualised Sharpe on 2000-2011 (selection); "
        "2012-2018 test Sharpe and buy-and-hold reported beside it"
    ),
    seeds=5,
    budget_s=10.0,
    reference="buy and hold, in every result's details (buy_and_hold_validation, buy_and_hold_test)",
)


def targets(config: Config, closes: list[float] | tuple[float, ...]) -> list[float]:
    """The target position for each day of a validated config, from closes up to that day."""
    family = config["family"]
    if family == "hold":
        raw = signals.hold(closes)
    elif family == "trend":
        raw = signals.trend(closes, config["fast"], config["slow"], config["long_short"])
    elif family == "momentum":
        raw = signals.momentum(closes, config["lookback"], config["skip"], config["long_short"])
    else:
        raw = signals.mean_reversion(closes, config["mr_lookback"], config["entry"], config["long_short"])
    if config["vol_target"] > 0.0:
        raw = signals.vol_target(
            raw, closes, config["vol_target"], config["vol_lookback"], config["max_leverage"]
        )
    return raw


@dataclass(frozen=True)
class Backtest:
    validation: list[float]  # daily net excess returns over the validation period
    test: list[float]
    turnover: float  # validation turnover per year (1 = the whole capital traded once)
    exposure: float  # mean |position| over validation


def backtest(config: Config, market: Market, cost_bps: float = COST_BPS) -> Backtest:
    held = held_positions(targets(config, market.closes), config["band"])
    net = net_excess_returns(market.closes, market.rf, held, cost_bps)
    v = market.validation
    days = v.stop - v.start
    turnover = sum(abs(held[j] - held[j - 1]) for j in range(v.start, v.stop))
    return Backtest(
        validation=net[v.start : v.stop],
        test=net[market.test.start : market.test.stop],
        turnover=turnover / days * TRADING_DAYS,
        exposure=sum(abs(h) for h in held[v.start : v.stop]) / days,
    )


def _span(market: Market, p: Period) -> str:
    return f"{market.dates[p.start]}..{market.dates[p.stop - 1]}"


class FinanceDomain:
    name = "finance"
    tasks: Mapping[str, Task] = {TASK.id: TASK}

    def __init__(self) -> None:
        self._cache: OrderedDict[str, Backtest] = OrderedDict()

    def _task(self, task: str) -> Task:
        if task not in self.tasks:
            raise ConfigError(f"unknown finance task {schema.show(task)}")
        return self.tasks[task]

    def baseline(self, task: str) -> Config:
        self._task(task)
        return dict(schema.BASELINE)

    def validate(self, task: str, config: Mapping[str, Any]) -> Config:
        self._task(task)
        return schema.validate(config)

    def sample(self, task: str, rng: Any) -> Config:
        self._task(task)
        return schema.sample(rng)

    def mutations(self, task: str) -> list[Mutation]:
        self._task(task)
        return hypotheses.mutations()

    def crossover(self, task: str, a: Config, b: Config, rng: Any) -> Config:
        self._task(task)
        return hypotheses.crossover(a, b, rng)

    def backtest(self, config: Config) -> Backtest:
        """The cached backtest of a validated config (the seeds of one config share it)."""
        key = canonical(config)
        hit = self._cache.get(key)
        if hit is None:
            hit = self._cache[key] = backtest(config, sp500())
            if len(self._cache) > RESULTS_CACHE:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(key)
        return hit

    def evaluate(self, task: str, config: Config, seed: int) -> Evaluation:
        self._task(task)
        config = schema.validate(config)
        run, hold, market = self.backtest(config), self.backtest(schema.validate({"family": "hold"})), sp500()
        return Evaluation(
            resampled_sharpe(run.validation, seed),
            {
                "sharpe_validation": sharpe(run.validation),
                "heldout": sharpe(run.test),  # the reported metric: never used for selection
                "sharpe_test": sharpe(run.test),
                "buy_and_hold_validation": sharpe(hold.validation),
                "buy_and_hold_test": sharpe(hold.test),
                "turnover_per_year": run.turnover,
                "exposure": run.exposure,
                "cost_bps": COST_BPS,
                "validation": _span(market, market.validation),
                "test": _span(market, market.test),
                "resample": seed,
            },
        )
