"""Re-running a published result: the same config on the same seeds, compared seed by seed with the claim.

What `hyperspace reproduce KEY` prints, and what a reviewer's re-execution starts from. A result agrees when
every re-measured seed is within the task's tolerance of the claimed one and the claimed value is the mean of
the claimed samples (a fabricated headline number over honest samples is caught too). An ml result trained as
DiLoCo runs with peers (its `training`) is re-run by replaying each seed's run from the contributors its
certificates named (pynode.research.ml.collab), not solo: a solo run is another procedure with another outcome.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pynode.research import stats
from pynode.research.agent import SAMPLE_ROUNDING, decimal_text
from pynode.research.config import parse
from pynode.research.domain import Config, ConfigError
from pynode.research.registry import domain as load_domain
from pynode.state.records import Record


@dataclass(frozen=True)
class Reproduction:
    key: str
    task: str
    claimed: tuple[float, ...]
    measured: tuple[float, ...]
    tolerance: float
    agree: bool
    reason: str  # why not, or "" when it agrees

    @property
    def max_error(self) -> float:
        return max((abs(a - b) for a, b in zip(self.claimed, self.measured, strict=False)), default=0.0)


def reproduce(record: Record, progress: Callable[[int, int], None] | None = None) -> Reproduction:
    """Re-run `record`'s config; raises ValueError when the record cannot be re-run at all."""
    b = record.body
    if record.kind != "result" or "config" not in b or "samples" not in b:
        raise ValueError("only results that carry their config and per-seed samples can be reproduced")
    d = load_domain(b["domain"])
    task = d.tasks.get(b["task"])
    if task is None:
        raise ValueError(f"this node does not know the task {b['task']!r}")
    try:
        config = d.validate(task.id, parse(b["config"]))
    except ConfigError as e:
        raise ValueError(f"the result's config is invalid: {e}") from None
    claimed = tuple(float(v) for v in b["samples"])
    runs = _diloco_runs(b, config, len(claimed))
    measured = []
    for seed in range(len(claimed)):
        if runs is None:
            measured.append(d.evaluate(task.id, config, seed).value)
        else:
            measured.append(_replay(b["task"], config, *runs[seed]))
        if progress is not None:
            progress(seed + 1, len(claimed))
    errors = [abs(a - m) for a, m in zip(claimed, measured, strict=True)]
    # samples travel with 10 significant digits: allow that rounding on top of the task's tolerance
    allowed = [task.tolerance + SAMPLE_ROUNDING * abs(a) for a in claimed]
    reason = ""
    if any(e > limit for e, limit in zip(errors, allowed, strict=True)):
        worst = max(range(len(errors)), key=errors.__getitem__)
        reason = f"seed {worst}: claimed {claimed[worst]!r}, measured {measured[worst]!r}"
    elif decimal_text(stats.mean(claimed)) != b["value"]:
        reason = f"the claimed value {b['value']} is not the mean of the claimed samples"
    return Reproduction(record.key, task.id, claimed, tuple(measured), task.tolerance, not reason, reason)


def _diloco_runs(body: dict[str, Any], config: Config, seeds: int) -> list[tuple[Any, Any]] | None:
    """Each seed's DiLoCo run of an ml result trained with peers; None for one trained solo (or another domain)."""
    if body["domain"] != "ml" or "training" not in body:
        return None
    from pynode.research.ml import TASKS, collab

    try:
        return collab.parse_training(body["training"], TASKS[body["task"]], config, seeds)
    except (KeyError, TypeError) as e:
        raise ValueError(f"the result's training record is unusable: {e}") from None


def _replay(task: str, config: Config, run: Any, rounds: Any) -> float:
    from pynode.research.ml import TASKS, collab

    try:
        return collab.replay_seed(TASKS[task], config, run, rounds)
    except (TypeError, ValueError) as e:
        raise ValueError(f"the result's DiLoCo run cannot be replayed: {str(e)[:160]}") from None
