"""The finance config: a strategy family with its look-backs, an optional volatility target, a no-trade band.

A config is flat JSON. Only the fields of its family are kept; settings that cannot change the backtest are
reset to their defaults (no shorting for buy-and-hold; look-back and leverage cap while volatility targeting is
off) and floats are rounded to 4 decimals, so configs that trade identically share one canonical form and hash.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pynode.research.domain import Config, ConfigError
from pynode.research.finance.limits import MAX_CHOICE_CHARS, MAX_SHOWN_CHARS, MAX_WINDOW


@dataclass(frozen=True)
class Field:
    kind: type  # str (a choice), bool, int or float
    default: Any
    lo: float = 0
    hi: float = 0
    choices: tuple[str, ...] = ()


FAMILIES: dict[str, tuple[str, ...]] = {
    "hold": (),  # buy and hold (with volatility targeting: a pure volatility-target strategy)
    "trend": ("fast", "slow"),  # moving-average crossover
    "momentum": ("lookback", "skip"),  # time-series momentum
    "mean_reversion": ("mr_lookback", "entry"),  # z-score of the close against its recent mean
}
FIELDS: dict[str, Field] = {
    "family": Field(str, "trend", choices=tuple(FAMILIES)),
    "long_short": Field(bool, False),
    "vol_target": Field(float, 0.0, 0.0, 0.4),  # annualised; 0 turns volatility targeting off
    "vol_lookback": Field(int, 21, 5, MAX_WINDOW),
    "max_leverage": Field(float, 1.0, 0.25, 2.0),
    "band": Field(float, 0.0, 0.0, 0.5),
    "fast": Field(int, 50, 2, 100),
    "slow": Field(int, 200, 5, MAX_WINDOW),
    "lookback": Field(int, 126, 5, MAX_WINDOW),
    "skip": Field(int, 0, 0, 21),
    "mr_lookback": Field(int, 10, 2, 60),
    "entry": Field(float, 1.0, 0.1, 3.0),
}
COMMON = ("family", "long_short", "vol_target", "vol_lookback", "max_leverage", "band")
VOL_FIELDS = ("vol_lookback", "max_leverage")  # inert while vol_target == 0

BASELINE: Config = {  # the textbook 50/200-day crossover, long or flat
    "family": "trend", "long_short": False, "vol_target": 0.0, "vol_lookback": 21, "max_leverage": 1.0,
    "band": 0.0, "fast": 50, "slow": 200,
}  # fmt: skip


def show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= MAX_SHOWN_CHARS else text[:MAX_SHOWN_CHARS] + "…"


def _field_value(name: str, f: Field, value: Any) -> Any:
    if f.kind is str:
        if not isinstance(value, str) or len(value) > MAX_CHOICE_CHARS or value not in f.choices:
            raise ConfigError(f"{name} must be one of {list(f.choices)}, not {show(value)}")
        return value
    if f.kind is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{name} must be true or false, not {show(value)}")
        return value
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigError(f"{name} must be a finite number, not {show(value)}")
    if f.kind is int:
        if value != int(value):
            raise ConfigError(f"{name} must be a whole number, not {show(value)}")
        value = int(value)
    else:
        value = round(float(value), 4)
    if not f.lo <= value <= f.hi:
        raise ConfigError(f"{name} must lie in [{f.lo}, {f.hi}], not {show(value)}")
    return value


def validate(config: Mapping[str, Any]) -> Config:
    if not isinstance(config, Mapping):
        raise ConfigError(f"a finance config is a JSON object, not {type(config).__name__}")
    if len(config) > len(FIELDS):
        raise ConfigError(f"a finance config has at most {len(FIELDS)} keys")
    for key in config:
        if key not in FIELDS:
            raise ConfigError(f"unknown finance setting {show(key)}; known: {sorted(FIELDS)}")
    family = _field_value("family", FIELDS["family"], config.get("family", FIELDS["family"].default))
    out = {
        name: _field_value(name, FIELDS[name], config.get(name, FIELDS[name].default))
        for name in (*COMMON, *FAMILIES[family])
    }
    if family == "hold":
        out["long_short"] = False
    if out["vol_target"] == 0.0:
        out.update({name: FIELDS[name].default for name in VOL_FIELDS})
    if family == "trend" and out["fast"] >= out["slow"]:
        raise ConfigError(f"fast ({out['fast']}) must be shorter than slow ({out['slow']})")
    if family == "momentum" and out["skip"] >= out["lookback"]:
        raise ConfigError(f"skip ({out['skip']}) must be shorter than lookback ({out['lookback']})")
    return out


def _draw(name: str, rng: Any) -> Any:
    f = FIELDS[name]
    if f.kind is str:
        return rng.choice(f.choices)
    if f.kind is bool:
        return rng.random() < 0.5
    if f.kind is int:
        return rng.randint(int(f.lo), int(f.hi))
    return round(rng.uniform(f.lo, f.hi), 2)


def sample(rng: Any) -> Config:
    """Uniform over the schema; half the draws leave volatility targeting off. Order constraints are met by
    drawing the shorter window below the longer one."""
    family = rng.choice(tuple(FAMILIES))
    out: Config = {name: _draw(name, rng) for name in (*COMMON, *FAMILIES[family])}
    out["family"] = family
    if rng.random() < 0.5:
        out["vol_target"] = 0.0
    if family == "trend":
        out["fast"] = rng.randint(2, min(int(FIELDS["fast"].hi), out["slow"] - 1))
    if family == "momentum":
        out["skip"] = rng.randint(0, min(int(FIELDS["skip"].hi), out["lookback"] - 1))
    return validate(out)
