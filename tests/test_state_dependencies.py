"""Updates whose dependencies are missing: checked from the header before any fork, held and imported as soon
as the dependencies arrive, and an author whose dependencies never come is penalised (issue 15 item 5; issue
14 item 4). Sans-IO: real stores, real Loro, real signatures; the clock is the `now_ms` each call is given."""

from __future__ import annotations

import random

from pynode.gossip.events import ValidationResult
from pynode.identity import Identity
from pynode.platform import native
from pynode.platform.native_loro import LoroCrdtDoc
from pynode.state.authorship import change_payload, encode_message, loro_peer, ns
from pynode.state.limits import HELD_PER_AUTHOR, HELD_TTL_MS, MAX_STRIKES
from pynode.state.records import Record, make_record
from pynode.state.store import Store
from pynode.state.sync import SyncEngine, run_sync
from pynode.wire import cbor

DOC = "results.ml"
T0 = 1_700_000_000_000


def result(author: Identity, value: str, ts: int = T0) -> Record:
    body = {"domain": "ml", "task": "mlp-digits", "metric": "val_loss", "unit": "nats", "direction": "min",
            "value": value, "seeds": 3}  # fmt: skip
    return run_sync(make_record(author.signer, "result", body, ts))


def gossip(update: bytes) -> bytes:
    return cbor.encode({"doc": DOC, "update": update})


class CountingDoc(LoroCrdtDoc):
    """The real Loro document, counting how often it is forked (the cost the header check saves)."""

    forks = 0

    def fork(self) -> LoroCrdtDoc:
        CountingDoc.forks += 1
        return super().fork()


class CountingCrdt:
    def crdt_doc(self, peer: int | None = None) -> CountingDoc:
        return CountingDoc(peer=peer)

    def crdt_blob_meta(self, blob: bytes):  # noqa: ANN201 - the platform's own
        return native.crdt_blob_meta(blob)


def orphan_update(author: Identity, value: str) -> bytes:
    """A validly signed update of `author` that depends on a change nobody has (a throwaway Loro peer's)."""
    doc = native.crdt_doc(loro_peer(author.peer_id))
    ghost = native.crdt_doc(12345)
    ghost.put("ghost", [("k", b"v")], "nobody")
    doc.import_(ghost.export_updates({}))
    before = doc.version()
    record = result(author, value)
    items = [(record.key, record.encoded)]
    counter, lamport, deps = doc.next_change()
    sig = author.signer.sign_now(change_payload(DOC, doc.peer, counter, lamport, deps, 0, items))
    doc.put(ns(author.peer_id), items, encode_message(author.peer_id, sig))
    return doc.export_updates(before)


def engine_for(me: Identity, crdt=native) -> SyncEngine:
    return SyncEngine(Store(me.peer_id, crdt), random.Random(1))


def test_an_update_whose_header_names_missing_dependencies_is_held_without_forking_the_document():
    me, attacker = run_sync(Identity.generate()), run_sync(Identity.generate())
    engine = engine_for(me, CountingCrdt())
    CountingDoc.forks = 0
    for i in range(20):
        verdict = run_sync(engine.on_gossip(attacker.peer_id, gossip(orphan_update(attacker, f"0.{i}")), T0))
        assert verdict is ValidationResult.IGNORE
    assert CountingDoc.forks == 0  # the header said what was missing: no copy of the document was made
    assert engine.store.version()[DOC] == {}
    assert len(engine.held) == min(20, HELD_PER_AUTHOR)


def test_a_held_update_is_imported_as_soon_as_its_dependency_arrives_without_a_pull():
    me, author = run_sync(Identity.generate()), run_sync(Identity.generate())
    writer = Store(author.peer_id, native)
    first = run_sync(writer.write(author.signer, [result(author, "0.5")]))[DOC]
    second_record = result(author, "0.4")
    second = run_sync(writer.write(author.signer, [second_record]))[DOC]
    engine = engine_for(me)
    # gossip outran causality: the second update arrives first
    assert run_sync(engine.on_gossip(author.peer_id, gossip(second), T0)) is ValidationResult.IGNORE
    assert second_record.key not in engine.store.records[DOC]
    assert run_sync(engine.on_gossip(author.peer_id, gossip(first), T0 + 100)) is ValidationResult.ACCEPT
    assert second_record.key in engine.store.records[DOC]  # released by the first, no pull in between
    assert engine.pulls == 0 and len(engine.held) == 0
    assert engine.store.version()[DOC] == writer.version()[DOC]


