"""`hyperspace bench state` runs end to end (tiny sizes) and prints JSON with the fields the issue names."""

from __future__ import annotations

import json

import pytest

from pynode.cli import main

pytestmark = pytest.mark.slow


def test_bench_state_prints_the_promised_json(capsys):
    assert (
        main(
            [
                "bench",
                "state",
                "--json",
                "--nodes",
                "12",
                "--records",
                "10",
                "--archive-interval",
                "0.5",
                "--tab-records",
                "200",
            ]
        )  # fmt: skip
        == 0
    )
    out = json.loads(capsys.readouterr().out)
    for key in (
        "nodes",
        "churn",
        "records",
        "convergence_s",
        "cold_start_ms",
        "snapshot_bytes",
        "bytes_per_record_synced",
        "archive_lag_s",
    ):
        assert key in out
    assert out["converged"] and out["same_view"] and out["archive_lag_s"]["pushed"] == 20
    assert set(out["convergence_s"]) == {"p50", "p99", "max"}
    tab = out["tab"]  # a cold start of 200 records in a headless Chromium tab
    assert tab.get("records") == 200, tab
    assert tab["cold_start_200_s"] > 0 and tab["max_block_ms"] > 0
    assert all(run["records"] == 200 for run in tab["runs"])
    # every turn the check gave the loop let a timer that was due run (here the ticker's): a turn that did not
    # left the loop held across two stretches of Python (it was a setTimeout(0), run before earlier timers)
    assert tab["turns_without_a_tick"] == 0, [run["longest_gap"] for run in tab["runs"]]
    # the tab saved the board it checked, sealed, and a reload's Store restored all of it from IndexedDB
    assert tab["restart_restored_all"] and tab["restart_200_s"] > 0, tab
