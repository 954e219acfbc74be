"""`python -m wasm_build`: build web/dist, the browser app the relay serves.

web/dist/
  index.html, *.js, *.css, ...      the app (copied from web/)
  pyodide/                          the Pyodide runtime from node_modules (runtime + stdlib only; the stdlib
                                    with bytecode beside its sources, compiled by this Pyodide)
  ort/                              onnxruntime-web's WASM build, and its WebGPU build (inference only)
  loro/                             loro-crdt's web build (ES module + wasm) for the replicated state
  models/all-MiniLM-L6-v2.onnx      the sentence embedder (≈86 MiB; exported at build time, hash in the wheel)
  py/pyodide-lock.json              Pyodide's lock file plus our wheels, with their real sha256
  py/*.whl                          pynode (our code) and the pure-Python wheels it needs, with bytecode
  manifest.json                     sha256 of every file above
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from wasm_build.web import build


def main(argv: list[str] | None = None) -> int:
    root = Path(__file__).resolve().parent.parent
    p = argparse.ArgumentParser(
        prog="python -m wasm_build", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--out", type=Path, default=root / "web" / "dist", help="output folder (default web/dist)")
    args = p.parse_args(argv)
    try:
        manifest = build(root, args.out)
    except BuildError as e:
        print(f"wasm_build: {e}", file=sys.stderr)
        return 1
    print(f"wasm_build: {len(manifest['files'])} files in {args.out}", file=sys.stderr)
    return 0


from wasm_build.web import BuildError  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
