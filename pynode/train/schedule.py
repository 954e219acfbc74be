"""An inner optimiser's schedule: AdamW's learning rate per step (warm-up, then constant, cosine or linear decay)
and its decoupled weight decay — what a research config sets and a DiLoCo run may carry (`RunSpec.inner`).

One formula for both: a solo research run (`pynode.research.ml`) and a DiLoCo run's inner steps (step index =
the run's inner step, round × H + i) feed the graph's `lr` input from `lr_at`, so a reviewer recomputes it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

from pynode.platform.model import Hyper
from pynode.wire.errors import WireError
from pynode.wire.schema import expect_map, get_int, get_str

SCHEDULES = ("constant", "cosine", "linear")
LR_FLOOR = 0.1  # cosine and linear schedules decay to this fraction of the peak lr (not to 0)
MAX_INNER_LR = 1.0  # far above any lr that trains (research configs stop at 3e-2): a bound, not a knob
MAX_INNER_DECAY = 1.0  # decoupled decay ≥ 1 per unit lr would flip θ's sign: nonsense on the wire
MAX_INNER_STEPS = 1_000_000  # the schedule's length; a run this long is beyond any budget we grant
MAX_NUMBER_CHARS = 32  # lr and weight decay travel as decimal text (our CBOR carries no floats)

_WIRE_FIELDS = {"lr", "warmup", "schedule", "steps", "weight_decay"}


def lr_at(peak: float, warmup: int, schedule: str, steps: int, step: int) -> float:
    """The learning rate of step `step` (0-based) of a `steps`-step schedule peaking at `peak`."""
    if step < warmup:
        return peak * (step + 1) / warmup
    if schedule == "constant":
        return peak
    progress = (step - warmup) / max(1, steps - warmup)
    floor = LR_FLOOR * peak
    if schedule == "cosine":
        return floor + (peak - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))
    return peak - (peak - floor) * progress


@dataclass(frozen=True)
class InnerSchedule:
    lr: float  # peak
    warmup: int
    schedule: str
    steps: int  # the schedule's length: a DiLoCo run carrying it ends after these many inner steps
    weight_decay: float

    def hyper(self, base: Hyper, step: int) -> Hyper:
        """AdamW's inputs at `step`: `base`'s betas and eps, this schedule's lr and decay."""
        lr = lr_at(self.lr, self.warmup, self.schedule, self.steps, step)
        return replace(base, lr=lr, weight_decay=self.weight_decay)

    def peak(self, base: Hyper) -> Hyper:
        """The largest step any point of the schedule takes (what a delta's claim is bounded by)."""
        return replace(base, lr=self.lr, weight_decay=self.weight_decay)

    def to_wire(self) -> dict[str, Any]:
        return {
            "lr": repr(self.lr),
            "warmup": self.warmup,
            "schedule": self.schedule,
            "steps": self.steps,
            "weight_decay": repr(self.weight_decay),
        }

    @classmethod
    def from_wire(cls, value: Any) -> InnerSchedule:
        d = expect_map(value, "inner", _WIRE_FIELDS)
        steps = get_int(d, "steps", 1, MAX_INNER_STEPS)
        schedule = get_str(d, "schedule", 16)
        if schedule not in SCHEDULES:
            raise WireError("bad_field", f"schedule must be one of {SCHEDULES}")
        lr = _number(d, "lr", MAX_INNER_LR)
        if lr <= 0.0:
            raise WireError("bad_field", "lr must be positive")
        return cls(
            lr, get_int(d, "warmup", 0, steps), schedule, steps, _number(d, "weight_decay", MAX_INNER_DECAY)
        )


def _number(d: dict[str, Any], key: str, hi: float) -> float:
    text = get_str(d, key, MAX_NUMBER_CHARS)
    try:
        value = float(text)
    except ValueError:
        raise WireError("bad_field", f"{key} must be a decimal number") from None
    # repr round-trips a float exactly; anything else (spaces, "nan", "1e999", "0.10") is not our encoding
    if not math.isfinite(value) or not 0.0 <= value <= hi or repr(value) != text:
        raise WireError("bad_field", f"{key} must be a number in [0, {hi:g}] as Python's repr writes it")
    return value
