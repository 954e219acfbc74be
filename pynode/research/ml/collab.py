"""An ml experiment trained as DiLoCo runs with the peers researching the same task, and its replay by a reviewer.

With peers on the task, seed i of an experiment is one whole DiLoCo run (`run_spec`): θ₀ = init_theta(variant,
i) as a solo seed's, the config's lr schedule and weight decay as the run's inner schedule over its `steps`
inner steps (in DILOCO_ROUNDS rounds), the task's dataset, and every peer of the run training every round. The
seed's value is the run's final θ scored as a solo run's θ is (`score_checkpoint`).

Seeds are not split across peers: each is a whole run of all of them, with its own θ₀ and its own batch streams
(a hash of the run, which the seed and a nonce change), under one procedure. So each sample is a real,
independently trained outcome, the n samples are as independent as a solo experiment's, and their spread is
seed-to-seed spread, not peer-to-peer spread (splitting seeds would mix the two, and give each seed another
training procedure).

A run whose rounds did not all name the same peers (one dropped, or was late) is not a clean outcome of the
procedure — and not replayable, since a late peer trained a round nobody recorded — so the runtime discards it and
the experiment runs solo. A result says how it was trained (`training`); `replay_seed` re-trains a DiLoCo run in
one process from the contributors its certificates named (pynode.train.replay).
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pynode.research.domain import Config, Evaluation
from pynode.research.ml.limits import (
    DILOCO_CODEC,
    DILOCO_PEER_WINDOW_S,
    DILOCO_ROUND_DEADLINE_S,
    DILOCO_ROUNDS,
)
from pynode.research.ml.schema import inner_schedule
from pynode.research.ml.tasks import TASKS, MlTask
from pynode.research.ml.training import score_checkpoint
from pynode.state.records import Record
from pynode.train.assets import graph_hash
from pynode.train.data import load_dataset
from pynode.train.diloco import OuterState, RoundDone, RunSpec
from pynode.train.replay import Rounds, replay
from pynode.train.runner import RunnerFactory, vector_hash
from pynode.train.zoo import get_model
from pynode.wire.errors import WireError

SOLO: dict[str, Any] = {"mode": "solo"}


def run_spec(task: MlTask, config: Config, seed: int, nonce: int) -> RunSpec:
    """Seed `seed` of a validated config as a DiLoCo run (`nonce` tells apart repeats of one experiment)."""
    return RunSpec(
        task=config["variant"],
        seed=seed,
        H=-(-config["steps"] // DILOCO_ROUNDS),
        codec=DILOCO_CODEC,
        deadline_s=DILOCO_ROUND_DEADLINE_S,
        cert_timeout_s=DILOCO_ROUND_DEADLINE_S / 4,
        min_peers=2,  # round 0 waits for a second peer (until its deadline): alone, it is no DiLoCo run
        nonce=nonce,
        dataset=task.dataset,
        inner=inner_schedule(config),
    )


def task_of(run: RunSpec, tasks: Iterable[str]) -> str | None:
    """The ml task (of `tasks`) an announced run is an experiment of: a schedule, a variant and the data of it."""
    if run.inner is None:
        return None
    for name in tasks:
        t = TASKS.get(name)
        if t is not None and run.task in t.variants and run.data == t.dataset:
            return name
    return None


def peers_on_task(
    records: Iterable[Record], task: str, me: bytes, live: Iterable[bytes], now_ms: int
) -> set[bytes]:
    """Live peers researching `task`: authors of a result on it within DILOCO_PEER_WINDOW_S, us excepted."""
    since = now_ms - DILOCO_PEER_WINDOW_S * 1000
    authors = {
        r.author for r in records if r.kind == "result" and r.body.get("task") == task and r.ts >= since
    }
    return (authors & set(live)) - {me}


def rounds_of(history: Sequence[RoundDone], run: RunSpec) -> list[list[tuple[bytes, int]]]:
    """Per round, the (peer, inner steps) its certificate named, in the certificate's order."""
    per_batch = run.spec.tokens_per_batch()
    return [[(p, s // per_batch) for p, s in sorted(d.contributors)] for d in history]


def regular(rounds: Rounds) -> bool:
    """Every round named the same two or more peers: a clean, replayable outcome of the procedure."""
    sets = [frozenset(p for p, _ in named) for named in rounds]
    return bool(sets) and len(sets[0]) >= 2 and all(s == sets[0] for s in sets)


def evaluation(
    task: MlTask,
    config: Config,
    run: RunSpec,
    rounds: Rounds,
    final: OuterState,
    runners: RunnerFactory | None,
) -> Evaluation:
    """A DiLoCo-trained seed as the domain reports a solo one: the final θ's value, details naming the run, and
    and the final θ committed at the config's last step."""
    spec = get_model(config["variant"])
    value = score_checkpoint(task, config, final.theta, runners)
    # the outer state after the last round: its θ is the checkpoint a reviewer fetches, at the config's last step
    final_checkpoint = {
        "step": config["steps"],
        "theta": vector_hash(final.theta),
        "state": final.digest().hex(),
    }
    details = {
        "model": spec.name,
        "graph": graph_hash(spec.name, "train"),
        "eval_graph": graph_hash(spec.name, "eval"),
        "data": load_dataset(task.dataset).hash,
        "seed": run.seed,
        "val_loss": value if math.isfinite(value) else None,
        "diverged_at": None,
        "losses": [],
        "checkpoints": [final_checkpoint],
        "diloco": {"run": run.to_wire(), "rounds": [[[p, s] for p, s in named] for named in rounds]},
    }
    return Evaluation(value, details, final.theta.tobytes())


def training_body(evaluations: Sequence[Evaluation]) -> dict[str, Any]:
    """A result's `training`: the runs each seed's details name, or solo when any seed trained alone."""
    runs = [e.details.get("diloco") for e in evaluations]
    if not runs or any(r is None for r in runs):
        return dict(SOLO)
    return {"mode": "diloco", "runs": runs}


def parse_training(
    training: Any, task: MlTask, config: Config, seeds: int
) -> list[tuple[RunSpec, Rounds]] | None:
    """Each seed's run and rounds from a result's `training` (None: trained solo). ValueError when a run is not
    that seed of this config on this task: another variant, seed, schedule or dataset, a run with no end, or
    one that starts from a checkpoint."""
    if not isinstance(training, Mapping) or training.get("mode") != "diloco":
        return None
    runs = training.get("runs")
    if not isinstance(runs, list) or len(runs) != seeds:
        raise ValueError("a DiLoCo-trained result names one run per seed")
    out = []
    for seed, entry in enumerate(runs):
        try:
            run = RunSpec.from_wire(entry["run"])
        except (WireError, KeyError, TypeError) as e:
            raise ValueError(f"seed {seed}: the run spec is not one this node can run ({e})") from None
        if (run.task, run.seed, run.inner, run.data, run.init) != (
            config["variant"],
            seed,
            inner_schedule(config),
            task.dataset,
            None,  # a seed trains from its own θ₀, not from a checkpoint
        ):
            raise ValueError(
                f"seed {seed}: the run is not seed {seed} of the result's config on {task.task.id}"
            )
        rounds = [[(p, s) for p, s in named] for named in entry["rounds"]]
        out.append((run, rounds))
    return out


def replay_seed(
    task: MlTask, config: Config, run: RunSpec, rounds: Rounds, runners: RunnerFactory | None = None
) -> float:
    """What a DiLoCo-trained seed scores when its run is re-trained here (ValueError: no history of the run)."""
    return score_checkpoint(task, config, array("f", replay(run, rounds, runners).theta), runners)
