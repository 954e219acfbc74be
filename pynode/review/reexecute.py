"""Re-executing a claim: the reviewer's measurement behind every verdict.

The verdict is one of
- `reproduced`: every seed re-measured within the task's tolerance of the claimed sample, the headline value is
  the mean of the samples, and (ml, when the author's per-seed run details are at hand) a training step sampled
  by the reviewer's own VRF output replays from the committed state to the claimed loss; the task's baseline
  (the noise floor) and the parent's config (the rubric's reference) are then measured on the same seeds too;
- `not_reproduced`: any of that fails, or the config the author committed is not one the task accepts;
- `unavailable`: what re-running needs (the config and per-seed samples, in the record or in the artifacts the
  author published at its `artifacts` path) could not be fetched.

An ml result trained as DiLoCo runs with peers (`training`) is re-executed by replaying each seed's run (what
`reproduce` does for it): its checkpoints are checked the same way, its solo step replay does not apply, and a
checkpoint-only policy re-trains it all the same.

An ml result's named checkpoints, when the reviewer fetched them through storage, are checked first
(`pynode.review.checkpoints`): cheap, and a fabricated metric fails there (`not_reproduced`); one not delivered
as named is a missing artifact (`unavailable`).

Built on `pynode.research.reproduce` (what `hyperspace reproduce` runs) and ml's `verify_step`. Synchronous and
CPU-bound like an experiment: the runtime runs it off the event loop, paced.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pynode.research import stats
from pynode.research.agent import decimal_text
from pynode.research.config import canonical, parse
from pynode.research.domain import ConfigError
from pynode.research.registry import DOMAIN_MODULES
from pynode.research.registry import domain as load_domain
from pynode.research.reproduce import reproduce
from pynode.review.limits import BASELINE_CACHE, REFERENCE_CACHE
from pynode.state.records import Record

REPRODUCED, NOT_REPRODUCED, UNAVAILABLE = "reproduced", "not_reproduced", "unavailable"


@dataclass(frozen=True)
class Artifacts:
    """What the author published beside the record: the config (when the record omits it) and, for ml, each
    seed's run details (losses and committed θ/state hashes: `Evaluation.details`)."""

    config: str | None = None
    details: Sequence[Mapping[str, Any]] | None = None
    # ml: the blobs the result's `checkpoints` name, one per seed as fetched through storage (None: no holder
    # delivered it); None when nobody fetched them
    checkpoints: Sequence[bytes | None] | None = None


@dataclass(frozen=True)
class Reexecution:
    verdict: str
    measured: tuple[float, ...]  # per seed, as re-run (empty when unavailable)
    tolerance: float  # per seed, absolute
    reason: str  # why not reproduced / unavailable; "" when reproduced
    step_checked: int | None = None  # ml: the replayed training step (1-based), when one was
    baseline: tuple[float, ...] = ()  # the task's baseline config re-run on the same seeds: the noise floor
    reference: tuple[float, ...] = ()  # what the rubric measures the effect against, re-run on the same seeds
    reference_key: str | None = None  # the parent result whose config that is (None: the baseline's)
    checkpoints_checked: int = 0  # ml: seeds whose named checkpoint was fetched and scored its claim

    @property
    def measured_text(self) -> str | None:
        return decimal_text(stats.mean(self.measured)) if self.measured else None


class CannotJudge(ValueError):
    """The result names a domain or task this node does not know (a newer release): decline, do not judge."""


def record_artifacts(result: Record) -> Artifacts:
    """What a result carries itself: the five domains need nothing else (their data ships with the package)."""
    return Artifacts(config=result.body.get("config"))


