"""Where the inference service's weights come from: the zoo's models trained from their task's baseline
config (seed 0) — a pure function of the committed graphs, data and config, so every node derives the same θ
on one platform — or, for the char-LM, the config of the best result on the ml board, re-trained from its
seed. Synchronous and CPU-bound (a few seconds): the runtime runs it off the event loop.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pynode.platform.model import TrainState
from pynode.research import config as configs
from pynode.research.ml.schema import validate
from pynode.research.ml.tasks import CHARLM, DIGITS, MlTask
from pynode.research.ml.training import train_seed
from pynode.services.inference import LoadedModel
from pynode.state.records import Record
from pynode.train.runner import RunnerFactory, open_runner
from pynode.train.zoo import get_model

MODEL_TASKS = {"charlm": CHARLM, "digits": DIGITS}  # model id -> the ml task whose model it serves


@dataclass(frozen=True)
class Source:
    task: MlTask
    config: dict[str, Any]
    seed: int
    label: str  # for people: "zoo baseline" or "ml board best <key>"
    result: str | None = None  # the board result's key


def baseline(model_id: str) -> Source:
    task = MODEL_TASKS[model_id]
    return Source(task, dict(task.baseline), 0, f"zoo baseline ({task.baseline['steps']} steps, seed 0)")


def best_on_board(results: Iterable[Record], model_id: str = "charlm") -> Source | None:
    """The best result of the model's ml task whose config validates, as a Source (None if none)."""
    task = MODEL_TASKS[model_id]
    best: tuple[Any, ...] | None = None
    for r in results:
        b = r.body
        if r.kind != "result" or b["domain"] != "ml" or b["task"] != task.task.id or "config" not in b:
            continue
        try:
            config = validate(task, configs.parse(b["config"]))
        except (ValueError, KeyError, TypeError):
            continue
        samples = [float(v) for v in b.get("samples", [])]
        seed = min(range(len(samples)), key=samples.__getitem__) if samples else 0  # its best seed's θ
        key = (float(b["value"]), r.key)
        if best is None or key < best[0]:
            best = (key, config, seed, r.key)
    if best is None:
        return None
    _, config, seed, key = best
    return Source(task, dict(config), seed, f"ml board best {key[:12]} (seed {seed})", key)


def load(model_id: str, source: Source, runners: RunnerFactory | None = None) -> LoadedModel:
    """Train `source`'s config on its seed and load the final θ into a fresh runner."""
    states: list[TrainState] = []
    evaluation = train_seed(source.task, source.config, source.seed, runners, on_checkpoint=states.append)
    spec = get_model(source.config["variant"])
    runner = open_runner(spec, runners)
    runner.set_state(states[-1])
    return LoadedModel(model_id, spec, runner, source.label, evaluation.value, {"result": source.result})
