"""Build web/dist: the app, the Pyodide runtime, our wheels and a lock file that lists them."""

from __future__ import annotations

import gzip
import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from wasm_build import start_files
from wasm_build.bytecode import (
    BytecodeError,
    add_bytecode,
    add_dataclass_code,
    add_wheel_bytecode,
    stdlib_with_bytecode,
)

PYODIDE_FILES = [
    "pyodide.mjs",
    "pyodide.asm.mjs",
    "pyodide.asm.wasm",
    "python_stdlib.zip",
    "pyodide-lock.json",
]
STDLIB_ZIP = "python_stdlib.zip"
# onnxruntime-web's WASM execution provider: the ES module, and the emscripten loader + binary it fetches from
# `ort.env.wasm.wasmPaths` (web/worker.js points that at dist/ort/). Then its WebGPU build (its own module and a
# 27 MB binary), which a tab fetches only for inference and only when the browser offers a WebGPU adapter.
ORT_FILES = [
    "ort.wasm.min.mjs",
    "ort-wasm-simd-threaded.mjs",
    "ort-wasm-simd-threaded.wasm",
    "ort.webgpu.min.mjs",
    "ort-wasm-simd-threaded.asyncify.mjs",
    "ort-wasm-simd-threaded.asyncify.wasm",
]
# loro-crdt's `web` build (an ES module that fetches its .wasm next to itself; web/worker.js initialises it). Not
# `browser`/`bundler`: those import the .wasm as an ES module, which needs a bundler.
LORO_DIR = Path("node_modules") / "loro-crdt" / "web"
LORO_FILES = ["index.js", "loro_wasm.js", "loro_wasm_bg.wasm"]  # plus snippets/, which loro_wasm.js imports
# Pure-Python wheels the browser node needs, pinned like pyproject.toml pins them for CPython.
PURE_WHEELS = {"cbor2": "5.9.0", "snowballstemmer": "3.1.1"}  # snowballstemmer: the search domain
SKIP = {"dist", "dev", "node_modules", "__pycache__"}
# Files the relay may send gzip-encoded (relay_server/static.py): each of these of at least GZIP_MIN_BYTES gets a
# `.gz` copy beside it where that saves a tenth or more (the start's stored zip, not the stdlib zip, whose entries
# are deflated already; not .onnx: float weights save 8%, for 6 s of build per 90 MB model).
GZIP_SUFFIXES = {".wasm", ".mjs", ".js", ".json", ".whl", ".zip", ".css", ".html", ".svg"}
GZIP_MIN_BYTES = 4096
GZIP_MAX_RATIO = 0.9


class BuildError(Exception):
    pass


