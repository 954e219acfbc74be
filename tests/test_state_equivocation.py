"""Equivocation (issue 15 item 3): an author signs two different changes for the same Loro ids and gives one to
each of two honest replicas. The replicas find out by comparing histories in their pulls, prove it with both
signed changes, hold the author faulty, never blame each other (the forwarders), and converge — a third replica
too, and an honest record written on top of one version reaches all three. Sans-IO: real stores, real Loro,
real signatures; the engines answer each other directly."""

from __future__ import annotations

import random

import pytest

from pynode.gossip.events import ValidationResult
from pynode.identity import Identity
from pynode.platform import native
from pynode.state.authorship import Rejected, change_payload, encode_message, loro_peer, ns
from pynode.state.records import Record, make_record
from pynode.state.store import Store
from pynode.state.sync import SyncEngine, run_sync
from pynode.wire import cbor

DOC = "results.ml"
T0 = 1_700_000_000_000


def result(author: Identity, value: str) -> Record:
    body = {"domain": "ml", "task": "mlp-digits", "metric": "val_loss", "unit": "nats", "direction": "min",
            "value": value, "seeds": 3}  # fmt: skip
    return run_sync(make_record(author.signer, "result", body, T0))


def signed_change(doc, author: Identity, records: list[Record]) -> bytes:
    before = doc.version()
    items = [(r.key, r.encoded) for r in records]
    counter, lamport, deps = doc.next_change()
    sig = author.signer.sign_now(change_payload(DOC, doc.peer, counter, lamport, deps, 0, items))
    doc.put(ns(author.peer_id), items, encode_message(author.peer_id, sig))
    return doc.export_updates(before)


def equivocation(author: Identity, x_len: int, y_len: int) -> tuple[bytes, bytes, bytes]:
    """A first change everyone gets, then two different changes for the same next ids."""
    base = native.crdt_doc(loro_peer(author.peer_id))
    first = signed_change(base, author, [result(author, "0.5")])
    x_doc, y_doc = base.fork(), base.fork()
    x = signed_change(x_doc, author, [result(author, f"0.1{i}") for i in range(x_len)])
    y = signed_change(y_doc, author, [result(author, f"0.2{i}") for i in range(y_len)])
    return first, x, y


def gossip(engine: SyncEngine, author: Identity, update: bytes) -> ValidationResult:
    return run_sync(engine.on_gossip(author.peer_id, cbor.encode({"doc": DOC, "update": update}), T0))


CLOCK: dict[SyncEngine, float] = {}


def pull(asker: SyncEngine, server: SyncEngine) -> None:
    """One anti-entropy pull with whatever follow-ups it asks for; an honest server must never be blamed."""
    CLOCK[asker] = CLOCK.get(asker, 0.0) + 10.0  # each pull a while after the last: it is due
    asks = asker.tick(CLOCK[asker], [b"server"])
    while asks:
        answer = server.on_request(b"asker", asks[0].data, 0.0)
        try:
            asks = run_sync(asker.on_response(b"server", answer, 0.0, T0))
        except Rejected as e:
            pytest.fail(f"an honest replica was blamed: {e}")


def state(engine: SyncEngine) -> tuple:
    store = engine.store
    return store.version()[DOC], sorted(store.records[DOC]), sorted(store.faulty)


@pytest.mark.parametrize("x_len, y_len", [(1, 2), (1, 1)], ids=["unequal lengths", "equal lengths"])
def test_replicas_given_two_versions_of_one_change_find_the_author_faulty_and_converge(x_len, y_len):
    eve = run_sync(Identity.generate())
    ids = [run_sync(Identity.generate()) for _ in range(3)]
    a, b, c = (SyncEngine(Store(i.peer_id, native), random.Random(n)) for n, i in enumerate(ids))
    first, x, y = equivocation(eve, x_len, y_len)
    for e in (a, b, c):
        assert gossip(e, eve, first) is ValidationResult.ACCEPT
    assert gossip(a, eve, x) is ValidationResult.ACCEPT
    assert gossip(b, eve, y) is ValidationResult.ACCEPT
    # c hears both through forwarders: the second is ignored, never rejected (that would blame the forwarder)
    assert gossip(c, eve, x) is ValidationResult.ACCEPT
    assert gossip(c, eve, y) is ValidationResult.IGNORE
    # an honest record written on top of y: where y is missing it must still arrive in the end
    honest = result(ids[1], "0.33")
    update = run_sync(b.store.write(ids[1].signer, [honest]))[DOC]
    gossip(a, ids[1], update)
    gossip(c, ids[1], update)

    engines = [a, b, c]
    for _ in range(4):
        for asker in engines:
            for server in engines:
                if asker is not server:
                    pull(asker, server)

    eve_peer = loro_peer(eve.peer_id)
    assert all(e.store.faulty == {eve_peer} for e in engines)
    assert [state(e) for e in engines] == [state(a)] * 3  # same versions, same records, same verdict
    for e in engines:
        assert honest.key in e.store.records[DOC]
        assert not any(r.author == eve.peer_id for r in e.store.records[DOC].values())
        assert not e.rejections  # nobody refused anything from anybody
        proof = e.store.evidence.get(eve_peer)
        assert proof is None or proof.author == eve.peer_id


def test_evidence_that_proves_nothing_gets_its_sender_refused():
    eve, me = run_sync(Identity.generate()), run_sync(Identity.generate())
    first, x, _ = equivocation(eve, 1, 1)
    holder = SyncEngine(Store(me.peer_id, native), random.Random(1))
    gossip(holder, eve, first)
    gossip(holder, eve, x)
    ledger = holder.store.ledgers[DOC][loro_peer(eve.peer_id)]
    start, end, _ = ledger.entries[-1]
    form = holder.store.change_form(DOC, loro_peer(eve.peer_id), start, end)
    asker = SyncEngine(Store(run_sync(Identity.generate()).peer_id, native), random.Random(2))
    asker.tick(1e9, [b"server"])
    # the same change twice is no equivocation
    with pytest.raises(Rejected, match="bad_evidence"):
        run_sync(
            asker.on_response(
                b"server", cbor.encode({"docs": {}, "big": [], "evidence": [[form, form]]}), 0, T0
            )
        )
    # a change whose signature was tampered with is no evidence either
    asker.tick(2e9, [b"server"])
    forged = {**form, "items": [[k, v + b"!"] for k, v in form["items"]]}
    with pytest.raises(Rejected, match="bad_evidence"):
        run_sync(
            asker.on_response(
                b"server", cbor.encode({"docs": {}, "big": [], "evidence": [[form, forged]]}), 0, T0
            )
        )
    assert not asker.store.faulty
