"""`hyperspace research` and `hyperspace reproduce` as a user runs them: offline results, then re-run."""

from __future__ import annotations

import asyncio

import pytest

from pynode.platform import native
from pynode.runtime.replica import load_store
from pynode.state.store import Store
from tests.test_cli import hyperspace

pytestmark = pytest.mark.slow


def saved_results(directory) -> list:
    store = Store(bytes(32), native)
    asyncio.run(load_store(store, directory / "state"))
    return list(store.all_records("results.causes"))


def test_research_runs_offline_then_reproduce_agrees(tmp_path):
    run = hyperspace(
        "research",
        "--domain",
        "causes",
        "--task",
        "nsw-cps-att",
        "--experiments",
        "2",
        "--data-dir",
        str(tmp_path),
        timeout=240,
    )
    assert run.returncode == 0, run.stderr
    assert "2 experiments" in run.stderr and "baseline" in run.stderr
    results = saved_results(tmp_path)
    assert len(results) == 2 and {r.body["task"] for r in results} == {"nsw-cps-att"}
    again = hyperspace("reproduce", results[0].key, "--data-dir", str(tmp_path), timeout=240)
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith("agree")


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["research", "--domain", "astrology"], "domains are search"),
        (["research", "--cpu", "2"], "between 0.05 and 1"),
        (["research", "--relay", "http://x"], "ws:// or wss://"),
        (["reproduce", "xyz"], "64 hex digits"),
        (["node", "--relay", "ws://127.0.0.1:1/p2p", "--research", "x"], "domains are"),
    ],
)
def test_research_errors_are_one_clear_line(args, expected):
    result = hyperspace(*args)
    assert result.returncode != 0
    assert expected in result.stderr and "Traceback" not in result.stderr
