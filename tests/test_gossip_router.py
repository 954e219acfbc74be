"""GossipSub v1.1 router behaviours, driven with a fake clock and real signed envelopes."""

from __future__ import annotations

import random
from dataclasses import replace

from pynode.gossip import (
    RPC,
    Deliver,
    Dial,
    GossipParams,
    Output,
    PeerScoreParams,
    Prune,
    Router,
    Send,
    SubOpt,
    Validate,
    ValidationResult,
)
from pynode.gossip.limits import MAX_IWANT_BYTES
from pynode.platform.native import NaclSigner
from pynode.wire.envelope import Envelope, signing_payload
from pynode.wire.limits import MAX_DATA_BYTES

TOPIC = "hs/1/test"
OTHER = "hs/1/other"
LOCAL = bytes([255]) * 32
T0 = 1000.0
PARAMS = GossipParams()
SIGNER = NaclSigner(bytes(range(32)))


def peer(i: int) -> bytes:
    return bytes([i]) * 32


def envelope(seqno: int, topic: str = TOPIC, signer: NaclSigner = SIGNER) -> Envelope:
    ts = 1_700_000_000_000 + seqno
    data = seqno.to_bytes(4, "big")
    unsigned = {"topic": topic, "from": signer.public_key, "seqno": seqno, "ts": ts, "data": data}
    return Envelope(topic, signer.public_key, seqno, ts, data, signer.sign_now(signing_payload(unsigned)))


def sent(outputs: list[Output]) -> dict[bytes, RPC]:
    """Every Send merged per peer."""
    merged: dict[bytes, RPC] = {}
    for out in outputs:
        if isinstance(out, Send):
            rpc = merged.setdefault(out.peer, RPC())
            for name in ("subs", "msgs", "ihave", "iwant", "graft", "prune"):
                getattr(rpc, name).extend(getattr(out.rpc, name))
    return merged


def router(
    n: int,
    topics: tuple[str, ...] = (TOPIC,),
    subscribe: bool = True,
    params: GossipParams = PARAMS,
    scored: bool = False,
    outbound: bool = False,
) -> Router:
    """A router connected to peers 1..n, each subscribed to `topics`; we subscribe to TOPIC after they join."""
    r = Router(LOCAL, params, PeerScoreParams() if scored else None, rng=random.Random(7))
    for i in range(1, n + 1):
        r.add_peer(peer(i), T0, outbound=outbound)
        r.receive(peer(i), RPC(subs=[SubOpt(True, t) for t in topics]), T0)
    if subscribe:
        r.subscribe(TOPIC, T0)
    return r


def unmeshed_router(n: int) -> Router:
    """We subscribe to TOPIC before peers 1..n join it: an empty mesh until the heartbeat grafts some."""
    r = Router(LOCAL, rng=random.Random(1))
    r.subscribe(TOPIC, T0)
    for i in range(1, n + 1):
        r.add_peer(peer(i), T0)
        r.receive(peer(i), RPC(subs=[SubOpt(True, TOPIC)]), T0)
    return r


def deliver(r: Router, source: bytes, env: Envelope, now: float = T0) -> list[Output]:
    """`source` sends `env`; the runtime accepts it."""
    outputs = r.receive(source, RPC(msgs=[env]), now)
    assert [o for o in outputs if isinstance(o, Validate)] == [Validate(env.msg_id, env, source)]
    return r.report_validation(env.msg_id, ValidationResult.ACCEPT, now)


# -- subscriptions and mesh maintenance --


def test_new_peer_is_told_our_subscriptions() -> None:
    r = router(0)
    assert sent(r.add_peer(peer(1), T0)) == {peer(1): RPC(subs=[SubOpt(True, TOPIC)])}


def test_subscribe_grafts_D_known_topic_peers() -> None:
    r = router(10)
    assert len(r.mesh[TOPIC]) == PARAMS.D


