"""`hyperspace bench browser`'s figures that are not the tab's own clocks: the CPU the browser's processes used
(Linux /proc, every process below the bench, Playwright's driver left out) and --against's launch-by-launch
comparison."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.browser import paired
from bench.procs import browser_cpu_s, cpu_between

BUSY = "import sys, time\nwhile time.process_time() < 0.5: pass\nprint('done', flush=True)\nsys.stdin.read()"


def _busy(exe: str) -> subprocess.Popen[str]:
    child = subprocess.Popen([exe, "-c", BUSY], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None and child.stdout.readline() == "done\n"
    return child


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads Linux /proc")
def test_the_browser_cpu_counts_its_processes_from_zero_and_leaves_the_driver_out(tmp_path):
    before = browser_cpu_s()
    driver = tmp_path / "node"  # what Playwright's driver process is called
    os.symlink(sys.executable, driver)
    browser, node = _busy(sys.executable), _busy(str(driver))
    try:
        after = browser_cpu_s()
        assert before is not None and after is not None
        assert browser.pid not in before and after[browser.pid] >= 0.4  # counted in clock ticks
        assert node.pid not in after
        assert cpu_between(before, after) >= 0.4
    finally:
        for child in (browser, node):
            child.kill()
            child.wait()


def test_against_compares_launch_by_launch():
    new = {k: [] for k in ("joined", "ours_own", "cpu", "after", "own_boot", "repeat")}
    old = {k: [] for k in new}
    new["joined"], old["joined"] = (
        [3.0, 2.5, 4.0],
        [3.5, 2.4, 4.6],
    )  # one slow launch each: paired, it cancels
    new["cpu"], old["cpu"] = (
        [7.0, 7.2, 7.1],
        [7.5, 7.4, 7.0, 9.0],
    )  # a launch that measured only one build is left out
    p = paired(new, old)
    assert p["navigation_to_joined_s"] == {"median_diff": -0.5, "new_less": "2/3"}
    assert p["chromium_cpu_to_joined_s"] == {"median_diff": -0.2, "new_less": "2/3"}
    assert "repeat_visit_joined_s" not in p  # measured in no launch
