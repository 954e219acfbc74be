"""A replica that restarted without its own earlier changes must learn them before it signs anything: written at
once, its new changes would reuse (peer, counter) ids it had signed before, and every replica would hold the
honest author faulty (found by `hyperspace bench chaos`). Sans-IO: real stores, real Loro, the real engine."""

from __future__ import annotations

import asyncio
import random

import pytest

from pynode.gossip.events import ValidationResult
from pynode.identity import Identity
from pynode.identity.signatures import new_seed
from pynode.node import Node, NodeConfig
from pynode.platform import native
from pynode.runtime.replica import StateReplica
from pynode.state.authorship import loro_peer
from pynode.state.limits import HISTORY_WAIT_S
from pynode.state.store import Store
from pynode.state.sync import SyncEngine, Written, run_sync
from pynode.wire import cbor
from tests.test_state_equivocation import DOC, T0, result
from tests.test_state_equivocation_restart import BODY


def engine(who: Identity, seed: int) -> SyncEngine:
    return SyncEngine(Store(who.peer_id, native), random.Random(seed))


def pull(asker: SyncEngine, server: SyncEngine, now: float) -> None:
    """One anti-entropy pull from `server`, with its follow-ups; the server knows who asks."""
    asks = asker.tick(now, [server.store.author])
    while asks:
        answer = server.on_request(asker.store.author, asks[0].data, now)
        asks = run_sync(asker.on_response(server.store.author, answer, now, T0))


def flush(e: SyncEngine, who: Identity) -> list[Written]:
    return run_sync(e.flush(who.signer))


def deliver(written: list[Written], author: Identity, to: SyncEngine) -> list[ValidationResult]:
    return [run_sync(to.on_gossip(author.peer_id, p.data, T0)) for w in written for p in w.publish]


def test_a_store_restarting_empty_syncs_from_a_peer_before_writing_and_is_never_held_faulty():
    me, bob, carol = (run_sync(Identity.generate()) for _ in range(3))
    first = engine(me, 1)
    first.learn_history("a new identity")  # nothing signed before
    first.submit("r1", [result(me, "0.5")])
    b, c = engine(bob, 2), engine(carol, 3)
    assert deliver(flush(first, me), me, b) == [ValidationResult.ACCEPT]
    pull(c, b, 1.0)
    assert len(c.store.records[DOC]) == 1

    again = engine(me, 4)  # the same identity restarted with nothing of its own
    again.submit("r2", [result(me, "0.4")])
    written = flush(
        again, me
    )  # as a runtime does the moment it is asked: nothing, not knowing what it signed
    pull(again, b, 2.0)
    written += flush(again, me)
    deliver(written, me, c)
    assert [w.token for w in written] == ["r2"]
    for _ in range(3):
        pull(b, c, 3.0)
        pull(c, b, 3.0)
    assert again.store.version()[DOC][loro_peer(me.peer_id)] == 2  # it continued its counter, not from 0
    for e in (b, c):
        assert e.store.faulty == set()
        assert len([r for r in e.store.records[DOC].values() if r.author == me.peer_id]) == 2


def test_a_replica_asked_to_write_before_it_knows_its_history_waits_then_writes_after_the_sync():
    me, bob = run_sync(Identity.generate()), run_sync(Identity.generate())
    old = engine(me, 1)
    old.learn_history("a new identity")
    old.submit("old", [result(me, "0.5")])
    b = engine(bob, 2)
    assert deliver(flush(old, me), me, b) == [ValidationResult.ACCEPT]

    fresh = engine(me, 3)
    fresh.submit("first", [result(me, "0.3")])
    fresh.submit("second", [result(me, "0.2")])
    assert fresh.status()["history"] == "waiting"
    assert fresh.status()["queued_writes"] == 2
    assert flush(fresh, me) == [] and fresh.store.records[DOC] == {}
    pull(fresh, b, 1.0)
    assert fresh.status()["history"] == "pulled from a peer"
    written = flush(fresh, me)
    assert [w.token for w in written] == ["first", "second"]  # queued in order, none lost
    assert all(w.error is None and w.publish for w in written)
    assert fresh.status()["queued_writes"] == 0
    assert deliver(written, me, b) == [ValidationResult.ACCEPT] * 2
    assert len(b.store.records[DOC]) == 3 and b.store.faulty == set()