def test_heartbeat_grafts_up_to_D_when_mesh_too_small() -> None:
    r = unmeshed_router(10)
    assert r.mesh[TOPIC] == set()
    grafted = {p for p, rpc in sent(r.tick(T0)).items() if rpc.graft == [TOPIC]}
    assert len(r.mesh[TOPIC]) == PARAMS.D
    assert grafted == r.mesh[TOPIC]


def test_heartbeat_prunes_to_D_when_mesh_too_large() -> None:
    r = router(16, subscribe=True, outbound=True)
    r.tick(T0)
    for i in range(1, 17):  # outbound peers are accepted beyond D_hi; the heartbeat must trim
        r.receive(peer(i), RPC(graft=[TOPIC]), T0)
    assert len(r.mesh[TOPIC]) == 16
    pruned = {p: rpc.prune for p, rpc in sent(r.tick(T0 + 1)).items() if rpc.prune}
    assert len(r.mesh[TOPIC]) == PARAMS.D
    assert set(pruned) == {peer(i) for i in range(1, 17)} - r.mesh[TOPIC]
    for p, (prune,) in pruned.items():
        assert prune.backoff == PARAMS.prune_backoff
        assert prune.px and p not in prune.px


def test_full_mesh_refuses_inbound_graft_with_px() -> None:
    r = router(20)
    replies = {peer(i): sent(r.receive(peer(i), RPC(graft=[TOPIC]), T0)) for i in range(1, 21)}
    assert len(r.mesh[TOPIC]) == PARAMS.D_hi
    late = peer(20)
    assert late not in r.mesh[TOPIC]
    (prune,) = replies[late][late].prune
    assert prune.topic == TOPIC and prune.backoff == PARAMS.prune_backoff
    assert 0 < len(prune.px) <= PARAMS.prune_peers and late not in prune.px


def test_prune_with_px_dials_unknown_peers() -> None:
    r = router(8)
    pruner = next(iter(r.mesh[TOPIC]))
    px = [peer(100), peer(2), LOCAL]
    outputs = r.receive(pruner, RPC(prune=[Prune(TOPIC, px, 60)]), T0)
    assert [o for o in outputs if isinstance(o, Dial)] == [Dial(peer(100))]
    assert pruner not in r.mesh[TOPIC]


def test_px_from_peer_below_accept_px_threshold_is_ignored() -> None:
    r = router(8, scored=True)
    pruner = next(iter(r.mesh[TOPIC]))
    outputs = r.receive(pruner, RPC(prune=[Prune(TOPIC, [peer(100)], 60)]), T0)
    assert not [o for o in outputs if isinstance(o, Dial)]
    assert r.counters["px_ignored_score"] == 1


def test_no_regraft_during_backoff() -> None:
    r = router(4)
    assert r.mesh[TOPIC] == {peer(i) for i in range(1, 5)}
    r.receive(peer(1), RPC(prune=[Prune(TOPIC, [], 30)]), T0)
    for t in range(1, 30):
        assert peer(1) not in sent(r.tick(T0 + t)), "re-grafted during backoff"
    assert peer(1) not in r.mesh[TOPIC]
    assert sent(r.tick(T0 + 31))[peer(1)].graft == [TOPIC]
    assert peer(1) in r.mesh[TOPIC]


def test_graft_during_backoff_is_refused_and_penalised() -> None:
    r = router(8, scored=True)
    p = next(iter(r.mesh[TOPIC]))
    r.receive(p, RPC(prune=[Prune(TOPIC, [], 60)]), T0)
    assert r.score(p, T0 + 1) == 0
    reply = sent(r.receive(p, RPC(graft=[TOPIC]), T0 + 1))[p]
    assert [pr.topic for pr in reply.prune] == [TOPIC]
    assert p not in r.mesh[TOPIC]
    assert r.counters["graft_backoff_violation"] == 1
    assert r.score(p, T0 + 1) < 0


