"""Where the inference service's weights come from: the committed weights (`weights/`, the zoo models trained
from their ml task's baseline config on seed 0 by wasm_build/export_weights.py — a pure function of the
committed graphs, data and config, which anyone can re-derive; checked against their sha256 when loaded) or,
for the char-LM, the config of the best result on the ml board, re-trained from its seed (seconds of CPU: the
runtime runs it off the event loop).
"""

from __future__ import annotations

import hashlib
import json
from array import array
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from pynode.platform import in_browser
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
WEIGHTS_DIR = Path(__file__).parent / "weights"
# Served models run on a tab's GPU when its browser offers WebGPU ("auto": wasm otherwise): inference is compared
# with a tolerance, never hashed, unlike training. CPython serves on its CPU, as its tests and benches measure.
INFERENCE_DEVICE = "auto" if in_browser() else "cpu"


class WeightsError(Exception):
    """Committed weights are missing or do not match their manifest."""


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


def train(source: Source, runners: RunnerFactory | None = None) -> tuple[TrainState, float]:
    """Train `source`'s config on its seed: the final state and its validation loss."""
    states: list[TrainState] = []
    evaluation = train_seed(source.task, source.config, source.seed, runners, on_checkpoint=states.append)
    return states[-1], evaluation.value


def load(model_id: str, source: Source, runners: RunnerFactory | None = None) -> LoadedModel:
    """Train `source`'s config on its seed and load the final θ into a fresh runner."""
    state, val_loss = train(source, runners)
    spec = get_model(source.config["variant"])
    runner = open_runner(spec, runners, INFERENCE_DEVICE)
    runner.set_state(state)
    return LoadedModel(model_id, spec, runner, source.label, val_loss, {"result": source.result})


@cache
def manifest() -> dict[str, Any]:
    try:
        return json.loads((WEIGHTS_DIR / "manifest.json").read_text())
    except (OSError, ValueError) as e:
        raise WeightsError(f"no weights manifest: {e}") from None


def committed_theta(model_id: str) -> array:
    entry = manifest().get(model_id)
    if entry is None:
        raise WeightsError(f"no committed weights for {model_id}")
    data = (WEIGHTS_DIR / entry["file"]).read_bytes()
    if hashlib.sha256(data).hexdigest() != entry["sha256"]:
        raise WeightsError(f"{entry['file']} does not match its sha256 (python -m wasm_build.export_weights)")
    theta = array("f", data)
    if len(theta) != get_model(entry["variant"]).n_params:
        raise WeightsError(f"{entry['file']} has {len(theta)} floats, not {entry['variant']}'s")
    return theta


def committed(model_id: str, runners: RunnerFactory | None = None) -> LoadedModel:
    """The committed weights of `model_id` in a fresh runner (no training: instant on both platforms)."""
    theta = committed_theta(model_id)  # raises WeightsError when missing or altered
    entry = manifest()[model_id]
    spec = get_model(entry["variant"])
    runner = open_runner(spec, runners, INFERENCE_DEVICE)
    runner.set_state(TrainState.fresh(theta))
    label = f"committed zoo baseline ({entry['config']['steps']} steps, seed {entry['seed']})"
    return LoadedModel(model_id, spec, runner, label, float(entry["val_loss"]), {"sha256": entry["sha256"]})
