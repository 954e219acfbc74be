"""Training alone, with committed states: θ hashes at fixed step intervals, and re-execution from them.

A run directory holds `run.json` (model, graph and data hashes, seed, hyperparameters, every step's loss,
and a checkpoint list of {step, theta, state} hashes) and `ckpt/<step>.state` (θ, m, v, step). A claim about
the run is checked by re-executing sampled steps from a committed state, never by hashing the whole run:
long runs drift across platforms (float non-associativity) while one step agrees to ~1e-7.
"""

from __future__ import annotations

import json
import sys
import time
from array import array
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TextIO

from pynode.train.assets import graph_hash
from pynode.train.chunks import StepChunks
from pynode.train.data import load_dataset
from pynode.train.runner import Runner, TrainState, evaluate, open_runner, vector_hash
from pynode.train.zoo import Hyper, ModelSpec, get_model, init_theta

LOSS_RTOL = 1e-5  # one re-executed step: CPU vs CPU is exact; CPU vs wasm agrees to ~1e-7
THETA_ATOL = 1e-5


@dataclass
class Checkpoint:
    step: int
    theta: str  # sha256 of θ after `step` steps
    state: str  # sha256 of (θ, m, v, step): what re-execution starts from


class ProgressBar:
    """`[#####.....] 250/500 loss 0.1234 · 812 steps/s`, redrawn in place on a terminal."""

    def __init__(self, total: int, out: TextIO | None = None, width: int = 30) -> None:
        self.total, self.out, self.width = total, out or sys.stderr, width
        self.tty = self.out.isatty()
        self.started = time.monotonic()
        self._last = 0.0

    def update(self, done: int, loss: float, extra: str = "") -> None:
        now = time.monotonic()
        if done < self.total and now - self._last < (0.1 if self.tty else 5.0):
            return
        self._last = now
        fill = self.width * done // max(1, self.total)
        rate = done / max(1e-9, now - self.started)
        line = f"[{'#' * fill}{'.' * (self.width - fill)}] {done}/{self.total} loss {loss:.4f} · {rate:.0f} steps/s"
        line += f" · {extra}" if extra else ""
        self.out.write(("\r\x1b[2K" + line) if self.tty else line + "\n")
        if self.tty and done >= self.total:
            self.out.write("\n")
        self.out.flush()


class SoloRun:
    """A run directory: its record (`run.json`) and its committed states."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.record: dict[str, Any] = json.loads((directory / "run.json").read_text())
        self.spec = get_model(self.record["model"])
        self.hyper = Hyper(**self.record["hyper"])
        self.seed: int = self.record["seed"]

    @property
    def checkpoints(self) -> list[Checkpoint]:
        return [Checkpoint(**c) for c in self.record["checkpoints"]]

    def losses(self) -> list[float]:
        return self.record["losses"]

    def load_state(self, step: int) -> TrainState:
        ckpt = next((c for c in self.checkpoints if c.step == step), None)
        if ckpt is None:
            raise KeyError(f"no committed state at step {step}")
        state = TrainState.from_bytes((self.dir / "ckpt" / f"{step:07d}.state").read_bytes())
        if state.digest() != ckpt.state:
            raise ValueError(f"checkpoint {step} does not match its committed hash")
        return state


def train(
    spec: ModelSpec,
    steps: int,
    out: Path,
    seed: int = 0,
    checkpoint_every: int = 50,
    hyper: Hyper | None = None,
    runner: Runner | None = None,
    on_step: Callable[[int, float], None] | None = None,
) -> SoloRun:
    """Train `spec` for `steps` AdamW steps from θ₀(seed), committing the state every `checkpoint_every`."""
    hyper = hyper or spec.hyper
    runner = runner or open_runner(spec)
    data = load_dataset(spec.dataset)
    (out / "ckpt").mkdir(parents=True, exist_ok=True)
    runner.set_state(TrainState.fresh(init_theta(spec, seed)))
    record: dict[str, Any] = {
        "model": spec.name,
        "graph": graph_hash(spec.name, "train"),
        "data": data.hash,
        "seed": seed,
        "hyper": asdict(hyper),
        "device": runner.device,
        "checkpoint_every": checkpoint_every,
        "losses": [],
        "checkpoints": [],
    }

    def commit() -> None:
        state = runner.state()
        (out / "ckpt" / f"{state.step:07d}.state").write_bytes(state.to_bytes())
        ckpt = Checkpoint(state.step, vector_hash(state.theta), state.digest())
        record["checkpoints"].append(asdict(ckpt))

    commit()
    chunks, step = StepChunks(), 0
    while step < steps:  # k steps per graph call, never past the next checkpoint
        k = chunks.next(min(steps, (step // checkpoint_every + 1) * checkpoint_every) - step)
        t0 = time.perf_counter()
        losses = runner.train_steps([data.batch(spec, seed, step + i) for i in range(k)], hyper)
        chunks.took(k, time.perf_counter() - t0)
        for loss in losses:
            step += 1
            record["losses"].append(loss)
            if on_step:
                on_step(step, loss)
        if step % checkpoint_every == 0 or step == steps:
            commit()
    record["final_val_loss"], record["final_val_accuracy"] = evaluate(runner, data.eval_batches(spec))
    (out / "run.json").write_text(json.dumps(record, indent=1) + "\n")
    return SoloRun(out)


def reexecute(
    run: SoloRun, from_step: int, steps: int = 1, runner: Runner | None = None
) -> tuple[list[float], array]:
    """Replay `steps` steps from the committed state at `from_step`: (their losses, θ after them)."""
    runner = runner or open_runner(run.spec)
    runner.set_state(run.load_state(from_step))
    data = load_dataset(run.spec.dataset)
    losses = [
        runner.train_step(data.batch(run.spec, run.seed, s), run.hyper)
        for s in range(from_step, from_step + steps)
    ]
    return losses, runner.theta()


@dataclass
class Verdict:
    step: int
    ok: bool
    loss_claimed: float
    loss_replayed: float
    theta_max_abs_diff: float | None  # against the next committed θ, when the step ends at a checkpoint


def verify_step(run: SoloRun, step: int, runner: Runner | None = None) -> Verdict:
    """Re-execute step `step` (1-based) from the nearest committed state before it and compare."""
    base = max(c.step for c in run.checkpoints if c.step < step)
    losses, theta = reexecute(run, base, step - base, runner)
    claimed = run.losses()[step - 1]
    ok = abs(losses[-1] - claimed) <= LOSS_RTOL * max(1.0, abs(claimed))
    diff = None
    if any(c.step == step for c in run.checkpoints):
        committed = run.load_state(step).theta
        diff = max(abs(a - b) for a, b in zip(theta, committed, strict=True))
        ok = ok and diff <= THETA_ATOL
    return Verdict(step, ok, claimed, losses[-1], diff)
