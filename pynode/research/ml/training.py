"""One seed of one config: train with the config's lr schedule, commit θ hashes, measure validation loss.

A seed fixes θ₀ (`init_theta(spec, seed)`) and the data order (batch s is a pure function of (seed, step)), so
a run repeats bit for bit on one platform (fixed ORT version, one thread). Like `pynode.train.solo`, a run
commits its state every CHECKPOINT_EVERY steps as {step, θ hash, state hash} and records every step's loss; a
reviewer re-executes sampled steps from a committed state with `verify_step` instead of replaying the run
(long runs drift across platforms, one step agrees to ~1e-7). The state at step 0 needs no blob: it is θ₀.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Callable, Mapping
from dataclasses import asdict, replace
from typing import Any

from pynode.research.domain import Config, Evaluation
from pynode.research.ml.limits import CHECKPOINT_EVERY
from pynode.research.ml.schema import lr_at
from pynode.research.ml.tasks import MlTask
from pynode.train.assets import graph_hash
from pynode.train.data import load_dataset
from pynode.train.runner import RunnerFactory, TrainState, evaluate, open_runner, vector_hash
from pynode.train.solo import LOSS_RTOL, THETA_ATOL, Checkpoint, Verdict
from pynode.train.zoo import Hyper, ModelSpec, get_model, init_theta

OnCheckpoint = Callable[[TrainState], None]  # the runtime may keep committed states (archive artifacts)


def hyper_at(spec: ModelSpec, config: Config, step: int) -> Hyper:
    """AdamW's inputs at step `step`: the variant's betas and eps, the config's lr schedule and decay."""
    return replace(spec.hyper, lr=lr_at(config, step), weight_decay=config["weight_decay"])


def initial_state(config: Config, seed: int) -> TrainState:
    """The committed state at step 0, recomputable by anyone from (variant, seed)."""
    return TrainState.fresh(init_theta(get_model(config["variant"]), seed))


def _checkpoint(state: TrainState) -> dict[str, Any]:
    return asdict(Checkpoint(state.step, vector_hash(state.theta), state.digest()))


def train_seed(
    task: MlTask,
    config: Config,
    seed: int,
    runners: RunnerFactory | None,
    pace: Callable[[], None] | None = None,
    on_checkpoint: OnCheckpoint | None = None,
) -> Evaluation:
    """Train a validated config from θ₀(seed); the value is the final validation loss (capped at chance).

    `runners` is the platform (onnxruntime here, onnxruntime-web in a tab); `pace` runs after every step."""
    spec = get_model(config["variant"])
    data = load_dataset(task.dataset)
    runner = open_runner(spec, runners)
    evals = data.eval_batches(spec)
    runner.set_state(initial_state(config, seed))
    initial_loss, _ = evaluate(runner, evals)

    def commit() -> None:
        state = runner.state()
        checkpoints.append(_checkpoint(state))
        if on_checkpoint is not None:
            on_checkpoint(state)

    checkpoints: list[dict[str, Any]] = []
    losses: list[float] = []
    diverged: int | None = None
    commit()
    for step in range(config["steps"]):
        loss = runner.train_step(data.batch(spec, seed, step), hyper_at(spec, config, step))
        losses.append(loss)
        if not math.isfinite(loss):
            diverged = step + 1  # the rest would be NaN too: stop, and score the run as chance
            break
        if (step + 1) % CHECKPOINT_EVERY == 0 or step + 1 == config["steps"]:
            commit()
        if pace is not None:
            pace()
    val_loss, val_accuracy = evaluate(runner, evals) if diverged is None else (math.nan, math.nan)
    if not math.isfinite(val_loss):
        diverged = diverged or len(losses)
    value = _score(task, val_loss) if diverged is None else task.chance_loss
    details = {
        "model": spec.name,
        "graph": graph_hash(spec.name, "train"),
        "eval_graph": graph_hash(spec.name, "eval"),
        "data": data.hash,
        "device": runner.device,
        "seed": seed,
        "initial_val_loss": initial_loss,
        "val_loss": val_loss if diverged is None else None,
        "val_accuracy": val_accuracy if diverged is None else None,
        "diverged_at": diverged,
        "losses": [x if math.isfinite(x) else None for x in losses],
        "checkpoint_every": CHECKPOINT_EVERY,
        "checkpoints": checkpoints,
    }
    return Evaluation(value, details, runner.theta().tobytes())