def test_unsubscribe_prunes_mesh_with_unsubscribe_backoff_and_announces() -> None:
    r = router(8)
    mesh = set(r.mesh[TOPIC])
    rpcs = sent(r.unsubscribe(TOPIC, T0))
    assert TOPIC not in r.mesh
    assert all(rpcs[p].subs == [SubOpt(False, TOPIC)] for p in (peer(i) for i in range(1, 9)))
    assert {p for p, rpc in rpcs.items() if rpc.prune} == mesh
    assert all(rpcs[p].prune[0].backoff == PARAMS.unsubscribe_backoff for p in mesh)


# -- publishing and forwarding --


def test_own_messages_are_flood_published_to_all_topic_peers() -> None:
    r = router(20)
    assert len(r.mesh[TOPIC]) == PARAMS.D
    env = envelope(1)
    rpcs = sent(r.publish(env, T0))
    assert set(rpcs) == {peer(i) for i in range(1, 21)}
    assert all(rpc.msgs == [env] for rpc in rpcs.values())


def test_without_flood_publish_own_messages_go_to_the_mesh() -> None:
    r = router(20, params=replace(PARAMS, flood_publish=False))
    assert set(sent(r.publish(envelope(1), T0))) == r.mesh[TOPIC]


def test_fanout_is_used_for_an_unsubscribed_topic_and_expires() -> None:
    r = router(10, topics=(OTHER,), subscribe=False, params=replace(PARAMS, flood_publish=False))
    first = set(sent(r.publish(envelope(1, OTHER), T0)))
    assert len(first) == PARAMS.D and r.fanout[OTHER] == first
    r.tick(T0 + 1)
    assert set(sent(r.publish(envelope(2, OTHER), T0 + 2))) == first  # the same fanout peers
    r.tick(T0 + 2 + PARAMS.fanout_ttl - 1)
    assert OTHER in r.fanout
    r.tick(T0 + 2 + PARAMS.fanout_ttl + 1)
    assert OTHER not in r.fanout


def test_accepted_message_is_delivered_and_forwarded_to_mesh_except_its_source() -> None:
    r = router(10)
    source = next(iter(r.mesh[TOPIC]))
    env = envelope(1)
    outputs = deliver(r, source, env)
    assert Deliver(env, source) in outputs
    assert set(sent(outputs)) == r.mesh[TOPIC] - {source}


def test_rejected_message_is_not_forwarded_and_penalises_its_sender() -> None:
    r = router(10, scored=True)
    source = next(iter(r.mesh[TOPIC]))
    env = envelope(1)
    r.receive(source, RPC(msgs=[env]), T0)
    assert r.report_validation(env.msg_id, ValidationResult.REJECT, T0) == []
    assert r.counters["msg_rejected"] == 1
    assert r.score(source, T0) < 0
    assert r.score(next(iter(r.mesh[TOPIC] - {source})), T0) >= 0


def test_ignored_message_is_dropped_without_penalty() -> None:
    r = router(10, scored=True)
    source = next(iter(r.mesh[TOPIC]))
    env = envelope(1)
    r.receive(source, RPC(msgs=[env]), T0)
    assert r.report_validation(env.msg_id, ValidationResult.IGNORE, T0) == []
    assert r.score(source, T0) >= 0


def test_duplicates_are_not_validated_or_forwarded_twice() -> None:
    r = router(10)
    a, b = sorted(r.mesh[TOPIC])[:2]
    env = envelope(1)
    deliver(r, a, env)
    assert r.receive(b, RPC(msgs=[env]), T0 + 0.1) == []
    assert r.counters["msg_duplicate"] == 1


def test_duplicate_during_validation_spares_its_sender_a_copy() -> None:
    r = router(10)
    a, b = sorted(r.mesh[TOPIC])[:2]
    env = envelope(1)
    r.receive(a, RPC(msgs=[env]), T0)
    r.receive(b, RPC(msgs=[env]), T0)
    assert set(sent(r.report_validation(env.msg_id, ValidationResult.ACCEPT, T0))) == r.mesh[TOPIC] - {a, b}


