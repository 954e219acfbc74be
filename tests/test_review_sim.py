"""The review scenario on the simulation kernel: a small network runs end to end, deterministically."""

from __future__ import annotations

import pytest

from pynode.sim.review import ReviewScenario, run_review_simulation

pytestmark = pytest.mark.slow

SMALL = ReviewScenario(
    nodes=10, genuine=8, planted=4, research_s=80.0, tasks=("nhefs-smoking-ate", "sp500-sharpe"), seed=3
)


def test_a_small_network_reviews_everything_and_every_replica_agrees():
    out = run_review_simulation(SMALL)
    assert out["genuine"] >= 6 and out["planted"] >= 1 and out["colluders"] == 2
    assert out["reviews_per_result"] >= 3 and out["reviews_published"] > 0
    assert out["same_view"]
