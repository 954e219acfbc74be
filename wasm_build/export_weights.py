"""Train the zoo models the inference service serves from their ml task's baseline config (seed 0) and commit
the final θ: `pynode/services/weights/<model>.theta.bin` (little-endian float32) and `manifest.json` (sha256,
how it was made, its validation loss). Deterministic on one platform (onnxruntime, one thread, the same CPU
kernels): anyone can re-derive the same bytes there, and elsewhere a θ within float rounding of them
(tests/test_services_inference.py checks it). Run: python -m wasm_build.export_weights
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from pynode.services.inference_weights import MODEL_TASKS, WEIGHTS_DIR, baseline, train

MANIFEST = "manifest.json"


def export(directory: Path = WEIGHTS_DIR) -> dict[str, dict]:
    directory.mkdir(parents=True, exist_ok=True)
    manifest = {}
    for model_id in sorted(MODEL_TASKS):
        source = baseline(model_id)
        state, val_loss = train(source)
        data = state.theta.tobytes()
        name = f"{model_id}.theta.bin"
        (directory / name).write_bytes(data)
        manifest[model_id] = {
            "file": name,
            "sha256": hashlib.sha256(data).hexdigest(),
            "variant": source.config["variant"],
            "task": source.task.task.id,
            "config": source.config,
            "seed": source.seed,
            "val_loss": round(val_loss, 6),
        }
        print(f"{name}: {len(data)} bytes, val_loss {val_loss:.4f}")
    (directory / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    return manifest


if __name__ == "__main__":
    export()
