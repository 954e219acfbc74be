"""Peer scoring (GossipSub v1.1 P1–P7) as the router applies it: mesh choices follow the score."""

from __future__ import annotations

import random

from pynode.gossip import RPC, PeerScoreParams, Router, SubOpt, Validate, ValidationResult
from tests.test_gossip_router import LOCAL, PARAMS, T0, TOPIC, envelope, peer, sent


def scored_router(params: PeerScoreParams, peers: range) -> Router:
    """Peers join, then we subscribe: the mesh is D of them."""
    r = Router(LOCAL, score_params=params, rng=random.Random(3))
    join(r, peers)
    r.subscribe(TOPIC, T0)
    return r


def join(r: Router, peers: range, outbound: bool = False) -> None:
    for i in peers:
        r.add_peer(peer(i), T0, outbound=outbound)
        r.receive(peer(i), RPC(subs=[SubOpt(True, TOPIC)]), T0)


def test_time_in_mesh_and_first_deliveries_raise_the_score() -> None:
    r = scored_router(PeerScoreParams(), range(1, 9))
    p = next(iter(r.mesh[TOPIC]))
    assert r.score(p, T0 + 100) > r.score(p, T0 + 1) > 0  # P1
    before = r.score(p, T0 + 1)
    env = envelope(1)
    r.receive(p, RPC(msgs=[env]), T0 + 1)
    r.report_validation(env.msg_id, ValidationResult.ACCEPT, T0 + 1)
    assert r.score(p, T0 + 1) > before  # P2


def test_app_specific_score_keeps_a_peer_out_of_the_mesh() -> None:
    bad = peer(1)
    r = Router(LOCAL, score_params=PeerScoreParams(app_score=lambda p: -5.0 if p == bad else 0.0))
    r.subscribe(TOPIC, T0)
    join(r, range(1, 5))
    r.tick(T0)
    assert r.score(bad, T0) == -5.0
    assert r.mesh[TOPIC] == {peer(2), peer(3), peer(4)}


def test_ip_colocation_penalises_peers_sharing_an_address() -> None:
    params = PeerScoreParams(peer_ip=lambda p: "10.0.0.1" if p[0] <= 12 else f"10.0.1.{p[0]}")
    r = scored_router(params, range(1, 20))
    assert (
        r.score(peer(1), T0)
        == (12 - params.ip_colocation_factor_threshold) ** 2 * params.ip_colocation_factor_weight
    )
    assert r.score(peer(15), T0) == 0


def test_invalid_message_penalty_decays_away() -> None:
    r = scored_router(PeerScoreParams(), range(1, 9))
    env = envelope(1)
    outputs = r.receive(peer(1), RPC(msgs=[env]), T0)
    assert any(isinstance(o, Validate) for o in outputs)
    r.report_validation(env.msg_id, ValidationResult.REJECT, T0)
    assert r.score(peer(1), T0) < 0
    for t in range(1, 60):
        r.tick(T0 + t)
    assert r.score(peer(1), T0 + 60) >= 0


def test_disconnected_peer_keeps_its_score_when_it_returns() -> None:
    r = scored_router(PeerScoreParams(), range(1, 9))
    env = envelope(1)
    r.receive(peer(1), RPC(msgs=[env]), T0)
    r.report_validation(env.msg_id, ValidationResult.REJECT, T0)
    penalised = r.score(peer(1), T0)
    r.remove_peer(peer(1), T0)
    r.add_peer(peer(1), T0)
    assert r.score(peer(1), T0) == penalised < 0


def test_opportunistic_graft_adds_better_peers_to_a_poor_mesh() -> None:
    good = {peer(i) for i in range(20, 24)}
    r = scored_router(PeerScoreParams(app_score=lambda p: 5.0 if p in good else 0.0), range(1, 7))
    join(r, range(20, 24))
    assert not r.mesh[TOPIC] & good
    for t in range(PARAMS.opportunistic_graft_ticks - 1):
        r.tick(T0 + t)
    assert not r.mesh[TOPIC] & good
    grafted = {p for p, rpc in sent(r.tick(T0 + 100)).items() if rpc.graft}
    assert grafted == r.mesh[TOPIC] & good
    assert len(grafted) == PARAMS.opportunistic_graft_peers


def test_heartbeat_grafts_outbound_peers_up_to_D_out() -> None:
    r = scored_router(PeerScoreParams(), range(1, 9))
    join(r, range(20, 25), outbound=True)
    grafted = {p for p, rpc in sent(r.tick(T0 + 1)).items() if rpc.graft}
    assert len(grafted) == PARAMS.D_out
    assert all(p[0] >= 20 for p in grafted)