def test_invalid_message_spammer_is_graylisted_and_then_ignored() -> None:
    r = router(10, scored=True)
    spammer = peer(1)
    seqno = 0
    while r.score(spammer, T0) >= r.thresholds.graylist_threshold:
        seqno += 1
        env = envelope(seqno)
        assert any(isinstance(o, Validate) for o in r.receive(spammer, RPC(msgs=[env]), T0))
        r.report_validation(env.msg_id, ValidationResult.REJECT, T0)
        assert seqno < 50, "spammer never graylisted"
    assert r.receive(spammer, RPC(msgs=[envelope(1000)]), T0) == []
    assert r.receive(spammer, RPC(iwant=[bytes(32)]), T0) == []
    assert r.counters["rpc_ignored_graylisted"] == 2
    r.tick(T0)
    assert spammer not in r.mesh[TOPIC]  # and its negative score keeps it out of the mesh


# -- IHAVE / IWANT gossip --


def test_ihave_is_answered_with_iwant_only_for_unseen_ids() -> None:
    r = router(10)
    seen = envelope(1)
    deliver(r, peer(1), seen)
    unseen = envelope(2).msg_id
    rpcs = sent(r.receive(peer(2), RPC(ihave=[(TOPIC, [seen.msg_id, unseen]), (OTHER, [bytes(32)])]), T0))
    assert rpcs[peer(2)].iwant == [unseen]


def test_ihave_beyond_max_ihave_messages_per_heartbeat_is_ignored() -> None:
    r = router(10)
    for i in range(PARAMS.max_ihave_messages):
        assert sent(r.receive(peer(2), RPC(ihave=[(TOPIC, [envelope(i).msg_id])]), T0))
    assert sent(r.receive(peer(2), RPC(ihave=[(TOPIC, [envelope(99).msg_id])]), T0)) == {}
    r.tick(T0 + 1)
    assert sent(r.receive(peer(2), RPC(ihave=[(TOPIC, [envelope(99).msg_id])]), T0 + 1))


def test_heartbeat_emits_ihave_to_non_mesh_peers() -> None:
    r = router(20)
    env = envelope(1)
    deliver(r, next(iter(r.mesh[TOPIC])), env)
    gossiped = {p for p, rpc in sent(r.tick(T0)).items() if rpc.ihave == [(TOPIC, [env.msg_id])]}
    assert len(gossiped) >= PARAMS.D_lazy
    assert not gossiped & r.mesh[TOPIC]


def test_a_peer_that_grafts_after_a_message_passed_is_told_of_it() -> None:
    # the message went to the mesh; the heartbeat's IHAVE skips mesh peers, so a link grafted in between would
    # never carry it (three federated relays lost their nodes' messages this way on a loaded machine)
    r = router(10)
    env = envelope(1)
    deliver(r, next(iter(r.mesh[TOPIC])), env)
    late = next(p for p in map(peer, range(1, 11)) if p not in r.mesh[TOPIC])
    replies = sent(r.receive(late, RPC(graft=[TOPIC]), T0))
    assert late in r.mesh[TOPIC]
    assert replies[late].ihave == [(TOPIC, [env.msg_id])]


def test_peers_we_graft_after_a_message_passed_are_told_of_it() -> None:
    r = unmeshed_router(10)
    env = envelope(1)
    deliver(r, peer(1), env)  # an empty mesh: forwarded to no one
    rpcs = sent(r.tick(T0))
    grafted = {p for p, rpc in rpcs.items() if rpc.graft == [TOPIC]}
    assert grafted == r.mesh[TOPIC] and grafted
    assert all(rpcs[p].ihave == [(TOPIC, [env.msg_id])] for p in grafted)


