"""The cheap check of an ml claim: its trained checkpoints, fetched through the storage service and evaluated.

An ml result names, per seed, the SHA-256 of the trained θ's bytes (`checkpoints`; the blob the author put into
storage). A reviewer fetches each blob and checks, seed by seed:
- the bytes are the blob named (storage checks chunks and the whole blob on arrival; this is checked again here,
  whatever source delivered them) — else the checkpoint counts as not fetched;
- when the author's run details are at hand, the blob is the θ the run committed at its last step;
- the bytes are a θ of the config's variant, and evaluating it on the task's validation batches gives the
  claimed sample within the task's tolerance (plus the samples' 10-digit rounding).

Evaluating θ costs one pass over the validation batches, against the whole run a re-training costs, so it runs
before re-execution and refutes a fabricated metric at once. It shows the checkpoint scores what is claimed,
not that the committed config trained it: re-execution (or, under a checkpoint-only policy, the replayed step
from θ₀) is what ties the two. Pure function of its inputs; the runtime fetches the blobs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pynode.research.agent import SAMPLE_ROUNDING
from pynode.research.config import parse
from pynode.research.domain import Config, ConfigError
from pynode.research.ml import DOMAIN, TASKS, checkpoint_theta, score_checkpoint
from pynode.state.records import Record
from pynode.train.zoo import get_model


@dataclass(frozen=True)
class CheckpointCheck:
    fetched: bool  # every named checkpoint was delivered as the blob named
    ok: bool  # ...and each scores its claimed sample
    measured: tuple[float, ...]  # per seed, what the checkpoint scores (those evaluated before a failure)
    reason: str  # "" when ok


def checkpoint_size(task: str, config: str | None) -> int | None:
    """The bytes of a θ of the variant `config` names (what each checkpoint of its result must be: the most a
    reviewer fetches), or None when it is no config a known ml task accepts."""
    try:
        variant = DOMAIN.validate(task, parse(config or "null"))["variant"]
    except ConfigError:
        return None
    return 4 * get_model(variant).n_params


def is_blob(data: bytes, blob_hex: str) -> bool:
    """`data` is the blob named by `blob_hex` (its SHA-256)."""
    return hashlib.sha256(data).hexdigest() == blob_hex


def agrees(claimed: float, measured: float, tolerance: float) -> bool:
    """A measured sample within the task's tolerance of the claimed one (as `reproduce` compares them)."""
    return abs(claimed - measured) <= tolerance + SAMPLE_ROUNDING * abs(claimed)


def check_checkpoints(
    result: Record,
    config: Config,
    fetched: Sequence[bytes | None] | None,
    tolerance: float,
    details: Sequence[Mapping[str, Any]] | None = None,
    runners: Any = None,
) -> CheckpointCheck:
    """Check the checkpoints `result` names against the blobs `fetched` for them (one per seed, None where no
    holder delivered). `config`: the result's config, validated by the ml domain."""
    names = result.body["checkpoints"]
    claimed = [float(v) for v in result.body["samples"]]
    if fetched is None or len(fetched) != len(names):
        return CheckpointCheck(False, False, (), "the checkpoints could not be fetched from storage")
    for seed, (name, data) in enumerate(zip(names, fetched, strict=True)):
        if data is None:
            return CheckpointCheck(
                False, False, (), f"seed {seed}: checkpoint {name[:12]} is held by no peer"
            )
        if not is_blob(data, name):
            return CheckpointCheck(
                False, False, (), f"seed {seed}: the bytes fetched are not checkpoint {name[:12]}"
            )
    if len(claimed) != len(names):
        return CheckpointCheck(True, False, (), "checkpoints for another number of seeds than samples")
    task = TASKS[result.body["task"]]
    measured: list[float] = []
    for seed, (name, data) in enumerate(zip(names, fetched, strict=True)):
        assert data is not None
        if details is not None:
            committed = _final_theta(details, seed, config["steps"])
            if committed is not None and committed != name:
                reason = f"seed {seed}: checkpoint {name[:12]} is not the θ its run committed at the end"
                return CheckpointCheck(True, False, tuple(measured), reason)
        try:
            theta = checkpoint_theta(config, data)
        except ValueError as e:
            return CheckpointCheck(True, False, tuple(measured), f"seed {seed}: {str(e)[:160]}")
        value = score_checkpoint(task, config, theta, runners)
        measured.append(value)
        if not agrees(claimed[seed], value, tolerance):
            reason = f"seed {seed}: the checkpoint scores {value!r}, the result claims {claimed[seed]!r}"
            return CheckpointCheck(True, False, tuple(measured), reason)
    return CheckpointCheck(True, True, tuple(measured), "")


def _final_theta(details: Sequence[Mapping[str, Any]], seed: int, steps: int) -> str | None:
    """The θ hash seed `seed`'s run details commit at its last step; None when they commit none (a run that
    diverged) or are unusable (the replayed step judges those)."""
    try:
        last = details[seed]["checkpoints"][-1]
        return last["theta"] if last["step"] == steps and isinstance(last["theta"], str) else None
    except (IndexError, KeyError, TypeError):
        return None
