"""Train steps per second of a model runner, measured the same way in CPython (bench/train_speed.py) and in a
tab (the worker's `train-speed` command), so that their ratio compares the runtimes and not two methods.

One fixed batch, a warm-up until the rate stops rising, then calls alternating between one step per graph
call (`train_step`) and k steps per call as training runs them (`train_steps`, k from StepChunks). The rate
is that of the fastest call, the one least disturbed by other work on the machine (timeit's advice: on a
loaded 2-core machine a tab's calls took a median 3-5x their fastest); the median call's rate is reported
beside it.
"""

from __future__ import annotations

from collections.abc import Callable

from pynode.train.chunks import MAX_STEPS_PER_CALL, StepChunks
from pynode.train.data import load_dataset
from pynode.train.runner import Runner, TrainState
from pynode.train.zoo import ModelSpec, init_theta

# Warm-up until the rate stops rising: V8 first runs wasm through its baseline compiler and tiers hot functions
# up to optimised code in the background, which on a loaded machine took seconds (measured in the tab: the
# same graph ran 4.7 then 22 steps/s a minute later); CPython is steady after a step.
WARMUP_WINDOW_S = 0.25
WARMUP_PATIENCE = 3  # windows in a row without a new best (by more than WARMUP_GAIN) end the warm-up
WARMUP_GAIN = 1.05
MAX_WARMUP_S = 15.0


def train_rates(
    runner: Runner, spec: ModelSpec, seconds: float, clock: Callable[[], float]
) -> dict[str, float]:
    """{"per_step_call", "chunked"} steps/s of the fastest call, the same with "_median" of the median
    call, "steps_per_call" (the k chunked calls settled on) and "warmup_s"; about 2·`seconds` of
    measuring after the warm-up."""
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

    def warm_up() -> None:
        best, calm, end = 0.0, 0, clock() + MAX_WARMUP_S
        while calm < WARMUP_PATIENCE and clock() < end:
            r = rate(single, WARMUP_WINDOW_S) + rate(chunked, WARMUP_WINDOW_S)
            calm = 0 if r > best * WARMUP_GAIN else calm + 1
            best = max(best, r)

    t0 = clock()
    warm_up()
    warmup_s = clock() - t0
    per_step: dict[str, list[float]] = {"per_step_call": [], "chunked": []}
    end = clock() + 2 * seconds
    while clock() < end:  # alternating, so that a burst of other load hits both alike
        for mode, step in (("per_step_call", single), ("chunked", chunked)):
            t = clock()
            k = step()
            per_step[mode].append((clock() - t) / k)
    result = {"steps_per_call": float(chunks.next(MAX_STEPS_PER_CALL)), "warmup_s": warmup_s}
    for mode, times in per_step.items():
        times.sort()
        result[mode] = 1.0 / times[0]
        result[f"{mode}_median"] = 1.0 / times[len(times) // 2]
    return result
