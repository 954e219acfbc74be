"""Hypotheses for the finance domain: mutation operators, crossover, and the prediction each change states.

An operator for a family's own setting (say `lookback`) applied to a parent of another family switches the
child to that family first, so every operator always proposes a new config.
"""

from __future__ import annotations

import math
from typing import Any

from pynode.research.domain import Config, Mutation
from pynode.research.finance.schema import COMMON, FAMILIES, FIELDS, VOL_FIELDS, validate

_OWNER = {name: family for family, names in FAMILIES.items() for name in names}
_ORDER = {"fast": ("fast", "slow"), "slow": ("fast", "slow"), "skip": ("skip", "lookback"), "lookback": ("skip", "lookback")}  # fmt: skip
_VOL_ON = 0.15  # volatility target a mutation turns on (about the index's long-run volatility)


def _with_family(parent: Config, family: str) -> Config:
    child = {name: parent[name] for name in COMMON}
    child["family"] = family
    child.update({name: FIELDS[name].default for name in FAMILIES[family]})
    return child


def _new_value(name: str, old: Any, rng: Any) -> Any:
    f = FIELDS[name]
    if f.kind is int:  # windows move on a log scale: 10 -> 14 is as big a step as 100 -> 140
        new = round(old * math.exp(rng.gauss(0.0, 0.35))) if old else rng.randint(1, 3)
        return min(int(f.hi), max(int(f.lo), new if new != old else old + rng.choice((-1, 1))))
    return round(min(f.hi, max(f.lo, old + rng.gauss(0.0, 0.15 * (f.hi - f.lo)))), 3)


def _keep_order(child: Config, name: str) -> None:
    """Restore short < long after a step moved one of the pair (by moving the other)."""
    if name not in _ORDER:
        return
    short, long = _ORDER[name]
    if child[short] < child[long]:
        return
    if name == short:
        child[long] = min(int(FIELDS[long].hi), child[short] + 1)
        child[short] = min(child[short], child[long] - 1)
    else:
        child[short] = max(int(FIELDS[short].lo), child[long] - 1)


def _step(name: str, parent: Config, rng: Any) -> Config:
    parent = validate(parent)
    owner = _OWNER.get(name)
    child = _with_family(parent, owner) if owner and parent["family"] != owner else dict(parent)
    if name in VOL_FIELDS and child["vol_target"] == 0.0:
        child["vol_target"] = _VOL_ON  # tuning volatility targeting means turning it on
    for _ in range(16):
        child[name] = _new_value(name, parent.get(name, FIELDS[name].default), rng)
        _keep_order(child, name)
        if validate(child) != parent:
            break
    return child


def _toggle_vol(parent: Config, rng: Any) -> Config:
    child = dict(validate(parent))
    child["vol_target"] = 0.0 if child["vol_target"] else rng.choice((0.08, 0.1, 0.12, 0.15, 0.2))
    return child


def _toggle_short(parent: Config, rng: Any) -> Config:
    parent = validate(parent)
    if parent["family"] == "hold":
        parent = _with_family(parent, rng.choice(("trend", "momentum", "mean_reversion")))
    return {**parent, "long_short": not parent["long_short"]}


def _switch_family(parent: Config, rng: Any) -> Config:
    parent = validate(parent)
    return _with_family(parent, rng.choice([f for f in FAMILIES if f != parent["family"]]))


def crossover(a: Config, b: Config, rng: Any) -> Config:
    """The signal (family, its windows, shorting) from one parent, the risk overlay (volatility target) from
    one, the no-trade band from one."""
    a, b = validate(a), validate(b)
    signal, risk, band = (a if rng.random() < 0.5 else b for _ in range(3))
    child = {name: signal[name] for name in ("family", "long_short", *FAMILIES[signal["family"]])}
    child.update({name: risk[name] for name in ("vol_target", *VOL_FIELDS)})
    child["band"] = band["band"]
    return validate(child)


# Why a move in each direction should help: the stated prediction of a hypothesis (up, down).
_REASONS: dict[str, tuple[str, str]] = {
    "fast": (
        "a slower fast average ignores short whipsaws, so the crossover trades less and pays less in costs",
        "a quicker fast average reacts sooner when the trend turns",
    ),
    "slow": (
        "a longer slow average trades only the major turns of the market",
        "a shorter slow average catches trend changes earlier",
    ),
    "lookback": (
        "a longer momentum horizon follows the persistent year-scale trends found in index returns",
        "a shorter momentum horizon adapts faster to reversals such as 2009's",
    ),
    "skip": (
        "skipping the most recent days avoids their short-term reversal",
        "the most recent days carry trend information too",
    ),
    "mr_lookback": (
        "a longer window measures stretched prices against a steadier mean",
        "a shorter window catches the overreactions that revert within days",
    ),
    "entry": (
        "waiting for larger deviations trades only the strongest overreactions, at lower cost",
        "acting on smaller deviations catches more reversions",
    ),
    "vol_target": (
        "a higher volatility target uses more of the leverage allowance in calm markets",
        "a lower volatility target cuts exposure further in turbulent markets",
    ),
    "vol_lookback": (
        "a longer volatility window gives steadier position sizes and less turnover",
        "a shorter volatility window reacts faster to volatility spikes",
    ),
    "max_leverage": (
        "a higher leverage cap lets the volatility target lever up calm markets, whose risk-adjusted returns are best",
        "a lower leverage cap limits exposure when measured volatility is misleadingly low",
    ),
    "band": (
        "a wider no-trade band skips small rebalances whose costs exceed their benefit",
        "a narrower no-trade band tracks the target more closely",
    ),
}
_FAMILY_REASONS = {
    "hold": "staying invested collects the equity premium without paying to trade",
    "trend": "a moving-average crossover sidesteps the long bear markets of 2000-2002 and 2008",
    "momentum": "time-series momentum rides the persistence of index returns over months",
    "mean_reversion": "buying short-term overreactions exploits the index's negative daily autocorrelation",
}


def _reason(name: str, old: Any, new: Any) -> str:
    if name == "family":
        return f"{_FAMILY_REASONS[new]}"
    if name == "long_short":
        return (
            "shorting in downtrends earns the falling markets instead of sitting in cash"
            if new
            else "shorting loses to the long-run upward drift of equities"
        )
    if name == "vol_target" and (old == 0.0 or new == 0.0):
        return (
            "scaling exposure inversely to recent volatility cuts it in turbulent markets, where returns per "
            "unit of risk are worst"
            if new
            else "volatility scaling adds turnover and lags volatility's turns, so a fixed exposure does better"
        )
    return _REASONS[name][0 if new > old else 1]


def describe(parent: Config, child: Config) -> str:
    """The hypothesis in words: what changed, and why it should raise the Sharpe ratio after costs."""
    changes, reasons = [], []
    for name in FIELDS:
        old, new = parent.get(name), child.get(name)
        if old == new or new is None or (old is None and name not in ("family",)):
            continue
        changes.append(f"{name} {old} → {new}")
        reasons.append(_reason(name, old, new))
    if not changes:
        return "no change"
    return (
        f"{'; '.join(changes)}: {'; '.join(reasons)}; "
        "the annualised Sharpe ratio after costs on the validation period rises."
    )


def mutations() -> list[Mutation]:
    ops = [
        Mutation(name, lambda parent, rng, name=name: _step(name, parent, rng), describe)
        for name in FIELDS
        if FIELDS[name].kind in (int, float)
    ]
    ops.append(Mutation("volatility_targeting", _toggle_vol, describe))
    ops.append(Mutation("long_short", _toggle_short, describe))
    ops.append(Mutation("family", _switch_family, describe))
    return ops
