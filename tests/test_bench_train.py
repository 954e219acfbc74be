"""bench train's fairness step: Chromium picks its own threads' niceness, the bench puts them at its own."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="reads /proc (Linux)")
def test_every_thread_of_a_started_process_gets_the_bench_niceness():
    # a bench process starts a child with two threads, then becomes nicer than it: matching raises the child's
    # niceness (allowed without privilege), every thread of it
    script = textwrap.dedent(
        """
        import json, os, subprocess, sys, time
        from pathlib import Path
        from bench.train_speed import _match_niceness
        child = subprocess.Popen([sys.executable, "-c",
            "import threading, time; threading.Thread(target=time.sleep, args=(30,)).start(); time.sleep(30)"])
        task = Path(f"/proc/{child.pid}/task")
        while len(list(task.iterdir())) < 2:
            time.sleep(0.01)
        nice = lambda: sorted(os.getpriority(os.PRIO_PROCESS, int(t.name)) for t in task.iterdir())
        before = nice()
        os.nice(3)
        changed = _match_niceness()
        after = nice()
        child.kill()
        print(json.dumps({"before": before, "changed": changed, "after": after,
                          "mine": os.getpriority(os.PRIO_PROCESS, 0)}))
        """
    )
    run = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    r = json.loads(run.stdout)
    assert r["before"] == [r["mine"] - 3] * 2
    assert r["changed"] == 2 and r["after"] == [r["mine"]] * 2
