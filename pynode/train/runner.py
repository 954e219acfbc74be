"""How to get a model runner for a model of the zoo, and what training code does with one.

The runner lives behind the platform seam: its interface and the values crossing it (`Runner`, `TrainState`,
`Batch`, `Hyper`) are pynode/platform/model.py's, re-exported here. `open_runner` is where training code asks
the platform for a runner (the platform imports no training code, so there is no cycle).
"""

from __future__ import annotations

from pynode.platform import current
from pynode.platform.model import GraphLoader, Runner, TrainState, vector_hash
from pynode.train.assets import graph_bytes
from pynode.train.data import Batch
from pynode.train.zoo import ModelSpec

__all__ = ["GraphLoader", "Runner", "TrainState", "evaluate", "open_runner", "vector_hash"]


def open_runner(spec: ModelSpec, device: str = "cpu", threads: int = 1) -> Runner:
    """A runner for `spec` on this platform. `device`: "cpu", "cuda" or "auto" (CUDA when present).

    One thread by default: a run is reproducible bit for bit only at a fixed thread count, ORT version and
    optimisation level, and validators re-execute steps on one thread.
    """
    return current().model_runner(spec.n_params, lambda kind: graph_bytes(spec.name, kind), device, threads)


def evaluate(runner: Runner, batches: list[Batch]) -> tuple[float, float]:
    """Mean loss and accuracy over fixed evaluation batches."""
    losses, correct, count = 0.0, 0.0, 0
    for b in batches:
        loss, c = runner.evaluate(b)
        losses += loss
        correct += c
        count += len(b.y.data)
    return losses / len(batches), correct / count
