"""Probes of the built app's Pyodide under Node (no browser): a script gets `py` (Pyodide booted from the
built web/dist) and `site` (its site-packages, our wheels unpacked there) and prints its findings as a last
line."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

_BOOT = """
import { readFileSync, readdirSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
const dist = process.argv[2];
const { loadPyodide } = await import(pathToFileURL(`${dist}/pyodide/pyodide.mjs`).href);
const py = await loadPyodide({ indexURL: `${dist}/pyodide/` });
const site = py.runPython('import site; site.getsitepackages()[0]');
for (const w of readdirSync(`${dist}/py`).filter((n) => n.endsWith('.whl'))) {
  py.unpackArchive(new Uint8Array(readFileSync(`${dist}/py/${w}`)), 'wheel', { extractDir: site });
}
"""


def run_probe(dist: Path, tmp: Path, script: str) -> Any:
    """The JSON of the last line `script` printed, run after the boot above."""
    probe = tmp / "probe.mjs"
    probe.write_text(_BOOT + script)
    done = subprocess.run(["node", str(probe), str(dist)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])
