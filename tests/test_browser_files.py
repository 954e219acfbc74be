"""A tab's pending files (pynode/platform/browser_files.py), under Node with the app's Pyodide: until they are
written, the first import of ours that is not written writes them before it is looked up; imports of what is
written already, and of the stdlib, do not; and files that have not arrived are awaited where that can wait."""

from __future__ import annotations

import shutil

import pytest

from tests.node_pyodide import run_probe
from tests.prereq import requires

pytestmark = [pytest.mark.slow, requires(shutil.which("node") is not None, "needs node")]

# The wheels unpacked into site-packages (tests/node_pyodide.py) but for pynode/stats.py (and its bytecode), which
# the worker's hsWritePending writes once they have arrived (hsPendingFiles: `arrive` settles it here, as
# web/worker.js's fetch of the wheels would); prints what the guard did at each step as JSON.
_PROBE = """
const held = py.FS.readdir(`${site}/pynode/__pycache__`).filter((n) => n.startsWith('stats.'));
const kept = [['stats.py', py.FS.readFile(`${site}/pynode/stats.py`)],
  ...held.map((n) => [`__pycache__/${n}`, py.FS.readFile(`${site}/pynode/__pycache__/${n}`)])];
for (const [name] of kept) py.FS.unlink(`${site}/pynode/${name}`);
let writes = 0;
let arrived = ARRIVED;
let arrive;
const pending = new Promise((resolve) => { arrive = () => { arrived = true; resolve(); }; });
globalThis.hsPendingFiles = () => pending;
globalThis.hsPendingArrived = () => arrived;
globalThis.hsWritePending = () => {
  writes += 1;
  for (const [name, data] of kept) py.FS.writeFile(`${site}/pynode/${name}`, data);
};
const report = (step, extra = {}) => ({ step, writes, guard: py.runPython('import sys; sys.meta_path[0].__class__.__name__'), ...extra });
const attempt = (code) => { try { py.runPython(code); return 'ok'; } catch (e) { return String(e).split('\\n').filter(Boolean).pop(); } };
const steps = [];
py.runPython('import importlib; importlib.invalidate_caches(); import pynode.platform.browser_files as f; f.hold(["pynode", "cbor2"])');
steps.push(report('held'));
steps.push(report('stdlib import', { result: attempt('import colorsys') }));
steps.push(report('written module imported', { result: attempt('import pynode.topics') }));
steps.push(report('held module, sync', { result: attempt('import pynode.stats') }));
const waited = py.runPythonAsync('import pynode.platform.browser_files as f; await f.written()');
await new Promise((resolve) => setTimeout(resolve, 50));
steps.push(report('waiting'));
arrive();
await waited;
steps.push(report('written', { result: attempt('import pynode.stats; assert pynode.stats.percentile([1.0, 2.0, 3.0], 50, 0.0) == 2.0') }));
console.log(JSON.stringify(steps));
"""


def _steps(dist, tmp_path, arrived: bool) -> dict[str, dict]:
    probe = _PROBE.replace("ARRIVED", "true" if arrived else "false")
    return {s["step"]: s for s in run_probe(dist, tmp_path, probe)}


def test_files_that_arrived_are_written_before_the_first_import_of_ours_that_is_not(dist, tmp_path):
    """A restored tab (its files stored with the snapshot), or a first visit once the wheels arrived."""
    steps = _steps(dist, tmp_path, arrived=True)
    assert steps["held"]["writes"] == 0 and steps["held"]["guard"] == "_WriteFirst"
    assert steps["stdlib import"] == {**steps["stdlib import"], "writes": 0, "result": "ok"}  # not ours
    assert steps["written module imported"] == {
        **steps["written module imported"],
        "writes": 0,
        "result": "ok",
    }
    assert steps["held module, sync"] == {**steps["held module, sync"], "writes": 1, "result": "ok"}
    assert steps["written"]["writes"] == 1 and steps["written"]["guard"] != "_WriteFirst"


def test_files_that_have_not_arrived_are_awaited_and_a_stack_that_cannot_wait_is_told_why(dist, tmp_path):
    """A first visit asked for a module of its wheels before they arrived: a coroutine awaits them (`written`); a
    synchronous import that cannot be suspended (no JSPI under Node) fails with the reason, writing nothing."""
    steps = _steps(dist, tmp_path, arrived=False)
    assert (
        steps["written module imported"]["result"] == "ok"
    )  # the start's files are there: nothing to wait for
    sync = steps["held module, sync"]
    assert sync["writes"] == 0 and "have not arrived yet" in sync["result"], sync
    assert steps["waiting"]["writes"] == 0 and steps["waiting"]["guard"] == "_WriteFirst"
    assert steps["written"] == {**steps["written"], "writes": 1, "result": "ok"}
    assert steps["written"]["guard"] != "_WriteFirst"