def reexecute(
    result: Record,
    artifacts: Artifacts | None,
    beta: bytes = b"",
    runners: Any = None,
    parent: Record | None = None,
    retrain: bool = True,
) -> Reexecution:
    """Re-run `result` and judge it. `beta`: the reviewer's VRF output, which picks the ml step to replay (the
    author cannot know it when publishing). `runners`: ml's model runner factory (default: the platform).
    `parent`: the result it names as its parent, whose *config* is re-run as the rubric's reference (its claimed
    numbers are not trusted: it may be a fabrication nobody refuted yet); without one, the task's baseline.
    An ml result's named checkpoints are checked first when the reviewer fetched them (`artifacts.checkpoints`;
    a reviewer without storage re-trains only). `retrain=False` (a checkpoint-only policy): a result whose
    checkpoints score its samples is not re-trained; its measurement is what the checkpoints score."""
    b = result.body
    if b["domain"] not in DOMAIN_MODULES or b["task"] not in load_domain(b["domain"]).tasks:
        raise CannotJudge(f"this node does not know the task {b['task']!r}")
    tolerance = load_domain(b["domain"]).tasks[b["task"]].tolerance
    config = b.get("config") or (artifacts.config if artifacts is not None else None)
    if config is None or "samples" not in b:
        return Reexecution(UNAVAILABLE, (), tolerance, "the config or per-seed samples could not be fetched")
    record = result if "config" in b else dataclasses.replace(result, body={**b, "config": config})
    details = artifacts.details if artifacts is not None else None
    if _trained_with_peers(b):
        # a DiLoCo-trained seed has no solo step to replay from θ₀, and no checkpoint-only shortcut: what ties
        # its θ to the config is the replay of its run (`reproduce`), always done
        details, retrain = None, True
    checked = 0
    fetched = artifacts.checkpoints if artifacts is not None else None
    if b["domain"] == "ml" and "checkpoints" in b and fetched is not None:  # cheap, so first
        early = _check_checkpoints(record, artifacts, tolerance, details, runners)
        if early.verdict != REPRODUCED:
            return early
        if not retrain:
            rex = _checkpoint_only(record, early, details, beta, runners)
            return _with_references(record, rex, parent) if rex.verdict == REPRODUCED else rex
        checked = early.checkpoints_checked
    try:
        rep = reproduce(record)
    except ValueError as e:  # the committed config is invalid: the claim cannot be what the task measured
        return Reexecution(NOT_REPRODUCED, (), tolerance, str(e)[:200])
    if not rep.agree:
        return Reexecution(
            NOT_REPRODUCED, rep.measured, tolerance, rep.reason[:200], checkpoints_checked=checked
        )
    if b["domain"] == "ml" and details is not None:
        rex = _check_ml_step(record, rep.measured, tolerance, details, beta, runners)
    else:
        rex = Reexecution(REPRODUCED, rep.measured, tolerance, "")
    if rex.verdict != REPRODUCED:
        return rex
    return _with_references(record, dataclasses.replace(rex, checkpoints_checked=checked), parent)


def _trained_with_peers(body: Mapping[str, Any]) -> bool:
    training = body.get("training")
    return body["domain"] == "ml" and isinstance(training, Mapping) and training.get("mode") == "diloco"


def _check_checkpoints(
    record: Record,
    artifacts: Artifacts | None,
    tolerance: float,
    details: Sequence[Mapping[str, Any]] | None,
    runners: Any,
) -> Reexecution:
    """The named checkpoints, fetched and evaluated (pynode.review.checkpoints): REPRODUCED with what they
    score, NOT_REPRODUCED when one scores otherwise, UNAVAILABLE when one was not delivered as named."""
    from pynode.review.checkpoints import check_checkpoints

    b = record.body
    try:
        config = load_domain("ml").validate(b["task"], parse(b["config"]))
    except ConfigError as e:
        return Reexecution(NOT_REPRODUCED, (), tolerance, f"the result's config is invalid: {str(e)[:160]}")
    c = check_checkpoints(
        record, config, artifacts.checkpoints if artifacts else None, tolerance, details, runners
    )
    if not c.fetched:
        return Reexecution(UNAVAILABLE, (), tolerance, c.reason[:200])
    if not c.ok:
        return Reexecution(NOT_REPRODUCED, c.measured, tolerance, c.reason[:200])
    return Reexecution(REPRODUCED, c.measured, tolerance, "", checkpoints_checked=len(c.measured))


