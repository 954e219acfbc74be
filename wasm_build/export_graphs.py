"""Build-time exporter: PyTorch definitions (wasm_build/torch_models.py) → committed ONNX graphs + hashes.

    python -m wasm_build.export_graphs                 # re-export every graph into pynode/train/graphs/
    python -m wasm_build.export_graphs --only charlm-tiny --out /tmp/g
    python -m wasm_build.export_graphs --kind train_loop   # only the Loop graphs, from the committed train graphs
    python -m wasm_build.export_graphs --digits-csv sklearn/datasets/data/digits.csv.gz   # rebuild data too

The recipe is PLATFORM_NOTES' "training graphs": trace the functional step with make_fx (real tensors),
torch.export the traced module, then the dynamo ONNX exporter at opset 18; strip node metadata (it would
triple the files and leak local paths). Inputs and outputs carry fixed shapes: one batch size per model.
torch, onnx and onnxscript are needed here only (`pip install -e '.[build]'`).
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import sys
import warnings
from pathlib import Path

import onnx
import onnxscript
import onnxscript.optimizer
import torch
from torch.fx.experimental.proxy_tensor import make_fx

from pynode.train.assets import DATA_DIR, GRAPHS_DIR, MANIFEST, TEXT_ALPHABET
from pynode.train.zoo import MODELS, ModelSpec, init_theta
from wasm_build import torch_models as tm
from wasm_build.loop_graph import loop_graph

OPSET = 18
MAX_FOLDED_BYTES = 4096
KINDS = ("train", "grad", "adamw", "eval", "infer", "train_loop")
DERIVED = {"train_loop": ("train", loop_graph)}  # kind → (the kind it is built from, how)


def example_inputs(spec: ModelSpec, kind: str, seed: int = 0) -> tuple[torch.Tensor, ...]:
    """Fixed inputs of the right shapes and dtypes (also used by the re-export test to compare outputs)."""
    g = torch.Generator().manual_seed(seed)
    n = spec.n_params
    theta = torch.frombuffer(bytearray(init_theta(spec, seed).tobytes()), dtype=torch.float32)
    (xs, xd), (ys, _) = spec.batch_shapes()
    if xd == "float32":
        x = torch.rand(xs, generator=g)
        y = torch.randint(0, 10, ys, generator=g)
    else:
        x = torch.randint(0, spec.vocab, xs, generator=g)
        y = torch.randint(0, spec.vocab, ys, generator=g)
    m = torch.randn(n, generator=g) * 1e-3
    v = torch.rand(n, generator=g) * 1e-6
    h = spec.hyper
    hyper = [torch.tensor(float(v), dtype=torch.float32) for v in (3, h.lr, h.beta1, h.beta2, h.eps, 0.01)]
    grad = torch.randn(n, generator=g) * 1e-2
    by_name = {"theta": theta, "m": m, "v": v, "grad": grad, "x": x, "y": y}
    by_name.update(zip(tm.HYPER_INPUTS, hyper, strict=True))
    return tuple(by_name[name] for name in tm.SIGNATURES[kind][0])


def function_for(spec: ModelSpec, kind: str):
    if kind == "adamw":
        return tm.adamw
    return {"train": tm.train_fn, "grad": tm.grad_fn, "eval": tm.eval_fn, "infer": tm.infer_fn}[kind](spec)


class _Traced(torch.nn.Module):
    def __init__(self, gm: torch.nn.Module) -> None:
        super().__init__()
        self.gm = gm

    def forward(self, *args):
        return self.gm(*args)


def strip(model: onnx.ModelProto) -> bytes:
    for node in model.graph.node:
        node.ClearField("metadata_props")
        node.doc_string = ""
    model.ClearField("metadata_props")
    model.graph.ClearField("value_info")
    model.producer_version = ""  # keep the file independent of the exporter's patch version
    return model.SerializeToString()


def export_graph(spec: ModelSpec, kind: str) -> bytes:
    """One graph as ONNX bytes."""
    args = example_inputs(spec, kind)
    inputs, outputs = tm.SIGNATURES[kind]
    traced = make_fx(function_for(spec, kind), tracing_mode="real")(*args)
    program = torch.export.export(_Traced(traced), args)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        onnx_program = torch.onnx.export(
            program, args, dynamo=True, input_names=inputs, output_names=outputs,
            opset_version=OPSET, optimize=False, verbose=False,
        )  # fmt: skip
        # fold constants, but not into big tensors: a folded (B·T, vocab) loss-gradient broadcast alone was
        # 64 KB, more than the rest of the graph
        model = onnxscript.optimizer.optimize(onnx_program.model, output_size_limit=MAX_FOLDED_BYTES)
    return strip(onnxscript.ir.to_proto(model))


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def export_all(out: Path, names: list[str], kinds: tuple[str, ...] = KINDS) -> dict[str, str]:
    out.mkdir(parents=True, exist_ok=True)
    hashes = {}
    for name in names:
        for kind in kinds:
            if kind in DERIVED:  # from the graph already in `out` (exported just before, or committed)
                source, derive = DERIVED[kind]
                data = derive((out / f"{name}.{source}.onnx").read_bytes())
            else:
                data = export_graph(MODELS[name], kind)
            file = f"{name}.{kind}.onnx"
            (out / file).write_bytes(data)
            hashes[file] = sha256(data)
            print(f"  {file:36} {len(data):>8} B", file=sys.stderr)
    return hashes


# ---- datasets -----------------------------------------------------------------------------------------


def build_digits(csv_gz: Path) -> bytes:
    """scikit-learn's copy of the UCI optdigits test set (1,797 8×8 images, CC BY 4.0): 65 bytes a row."""
    rows = gzip.decompress(csv_gz.read_bytes()).decode().split()
    out = bytearray()
    for row in rows:
        values = [int(v) for v in row.split(",")]
        assert len(values) == 65 and all(0 <= v <= 16 for v in values[:64]) and 0 <= values[64] <= 9
        out += bytes(values)
    return bytes(out)


