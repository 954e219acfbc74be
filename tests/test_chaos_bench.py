"""`hyperspace bench chaos --quick` end to end: a relay archiving to a bare Git repository and eight honest node
processes under SIGKILLs (nodes, and the relay while its archiver runs), lossy slow links, link cuts and a
Byzantine process's attacks. Whatever the timings, no record an honest node wrote is lost: each is on every
replica and in the archive, and no honest author is held faulty."""

from __future__ import annotations

import pytest

from bench.chaos import run_bench

pytestmark = pytest.mark.slow


def test_the_quick_chaos_scenario_loses_no_record(tmp_path):
    r = run_bench(quick=True, keep=tmp_path)
    f, records = r["faults"], r["records"]
    assert f["node_kills"] >= 1 and f["relay_kills"] == 1, f  # attacks too, as many as the load allows
    assert records["published"] > 0
    assert r["lost"] == 0, records["missing"]
    assert records["on_every_replica"] == records["published"], records["missing"]
    assert records["in_archive"] == records["published"], records["missing"]
    assert r["honest_faulty"] == 0
    assert r["honest_nodes_running_at_end"] == r["nodes"]
