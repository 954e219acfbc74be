"""Finance domain: Sharpe and backtests with known answers, no look-ahead, costs, hostile configs, the contract."""

from __future__ import annotations

import math
import random

import pytest

from pynode.research.config import config_hash
from pynode.research.domain import ConfigError
from pynode.research.finance import DOMAIN, TASK
from pynode.research.finance import schema as finance_schema
from pynode.research.finance.backtest import (
    EXECUTION_LAG,
    block_resample,
    held_positions,
    net_excess_returns,
    sharpe,
)
from pynode.research.finance.domain import backtest, targets
from pynode.research.finance.limits import BLOCK_DAYS, COST_BPS
from pynode.research.finance.market import sp500

T = TASK.id


def test_sharpe_of_a_known_series():
    assert sharpe([0.01, 0.02, 0.03]) == pytest.approx(0.02 / 0.01 * math.sqrt(252))
    assert sharpe([-0.01, 0.01, -0.01, 0.01]) == 0.0
    assert sharpe([0.004] * 10) == 0.0  # no spread: defined as 0, not a division by zero
    with pytest.raises(ValueError):
        sharpe([0.01])


def test_buy_and_hold_on_a_steady_series_earns_the_drift_after_one_entry_cost():
    g, n = 0.001, 40
    closes = [100.0 * (1 + g) ** i for i in range(n)]
    held = held_positions(targets(DOMAIN.validate(T, {"family": "hold"}), closes), band=0.0)
    assert held == [0.0] * EXECUTION_LAG + [1.0] * (n - EXECUTION_LAG)
    net = net_excess_returns(closes, [0.0] * n, held, cost_bps=10.0)
    assert net[2] == pytest.approx(g - 0.001)  # the entry trade pays 10 bps once
    assert net[3:] == pytest.approx([g] * (n - 3))


def test_momentum_on_a_peak_exits_at_the_computed_day():
    # up by u per day to the peak P, then down by 1/u: close i beats close i - L exactly while i < P + L/2
    u, peak, lookback, n = 1.01, 60, 21, 120
    closes = [u ** (i if i <= peak else 2 * peak - i) for i in range(n)]
    config = DOMAIN.validate(T, {"family": "momentum", "lookback": lookback, "skip": 0})
    want = [1.0 if lookback <= i < peak + lookback / 2 else 0.0 for i in range(n)]
    assert targets(config, closes) == want
    held = held_positions(want, band=0.0)
    assert held == [0.0, 0.0] + want[:-2]  # traded at the next close, earning from the day after
    net = net_excess_returns(closes, [0.0] * n, held, cost_bps=0.0)
    up_days = peak - (lookback + 2) + 1  # days lookback+2 .. peak earn u - 1
    down_days = (math.ceil(peak + lookback / 2) - 1 + 2) - peak  # held through the fall until the exit
    assert math.prod(1 + r for r in net) == pytest.approx(u**up_days / u**down_days)


def test_costs_are_bps_per_unit_of_turnover():
    m = sp500()
    config = DOMAIN.validate(
        T, {"family": "mean_reversion", "mr_lookback": 5, "entry": 0.8, "long_short": True}
    )
    held = held_positions(targets(config, m.closes), 0.0)
    free = net_excess_returns(m.closes, m.rf, held, 0.0)
    paid = net_excess_returns(m.closes, m.rf, held, 7.0)
    turnover = sum(abs(b - a) for a, b in zip(held, held[1:], strict=False))
    assert turnover > 100
    assert math.fsum(free) - math.fsum(paid) == pytest.approx(7e-4 * turnover)


@pytest.mark.parametrize(
    "config",
    [
        {"family": "trend", "fast": 10, "slow": 40, "long_short": True},
        {"family": "momentum", "lookback": 60, "skip": 5},
        {"family": "mean_reversion", "mr_lookback": 3, "entry": 0.5, "long_short": True},
        {"family": "hold", "vol_target": 0.1, "vol_lookback": 10, "max_leverage": 2.0, "band": 0.1},
    ],
)
def test_no_look_ahead_changing_the_future_leaves_the_past_alone(config):
    config = DOMAIN.validate(T, config)
    closes = list(sp500().closes[:900])
    rng = random.Random(7)
    for k in (300, 450, 700):
        future = closes[: k + 1] + [c * math.exp(rng.gauss(0, 0.05)) for c in closes[k + 1 :]]
        a, b = targets(config, closes), targets(config, future)
        assert a[: k + 1] == b[: k + 1] and a != b
        ha, hb = held_positions(a, config["band"]), held_positions(b, config["band"])
        assert ha[: k + 1 + EXECUTION_LAG] == hb[: k + 1 + EXECUTION_LAG]


def test_a_target_change_is_traded_at_the_next_close():
    want = [0.0] * 5 + [1.0] * 5
    assert held_positions(want, 0.0) == [0.0] * 7 + [1.0] * 3


def test_the_no_trade_band_skips_small_rebalances_but_always_exits():
    assert held_positions([1.0, 0.9, 1.2, 1.5, 0.0, 0.0], band=0.25) == [0.0, 0.0, 1.0, 1.0, 1.0, 1.5]
    assert held_positions([1.0, 1.0, 0.0, 0.0], band=2.0) == [0.0, 0.0, 0.0, 0.0]


