"""The model runner's cross-platform checks, run beside the platform suite (pynode/platform/conformance.py) in
CPython and in the tab. They live here because they need the zoo's graphs and data, which the platform package
never imports.
"""

from __future__ import annotations

import asyncio
import hashlib
from array import array
from collections.abc import Callable
from typing import Any

from pynode.platform import Platform
from pynode.platform.conformance import Check
from pynode.platform.model import Runner, TrainState
from pynode.train.assets import graph_bytes
from pynode.train.data import load_dataset
from pynode.train.rng import Stream, mix
from pynode.train.zoo import get_model, init_theta

CALLS = 6  # calls per runner: each side's calls start while the other's are in flight


async def check_overlapping_model_calls_compute_as_alone(p: Platform, _: dict[str, Any]) -> None:
    """Two runners called from two tasks at once — training and inference, as a node that serves the zoo's models
    while it trains — compute what each computes alone. Model calls block, so they run through
    `asyncio.to_thread`: threads in CPython, and in a tab inline in each task, whose stack suspends inside
    every call (onnxruntime-web's calls overlap there unless the platform takes them in turn)."""
    spec = get_model("digits-mlp")
    data = load_dataset(spec.dataset)
    batches = [data.batch(spec, 1, step) for step in range(CALLS)]
    theta = array("f", ((i % 7 - 3) / 64 for i in range(spec.n_params)))  # θ = 0 would infer zeros

    def runner() -> Runner:
        r = p.model_runner(spec.n_params, lambda kind: graph_bytes(spec.name, kind))
        r.set_state(TrainState.fresh(theta))
        return r

    def train(r: Runner, step: int) -> float:
        return r.train_step(batches[step], spec.hyper)

    def infer(r: Runner, step: int) -> bytes:
        return r.infer(batches[step].x).tobytes()

    async def calls(call: Callable[[Runner, int], Any], r: Runner) -> list[Any]:
        return [await asyncio.to_thread(call, r, step) for step in range(CALLS)]

    alone = [await calls(train, runner()), await calls(infer, runner())]
    together = await asyncio.gather(calls(train, runner()), calls(infer, runner()))
    assert together[0] == alone[0], f"training losses {together[0]} while inferring, {alone[0]} alone"
    assert together[1] == alone[1], "inference while training computed other logits than alone"


def _sha(*vectors: array) -> str:
    return hashlib.sha256(b"".join(v.tobytes() for v in vectors)).hexdigest()[:16]


async def check_draws_batches_and_theta0_keep_their_pinned_bits(_: Platform, __: dict[str, Any]) -> None:
    """Random draws, a batch of each dataset and a θ₀, against values computed once by the first, unbatched
    implementation: re-executing someone's step, on any platform, needs these very bits."""
    s = Stream(mix(1, 2, 3))
    draws = [s.below(1000) for _ in range(2)] + s.belows(1000, 2) + [s.next_u64()]
    assert draws == [11, 312, 807, 608, 15157744699101433194], draws
    uniforms = list(Stream(mix(5)).uniforms(3, 0.5))
    assert uniforms == [-0.16273725032806396, 0.1912609189748764, -0.44300734996795654], uniforms
    digits = load_dataset("digits").batch(get_model("digits-mlp"), 3, 41, 1, 2)
    assert _sha(digits.x.data, digits.y.data) == "4dcc763c44646b43", "a digits batch changed"
    text = load_dataset("cranfield").batch(get_model("charlm-tiny"), 3, 41, 1, 2)
    assert _sha(text.x.data, text.y.data) == "52234207c25c4416", "a text batch changed"
    assert _sha(init_theta(get_model("digits-mlp"), 3)) == "0f97f2f1653cbca7", "θ₀ changed"


CHECKS: list[Check] = [
    check_overlapping_model_calls_compute_as_alone,
    check_draws_batches_and_theta0_keep_their_pinned_bits,
]
