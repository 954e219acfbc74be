"""The gossip benchmark's measurement of our side runs end to end on a tiny scenario."""

import pytest

from bench.gossip import run_ours
from bench.libp2p_anchor import random_scenario

pytestmark = pytest.mark.slow


async def test_our_side_of_the_gossip_bench_measures_a_small_scenario():
    scenario = random_scenario(nodes=4, degree=2, messages=20, duration_s=1.0, size=256, seed=3)
    scenario.update(settle_s=0.5, drain_s=1.0)
    result = await run_ours(scenario)
    assert set(result) == {"delivery_ratio", "latency_ms", "duplicates_per_msg_per_node", "cpu_s"}
    assert result["delivery_ratio"] == 1.0
    assert 0 < result["latency_ms"]["p50"] <= result["latency_ms"]["p99"]
    assert result["cpu_s"] > 0