_SUBJECTS = [
    "the old sailor",
    "a quiet child",
    "the miller",
    "my neighbour",
    "the river",
    "a grey wolf",
    "the baker's wife",
    "the king",
    "an owl",
    "the wind",
    "the stranger",
    "her brother",
    "the teacher",
    "a small boat",
    "the garden",
]
_VERBS = [
    "watched",
    "carried",
    "followed",
    "remembered",
    "found",
    "painted",
    "answered",
    "crossed",
    "opened",
    "forgot",
    "praised",
    "mended",
    "heard",
    "kept",
    "lost",
]
_OBJECTS = [
    "the lantern",
    "a letter",
    "the long road",
    "the bread",
    "an old song",
    "the hill",
    "a silver coin",
    "the door",
    "the fields",
    "a promise",
    "the morning light",
    "the empty house",
    "the storm",
    "a basket of apples",
    "the last page",
]
_PLACES = [
    "by the sea",
    "in the village",
    "after the rain",
    "before dawn",
    "under the bridge",
    "at the market",
    "in the winter",
    "near the mill",
    "on the way home",
    "in the dark wood",
]
_LINKS = ["and then", "but", "so", "while", "because", "although", "until", "and"]


def generate_text(n_chars: int = 60_000, seed: int = 7) -> str:
    """A deterministic English-like corpus (public domain by construction) for the character LM.

    Sentences from a small grammar: enough structure (words, agreement of punctuation, recurring phrases)
    that a tiny transformer's loss falls well below the unigram entropy within a few hundred steps.
    """
    from pynode.train.rng import Stream, mix

    rng = Stream(mix(seed))

    def pick(words: list[str]) -> str:
        return words[rng.below(len(words))]

    out: list[str] = []
    size = 0
    while size < n_chars:
        paragraph = []
        for _ in range(2 + rng.below(4)):
            s = f"{pick(_SUBJECTS)} {pick(_VERBS)} {pick(_OBJECTS)}"
            if rng.below(2):
                s += f" {pick(_PLACES)}"
            if rng.below(3) == 0:
                s += f", {pick(_LINKS)} {pick(_SUBJECTS)} {pick(_VERBS)} {pick(_OBJECTS)}"
            s = s[0].upper() + s[1:]
            paragraph.append(s + ("?" if rng.below(9) == 0 else "."))
        text = " ".join(paragraph).lower() + "\n"
        out.append(text)
        size += len(text)
    text = "".join(out)
    assert set(text) <= set(TEXT_ALPHABET), set(text) - set(TEXT_ALPHABET)
    return text


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=GRAPHS_DIR, help="where the graphs go")
    p.add_argument("--only", action="append", help="export only these models (repeatable)")
    p.add_argument("--kind", action="append", choices=KINDS, help="export only these graphs (repeatable)")
    p.add_argument("--digits-csv", type=Path, help="rebuild data/digits.bin from sklearn's digits.csv.gz")
    p.add_argument("--text", action="store_true", help="regenerate data/charlm.txt")
    args = p.parse_args(argv)
    manifest_path = args.out / MANIFEST
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    graphs = manifest.get("graphs", {})
    graphs.update(export_all(args.out, args.only or list(MODELS), tuple(args.kind or KINDS)))
    manifest = {
        "exporter": {"torch": torch.__version__.split("+")[0], "onnx": onnx.__version__, "opset": OPSET},
        "graphs": dict(sorted(graphs.items())),
    }
    manifest_path.write_text(json.dumps(manifest, indent=1) + "\n")
    data_manifest = DATA_DIR / MANIFEST
    data = json.loads(data_manifest.read_text()) if data_manifest.exists() else {}
    if args.digits_csv:
        (DATA_DIR / "digits.bin").write_bytes(build_digits(args.digits_csv))
    if args.text:
        (DATA_DIR / "charlm.txt").write_text(generate_text())
    for file in ("digits.bin", "charlm.txt"):
        if (DATA_DIR / file).exists():
            data[file] = sha256((DATA_DIR / file).read_bytes())
    data_manifest.write_text(json.dumps(dict(sorted(data.items())), indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