def test_iwant_is_served_from_the_message_cache_then_the_history_until_history_ttl() -> None:
    r = router(10)
    env = envelope(1)
    r.publish(env, T0)
    assert sent(r.receive(peer(3), RPC(iwant=[env.msg_id]), T0))[peer(3)].msgs == [env]
    assert r.counters["iwant_served"] == 1
    for t in range(1, PARAMS.mcache_len + 1):
        r.tick(T0 + t)
    assert env.msg_id not in r.mcache
    assert sent(r.receive(peer(4), RPC(iwant=[env.msg_id]), T0 + 10))[peer(4)].msgs == [env]
    assert r.counters["iwant_served_history"] == 1
    r.tick(T0 + PARAMS.history_ttl)
    assert sent(r.receive(peer(5), RPC(iwant=[env.msg_id]), T0 + PARAMS.history_ttl)) == {}
    assert r.counters["iwant_missing"] == 1
    # with no history, the message cache alone answers
    r = router(10, params=replace(PARAMS, history_ttl=0))
    r.publish(env, T0)
    for t in range(1, PARAMS.mcache_len + 1):
        r.tick(T0 + t)
    assert sent(r.receive(peer(4), RPC(iwant=[env.msg_id]), T0 + 10)) == {}


def test_iwant_retransmissions_are_capped() -> None:
    r = router(10)
    env = envelope(1)
    r.publish(env, T0)
    served = [bool(sent(r.receive(peer(3), RPC(iwant=[env.msg_id]), T0))) for _ in range(5)]
    assert served == [True] * PARAMS.gossip_retransmission + [False] * (5 - PARAMS.gossip_retransmission)


def test_iwant_answers_to_one_peer_are_capped_in_bytes_per_heartbeat() -> None:
    # amplification: 12 ids of 1 MB messages in one 384-byte IWANT, asked again and again
    r = router(10)
    big = []
    for seqno in range(12):
        env = envelope(seqno)
        data = seqno.to_bytes(4, "big") * (MAX_DATA_BYTES // 4)
        unsigned = {"topic": TOPIC, "from": SIGNER.public_key, "seqno": seqno, "ts": env.ts, "data": data}
        big.append(
            Envelope(
                TOPIC, SIGNER.public_key, seqno, env.ts, data, SIGNER.sign_now(signing_payload(unsigned))
            )
        )
        r.publish(big[-1], T0)
    ids = [e.msg_id for e in big]
    for beat in range(3):
        now = T0 + beat * PARAMS.heartbeat_interval
        served = sum(
            len(m.data)
            for _ in range(PARAMS.gossip_retransmission)
            for m in sent(r.receive(peer(3), RPC(iwant=ids), now)).get(peer(3), RPC()).msgs
        )
        assert 0 < served <= MAX_IWANT_BYTES
        r.tick(now + PARAMS.heartbeat_interval / 2)  # the budget is per heartbeat
    assert r.counters["iwant_over_budget"] > 0
    # another peer has its own budget
    assert sent(r.receive(peer(4), RPC(iwant=ids[:1]), T0 + 3))[peer(4)].msgs == big[:1]


def test_broken_iwant_promise_is_a_behaviour_penalty() -> None:
    r = router(10, scored=True)
    liar = peer(5)
    for i in range(3):  # P7 counts above behaviour_penalty_threshold (1), so break several promises
        r.receive(liar, RPC(ihave=[(TOPIC, [envelope(i).msg_id])]), T0)
    r.tick(T0 + PARAMS.iwant_followup_time + 1)
    assert r.counters["iwant_promise_broken"] == 3
    assert r.score(liar, T0 + PARAMS.iwant_followup_time + 1) < 0


def test_kept_iwant_promise_is_not_penalised() -> None:
    r = router(10, scored=True)
    env = envelope(1)
    r.receive(peer(5), RPC(ihave=[(TOPIC, [env.msg_id])]), T0)
    deliver(r, peer(5), env, T0 + 0.5)
    r.tick(T0 + PARAMS.iwant_followup_time + 1)
    assert r.counters["iwant_promise_broken"] == 0
