"""Bytecode for the tab: every module of the pynode wheel compiled by the Pyodide the app ships.

Without it the tab compiles ~870 KB of source at every boot (most of the time between our wheels landing and the
node starting). Unchecked-hash .pyc files: the wheel's files never change once installed, so the import skips the
source check. Compiled modules are cached by their source and path (wasm_build/.cache/pyc), so a rebuild compiles
only what changed; the compiler is Pyodide itself, run by Node (compile_pyc.mjs), which `npm ci` already needs.
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import subprocess
import tempfile
import zipfile
from pathlib import Path

CACHE_TAG = "cpython-314"  # Pyodide 314's sys.implementation.cache_tag: the .pyc name the import looks for


class BytecodeError(Exception):
    pass


def add_bytecode(root: Path, src: Path, wheel: Path, package: str = "pynode") -> int:
    """Add __pycache__/<module>.cpython-314.pyc beside every module of `wheel` (built from `src/package`), with
    its RECORD lines; returns how many had to be compiled (the rest came from the cache)."""
    pyodide = root / "node_modules" / "pyodide"
    cache = root / "wasm_build" / ".cache" / "pyc"
    cache.mkdir(parents=True, exist_ok=True)
    todo: list[tuple[str, str, Path]] = []
    for module in sorted((src / package).rglob("*.py")):
        rel = module.relative_to(src).as_posix()
        pyc = module.parent / "__pycache__" / f"{module.stem}.{CACHE_TAG}.pyc"
        key = hashlib.sha256(rel.encode() + b"\0" + module.read_bytes()).hexdigest()
        cached = cache / f"{key}.pyc"
        if cached.is_file():
            pyc.parent.mkdir(exist_ok=True)
            shutil.copy2(cached, pyc)
        else:
            todo.append((rel, pyc.relative_to(src).as_posix(), cached))
    if todo:
        _compile(pyodide, src, [(rel, pyc) for rel, pyc, _ in todo])
        for _, pyc, cached in todo:
            shutil.copy2(src / pyc, cached)
    _rewrite_wheel(
        wheel, {p.relative_to(src).as_posix(): p.read_bytes() for p in src.rglob(f"*.{CACHE_TAG}.pyc")}
    )
    return len(todo)


def _rewrite_wheel(wheel: Path, extra: dict[str, bytes]) -> None:
    """`wheel` with `extra` files added and listed in its RECORD (a zip entry cannot be replaced in place)."""
    with zipfile.ZipFile(wheel) as old:
        entries = [(info, old.read(info)) for info in old.infolist()]
    out = wheel.with_suffix(".tmp")
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as new:
        for info, data in entries:
            if info.filename.endswith(".dist-info/RECORD"):  # last, as the wheel format has it
                for name, pyc in sorted(extra.items()):
                    new.writestr(name, pyc)
                listed = "".join(f"{n},sha256={_b64(d)},{len(d)}\n" for n, d in sorted(extra.items()))
                data = data + listed.encode()
            new.writestr(info, data)
    out.replace(wheel)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def _compile(pyodide: Path, src: Path, files: list[tuple[str, str]]) -> None:
    node = shutil.which("node")
    if node is None:
        raise BytecodeError("node is missing: the tab's bytecode is compiled by Pyodide under Node")
    with tempfile.NamedTemporaryFile("w", suffix=".json") as job:
        json.dump({"root": str(src), "files": files}, job)
        job.flush()
        script = Path(__file__).with_name("compile_pyc.mjs")
        done = subprocess.run([node, str(script), str(pyodide), job.name], capture_output=True, text=True)
    if done.returncode != 0:
        raise BytecodeError(f"compiling the tab's bytecode failed: {done.stderr.strip()[-2000:]}")