def _score(task: MlTask, val_loss: float) -> float:
    """A run's value from its final validation loss: capped at chance, and chance when it is not finite."""
    return min(val_loss, task.chance_loss) if math.isfinite(val_loss) else task.chance_loss


def checkpoint_theta(config: Config, data: bytes) -> array:
    """θ from a checkpoint blob (little-endian float32, as `train_seed` publishes it) of the config's variant;
    ValueError when the bytes are not one (checked before any parsing: they come from the network)."""
    n = get_model(config["variant"]).n_params
    if len(data) != 4 * n:
        raise ValueError(f"{len(data)} bytes are not a θ of {config['variant']} ({n} float32 values)")
    return array("f", data)


def score_checkpoint(task: MlTask, config: Config, theta: array, runners: RunnerFactory | None) -> float:
    """What a trained θ scores as the run's value (`train_seed`'s rule) on the task's validation batches."""
    spec = get_model(config["variant"])
    runner = open_runner(spec, runners)
    runner.set_state(TrainState.fresh(theta))
    val_loss, _ = evaluate(runner, load_dataset(task.dataset).eval_batches(spec))
    return _score(task, val_loss)


def replay(
    task: MlTask, config: Config, seed: int, state: TrainState, steps: int, runners: RunnerFactory | None
) -> tuple[list[float], TrainState]:
    """Re-execute `steps` steps from a committed state: (their losses, the state after them)."""
    spec = get_model(config["variant"])
    data = load_dataset(task.dataset)
    runner = open_runner(spec, runners)
    runner.set_state(state)
    losses = [
        runner.train_step(data.batch(spec, seed, s), hyper_at(spec, config, s))
        for s in range(state.step, state.step + steps)
    ]
    return losses, runner.state()


def verify_step(
    task: MlTask,
    config: Config,
    seed: int,
    details: Mapping[str, Any],
    step: int,
    runners: RunnerFactory | None,
    state: TrainState | None = None,
    next_state: TrainState | None = None,
) -> Verdict:
    """Check claimed step `step` (1-based) of one seed's run against a re-execution.

    `state`: the committed state of the last checkpoint before `step` (from the author's artifacts); None
    for steps within the first CHECKPOINT_EVERY, which start from θ₀. A state whose hash differs from the
    committed one is refused. When `step` ends at a checkpoint, the replayed θ is compared with the committed
    θ: to `next_state`'s θ within THETA_ATOL (another platform), else to the θ hash (exactly, one platform).
    """
    checkpoints = [Checkpoint(**c) for c in details["checkpoints"]]
    base = max((c for c in checkpoints if c.step < step), key=lambda c: c.step, default=None)
    if base is None or not 0 < step <= len(details["losses"]):
        raise ValueError(f"step {step} is not a claimed step of this run")
    state = state if state is not None else initial_state(config, seed) if base.step == 0 else None
    if state is None or state.step != base.step or state.digest() != base.state:
        raise ValueError(f"the state given is not the committed state at step {base.step}")
    losses, after = replay(task, config, seed, state, step - base.step, runners)
    claimed = details["losses"][step - 1]
    ok = claimed is not None and abs(losses[-1] - claimed) <= LOSS_RTOL * max(1.0, abs(claimed))
    diff: float | None = None
    committed = next((c for c in checkpoints if c.step == step), None)
    if committed is not None:
        if next_state is not None:
            if next_state.digest() != committed.state:
                raise ValueError(f"the next state given is not the committed state at step {step}")
            diff = max(abs(a - b) for a, b in zip(after.theta, next_state.theta, strict=True))
            ok = ok and diff <= THETA_ATOL
        else:
            same = vector_hash(after.theta) == committed.theta
            diff = 0.0 if same else None
            ok = ok and same
    return Verdict(step, ok, claimed if claimed is not None else math.nan, losses[-1], diff)
