"""How to get a model runner for a model of the zoo, and what training code does with one.

The runner lives behind the platform seam: its interface and the values crossing it (`Runner`, `TrainState`,
`Batch`, `Hyper`) are pynode/platform/model.py's, re-exported here. `open_runner` is where training code asks
the platform for a runner (the platform imports no training code, so there is no cycle).
"""

from __future__ import annotations

from typing import Protocol

from pynode.platform import current
from pynode.platform.model import GraphLoader, Runner, TrainState, vector_hash
from pynode.train.assets import graph_bytes
from pynode.train.data import Batch
from pynode.train.zoo import ModelSpec

__all__ = ["GraphLoader", "Runner", "RunnerFactory", "TrainState", "evaluate", "open_runner", "vector_hash"]


class RunnerFactory(Protocol):
    """What makes model runners: the platform (`pynode.platform.Platform.model_runner`)."""

    def model_runner(self, n_params: int, load_graph: GraphLoader, device: str, threads: int) -> Runner: ...


def open_runner(
    spec: ModelSpec, runners: RunnerFactory | None = None, device: str = "cpu", threads: int = 1
) -> Runner:
    """A runner for `spec` from `runners` (default: this platform). `device`: "cpu", "cuda" or "auto".

    One thread by default: a run is reproducible bit for bit only at a fixed thread count, ORT version and
    optimisation level, and validators re-execute steps on one thread.
    """
    factory = runners if runners is not None else current()
    return factory.model_runner(spec.n_params, lambda kind: graph_bytes(spec.name, kind), device, threads)


def evaluate(runner: Runner, batches: list[Batch]) -> tuple[float, float]:
    """Mean loss and accuracy over fixed evaluation batches."""
    losses, correct, count = 0.0, 0.0, 0
    for b in batches:
        loss, c = runner.evaluate(b)
        losses += loss
        correct += c
        count += len(b.y.data)
    return losses / len(batches), correct / count
