"""`hyperspace bench research` on a small budget: the report's shape and its arithmetic."""

from __future__ import annotations

import json

import pytest

from bench.research import run_bench

pytestmark = pytest.mark.slow


def test_a_small_research_benchmark_reports_both_sides():
    r = run_bench(["finance"], budget=4, repetitions=2, agents=2)
    d = r["domains"]["finance"]
    assert d["metric"] == "sharpe" and d["direction"] == "max" and d["repetitions"] == 2
    for side in ("ours", "random"):
        assert len(d[side]["bests"]) == 2 and d[side]["best_mean"] == sum(d[side]["bests"]) / 2
        # the baseline is on every board, so the best is no worse (boards hold samples to 10 digits)
        assert d[side]["best_mean"] >= d["baseline"] - 1e-9
        assert "heldout_mean" in d[side]  # finance reports the test period of the selected config
    assert 0 <= d["p_value"] <= 1 and d["papers"] == 8 and r["papers"] == 8
    json.dumps(r)
