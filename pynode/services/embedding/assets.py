"""The embedding model's files: the committed vocabulary and the graph the build exports.

`data/` (committed): `vocab.txt` of all-MiniLM-L6-v2 and its sha256 in `manifest.json`.
`model/` (built by `python -m wasm_build.export_embedding`, which `make web` runs; ignored by git, ≈86 MiB):
`model.onnx` and a `manifest.json` naming its sha256, window and dimension. The pynode wheel carries the
manifest; the tab fetches the graph from web/dist (`MODEL_URL`) and checks the same hash.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

HERE = Path(__file__).parent
DATA_DIR = HERE / "data"
MODEL_DIR = HERE / "model"
MODEL_NAME = "all-MiniLM-L6-v2"
GRAPH_FILE = "model.onnx"
MODEL_URL = f"models/{MODEL_NAME}.onnx"  # relative to the worker's script in web/dist


class ModelMissing(Exception):
    """The graph has not been built (or its manifest is unreadable)."""


@dataclass(frozen=True)
class ModelInfo:
    name: str
    sha256: str  # of model.onnx
    max_tokens: int  # sentence-transformers' max_seq_length
    dim: int


@cache
def vocab_text() -> str:
    data = (DATA_DIR / "vocab.txt").read_bytes()
    expected = json.loads((DATA_DIR / "manifest.json").read_text())["vocab.txt"]
    if hashlib.sha256(data).hexdigest() != expected:
        raise ValueError("vocab.txt does not match its sha256 in data/manifest.json")
    return data.decode("utf-8")


def model_info() -> ModelInfo:
    try:
        m = json.loads((MODEL_DIR / "manifest.json").read_text())
        return ModelInfo(m["model"], m["files"][GRAPH_FILE], int(m["max_tokens"]), int(m["dim"]))
    except (OSError, ValueError, KeyError) as e:
        raise ModelMissing(
            f"the embedding graph is not built ({e}): run `python -m wasm_build.export_embedding` (make web does)"
        ) from None


def graph_path() -> Path:
    return MODEL_DIR / GRAPH_FILE
