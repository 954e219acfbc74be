"""The ml config: fields, ranges, canonical form, random draws, and the learning-rate schedule.

A config is flat JSON: `variant` (a shipped graph of the task's family), `lr` (peak AdamW learning rate),
`warmup` (steps of linear warm-up), `schedule` (constant, cosine or linear decay after warm-up, down to
LR_FLOOR × lr), `steps` (AdamW steps, bounded by the task's budget) and `weight_decay` (decoupled). The
schedule is computed here, in plain Python, and fed to the graph as its `lr` input each step.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from pynode.research.domain import Config, ConfigError
from pynode.research.ml.limits import (
    FLOAT_DIGITS,
    MAX_CHOICE_CHARS,
    MAX_LR,
    MAX_SHOWN_CHARS,
    MAX_WARMUP,
    MAX_WEIGHT_DECAY,
    MIN_LR,
    MIN_STEPS,
)
from pynode.research.ml.tasks import MlTask
from pynode.train import schedule
from pynode.train.schedule import SCHEDULES, InnerSchedule

FIELDS = ("variant", "lr", "warmup", "schedule", "steps", "weight_decay")


def _show(value: Any) -> str:
    text = repr(value) if not isinstance(value, int) or abs(value) < 10**30 else "a huge integer"
    return text if len(text) <= MAX_SHOWN_CHARS else text[:MAX_SHOWN_CHARS] + "…"


def _choice(name: str, value: Any, choices: tuple[str, ...]) -> str:
    if not isinstance(value, str) or len(value) > MAX_CHOICE_CHARS or value not in choices:
        raise ConfigError(f"{name} must be one of {list(choices)}, not {_show(value)}")
    return value


def _int(name: str, value: Any, lo: int, hi: int) -> int:
    # a float like 200.0 is accepted (JSON from an LLM); bools and huge or fractional numbers are not
    if isinstance(value, float) and math.isfinite(value) and value == int(value) and abs(value) < 2**53:
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{name} must be a whole number, not {_show(value)}")
    if not lo <= value <= hi:
        raise ConfigError(f"{name} must lie in [{lo}, {hi}], not {_show(value)}")
    return value


def _float(name: str, value: Any, lo: float, hi: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{name} must be a number, not {_show(value)}")
    if isinstance(value, int) and not -(2**53) < value < 2**53:
        raise ConfigError(f"{name} must lie in [{lo:g}, {hi:g}], not {_show(value)}")
    if not math.isfinite(value):
        raise ConfigError(f"{name} must be finite")
    value = float(f"{float(value):.{FLOAT_DIGITS}g}") if value else 0.0
    if not lo <= value <= hi:
        raise ConfigError(f"{name} must lie in [{lo:g}, {hi:g}], not {_show(value)}")
    return value


def validate(task: MlTask, config: Mapping[str, Any]) -> Config:
    """The canonical config (missing fields from the baseline, floats to FLOAT_DIGITS digits) or ConfigError."""
    if not isinstance(config, Mapping):
        raise ConfigError(f"a config is a JSON object, not {type(config).__name__}")
    unknown = [k for k in config if k not in FIELDS]
    if unknown:
        raise ConfigError(f"unknown config field {_show(unknown[0])} (fields: {', '.join(FIELDS)})")
    c = {**task.baseline, **config}
    steps = _int("steps", c["steps"], MIN_STEPS, task.max_steps)
    out: Config = {
        "variant": _choice("variant", c["variant"], task.variants),
        "lr": _float("lr", c["lr"], MIN_LR, MAX_LR),
        "warmup": _int("warmup", c["warmup"], 0, min(MAX_WARMUP, steps // 2)),
        "schedule": _choice("schedule", c["schedule"], SCHEDULES),
        "steps": steps,
        "weight_decay": _float("weight_decay", c["weight_decay"], 0.0, MAX_WEIGHT_DECAY),
    }
    return out


def sample(task: MlTask, rng: Any) -> Config:
    """Uniform over the schema: lr log-uniform (its range spans 2.5 decades), the rest uniform."""
    steps = rng.randint(MIN_STEPS, task.max_steps)
    return validate(
        task,
        {
            "variant": rng.choice(task.variants),
            "lr": math.exp(rng.uniform(math.log(MIN_LR), math.log(MAX_LR))),
            "warmup": rng.randint(0, min(MAX_WARMUP, steps // 2)),
            "schedule": rng.choice(SCHEDULES),
            "steps": steps,
            "weight_decay": rng.uniform(0.0, MAX_WEIGHT_DECAY),
        },
    )


def lr_at(config: Config, step: int) -> float:
    """The learning rate of step `step` (0-based) of a validated config: a pure function a reviewer recomputes
    (the formula DiLoCo's inner steps share: `pynode.train.schedule`)."""
    return schedule.lr_at(config["lr"], config["warmup"], config["schedule"], config["steps"], step)


def inner_schedule(config: Config) -> InnerSchedule:
    """The config's optimiser schedule as a DiLoCo run carries it (`RunSpec.inner`)."""
    return InnerSchedule(
        config["lr"], config["warmup"], config["schedule"], config["steps"], config["weight_decay"]
    )
