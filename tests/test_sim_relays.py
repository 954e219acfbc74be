"""The relay federation scenario (pynode/sim/relays.py) at a small scale: the real federation cores and fail-over
choices in virtual time."""

from __future__ import annotations

from pynode.sim.relays import RelaySimulation, run_relay_simulation


def _without_wall(result: dict) -> dict:
    return {k: v for k, v in result.items() if k != "wall_s"}


def test_without_failures_every_settled_dial_is_routed_and_every_relay_routes_every_node():
    sim = RelaySimulation(relays=4, nodes=200, seed=3)
    sim.run(20.0, [], dials_per_s=100)
    assert sim.stats.dials_settled > 1000
    assert sim.stats.reached_settled == sim.stats.dials_settled
    assert sim.routes_correct()
    assert sim.stats.failover == [] and sim.stats.cut == 0
    assert len(sim.stats.convergence) == 200  # every arrival reached every relay's routes


def test_a_dead_relays_nodes_fail_over_to_the_others_and_routes_heal():
    sim = RelaySimulation(relays=3, nodes=300, seed=1)
    sim.run(40.0, [(15.0, 1, None)], dials_per_s=100)
    assert all(node.relay is not None for node in sim.nodes)
    assert len(sim.stats.failover) == 100 and not sim.died_at  # every node of relay 1 came back
    assert not sim.hosted[1] and len(sim.hosted[0]) + len(sim.hosted[2]) == 300
    assert min(len(sim.hosted[0]), len(sim.hosted[2])) > 100  # they spread over both
    assert sim.routes_correct() and sim.stats.cut == 0
    # the only settled dials that failed were in flight, or aimed at a node of relay 1, as it died
    assert sim.stats.dials_settled - sim.stats.reached_settled < 10


def test_a_relay_that_comes_back_rejoins_the_federation_and_the_run_is_deterministic():
    result = run_relay_simulation(relays=4, nodes=150, failures=3, duration_s=60.0, dials_per_s=50, seed=2)
    assert (
        result["connected"] == 150
        and result["nodes_per_live_relay"][1] > 0
        and result["routes_correct"]
        and result["links_cut"] == 0
    )
    assert result["failovers"] > 0
    again = run_relay_simulation(relays=4, nodes=150, failures=3, duration_s=60.0, dials_per_s=50, seed=2)
    assert _without_wall(again) == _without_wall(result)
