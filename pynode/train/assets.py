"""Files shipped with the package — ONNX graphs and datasets — read only after their sha256 checks out.

Both folders hold a `manifest.json` of sha256 hashes written by `wasm_build/export_graphs.py`. A graph's
hash names it on the network (a DiLoCo run announces the hash of its train graph), so a node never runs a
graph whose bytes differ from the manifest. The browser fetches the same files and checks the same hashes.
"""

from __future__ import annotations

import hashlib
import json
from functools import cache
from pathlib import Path

HERE = Path(__file__).parent
GRAPHS_DIR = HERE / "graphs"
DATA_DIR = HERE / "data"
MANIFEST = "manifest.json"
# The char LMs' vocabulary, in id order: exactly their 32 embeddings. It once listed a 33rd symbol, "z", which
# the models could neither read nor predict; Cranfield's z's became targets whose loss is unbounded below.
TEXT_ALPHABET = "\n !',.?abcdefghijklmnopqrstuvwxy"
TEXT_INDEX = {c: i for i, c in enumerate(TEXT_ALPHABET)}  # symbol → id


class AssetError(Exception):
    """A shipped file is missing or its bytes do not match the manifest."""


@cache
def _manifest(directory: Path) -> dict[str, str]:
    data = json.loads((directory / MANIFEST).read_text())
    return data.get("graphs", data)


def _read_checked(directory: Path, file: str) -> bytes:
    expected = _manifest(directory).get(file)
    if expected is None:
        raise AssetError(f"{file} is not in {directory / MANIFEST}")
    try:
        data = (directory / file).read_bytes()
    except OSError as e:
        raise AssetError(f"cannot read {file}: {e}") from None
    if hashlib.sha256(data).hexdigest() != expected:
        raise AssetError(f"{file} does not match its hash in {MANIFEST} (re-export or restore it)")
    return data


def graph_hash(model: str, kind: str) -> str:
    return _manifest(GRAPHS_DIR)[f"{model}.{kind}.onnx"]


@cache
def graph_bytes(model: str, kind: str) -> bytes:
    return _read_checked(GRAPHS_DIR, f"{model}.{kind}.onnx")


def data_hash(file: str) -> str:
    return _manifest(DATA_DIR)[file]


@cache
def data_bytes(file: str) -> bytes:
    return _read_checked(DATA_DIR, file)