def build(root: Path, out: Path) -> dict[str, Any]:
    pyodide = root / "node_modules" / "pyodide"
    if not (pyodide / "pyodide.mjs").is_file():
        raise BuildError(f"{pyodide} is missing: run `npm ci` first (make web does)")
    staging = Path(tempfile.mkdtemp(prefix="hs-dist-"))
    try:
        _copy_app(root / "web", staging)
        (staging / "pyodide").mkdir()
        for name in PYODIDE_FILES:
            # the stdlib with bytecode: Pyodide compiled every stdlib module it imported at each boot
            if name == STDLIB_ZIP:
                _with_bytecode(stdlib_with_bytecode, root, pyodide / name, staging / "pyodide" / name)
            else:
                shutil.copy2(pyodide / name, staging / "pyodide" / name)
        _copy_ort(root / "node_modules" / "onnxruntime-web" / "dist", staging / "ort")
        _copy_loro(root / LORO_DIR, staging / "loro")
        _copy_embedding_model(staging / "models")
        wheels = staging / "py"
        wheels.mkdir()
        entries = [_pure_wheel(root, name, version, wheels) for name, version in PURE_WHEELS.items()]
        entries.append(_pynode_wheel(root, wheels, depends=list(PURE_WHEELS)))
        lock = json.loads((pyodide / "pyodide-lock.json").read_text())
        for entry in entries:
            lock["packages"][entry["name"]] = entry
        (wheels / "pyodide-lock.json").write_text(json.dumps(lock, indent=1, sort_keys=True))
        _start_zip(root, [wheels / e["file_name"] for e in entries], wheels / start_files.NAME)
        manifest = {
            "files": {
                str(p.relative_to(staging)): _sha256(p) for p in sorted(staging.rglob("*")) if p.is_file()
            }
        }
        manifest["packages"] = {
            e["name"]: {"version": e["version"], "sha256": e["sha256"], "imports": e["imports"]}
            for e in entries
        }
        manifest["start"] = f"py/{start_files.NAME}"  # what a first visit fetches while Pyodide boots
        (staging / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True))
        _gzip_copies(staging)
        if out.exists():
            shutil.rmtree(out)
        shutil.move(str(staging), out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return manifest


def _gzip_copies(dist: Path) -> None:
    """A deterministic `.gz` beside each file worth sending compressed (GZIP_SUFFIXES). Not in the manifest,
    which names what the tab receives: the same bytes either way."""
    for path in sorted(dist.rglob("*")):
        if path.suffix not in GZIP_SUFFIXES or not path.is_file() or path.stat().st_size < GZIP_MIN_BYTES:
            continue
        data = path.read_bytes()
        packed = gzip.compress(data, compresslevel=6, mtime=0)
        if len(packed) <= GZIP_MAX_RATIO * len(data):
            path.with_name(path.name + ".gz").write_bytes(packed)


def _copy_ort(src: Path, dst: Path) -> None:
    missing = [n for n in ORT_FILES if not (src / n).is_file()]
    if missing:
        raise BuildError(f"{src} lacks {', '.join(missing)}: run `npm ci` first (make web does)")
    dst.mkdir()
    for name in ORT_FILES:
        shutil.copy2(src / name, dst / name)


def _copy_loro(src: Path, dst: Path) -> None:
    missing = [n for n in [*LORO_FILES, "snippets"] if not (src / n).exists()]
    if missing:
        raise BuildError(f"{src} lacks {', '.join(missing)}: run `npm ci` first (make web does)")
    dst.mkdir()
    for name in LORO_FILES:
        shutil.copy2(src / name, dst / name)
    shutil.copytree(src / "snippets", dst / "snippets", ignore=shutil.ignore_patterns("*.d.ts", "*.map"))


def _copy_embedding_model(dst: Path) -> None:
    """all-MiniLM-L6-v2 as one ONNX graph (≈86 MiB, too big for the wheel): exported once from the model wheel
    (wasm_build/export_embedding.py, skipped while up to date), served beside the app; the wheel carries its
    manifest (sha256) and the tab checks the fetched bytes against it."""
    from pynode.services.embedding.assets import MODEL_DIR, MODEL_URL
    from wasm_build.export_embedding import ensure_built

    try:
        graph, _ = ensure_built(MODEL_DIR)
    except ImportError as e:
        raise BuildError(
            f"the embedding model needs the build extra (pip install -e '.[build]'): {e}"
        ) from None
    target = dst.parent / MODEL_URL
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(graph, target)


def _copy_app(src: Path, dst: Path) -> None:
    shutil.copytree(src, dst, dirs_exist_ok=True, ignore=lambda d, names: [n for n in names if n in SKIP])


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _entry(name: str, version: str, wheel: Path, imports: list[str], depends: list[str]) -> dict[str, Any]:
    return {
        "name": name,
        "version": version,
        "file_name": wheel.name,
        "install_dir": "site",
        "sha256": _sha256(wheel),
        "package_type": "package",
        "imports": imports,
        "depends": depends,
        "unvendored_tests": False,
        "tool": {},
    }


def _pure_wheel(root: Path, name: str, version: str, dest: Path) -> dict[str, Any]:
    """A pure-Python wheel from PyPI (cached under wasm_build/.cache), usable by Pyodide's Python."""
    cache = root / "wasm_build" / ".cache"
    cache.mkdir(parents=True, exist_ok=True)
    found = sorted(cache.glob(f"{name}-{version}-py3-none-any.whl"))
    if not found:
        cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
               "--platform", "any", "--python-version", "3.14", "--implementation", "py",
               f"{name}=={version}", "-d", str(cache)]  # fmt: skip
        if subprocess.run(cmd).returncode != 0:
            raise BuildError(f"could not download the pure-Python wheel {name}=={version}")
        found = sorted(cache.glob(f"{name}-{version}-py3-none-any.whl"))
        if not found:
            raise BuildError(f"PyPI has no pure-Python wheel for {name}=={version}")
    wheel = Path(shutil.copy2(found[0], dest / found[0].name))
    _with_bytecode(add_wheel_bytecode, root, wheel, name)
    return _entry(name, version, wheel, [name], [])


def _start_zip(root: Path, wheels: list[Path], out: Path) -> None:
    try:
        start_files.write_start_zip(root, wheels, out)
    except (BytecodeError, ValueError) as e:
        raise BuildError(str(e)) from None


def _with_bytecode(add: Callable[..., int], *args: Path | str) -> None:
    try:
        add(*args)
    except BytecodeError as e:
        raise BuildError(str(e)) from None


def _pynode_wheel(root: Path, dest: Path, depends: list[str]) -> dict[str, Any]:
    """A wheel of the `pynode` package alone (the relay and build tools stay out of the browser)."""
    sys.path.insert(0, str(root))
    from pynode import __version__

    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp)
        shutil.copytree(
            root / "pynode",
            src / "pynode",
            ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "model.onnx"),  # the embedder: in models/
        )
        (src / "pyproject.toml").write_text(
            "[build-system]\nrequires = ['setuptools']\nbuild-backend = 'setuptools.build_meta'\n\n"
            f"[project]\nname = 'pynode'\nversion = '{__version__}'\nrequires-python = '>=3.11'\n"
            f"dependencies = {json.dumps([f'{d}=={PURE_WHEELS[d]}' for d in depends])}\n\n"
            "[tool.setuptools.packages.find]\ninclude = ['pynode*']\n\n"
            "[tool.setuptools.package-data]\n"
            "'*' = ['*.onnx', '*.json', '*.txt', '*.bin', '*.npz', '*.csv', '*.gz']\n"  # research/data: csv, gz
        )
        cmd = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
               "-w", str(dest), str(src)]  # fmt: skip
        if subprocess.run(cmd, cwd=src).returncode != 0:
            raise BuildError("building the pynode wheel failed")
        wheel = next(dest.glob(f"pynode-{__version__}-py3-none-any.whl"))
        try:
            add_bytecode(root, src, wheel)  # the tab imports bytecode instead of compiling at every boot
            # and its dataclasses' generated methods compiled already (pynode/browser/dataclass_code.py)
            wheels = [w for d in depends for w in dest.glob(f"{d}-{PURE_WHEELS[d]}-*.whl")]
            add_dataclass_code(root, src, wheel, wheels)
        except BytecodeError as e:
            raise BuildError(str(e)) from None
    return _entry("pynode", __version__, wheel, ["pynode"], depends)
