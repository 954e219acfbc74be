"""Bytecode for the tab: every module of our wheels and of Pyodide's stdlib compiled by the Pyodide the app ships.

Without it the tab compiles ~870 KB of our source at every boot (most of the time between our wheels landing and
the node starting), and Pyodide compiles every stdlib module it imports from the sources in python_stdlib.zip —
most of its own boot (under Node on the loaded 2-core machine: 10-11.5 s from the shipped zip, 3.6-5.0 s with
bytecode beside the sources). Unchecked-hash .pyc files: the files never change once installed, so the import
skips the source check. Compiled modules are cached by their source and path (wasm_build/.cache/pyc), so a rebuild
compiles only what changed; the compiler is Pyodide itself, run by Node (compile_pyc.mjs), which `npm ci` already
needs.
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
STDLIB_PATH = "/lib/python314.zip"  # where Pyodide 314 mounts python_stdlib.zip (its sys.path entry)


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


def add_wheel_bytecode(root: Path, wheel: Path, package: str) -> int:
    """`add_bytecode` for a wheel we did not build (a pure-Python dependency): its `package` is unpacked first."""
    with tempfile.TemporaryDirectory() as tmp:
        with zipfile.ZipFile(wheel) as z:
            z.extractall(tmp, [n for n in z.namelist() if n.startswith(f"{package}/")])
        return add_bytecode(root, Path(tmp), wheel, package)


def stdlib_with_bytecode(root: Path, stdlib: Path, out: Path) -> int:
    """Pyodide's python_stdlib.zip with <module>.pyc beside every <module>.py (zipimport tries the .pyc first);
    returns how many had to be compiled."""
    pyodide = root / "node_modules" / "pyodide"
    version = json.loads((pyodide / "package.json").read_text())["version"]
    cache = root / "wasm_build" / ".cache" / "pyc"
    cache.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(stdlib) as z:
        entries = [(info, z.read(info)) for info in z.infolist()]
    pycs: dict[str, Path] = {}
    todo: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for info, data in entries:
            if not info.filename.endswith(".py"):
                continue
            key = hashlib.sha256(f"stdlib {version}\0{info.filename}\0".encode() + data).hexdigest()
            pycs[info.filename + "c"] = cache / f"{key}.pyc"
            if not pycs[info.filename + "c"].is_file():
                (Path(tmp) / info.filename).parent.mkdir(parents=True, exist_ok=True)
                (Path(tmp) / info.filename).write_bytes(data)
                todo.append((info.filename, info.filename + "c"))
        if todo:
            _compile(pyodide, Path(tmp), todo, installed=STDLIB_PATH)
            for _, pyc in todo:
                shutil.copy2(Path(tmp) / pyc, pycs[pyc])
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as new:
        for info, data in entries:
            new.writestr(info, data)
        for name, pyc in sorted(pycs.items()):
            new.writestr(name, pyc.read_bytes())
    return len(todo)


DATACLASS_CODE = "pynode/browser/dataclass_code.bin"  # read by pynode/browser/dataclass_code.py
RECORDER = "dataclass_code.mjs"  # beside this module


def add_dataclass_code(root: Path, src: Path, wheel: Path, depends: list[Path]) -> bool:
    """Add the code the tab's dataclasses compile to `wheel` (built from `src/pynode`, with bytecode), recorded by
    the Pyodide the app ships importing the tab's start with `depends` installed: a dataclass compiles its
    generated methods when the class is made, ~10 ms a class in the tab, most of importing the node. Cached by
    every file of the package and the Pyodide version; returns whether it had to be recorded."""
    pyodide = root / "node_modules" / "pyodide"
    version = json.loads((pyodide / "package.json").read_text())["version"]
    key = hashlib.sha256(
        f"dataclasses {version}\0".encode() + Path(__file__).with_name(RECORDER).read_bytes()
    )
    for path in sorted((src / "pynode").rglob("*")):
        if path.is_file():
            key.update(path.relative_to(src).as_posix().encode() + b"\0" + path.read_bytes())
    for dep in depends:
        key.update(dep.name.encode() + b"\0")
    cached = root / "wasm_build" / ".cache" / "dataclass" / f"{key.hexdigest()}.bin"
    recorded = not cached.is_file()
    if recorded:
        cached.parent.mkdir(parents=True, exist_ok=True)
        job = {"src": str(src), "wheels": [str(d) for d in depends], "out": str(cached.with_suffix(".tmp"))}
        run_node(RECORDER, pyodide, job, "recording the tab's dataclass code")
        cached.with_suffix(".tmp").replace(cached)
    _rewrite_wheel(wheel, {DATACLASS_CODE: cached.read_bytes()})
    return recorded


def _rewrite_wheel(wheel: Path, extra: dict[str, bytes]) -> None:
    """`wheel` with `extra` files added and listed in its RECORD (a zip entry cannot be replaced in place).

    Every entry stored, not deflated: the tab reads each file straight out of the wheel (web/wheels.js), where
    inflating its ~770 files one stream each took ~0.3-0.5 s of CPU beside Pyodide's boot. The wheel travels
    gzip-encoded instead (the build's .gz beside it, relay_server/static.py): one stream, inflated natively."""
    with zipfile.ZipFile(wheel) as old:
        entries = [(info, old.read(info)) for info in old.infolist()]
    out = wheel.with_suffix(".tmp")
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as new:
        for info, data in entries:
            if info.filename.endswith(".dist-info/RECORD"):  # last, as the wheel format has it
                for name, pyc in sorted(extra.items()):
                    new.writestr(name, pyc)
                listed = "".join(f"{n},sha256={_b64(d)},{len(d)}\n" for n, d in sorted(extra.items()))
                data = data + listed.encode()
            new.writestr(info, data, compress_type=zipfile.ZIP_STORED)
    out.replace(wheel)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def _compile(pyodide: Path, src: Path, files: list[tuple[str, str]], installed: str | None = None) -> None:
    """Compile `files` (source, .pyc; relative to `src`); `installed`: where the sources live in the tab
    (default: site-packages), named in tracebacks."""
    job = {"root": str(src), "files": files, "installed": installed}
    run_node("compile_pyc.mjs", pyodide, job, "compiling the tab's bytecode")


def run_node(script: str, pyodide: Path, job: dict[str, object], what: str) -> None:
    """Run one of our Node scripts beside this module on Pyodide, with `job` as its JSON file."""
    node = shutil.which("node")
    if node is None:
        raise BytecodeError(f"node is missing: {what} runs Pyodide under Node")
    with tempfile.NamedTemporaryFile("w", suffix=".json") as file:
        json.dump(job, file)
        file.flush()
        done = subprocess.run(
            [node, str(Path(__file__).with_name(script)), str(pyodide), file.name],
            capture_output=True,
            text=True,
        )
    if done.returncode != 0:
        raise BytecodeError(f"{what} failed: {done.stderr.strip()[-2000:]}")
