"""Late joiners (PROTOCOL.md §5.3): held own messages, history told to newly subscribed peers, and their bounds."""

from __future__ import annotations

import random
from dataclasses import replace

from pynode.gossip import (
    RPC,
    Deliver,
    GossipParams,
    Output,
    PeerScoreParams,
    Router,
    Send,
    SubOpt,
    Validate,
    ValidationResult,
)
from pynode.gossip.history import Held, History
from pynode.gossip.limits import (
    HISTORY_IHAVE_IDS,
    MAX_HELD_MESSAGES,
    MAX_HISTORY_BYTES,
    MAX_HISTORY_MESSAGES,
    MAX_HISTORY_SERVE_BYTES,
    MAX_IWANT_BYTES,
)
from pynode.platform.native import NaclSigner
from pynode.wire.envelope import Envelope, signing_payload

TOPIC = "hs/1/test"
OTHER = "hs/1/other"
T0 = 1000.0
PARAMS = GossipParams()
SIGNER = NaclSigner(bytes(range(32)))


def peer(i: int) -> bytes:
    return bytes([i]) * 32


def envelope(seqno: int, size: int = 4, topic: str = TOPIC) -> Envelope:
    ts = 1_700_000_000_000 + seqno
    data = seqno.to_bytes(4, "big") * (size // 4)
    unsigned = {"topic": topic, "from": SIGNER.public_key, "seqno": seqno, "ts": ts, "data": data}
    return Envelope(topic, SIGNER.public_key, seqno, ts, data, SIGNER.sign_now(signing_payload(unsigned)))


def sent(outputs: list[Output]) -> dict[bytes, RPC]:
    merged: dict[bytes, RPC] = {}
    for out in outputs:
        if isinstance(out, Send):
            rpc = merged.setdefault(out.peer, RPC())
            for name in ("subs", "msgs", "ihave", "iwant", "graft", "prune"):
                getattr(rpc, name).extend(getattr(out.rpc, name))
    return merged


def alone(params: GossipParams = PARAMS, scored: bool = False, local: bytes = peer(255)) -> Router:
    """A router subscribed to TOPIC with no peer yet."""
    r = Router(local, params, PeerScoreParams() if scored else None, rng=random.Random(7))
    r.subscribe(TOPIC, T0)
    return r


def join(r: Router, p: bytes, now: float = T0, topics: tuple[str, ...] = (TOPIC,)) -> RPC:
    """`p` connects and subscribes to `topics`; what `r` sends it."""
    r.add_peer(p, now)
    return sent(r.receive(p, RPC(subs=[SubOpt(True, t) for t in topics]), now)).get(p, RPC())


def accept(r: Router, source: bytes, env: Envelope, now: float, age: float | None = 0.0) -> None:
    outputs = r.receive(source, RPC(msgs=[env]), now)
    assert any(isinstance(o, Validate) for o in outputs)
    r.report_validation(env.msg_id, ValidationResult.ACCEPT, now, age)


# -- held own messages --


def test_a_message_published_with_no_peer_reaches_a_peer_that_subscribes_later() -> None:
    r = alone()
    env = envelope(1)
    assert r.publish(env, T0) == []
    assert r.counters["published_held"] == 1
    assert sent(r.add_peer(peer(1), T0 + 5)) == {peer(1): RPC(subs=[SubOpt(True, TOPIC)])}
    got = sent(r.receive(peer(1), RPC(subs=[SubOpt(True, TOPIC)]), T0 + 5))[peer(1)]
    assert got.msgs == [env]
    assert got.ihave == []  # it was pushed the message: no need to tell it of it too


def test_a_held_message_goes_to_D_peers_each_once_then_later_peers_are_told_of_it() -> None:
    r = alone()
    env = envelope(1)
    r.publish(env, T0)
    for i in range(1, PARAMS.D + 1):
        assert join(r, peer(i)).msgs == [env]
        # a peer that unsubscribes and subscribes again is not pushed it twice
        r.receive(peer(i), RPC(subs=[SubOpt(False, TOPIC)]), T0)
        assert sent(r.receive(peer(i), RPC(subs=[SubOpt(True, TOPIC)]), T0)) == {}
    assert len(r.held) == 0
    late = join(r, peer(PARAMS.D + 1))
    assert late.msgs == []
    assert late.ihave == [(TOPIC, [env.msg_id])]


def test_a_held_message_goes_out_at_the_heartbeat_to_peers_that_could_not_take_it_before() -> None:
    # without flood publishing an own message goes to the mesh: empty until the heartbeat grafts
    r = alone(replace(PARAMS, flood_publish=False))
    join(r, peer(1))
    env = envelope(1)
    assert r.publish(env, T0) == []
    assert sent(r.tick(T0 + 1))[peer(1)].msgs == [env]


def test_a_held_message_expires_with_the_history_and_is_never_sent_stale() -> None:
    r = alone()
    r.publish(envelope(1), T0)
    r.tick(T0 + PARAMS.history_ttl)
    assert len(r.held) == 0
    assert r.counters["held_dropped"] == 1
    assert join(r, peer(1), T0 + PARAMS.history_ttl) == RPC()


def test_held_messages_are_bounded_in_count_the_oldest_dropped_first() -> None:
    r = alone()
    envs = [envelope(i) for i in range(MAX_HELD_MESSAGES + 10)]
    for env in envs:
        r.publish(env, T0)
    assert len(r.held) == MAX_HELD_MESSAGES
    assert r.counters["held_dropped"] == 10
    assert join(r, peer(1)).msgs == envs[10:]


def test_held_messages_are_bounded_in_bytes() -> None:
    held = Held(60.0, max_messages=100, max_bytes=1000, release_after=6)
    for i in range(10):
        held.hold(envelope(i, size=400), T0)
    assert len(held) == 2
    assert held.hold(envelope(99, size=2000), T0) == 1  # larger than the whole budget: not held at all
    assert len(held) == 2


def test_a_peer_below_publish_threshold_is_not_pushed_held_messages() -> None:
    r = alone(scored=True)
    r.add_peer(peer(1), T0)
    r._score.add_penalty(peer(1), 9)  # misbehaved earlier: -64, below publish_threshold, above graylisting
    assert r.thresholds.graylist_threshold < r.score(peer(1), T0) < r.thresholds.publish_threshold
    r.publish(envelope(1), T0)
    assert sent(r.receive(peer(1), RPC(subs=[SubOpt(True, TOPIC)]), T0)) == {}
    assert len(r.held) == 1


# -- history told to newly subscribed peers --


def test_a_newly_subscribed_peer_gets_recent_history_through_ihave_and_iwant() -> None:
    """Two real routers: `b` connects after `a` delivered messages long gone from the message cache."""
    a = alone()
    for i in range(1, 4):
        join(a, peer(i))
    envs = [envelope(i) for i in range(5)]
    for k, env in enumerate(envs):
        accept(a, peer(1 + k % 3), env, T0 + k)
        a.tick(T0 + k)
    now = T0 + 20  # well past the message cache (mcache_len heartbeats)
    for t in range(len(envs), 21):
        a.tick(T0 + t)
    assert not any(e.msg_id in a.mcache for e in envs)
    assert not [mid for t in a.mcache.gossip_topics() for mid in a.mcache.gossip_ids(t)]
    b_id, a_id = peer(200), a.local
    b = alone(local=b_id)
    wire = a.add_peer(b_id, now) + b.add_peer(a_id, now)
    delivered: list[Envelope] = []
    # carry frames both ways until nothing is left to send; b's runtime accepts everything
    while wire:
        nxt: list[Output] = []
        for out in wire:
            if isinstance(out, Send):
                if out.peer == b_id:
                    nxt += b.receive(a_id, out.rpc, now)
                else:
                    nxt += a.receive(b_id, out.rpc, now)
            elif isinstance(out, Validate):
                nxt += b.report_validation(out.msg_id, ValidationResult.ACCEPT, now, 20.0)
            elif isinstance(out, Deliver):
                delivered.append(out.envelope)
        wire = nxt
    assert sorted(e.seqno for e in delivered) == [e.seqno for e in envs]
    assert a.counters["iwant_served_history"] == len(envs)


def test_history_keeps_only_what_receivers_will_still_find_fresh() -> None:
    r = alone()
    join(r, peer(1))
    fresh, old, unknown = envelope(1), envelope(2), envelope(3)
    accept(r, peer(1), fresh, T0, age=0.0)
    accept(r, peer(1), old, T0, age=PARAMS.history_ttl - 5)  # already old when it reached us
    accept(r, peer(1), unknown, T0, age=None)  # a runtime that does not say: not kept
    assert join(r, peer(2), T0).ihave == [(TOPIC, [fresh.msg_id, old.msg_id])]
    r.tick(T0 + 5)
    assert join(r, peer(3), T0 + 5).ihave == [(TOPIC, [fresh.msg_id])]
    r.tick(T0 + PARAMS.history_ttl)
    assert join(r, peer(4), T0 + PARAMS.history_ttl).ihave == []


def test_only_the_newest_ids_of_a_topic_are_told_and_only_for_topics_peer_subscribes_to() -> None:
    r = alone()
    join(r, peer(1), topics=(TOPIC, OTHER))
    r.subscribe(OTHER, T0)
    envs = [envelope(i) for i in range(HISTORY_IHAVE_IDS + 20)]
    for env in envs:
        accept(r, peer(1), env, T0)
    other = envelope(10_000, topic=OTHER)
    accept(r, peer(1), other, T0)
    told = join(r, peer(2)).ihave
    assert told == [(TOPIC, [e.msg_id for e in envs[20:]])]


def test_history_is_bounded_in_count_and_bytes() -> None:
    history = History(60.0, MAX_HISTORY_MESSAGES, MAX_HISTORY_BYTES)
    for i in range(MAX_HISTORY_MESSAGES + 50):
        history.put(envelope(i), T0, 0.0)
    assert len(history) == MAX_HISTORY_MESSAGES
    assert envelope(0).msg_id not in history and envelope(MAX_HISTORY_MESSAGES + 49).msg_id in history
    big = 256 * 1024
    for i in range(3 * MAX_HISTORY_BYTES // big):
        history.put(envelope(100_000 + i, size=big), T0, 0.0)
    assert history.bytes <= MAX_HISTORY_BYTES
    assert len(history) >= MAX_HISTORY_BYTES // big - 1


# -- a hostile peer farming the history --


def _with_big_history(n: int, size: int) -> tuple[Router, list[bytes]]:
    r = alone()
    join(r, peer(1))
    envs = [envelope(i, size=size) for i in range(n)]
    for env in envs:
        accept(r, peer(1), env, T0)
    for t in range(1, PARAMS.mcache_len + 1):
        r.tick(T0 + t)  # out of the message cache: answered from the history only
    return r, [e.msg_id for e in envs]


def test_subscribing_again_and_again_is_told_the_history_once_per_connection() -> None:
    r, ids = _with_big_history(5, 4)
    farmer = peer(66)
    now = T0 + 10
    r.add_peer(farmer, now)
    told = 0
    for _ in range(100):
        out = sent(r.receive(farmer, RPC(subs=[SubOpt(True, TOPIC)]), now)).get(farmer, RPC())
        told += len(out.ihave)
        r.receive(farmer, RPC(subs=[SubOpt(False, TOPIC)]), now)
    assert told == 1


def test_iwant_from_the_history_is_capped_per_peer_per_message_and_per_heartbeat() -> None:
    size = 256 * 1024
    r, ids = _with_big_history(MAX_HISTORY_BYTES // size, size)
    farmer = peer(66)
    now = T0 + 10
    total = 0
    for _ in range(40):  # reconnecting and asking for everything, several times every heartbeat
        served = 0
        for _again in range(5):
            r.remove_peer(farmer, now)
            join(r, farmer, now)
            msgs = sent(r.receive(farmer, RPC(iwant=ids), now)).get(farmer, RPC()).msgs
            served += sum(len(m.data) for m in msgs)
        assert served <= min(MAX_IWANT_BYTES, MAX_HISTORY_SERVE_BYTES)
        total += served
        now += PARAMS.heartbeat_interval
        r.tick(now)
    # each message at most gossip_retransmission times, reconnections notwithstanding
    assert total <= PARAMS.gossip_retransmission * len(ids) * size
    assert r.counters["iwant_over_retransmission"] > 0


def test_many_identities_share_one_history_budget_per_heartbeat() -> None:
    size = 256 * 1024
    r, ids = _with_big_history(MAX_HISTORY_BYTES // size, size)
    now = T0 + 10
    served = 0
    for i in range(100, 140):
        join(r, peer(i), now)
        served += sum(
            len(m.data) for m in sent(r.receive(peer(i), RPC(iwant=ids), now)).get(peer(i), RPC()).msgs
        )
    assert 0 < served <= MAX_HISTORY_SERVE_BYTES
    assert r.counters["iwant_over_budget"] > 0
    # the next heartbeat has a budget again
    r.tick(now + PARAMS.heartbeat_interval)
    assert sent(r.receive(peer(100), RPC(iwant=ids[-1:]), now + 1))[peer(100)].msgs


# -- own messages from before a restart (runtime/sent.py) --


def test_restored_own_messages_are_pushed_to_the_first_peers_and_told_to_later_ones() -> None:
    r = alone()
    young, stale = envelope(1), envelope(2)
    r.restore_own(young, T0, age=20.0)
    r.restore_own(stale, T0, age=PARAMS.history_ttl)  # receivers may refuse it by now: nowhere
    r.restore_own(young, T0, age=20.0)  # twice from the log: once
    assert r.counters["restored"] == 1
    assert join(r, peer(1)).msgs == [young]
    r.tick(T0 + PARAMS.history_ttl - 20.0)  # held and kept only as long as it was young enough
    assert len(r.held) == 0 and join(r, peer(2), T0 + PARAMS.history_ttl - 20.0) == RPC()


def test_a_restored_message_a_peer_sends_us_back_is_a_duplicate() -> None:
    r = alone()
    env = envelope(1)
    r.restore_own(env, T0, age=1.0)
    r.add_peer(peer(1), T0)
    assert not any(isinstance(o, Validate) for o in r.receive(peer(1), RPC(msgs=[env]), T0))
