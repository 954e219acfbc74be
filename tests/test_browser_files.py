"""A restored tab's pending files (pynode/platform/browser_files.py), under Node with the app's Pyodide: until the
files are written, the first import the snapshot does not hold writes them before it is looked up."""

from __future__ import annotations

import shutil

import pytest

from tests.node_pyodide import run_probe
from tests.prereq import requires

pytestmark = [pytest.mark.slow, requires(shutil.which("node") is not None, "needs node")]

# The wheels unpacked into site-packages (tests/node_pyodide.py) but for pynode/stats.py (and its bytecode),
# which web/worker.js's hsWritePending writes when asked; prints what the guard did as JSON.
_PROBE = """
const held = py.FS.readdir(`${site}/pynode/__pycache__`).filter((n) => n.startsWith('stats.'));
const kept = [['stats.py', py.FS.readFile(`${site}/pynode/stats.py`)],
  ...held.map((n) => [`__pycache__/${n}`, py.FS.readFile(`${site}/pynode/__pycache__/${n}`)])];
for (const [name] of kept) py.FS.unlink(`${site}/pynode/${name}`);
let writes = 0;
globalThis.hsWritePending = () => {
  writes += 1;
  for (const [name, data] of kept) py.FS.writeFile(`${site}/pynode/${name}`, data);
};
const report = (step) => ({ step, writes, guard: py.runPython('import sys; sys.meta_path[0].__class__.__name__') });
const steps = [];
py.runPython('import importlib; importlib.invalidate_caches(); import pynode.platform.browser_files as f; f.hold()');
steps.push(report('held'));
py.runPython('import colorsys');  // a stdlib module: written all the same (the guard cannot tell what is ours)
steps.push(report('stdlib import'));
py.runPython('import pynode.stats; assert pynode.stats.percentile([1.0, 2.0, 3.0], 50, 0.0) == 2.0');
steps.push(report('held module imported'));
py.runPython('import pynode.platform.browser_files as f; f.write_pending()');
steps.push(report('written'));
console.log(JSON.stringify(steps));
"""


def test_a_held_tab_writes_its_files_before_an_import_the_snapshot_does_not_hold(dist, tmp_path):
    steps = {s["step"]: s for s in run_probe(dist, tmp_path, _PROBE)}
    assert steps["held"] == {"step": "held", "writes": 0, "guard": "_WriteFirst"}
    assert steps["stdlib import"]["writes"] == 1  # the first import not yet made wrote them, once
    assert steps["held module imported"]["writes"] == 1
    assert steps["written"]["writes"] == 1 and steps["written"]["guard"] != "_WriteFirst"
