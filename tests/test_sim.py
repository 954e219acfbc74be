"""The discrete-event simulator: GossipSub at 1,000 nodes under loss and churn, deterministically."""

from __future__ import annotations

from dataclasses import replace

from pynode.gossip import GossipParams, PeerScoreParams
from pynode.sim import run_simulation

KEYS = {"nodes", "messages", "delivery_ratio", "hops", "latency_ms", "duplicates_per_msg_per_node", "wall_s"}


def test_1000_nodes_deliver_through_loss_and_churn() -> None:
    result = run_simulation(nodes=1000, messages=100, loss=0.1, churn=0.2, seed=1)
    assert set(result) == KEYS
    assert result["messages"] == 100
    assert result["delivery_ratio"] >= 0.999
    assert result["duplicates_per_msg_per_node"] <= GossipParams().D
    assert 1 <= result["hops"]["p50"] <= result["hops"]["p99"]
    assert 0 < result["latency_ms"]["p50"] <= result["latency_ms"]["p99"]


def test_same_seed_gives_the_same_run() -> None:
    def run(seed: int) -> dict[str, object]:
        result = run_simulation(nodes=150, messages=20, loss=0.1, churn=0.2, seed=seed)
        del result["wall_s"]
        return result

    assert run(3) == run(3)
    assert run(3) != run(4)


def test_delivery_depends_on_the_router() -> None:
    """A mesh of degree 1 without gossip or flood publishing loses messages that GossipSub delivers."""
    starved = replace(
        GossipParams(),
        D=1,
        D_lo=1,
        D_hi=1,
        D_score=0,
        D_out=0,
        D_lazy=0,
        gossip_factor=0.0,
        flood_publish=False,
    )
    scenario = {"nodes": 300, "messages": 30, "loss": 0.2, "churn": 0.0, "seed": 5}
    assert run_simulation(**scenario, params=starved)["delivery_ratio"] < 0.9
    assert run_simulation(**scenario)["delivery_ratio"] >= 0.999


def test_peer_scoring_does_not_cost_delivery_under_loss() -> None:
    """Lossy links break IWANT promises (P7); honest peers must still stay above every threshold."""
    result = run_simulation(
        nodes=300, messages=30, loss=0.1, churn=0.2, seed=2, score_params=PeerScoreParams()
    )
    assert result["delivery_ratio"] >= 0.999