def test_an_author_whose_dependencies_never_come_is_penalised_and_forgotten():
    me, attacker, honest = (run_sync(Identity.generate()) for _ in range(3))
    engine = engine_for(me)
    for i in range(MAX_STRIKES):
        run_sync(engine.on_gossip(attacker.peer_id, gossip(orphan_update(attacker, f"0.{i}")), T0))
    # an honest author's update that waits for a dependency which does arrive later: no strike for it
    writer = Store(honest.peer_id, native)
    first = run_sync(writer.write(honest.signer, [result(honest, "0.9")]))[DOC]
    second = run_sync(writer.write(honest.signer, [result(honest, "0.8")]))[DOC]
    run_sync(engine.on_gossip(honest.peer_id, gossip(second), T0))
    run_sync(engine.on_gossip(honest.peer_id, gossip(first), T0 + 1000))
    assert not engine.penalties
    # we ask the attacker for what its updates need (it is first in line) and it has nothing to give
    (ask,) = engine.tick(100.0, [honest.peer_id, attacker.peer_id])
    assert ask.peer == attacker.peer_id
    engine.on_failure(attacker.peer_id)
    # time passes: the attacker's dependencies never came
    late = T0 + HELD_TTL_MS + 1
    run_sync(engine.on_gossip(attacker.peer_id, gossip(orphan_update(attacker, "0.99")), late))
    assert list(engine.penalties) == [(attacker.peer_id, "state_unresolved_dependencies")]
    assert len(engine.held) == 0 and honest.peer_id not in engine.held.strikes
    assert len(engine.store.records[DOC]) == 2  # the honest author's two records


def test_a_replica_that_is_behind_never_blames_authors_it_did_not_ask():
    """A restarted or cut-off replica gets an honest author's newer updates before the older ones; if they expire
    before it catches up (a slow machine, a link down), that is no fault of the author's: no penalty unless
    the author itself was asked for the dependencies and failed to give them (the attack above)."""
    me, honest = run_sync(Identity.generate()), run_sync(Identity.generate())
    writer = Store(honest.peer_id, native)
    run_sync(writer.write(honest.signer, [result(honest, "0.9")]))
    engine = engine_for(me)
    for i in range(MAX_STRIKES + 1):
        newer = run_sync(writer.write(honest.signer, [result(honest, f"0.{i}1")]))[DOC]
        run_sync(engine.on_gossip(honest.peer_id, gossip(newer), T0 + i * (HELD_TTL_MS + 1)))
    assert len(engine.held) == 1 and not engine.penalties  # three expired, none of them blamed


def test_a_pull_that_updates_wait_on_is_asked_of_a_second_peer_after_half_the_timeout():
    """One lost request or answer must not hold a cold start (or held gossip) for a whole timeout: half-way
    through, a second peer is asked the same, the first answer wins and a late twin changes nothing. A replica
    that waits on nothing does not hedge (its pull costs the network one answer)."""
    me, author, other = (run_sync(Identity.generate()) for _ in range(3))
    holder = engine_for(author)
    run_sync(holder.write(author.signer, [result(author, f"0.{i}", T0 + i) for i in range(1, 6)]))
    peers = sorted([author.peer_id, other.peer_id])
    engine = engine_for(me)
    half = engine.pull_timeout / 2
    (first,) = engine.tick(100.0, peers)
    assert engine.tick(100.0 + half - 0.01, peers) == []
    (hedge,) = engine.tick(100.0 + half, peers)
    assert {first.peer, hedge.peer} == set(peers)
    assert engine.tick(100.0 + half + 0.5, peers) == []  # two in flight at most
    answer = holder.on_request(me.peer_id, hedge.data, 100.0 + half)
    assert run_sync(engine.on_response(hedge.peer, answer, 100.0 + half, T0)) == []
    assert engine.store.version()[DOC] == holder.store.version()[DOC] and not engine.cold
    late = holder.on_request(me.peer_id, first.data, 100.0)
    assert run_sync(engine.on_response(first.peer, late, 101.0 + half, T0)) == []  # the twin's: ignored
    assert (engine.pulls, engine.failures) == (1, 0)
    # warm, nothing held: a slow pull is waited for to its timeout, then the next goes to one peer
    (ask,) = engine.tick(200.0, peers)
    assert engine.tick(200.0 + half, peers) == []
    (retry,) = engine.tick(200.0 + engine.pull_timeout, peers)
    assert engine.failures == 1 and retry.peer in peers
