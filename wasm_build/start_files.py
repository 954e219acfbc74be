"""The start's files: the few of our wheels' files a tab reads before it joins, in a zip of their own.

A first visit fetches this zip (~1.9 MB) while Pyodide boots, not the wheels (~12 MB): on two cores the wheels'
transfer, check and unpacking slowed the boot beside them by a third of a second (bench browser). The tab fetches
the wheels once it is online and writes the rest of their files then (web/worker.js,
pynode/platform/browser_files.py). Which files: those the app's Pyodide read, under Node, doing what the tab's
worker does before its start (wasm_build/start_files.mjs), cached by the wheels' bytes.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

from wasm_build.bytecode import run_node

# What a tab imports before it joins: the app (web/worker.js), and cbor2, which the first frame outside
# cbor_pure's canonical subset imports (any peer can send one before the wheels' files are written)
MODULES = ["pynode.browser.app", "cbor2"]
SCRIPT = "start_files.mjs"  # beside this module
NAME = "pynode-start.zip"  # in the app's py/ folder, beside the wheels
EPOCH = (1980, 1, 1, 0, 0, 0)  # every entry's time: the same wheels make the same zip


def write_start_zip(root: Path, wheels: list[Path], out: Path) -> list[str]:
    """Write the start's files of `wheels` (built, with bytecode) to `out`; returns their paths."""
    paths = start_paths(root, wheels)
    found: dict[str, bytes] = {}
    for wheel in wheels:
        with zipfile.ZipFile(wheel) as z:
            found.update((name, z.read(name)) for name in z.namelist() if name in paths)
    missing = sorted(set(paths) - set(found))
    if missing:
        raise ValueError(f"the start read files no wheel holds: {', '.join(missing[:5])}")
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as z:  # stored: the relay sends it gzip-encoded
        for name in paths:
            z.writestr(zipfile.ZipInfo(name, EPOCH), found[name])
    return paths


def start_paths(root: Path, wheels: list[Path]) -> list[str]:
    """The paths, relative to site-packages, of the files the start reads, recorded by the app's Pyodide."""
    pyodide = root / "node_modules" / "pyodide"
    key = hashlib.sha256(Path(__file__).with_name(SCRIPT).read_bytes() + json.dumps(MODULES).encode())
    key.update((pyodide / "package.json").read_bytes())
    for wheel in sorted(wheels):
        key.update(wheel.name.encode() + b"\0" + wheel.read_bytes())
    cached = root / "wasm_build" / ".cache" / "start" / f"{key.hexdigest()}.json"
    if not cached.is_file():
        cached.parent.mkdir(parents=True, exist_ok=True)
        job = {"wheels": [str(w) for w in wheels], "modules": MODULES, "out": str(cached.with_suffix(".tmp"))}
        run_node(SCRIPT, pyodide, job, "listing the tab's start files")
        cached.with_suffix(".tmp").replace(cached)
    return json.loads(cached.read_text())