def _checkpoint_only(
    record: Record,
    rex: Reexecution,
    details: Sequence[Mapping[str, Any]] | None,
    beta: bytes,
    runners: Any,
) -> Reexecution:
    """A checkpoint-only verdict: the checkpoints scored the samples; the headline must be their mean and, with
    the run details, the sampled step must replay from θ₀."""
    b = record.body
    if decimal_text(stats.mean([float(v) for v in b["samples"]])) != b["value"]:
        reason = f"the claimed value {b['value']} is not the mean of the claimed samples"
        return dataclasses.replace(rex, verdict=NOT_REPRODUCED, reason=reason)
    if details is None:
        return rex
    step = _check_ml_step(record, rex.measured, rex.tolerance, details, beta, runners)
    return dataclasses.replace(step, checkpoints_checked=rex.checkpoints_checked)


def _with_references(record: Record, rex: Reexecution, parent: Record | None) -> Reexecution:
    """A reproduced verdict with the rubric's measurements: the task's baseline and the reference config (the
    parent's, else the baseline's) on the same seeds."""
    b = record.body
    n = len(rex.measured)
    baseline = baseline_samples(b["domain"], b["task"], n)
    ref_config = _parent_config(b, parent)
    reference = config_samples(b["domain"], b["task"], ref_config, n) if ref_config else baseline
    ref_key = parent.key if ref_config and parent is not None else None
    return dataclasses.replace(rex, baseline=baseline, reference=reference, reference_key=ref_key)


def _parent_config(body: Mapping[str, Any], parent: Record | None) -> str | None:
    """The parent's canonical config, when it is a result of the same task whose config the task accepts."""
    if parent is None or parent.kind != "result" or "config" not in parent.body:
        return None
    if (parent.body["domain"], parent.body["task"]) != (body["domain"], body["task"]):
        return None
    try:
        return canonical(load_domain(body["domain"]).validate(body["task"], parse(parent.body["config"])))
    except ConfigError:
        return None


@functools.lru_cache(maxsize=REFERENCE_CACHE)
def config_samples(domain: str, task: str, config: str, seeds: int) -> tuple[float, ...]:
    """A canonical config of the task on seeds 0..n-1, as this node measures it (deterministic: run once)."""
    d = load_domain(domain)
    return tuple(d.evaluate(task, d.validate(task, parse(config)), seed).value for seed in range(seeds))


@functools.lru_cache(maxsize=BASELINE_CACHE)
def baseline_samples(domain: str, task: str, seeds: int) -> tuple[float, ...]:
    """The task's baseline config on seeds 0..n-1, as this node measures it (deterministic: run once)."""
    d = load_domain(domain)
    config = d.validate(task, d.baseline(task))
    return tuple(d.evaluate(task, config, seed).value for seed in range(seeds))


def _check_ml_step(
    record: Record,
    measured: tuple[float, ...],
    tolerance: float,
    details: Sequence[Mapping[str, Any]],
    beta: bytes,
    runners: Any,
) -> Reexecution:
    """Replay one claimed training step within the first checkpoint interval (it starts from θ₀, which anyone
    recomputes), chosen by β: a curve or checkpoint hash made up after the fact fails with probability ≥ the
    share of steps it made up."""
    from pynode.research.ml import TASKS, verify_step
    from pynode.research.ml.limits import CHECKPOINT_EVERY

    b = record.body
    if len(details) != len(measured):
        return Reexecution(NOT_REPRODUCED, measured, tolerance, "run details for another number of seeds")
    pick = int.from_bytes(beta[:8] or b"\x00", "big")
    seed = pick % len(details)
    try:
        losses = details[seed]["losses"]
        step = 1 + (pick >> 8) % min(CHECKPOINT_EVERY, len(losses))
        config = load_domain("ml").validate(b["task"], parse(b["config"]))
        verdict = verify_step(TASKS[b["task"]], config, seed, details[seed], step, runners)
    except (KeyError, TypeError, ValueError, ZeroDivisionError) as e:
        return Reexecution(NOT_REPRODUCED, measured, tolerance, f"run details unusable: {str(e)[:160]}")
    if not verdict.ok:
        reason = f"seed {seed} step {step}: claimed loss {verdict.loss_claimed!r}, replayed {verdict.loss_replayed!r}"
        return Reexecution(NOT_REPRODUCED, measured, tolerance, reason, step)
    return Reexecution(REPRODUCED, measured, tolerance, "", step)