def test_block_resample_is_shared_by_configs_and_keyed_by_seed():
    n = 500
    a, b = block_resample(n, 3), block_resample(n, 3)
    assert a == b and len(a) == n and all(0 <= i < n for i in a)
    assert a != block_resample(n, 4)
    # blocks are runs of consecutive days (wrapping around the end)
    assert all((a[i + 1] - a[i]) % n == 1 for i in range(0, n - 1) if (i + 1) % BLOCK_DAYS)


def test_the_data_and_periods():
    m = sp500()
    assert m.dates[0] == "1999-01-04" and m.dates[-1] == "2018-11-30"
    assert m.dates[m.validation.start] == "2000-01-03" and m.dates[m.validation.stop - 1] == "2011-12-30"
    assert m.validation.stop == m.test.start and m.dates[m.test.start] == "2012-01-03"
    assert all(0 < r < 0.001 for r in m.rf[m.validation.start :] if r) and len(m.rf) == len(m.closes)


def test_buy_and_hold_matches_an_independent_computation():
    m = sp500()
    excess = [m.closes[i] / m.closes[i - 1] - 1 - m.rf[i] for i in range(m.test.start, m.test.stop)]
    details = DOMAIN.evaluate(T, DOMAIN.baseline(T), 0).details
    mu = sum(excess) / len(excess)
    sd = math.sqrt(sum((x - mu) ** 2 for x in excess) / (len(excess) - 1))
    assert details["buy_and_hold_test"] == pytest.approx(mu / sd * math.sqrt(252), rel=1e-9)
    assert details["cost_bps"] == COST_BPS


def test_evaluate_is_deterministic_and_seeds_are_resamples_of_validation():
    config = DOMAIN.validate(T, {"family": "trend", "fast": 20, "slow": 100})
    runs = [DOMAIN.evaluate(T, config, s) for s in range(4)]
    assert [r.value for r in runs] == [DOMAIN.evaluate(T, config, s).value for s in range(4)]
    assert len({r.value for r in runs}) == 4
    full = backtest(config, sp500())
    assert runs[0].details["sharpe_validation"] == pytest.approx(sharpe(full.validation))
    assert runs[0].details["sharpe_test"] == pytest.approx(sharpe(full.test))
    assert runs[2].value == pytest.approx(
        sharpe([full.validation[i] for i in block_resample(len(full.validation), 2)])
    )


@pytest.mark.parametrize(
    ("config", "words"),
    [
        ([1, 2], "JSON object"),
        ({"family": "x" * 10_000}, "family must be one of"),
        ({"family": "crystal_ball"}, "family must be one of"),
        ({"fast": 10.5}, "whole number"),
        ({"fast": True}, "finite number"),
        ({"fast": "10"}, "finite number"),
        ({"vol_target": float("nan")}, "finite number"),
        ({"vol_target": float("inf")}, "finite number"),
        ({"vol_target": 5.0}, "must lie in"),
        ({"slow": 10**9}, "must lie in"),
        ({"fast": 100, "slow": 100}, "shorter than slow"),
        ({"family": "momentum", "lookback": 10, "skip": 10}, "shorter than lookback"),
        ({"long_short": 1}, "true or false"),
        ({"cost_bps": 0}, "unknown finance setting"),
        ({f"k{i}": 1 for i in range(100)}, "at most"),
    ],
)
def test_hostile_configs_are_refused_with_a_reason(config, words):
    with pytest.raises(ConfigError, match=words):
        DOMAIN.validate(T, config)


def test_unknown_task_is_refused():
    with pytest.raises(ConfigError):
        DOMAIN.evaluate("nasdaq-moon", DOMAIN.baseline(T), 0)


def test_canonical_form_drops_settings_that_cannot_matter():
    a = DOMAIN.validate(T, {"family": "hold", "long_short": True, "vol_lookback": 99, "fast": 3})
    b = DOMAIN.validate(T, {"family": "hold", "vol_target": 0})
    assert a == b and config_hash(a) == config_hash(b)
    assert set(DOMAIN.validate(T, {"family": "momentum"})) == {*finance_schema.COMMON, "lookback", "skip"}


def test_sample_mutations_and_crossover_give_valid_new_configs():
    rng = random.Random(11)
    configs = [DOMAIN.sample(T, rng) for _ in range(200)]
    assert {c["family"] for c in configs} == set(finance_schema.FAMILIES)
    assert any(c["vol_target"] > 0 for c in configs) and any(c["vol_target"] == 0 for c in configs)
    for parent in configs[:60]:
        for op in DOMAIN.mutations(T):
            child = DOMAIN.validate(T, op.apply(dict(parent), rng))
            assert child != parent, op.name
            assert "Sharpe" in op.describe(parent, child)
        mixed = DOMAIN.crossover(T, parent, configs[-1], rng)
        assert DOMAIN.validate(T, mixed) == mixed


def test_every_sampled_config_evaluates_to_finite_sharpe_ratios():
    rng = random.Random(5)
    for _ in range(8):
        e = DOMAIN.evaluate(T, DOMAIN.sample(T, rng), 0)
        assert math.isfinite(e.value) and math.isfinite(e.details["sharpe_test"])
