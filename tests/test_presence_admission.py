"""Which round certificates replicas store, and who pays (pynode/presence/admission.py): a long-running leader's
certificates are paid for by the chain and never refused, while forged certificates are refused and a flood of
out-of-chain ones stops at its author's quota. Real stores, Loro, signatures and ECVRF proofs; the quota is
scaled down to 32 KiB so a leader reaches it in ~14 rounds instead of ~17 rounds of 1,000-node certificates."""

from __future__ import annotations

import os
import random
import time
from typing import Any

import pytest

from pynode.gossip.events import ValidationResult
from pynode.identity import Identity
from pynode.platform import native
from pynode.presence.admission import ChainAccount, exemptions
from pynode.presence.params import GENESIS
from pynode.state import quota
from pynode.state.authorship import change_payload, encode_message, loro_peer, ns
from pynode.state.records import Record, make_record
from pynode.state.store import Store
from pynode.state.sync import SyncEngine, run_sync
from pynode.wire import cbor
from tests import presence_util

INTERVAL = 30_000
QUOTA = 32 * 1024
DOC = "presence"


@pytest.fixture(autouse=True)
def small_quota(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(quota, "AUTHOR_BYTES", QUOTA)


def keys(n: int) -> list[Identity]:
    return [run_sync(Identity.from_seed(os.urandom(32))) for _ in range(n)]


def certificate(ids: list[Identity], leader: Identity, prev: bytes, round_: int, forge: str = "") -> Record:
    return run_sync(presence_util.certificate(ids, leader, prev, round_, INTERVAL, forge))


def store_of(who: Identity, defended: bool) -> Store:
    store = Store(who.peer_id, native)
    store.exemptions = exemptions() if defended else {}
    return store


def first_round() -> int:
    return int(time.time() * 1000) // INTERVAL - 200  # rounds in the past: record times are not ahead of us


@pytest.mark.parametrize("defended", [True, False])
def test_leaders_leading_many_rounds_are_never_refused(defended):
    """Two leaders take turns for 40 rounds (20 certificates each, ~2.3 KiB, and the round's points records of
    256 awards, ~10 KiB: past their 32 KiB quotas); every replica holds them all. Without the chain paying, each
    leader is cut off at its quota."""
    ids = keys(5)
    a, b = ids[0], ids[1]
    stores = {i.peer_id: store_of(i, defended) for i in (a, b)}
    watcher = SyncEngine(store_of(ids[2], defended), random.Random(1))
    prev, r0 = GENESIS, first_round()
    written = 0
    for k in range(40):
        leader = a if k % 2 == 0 else b
        record = certificate(ids, leader, prev, r0 + k)
        awards = sorted([os.urandom(32), 10_000] for _ in range(256))
        body = {"round": r0 + k, "awards": awards, "cert": record.key, "part": 0}
        points = run_sync(make_record(leader.signer, "points", body, record.ts + 100))
        try:
            updates = run_sync(stores[leader.peer_id].write(leader.signer, [record, points]))
        except ValueError as e:
            assert not defended and "quota" in str(e)
            break
        written += 1
        other = stores[(b if leader is a else a).peer_id]
        for doc, update in updates.items():
            assert run_sync(other.receive(doc, update, record.ts + 1_000))
            msg = cbor.encode({"doc": doc, "update": update})
            verdict = run_sync(watcher.on_gossip(leader.peer_id, msg, record.ts + 1_000))
            assert verdict == ValidationResult.ACCEPT
        prev = bytes.fromhex(record.key)
    if not defended:
        assert written < 40
        return
    assert written == 40 and len(watcher.store.records[DOC]) == len(watcher.store.records["points"]) == 40
    assert sum(len(r.encoded) for r in watcher.store.records[DOC].values() if r.author == a.peer_id) > QUOTA
    # the chain paid for all but the network's first certificate (its prev is genesis)
    usage = watcher.store.quotas[DOC].usage
    assert usage(a.peer_id).records == 1 and usage(b.peer_id).records == 0
    assert all(len(s.records[DOC]) == 40 for s in stores.values())
    assert (
        sum(len(r.encoded) for r in watcher.store.records["points"].values() if r.author == a.peer_id) > QUOTA
    )
    assert watcher.store.quotas["points"].usage(a.peer_id).records == 0  # its points: paid by the chain


def spam(author: Identity, records: list[Record]) -> list[bytes]:
    """The author's own signed changes, one record each, written past any rule of its own store."""
    doc = native.crdt_doc(loro_peer(author.peer_id))
    out = []
    for r in records:
        before = doc.version()
        counter, lamport, deps = doc.next_change()
        items = [(r.key, r.encoded)]
        sig = author.signer.sign_now(change_payload(DOC, doc.peer, counter, lamport, deps, 0, items))
        doc.put(ns(author.peer_id), items, encode_message(author.peer_id, sig))
        out.append(cbor.encode({"doc": DOC, "update": doc.export_updates(before)}))
    return out


class EveryValidCertificate(ChainAccount):
    """The defence removed: the chain pays for any certificate that verifies, linked to the chain or not."""

    def claim(self, record: Record, held: Any, before: Any) -> int | None:
        return record.ts


@pytest.mark.parametrize("defended", [True, False])
def test_forged_certificates_are_refused_and_an_out_of_chain_flood_stops_at_its_quota(defended):
    """One attacker key with four Sybil keys as its committee. Forged certificates (committee signatures over
    another digest, or a seed that does not follow from prev) are refused and the sender charged; valid ones
    that extend no chain this replica holds are charged to the attacker's quota, so the flood stops there."""
    sybils = keys(4)
    victim = SyncEngine(store_of(keys(1)[0], defended), random.Random(2))
    r0 = first_round()
    for k, forge in enumerate(("cosigs", "seed")):
        attacker = keys(1)[0]
        forged = certificate([attacker, *sybils], attacker, os.urandom(32), r0 + k, forge)
        verdict = run_sync(victim.on_gossip(attacker.peer_id, spam(attacker, [forged])[0], forged.ts + 1_000))
        assert verdict == (ValidationResult.REJECT if defended else ValidationResult.ACCEPT)
    assert victim.rejections["refused_record"] == (2 if defended else 0)
    assert len(victim.store.records[DOC]) == (0 if defended else 2)

    flooder = keys(1)[0]
    ids = [flooder, *sybils]
    flood = [certificate(ids, flooder, os.urandom(32), r0 + k) for k in range(30)]
    victim = SyncEngine(store_of(keys(1)[0], True), random.Random(3))
    if not defended:
        victim.store.exemptions = {"certificate": EveryValidCertificate()}
    verdicts = [
        run_sync(victim.on_gossip(flooder.peer_id, m, r0 * INTERVAL + 10**7)) for m in spam(flooder, flood)
    ]
    held = sum(len(r.encoded) for r in victim.store.records[DOC].values())
    if defended:
        assert held <= QUOTA < sum(len(r.encoded) for r in flood)
        assert verdicts.count(ValidationResult.REJECT) == victim.rejections["over_quota"] > 0
    else:
        assert held > QUOTA and ValidationResult.REJECT not in verdicts
