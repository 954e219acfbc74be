"""Per-author quotas (issue 15 item 4): one identity writing 10 MB of valid records is cut off at the same point
on every replica, whichever path the records take; an honest cold start then completes. Sans-IO: real stores,
real Loro, real signatures; the sync engines answer each other directly."""

from __future__ import annotations

import random

import pytest

from pynode.gossip.events import ValidationResult
from pynode.identity import Identity
from pynode.platform import native
from pynode.state.authorship import change_payload, encode_message, loro_peer, ns
from pynode.state.limits import (
    AUTHOR_BYTES,
    AUTHOR_RATE,
    AUTHOR_RECORDS,
    SERVE_BYTES_BURST,
    SERVE_BYTES_PER_S,
    SERVE_MAX_DELAY_S,
)
from pynode.state.records import Record, make_record
from pynode.state.store import Store
from pynode.state.sync import SyncEngine, run_sync
from pynode.wire import cbor

DOC = "results.ml"
T0 = 1_700_000_000_000


def result(author: Identity, i: int, ts: int, pad: int = 2500) -> Record:
    body = {"domain": "ml", "task": "mlp-digits", "metric": "val_loss", "unit": "nats", "direction": "min",
            "value": f"0.{i}", "seeds": 3, "config": "x" * pad}  # fmt: skip
    return run_sync(make_record(author.signer, "result", body, ts))


def spam_updates(author: Identity, records: list[Record], per_update: int) -> list[bytes]:
    """The author's own valid, signed changes, written past any quota (its own store would refuse)."""
    doc = native.crdt_doc(loro_peer(author.peer_id))
    updates = []
    for lo in range(0, len(records), per_update):
        items = [(r.key, r.encoded) for r in records[lo : lo + per_update]]
        before = doc.version()
        counter, lamport, deps = doc.next_change()
        sig = author.signer.sign_now(change_payload(DOC, doc.peer, counter, lamport, deps, 0, items))
        doc.put(ns(author.peer_id), items, encode_message(author.peer_id, sig))
        updates.append(doc.export_updates(before))
    return updates


def engine(owner: Identity | None = None) -> SyncEngine:
    owner = owner or run_sync(Identity.generate())
    return SyncEngine(Store(owner.peer_id, native), random.Random(1))


def pull(asker: SyncEngine, server: SyncEngine, now_ms: int) -> None:
    """Anti-entropy between two engines until the asker has caught up (chunks included)."""
    asks = asker.tick(0.0, [b"server"])
    while asks:
        answer = server.on_request(b"asker", asks[0].data, 0.0)
        asks = run_sync(asker.on_response(b"server", answer, 0.0, now_ms))


def authored(store: Store, author: Identity) -> list[Record]:
    return [r for r in store.records[DOC].values() if r.author == author.peer_id]


def test_ten_megabytes_from_one_identity_are_cut_off_at_its_quota_on_every_replica():
    spammer, honest = run_sync(Identity.generate()), run_sync(Identity.generate())
    # 10 MB of valid records, one a second of record time (under the rate: the byte quota is what binds)
    records = [result(spammer, i, T0 + 1000 * i) for i in range(10 * 1024 * 1024 // 2600)]
    now = T0 + 1000 * len(records)
    a, b = engine(honest), engine()
    honest_update = run_sync(a.store.write(honest.signer, [result(honest, 1, now)]))
    verdicts = [
        run_sync(a.on_gossip(spammer.peer_id, cbor.encode({"doc": DOC, "update": u}), now))
        for u in spam_updates(spammer, records, per_update=50)
    ]
    kept = authored(a.store, spammer)
    assert 0 < len(kept) < len(records) and sum(len(r.encoded) for r in kept) <= AUTHOR_BYTES
    assert ValidationResult.REJECT in verdicts and a.rejections["over_quota"] == 1
    nxt = records[len(kept) : len(kept) + 50]  # the update refused whole: it would have crossed the quota
    assert sum(len(r.encoded) for r in kept + nxt) > AUTHOR_BYTES
    # another replica gets the spammer's records only through honest peers: the same prefix, nothing more
    pull(b, a, now)
    assert b.store.version() == a.store.version()
    assert {r.key for r in authored(b.store, spammer)} == {r.key for r in kept}
    assert honest_update and len(authored(b.store, honest)) == 1
    # ... and a cold start from it completes with the same state
    c = engine()
    pull(c, b, now)
    assert c.store.version() == a.store.version() and not c.cold


def test_a_burst_beyond_the_rate_is_cut_off_by_the_records_own_timestamps():
    spammer = run_sync(Identity.generate())
    records = [result(spammer, i, T0, pad=10) for i in range(AUTHOR_RATE + 30)]  # all in the same second
    a = engine()
    for u in spam_updates(spammer, records, per_update=10):
        run_sync(a.on_gossip(spammer.peer_id, cbor.encode({"doc": DOC, "update": u}), T0))
    assert len(authored(a.store, spammer)) == AUTHOR_RATE - AUTHOR_RATE % 10  # whole updates only
    assert a.rejections["over_quota"] == 1


def test_an_author_cannot_write_past_its_own_quota():
    me = run_sync(Identity.generate())
    store = Store(me.peer_id, native)
    assert AUTHOR_RECORDS > AUTHOR_RATE
    run_sync(store.write(me.signer, [result(me, i, T0, pad=10) for i in range(AUTHOR_RATE)]))
    with pytest.raises(ValueError, match="quota"):
        run_sync(store.write(me.signer, [result(me, AUTHOR_RATE, T0 + 1000, pad=10)]))
    assert len(store.records[DOC]) == AUTHOR_RATE and store.version()[DOC] == {
        loro_peer(me.peer_id): AUTHOR_RATE
    }


def test_one_peers_pulls_are_served_at_its_own_pace_and_refused_as_busy_beyond():
    a = engine()
    delays = [a.serve_delay(b"puller", SERVE_BYTES_BURST // 4, 0.0) for _ in range(40)]
    served = [d for d in delays if d is not None]
    # the burst at once, then one second per SERVE_BYTES_PER_S, until answers would come too late
    assert served[:4] == [0.0] * 4 and max(served) <= SERVE_MAX_DELAY_S
    assert len(served) * SERVE_BYTES_BURST // 4 <= SERVE_BYTES_BURST + SERVE_BYTES_PER_S * SERVE_MAX_DELAY_S
    assert None in delays
    assert a.serve_delay(b"someone else", SERVE_BYTES_BURST // 4, 0.0) == 0.0  # a budget per peer
    assert a.serve_delay(b"puller", SERVE_BYTES_BURST // 4, 30.0) == 0.0  # refilled