def test_the_answer_to_a_pull_names_what_the_server_holds_of_the_asker():
    me, bob = run_sync(Identity.generate()), run_sync(Identity.generate())
    old = engine(me, 1)
    old.learn_history("a new identity")
    old.submit("old", [result(me, "0.5")])
    b = engine(bob, 2)
    assert deliver(flush(old, me), me, b) == [ValidationResult.ACCEPT]
    fresh = engine(me, 3)
    ask = fresh.tick(1.0, [bob.peer_id])[0]
    answer = cbor.decode(b.on_request(me.peer_id, ask.data, 1.0))
    assert answer["yours"] == {DOC: old.store.version()[DOC][loro_peer(me.peer_id)]}
    assert "yours" not in cbor.decode(b.on_request(run_sync(Identity.generate()).peer_id, ask.data, 1.0))


def test_an_answer_that_claims_more_of_ours_than_it_sends_does_not_teach_our_history():
    me, bob = run_sync(Identity.generate()), run_sync(Identity.generate())
    fresh = engine(me, 3)
    fresh.submit("w", [result(me, "0.3")])
    ask = fresh.tick(1.0, [bob.peer_id])[0]
    lying = cbor.encode({"docs": {}, "big": [], "yours": {DOC: 5}})
    assert run_sync(fresh.on_response(bob.peer_id, lying, 1.0, T0)) == []
    assert not fresh.history_known and flush(fresh, me) == []
    assert ask.peer == bob.peer_id


def test_a_replica_alone_writes_after_the_bounded_wait():
    me = run_sync(Identity.generate())
    alone = engine(me, 1)
    alone.submit("w", [result(me, "0.3")])
    alone.tick(100.0, [])
    alone.tick(100.0 + HISTORY_WAIT_S / 2, [])
    assert flush(alone, me) == []
    alone.tick(100.0 + HISTORY_WAIT_S, [])
    assert alone.history.startswith("alone")
    assert [w.token for w in flush(alone, me)] == ["w"]


def test_a_store_that_holds_changes_of_ours_knows_its_history():
    me = run_sync(Identity.generate())
    e = engine(me, 1)
    e.learn_history("a new identity")
    e.submit("w", [result(me, "0.3")])
    flush(e, me)
    assert SyncEngine(e.store, random.Random(2)).history == "own changes held"


async def test_a_runtime_replica_queues_writes_until_it_knows_its_history_and_fails_them_if_it_stops(
    tmp_path,
):
    me = await Identity.from_seed(new_seed())  # a key kept elsewhere: it may have signed before
    node = Node(me, native.relay_link("ws://127.0.0.1:9/p2p"), NodeConfig(direct_peers=0))
    replica = StateReplica(node)  # no saved state, no peer: it cannot know what it signed before
    await replica.start()
    writing = asyncio.ensure_future(replica.publish("result", {**BODY, "value": "0.25"}))
    await asyncio.sleep(0.5)  # a few ticks
    assert not writing.done()
    assert replica.status()["history"] == "waiting" and replica.status()["queued_writes"] == 1
    assert replica.store.records[DOC] == {}
    await replica.stop()
    with pytest.raises(RuntimeError, match="own history"):
        await writing
    assert replica.status()["queued_writes"] == 0
    with_disk = StateReplica(Node(me, native.relay_link("ws://127.0.0.1:9/p2p")), save_to=tmp_path)
    await asyncio.wait_for(with_disk.publish("result", {**BODY, "value": "0.25"}), 30)  # it loaded its disk


async def test_only_the_first_replica_of_a_key_generated_here_writes_at_once():
    me = await Identity.generate()  # nobody can hold a change of a key made just now
    first = StateReplica(Node(me, native.relay_link("ws://127.0.0.1:9/p2p"), NodeConfig(direct_peers=0)))
    await first.publish("result", {**BODY, "value": "0.25"})
    assert first.engine.history == "a new identity"
    again = StateReplica(Node(me, native.relay_link("ws://127.0.0.1:9/p2p"), NodeConfig(direct_peers=0)))
    assert not again.engine.history_known  # a restart of the same key must learn what it signed first
