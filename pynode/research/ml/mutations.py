"""Mutation operators and crossover over ml configs, each with the prediction it states.

An operator changes one knob in one direction, so a bandit over operators learns which moves pay on a task
(raising lr, decaying it, more steps, ...). Its prediction is derived from the actual change: the old and new
values and the reason that change would lower the validation loss. Children are clamped into the schema's
ranges; the domain validates them afterwards all the same.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from pynode.research.domain import Config, Mutation
from pynode.research.ml.limits import MAX_LR, MAX_WARMUP, MAX_WEIGHT_DECAY, MIN_LR, MIN_STEPS
from pynode.research.ml.schema import FIELDS, SCHEDULES
from pynode.research.ml.tasks import MlTask
from pynode.train.zoo import get_model

LR_FACTORS = (1.2, 1.5, 2.0, 3.0)  # from a nudge (near a good lr, a factor 1.5 overshoots) to a leap
STEP_FACTORS = (1.25, 1.5, 2.0)
WARMUPS = (0, 10, 25, 50, 100)
DECAY_FACTORS = (2.0, 3.0)
DECAY_STARTS = (0.01, 0.03, 0.1)  # from no decay at all, a multiplicative move needs a first value


def _clamp(x: float, lo: float, hi: float) -> float:
    return min(hi, max(lo, x))


def _fit_warmup(c: Config) -> Config:
    c["warmup"] = min(c["warmup"], MAX_WARMUP, c["steps"] // 2)
    return c


def _variant_change(a: str, b: str) -> str:
    """What differs between two variants, e.g. "width 64 → 96 (104,192 → 230,016 parameters)"."""
    x, y = get_model(a), get_model(b)
    parts = [
        f"{axis} {getattr(x, axis)} → {getattr(y, axis)}"
        for axis in ("width", "depth", "activation", "norm")
        if getattr(x, axis) != getattr(y, axis)
    ]
    return f"{', '.join(parts)} ({x.n_params:,} → {y.n_params:,} parameters)"


def _variant_reason(a: str, b: str) -> str:
    x, y = get_model(a), get_model(b)
    if y.n_params > x.n_params:
        return "more capacity fits the data better within the same number of steps"
    if y.n_params < x.n_params:
        return "a smaller model converges faster in a short run and overfits less"
    if x.activation != y.activation:
        return f"{y.activation} gives better-conditioned gradients than {x.activation} here"
    return f"{y.norm} normalisation keeps activations at a scale AdamW's lr suits"


def _metric(task: MlTask) -> str:
    return f"{task.task.metric} ({task.task.unit})"


def _data(task: MlTask) -> str:
    return "text" if task.task.unit == "nats/char" else "images"


def lr_up(task: MlTask, p: Config, rng: Any) -> Config:
    return {**p, "lr": _clamp(p["lr"] * rng.choice(LR_FACTORS), MIN_LR, MAX_LR)}


def lr_down(task: MlTask, p: Config, rng: Any) -> Config:
    return {**p, "lr": _clamp(p["lr"] / rng.choice(LR_FACTORS), MIN_LR, MAX_LR)}


def steps_up(task: MlTask, p: Config, rng: Any) -> Config:
    return {**p, "steps": min(task.max_steps, round(p["steps"] * rng.choice(STEP_FACTORS)))}


def steps_down(task: MlTask, p: Config, rng: Any) -> Config:
    return _fit_warmup({**p, "steps": max(MIN_STEPS, round(p["steps"] / rng.choice(STEP_FACTORS)))})


def warmup(task: MlTask, p: Config, rng: Any) -> Config:
    options = [w for w in WARMUPS if w != p["warmup"] and w <= p["steps"] // 2]
    return {**p, "warmup": rng.choice(options)} if options else dict(p)


def schedule(task: MlTask, p: Config, rng: Any) -> Config:
    return {**p, "schedule": rng.choice([s for s in SCHEDULES if s != p["schedule"]])}


def decay_up(task: MlTask, p: Config, rng: Any) -> Config:
    wd = p["weight_decay"] * rng.choice(DECAY_FACTORS) if p["weight_decay"] else rng.choice(DECAY_STARTS)
    return {**p, "weight_decay": _clamp(wd, 0.0, MAX_WEIGHT_DECAY)}


def decay_down(task: MlTask, p: Config, rng: Any) -> Config:
    wd = p["weight_decay"] / rng.choice(DECAY_FACTORS)
    return {**p, "weight_decay": wd if wd >= 0.001 else 0.0}


def variant(task: MlTask, p: Config, rng: Any) -> Config:
    return {**p, "variant": rng.choice([v for v in task.variants if v != p["variant"]])}


def say_lr(task: MlTask, p: Config, c: Config) -> str:
    if c["lr"] > p["lr"]:
        why = f"{p['steps']} steps at lr {p['lr']:g} leave the model under-trained"
        return f"raising lr from {p['lr']:g} to {c['lr']:g} lowers {_metric(task)} because {why}"
    why = "smaller AdamW steps stop the loss oscillating and settle deeper"
    return f"lowering lr from {p['lr']:g} to {c['lr']:g} lowers {_metric(task)} because {why}"


def say_steps(task: MlTask, p: Config, c: Config) -> str:
    if c["steps"] > p["steps"]:
        why = f"the loss is still falling at step {p['steps']}"
        return f"training {c['steps']} steps instead of {p['steps']} lowers {_metric(task)} because {why}"
    why = f"the later steps overfit the training {_data(task)}"
    return f"stopping at {c['steps']} steps instead of {p['steps']} lowers {_metric(task)} because {why}"


def say_warmup(task: MlTask, p: Config, c: Config) -> str:
    if c["warmup"] > p["warmup"]:
        why = "AdamW's first updates, with unsettled second moments, are too large at full lr"
        return f"warming lr up over {c['warmup']} steps instead of {p['warmup']} lowers {_metric(task)} because {why}"
    why = f"a {p['steps']}-step run cannot afford {p['warmup']} steps at low lr"
    return (
        f"shortening warm-up from {p['warmup']} to {c['warmup']} steps lowers {_metric(task)} because {why}"
    )


def say_schedule(task: MlTask, p: Config, c: Config) -> str:
    m = _metric(task)
    if c["schedule"] == "constant":
        why = f"decay stops learning too early in a {p['steps']}-step run"
        return f"keeping lr constant instead of a {p['schedule']} decay lowers {m} because {why}"
    if p["schedule"] == "constant":
        why = "a falling lr in the last steps averages out the gradient noise"
        return f"a {c['schedule']} decay of lr instead of a constant lr lowers {m} because {why}"
    why = (
        "it keeps lr near its peak longer and anneals harder at the end"
        if c["schedule"] == "cosine"
        else "it lowers lr sooner, where the constant part of the run is noisy"
    )
    return f"a {c['schedule']} decay instead of a {p['schedule']} decay lowers {m} because {why}"


def say_decay(task: MlTask, p: Config, c: Config) -> str:
    change = f"weight decay from {p['weight_decay']:g} to {c['weight_decay']:g} lowers {_metric(task)}"
    if c["weight_decay"] > p["weight_decay"]:
        return f"raising {change} because shrinking θ towards 0 reduces overfitting to the training {_data(task)}"
    return f"lowering {change} because in {p['steps']} steps the shrinkage only slows fitting"


def say_variant(task: MlTask, p: Config, c: Config) -> str:
    a, b = p["variant"], c["variant"]
    return f"switching {a} to {b} ({_variant_change(a, b)}) lowers {_metric(task)} because {_variant_reason(a, b)}"


OPERATORS = (
    ("lr_up", lr_up, say_lr),
    ("lr_down", lr_down, say_lr),
    ("steps_up", steps_up, say_steps),
    ("steps_down", steps_down, say_steps),
    ("warmup", warmup, say_warmup),
    ("schedule", schedule, say_schedule),
    ("decay_up", decay_up, say_decay),
    ("decay_down", decay_down, say_decay),
    ("variant", variant, say_variant),
)


def mutations(task: MlTask) -> list[Mutation]:
    return [Mutation(name, partial(apply, task), partial(say, task)) for name, apply, say in OPERATORS]


def crossover(a: Config, b: Config, rng: Any) -> Config:
    """Each field from one parent or the other (a fair coin per field); warm-up then fits the steps."""
    return _fit_warmup({k: (a if rng.random() < 0.5 else b)[k] for k in FIELDS})
