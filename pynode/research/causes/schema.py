"""The causes config: an estimator, the covariate terms of its propensity and outcome models, and its options.

A config is flat JSON. Only the settings its estimator uses are kept (the propensity terms of a regression only
when it trims; the outcome terms of matching only when it bias-adjusts); term lists are sorted and deduplicated
and floats rounded to 4 decimals, so configs that estimate identically share one canonical form and hash.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pynode.research.causes.limits import MAX_CHOICE_CHARS, MAX_SHOWN_CHARS
from pynode.research.causes.terms import Variables, canonical_terms
from pynode.research.domain import Config, ConfigError

ESTIMATORS = ("naive", "regression", "ipw", "aipw", "matching")
CHOICES = {"estimator": ESTIMATORS, "outcome_model": ("pooled", "separate")}
NUMBERS: dict[str, tuple[type, float, float]] = {  # name: (kind, lo, hi)
    "trim": (float, 0.0, 0.2),  # drop units with propensity outside [trim, 1 - trim]; 0 keeps all
    "k": (int, 1, 10),
    "caliper": (float, 0.0, 1.0),  # in sd of the logit score; 0 = no caliper
    "ps_ridge": (
        float,
        0.001,
        100.0,
    ),  # penalty on the standardised propensity coefficients (> 0: a separable
    # design still has a finite fit); varied on a log scale and kept to 3 significant digits
}
FLAGS = ("replacement", "bias_adjust")
TERM_LISTS = ("ps_terms", "outcome_terms")
DEFAULTS: dict[str, Any] = {
    "estimator": "naive", "outcome_model": "separate", "trim": 0.0, "k": 1, "caliper": 0.0,
    "replacement": True, "bias_adjust": False, "ps_ridge": 0.001,
}  # fmt: skip
USES: dict[str, tuple[str, ...]] = {
    "naive": (),
    "regression": ("outcome_terms", "outcome_model", "trim"),
    "ipw": ("ps_terms", "ps_ridge", "trim"),
    "aipw": ("ps_terms", "ps_ridge", "outcome_terms", "trim"),
    "matching": ("ps_terms", "ps_ridge", "trim", "k", "replacement", "caliper", "bias_adjust"),
}
KNOWN = ("estimator", *TERM_LISTS, *CHOICES, *NUMBERS, *FLAGS)


def show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= MAX_SHOWN_CHARS else text[:MAX_SHOWN_CHARS] + "…"


def uses(config: Mapping[str, Any]) -> tuple[str, ...]:
    """The settings a config's estimator reads (its options decide whether it needs both models)."""
    out = USES[config["estimator"]]
    if config["estimator"] == "regression" and config.get("trim", 0.0) > 0:
        out = (*out, "ps_terms", "ps_ridge")
    if config["estimator"] == "matching" and config.get("bias_adjust"):
        out = (*out, "outcome_terms")
    return out


def _number(name: str, value: Any) -> int | float:
    kind, lo, hi = NUMBERS[name]
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigError(f"{name} must be a finite number, not {show(value)}")
    if kind is int and value != int(value):
        raise ConfigError(f"{name} must be a whole number, not {show(value)}")
    value = (
        int(value) if kind is int else float(f"{value:.3g}") if name == "ps_ridge" else round(float(value), 4)
    )
    if not lo <= value <= hi:
        raise ConfigError(f"{name} must lie in [{lo}, {hi}], not {show(value)}")
    return value


def _choice(name: str, value: Any) -> str:
    if not isinstance(value, str) or len(value) > MAX_CHOICE_CHARS or value not in CHOICES[name]:
        raise ConfigError(f"{name} must be one of {list(CHOICES[name])}, not {show(value)}")
    return value


def _flag(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{name} must be true or false, not {show(value)}")
    return value


@dataclass(frozen=True)
class Schema:
    """One task's schema: its covariate vocabulary and default terms."""

    variables: Variables
    default_terms: tuple[str, ...]

    def _value(self, name: str, value: Any) -> Any:
        if name in TERM_LISTS:
            return canonical_terms(value, self.variables, name)
        if name in CHOICES:
            return _choice(name, value)
        if name in NUMBERS:
            return _number(name, value)
        return _flag(name, value)

    def default(self, name: str) -> Any:
        return list(self.default_terms) if name in TERM_LISTS else DEFAULTS[name]

    def validate(self, config: Mapping[str, Any]) -> Config:
        if not isinstance(config, Mapping):
            raise ConfigError(f"a causes config is a JSON object, not {type(config).__name__}")
        if len(config) > len(KNOWN):
            raise ConfigError(f"a causes config has at most {len(KNOWN)} keys")
        for key in config:
            if key not in KNOWN:
                raise ConfigError(f"unknown causes setting {show(key)}; known: {sorted(KNOWN)}")
        for key, value in config.items():  # every setting given must be well formed, used or not
            if key != "estimator":
                self._value(key, value)
        out: Config = {"estimator": _choice("estimator", config.get("estimator", DEFAULTS["estimator"]))}
        # options first: whether trimming / bias adjustment is on decides which term lists are kept
        for name in sorted(USES[out["estimator"]], key=lambda n: n in TERM_LISTS):
            out[name] = self._value(name, config.get(name, self.default(name)))
        for name in uses(out):
            if name not in out:
                out[name] = self._value(name, config.get(name, self.default(name)))
        return out

    def vocabulary(self) -> list[str]:
        """Every term the schema accepts (the random search draws from it)."""
        v = self.variables
        numeric = v.continuous + v.binary
        powers = [f"{c}^{p}" for c in v.continuous for p in (2, 3)]
        products = ["*".join(sorted(pair)) for pair in itertools.combinations(numeric, 2)]
        return [*v.all, *powers, *products]

    def random_terms(self, rng: Any) -> list[str]:
        """Each plain variable with probability 1/2, plus up to 6 powers or products."""
        base = [t for t in self.variables.all if rng.random() < 0.5]
        extra = [t for t in self.vocabulary() if t not in self.variables.all]
        return sorted({*base, *rng.sample(extra, rng.randint(0, 6))})

    def sample(self, rng: Any) -> Config:
        estimator = rng.choice(ESTIMATORS)
        draw: Config = {
            "estimator": estimator,
            "ps_terms": self.random_terms(rng),
            "outcome_terms": self.random_terms(rng),
            "outcome_model": rng.choice(CHOICES["outcome_model"]),
            "trim": round(rng.uniform(0.0, 0.2), 3) if rng.random() < 0.5 else 0.0,
            "k": rng.randint(1, 10),
            "caliper": round(rng.uniform(0.05, 1.0), 3) if rng.random() < 0.5 else 0.0,
            "replacement": rng.random() < 0.5,
            "bias_adjust": rng.random() < 0.5,
            "ps_ridge": 10 ** rng.uniform(-3.0, 2.0),
        }
        return self.validate(draw)
