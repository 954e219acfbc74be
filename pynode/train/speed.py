"""Train steps per second of a model runner, measured the same way in CPython (bench/train_speed.py) and in a
tab (the worker's `train-speed` command), so that their ratio compares the runtimes and not two methods.

One fixed batch, a warm-up, then the best of several windows, the least disturbed by other work on the
machine: once with one step per graph call (`train_step`), once with k steps per call as training runs
them (`train_steps`, k from StepChunks).
"""

from __future__ import annotations

from collections.abc import Callable

from pynode.train.chunks import MAX_STEPS_PER_CALL, StepChunks
from pynode.train.data import load_dataset
from pynode.train.runner import Runner, TrainState
from pynode.train.zoo import ModelSpec, init_theta

WARMUP_S = 0.5  # V8 first runs wasm through its baseline compiler and tiers up to optimised code later
WINDOWS = 3


def train_rates(
    runner: Runner, spec: ModelSpec, seconds: float, clock: Callable[[], float]
) -> dict[str, float]:
    """{"per_step_call", "chunked"} steps/s and "steps_per_call" (the k chunked calls settled on), over
    about 2·`seconds` of measuring after 2·WARMUP_S of warm-up."""
    batch = load_dataset(spec.dataset).batch(spec, 0, 0)
    runner.set_state(TrainState.fresh(init_theta(spec, 0)))
    chunks = StepChunks()

    def single() -> int:
        runner.train_step(batch, spec.hyper)
        return 1

    def chunked() -> int:
        k = chunks.next(MAX_STEPS_PER_CALL)
        t0 = clock()
        runner.train_steps([batch] * k, spec.hyper)
        chunks.took(k, clock() - t0)
        return k

    def rate(step: Callable[[], int], window: float) -> float:
        n, t0 = 0, clock()
        while clock() - t0 < window:
            n += step()
        return n / (clock() - t0)

    rate(single, WARMUP_S)
    rate(chunked, WARMUP_S)
    best = {"per_step_call": 0.0, "chunked": 0.0}
    for _ in range(WINDOWS):  # alternating, so that a burst of other load hits both alike
        best["per_step_call"] = max(best["per_step_call"], rate(single, seconds / WINDOWS))
        best["chunked"] = max(best["chunked"], rate(chunked, seconds / WINDOWS))
    return {**best, "steps_per_call": float(chunks.next(MAX_STEPS_PER_CALL))}
