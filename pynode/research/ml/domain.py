"""The ml domain: the ONNX model zoo trained under a config on n seeds, scored by validation loss.

Two tasks (pynode.research.ml.tasks): an MLP on 8×8 digits and a tiny character transformer on the Cranfield
abstracts. A config picks a shipped variant of the task's family and the optimiser's schedule; one seed is one
training run from θ₀(seed) on the batches of that seed (`training.train_seed`). Runs go through the
platform's model runner: onnxruntime in CPython, onnxruntime-web in a tab — the same graphs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pynode.research.domain import Config, ConfigError, Evaluation, Mutation, Task
from pynode.research.ml import mutations as ops
from pynode.research.ml import schema, training
from pynode.research.ml.limits import MAX_SHOWN_CHARS
from pynode.research.ml.tasks import TASKS, MlTask
from pynode.train.runner import RunnerFactory


class MlDomain:
    """The ml domain. Training asks `runners` for model runners (default: this platform, through
    `pynode.train.runner.open_runner`); tests and benchmarks may hand another factory."""

    name = "ml"
    tasks: Mapping[str, Task] = {t.task.id: t.task for t in TASKS.values()}

    def __init__(self, runners: RunnerFactory | None = None, pace: Callable[[], None] | None = None) -> None:
        self.runners = runners
        self.pace = pace  # called after every train step, e.g. CpuBudget.pace_blocking in a tab

    def _task(self, task: str) -> MlTask:
        if not isinstance(task, str) or task not in TASKS:
            raise ConfigError(f"unknown ml task {str(task)[:MAX_SHOWN_CHARS]!r} (known: {', '.join(TASKS)})")
        return TASKS[task]

    def baseline(self, task: str) -> Config:
        return dict(self._task(task).baseline)

    def validate(self, task: str, config: Mapping[str, Any]) -> Config:
        return schema.validate(self._task(task), config)

    def sample(self, task: str, rng: Any) -> Config:
        return schema.sample(self._task(task), rng)

    def mutations(self, task: str) -> list[Mutation]:
        return ops.mutations(self._task(task))

    def crossover(self, task: str, a: Config, b: Config, rng: Any) -> Config:
        t = self._task(task)
        return ops.crossover(schema.validate(t, a), schema.validate(t, b), rng)

    def evaluate(self, task: str, config: Config, seed: int) -> Evaluation:
        t = self._task(task)
        config = schema.validate(t, config)
        return training.train_seed(t, config, seed, self.runners, self.pace)
