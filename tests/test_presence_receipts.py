"""Receipts: a requester's signed word that a server served it, the only thing a service capability's points
bonus is paid on (pynode/presence/receipts.py)."""

from __future__ import annotations

import os
from decimal import Decimal

import pytest

from pynode.identity import Identity, verify, vrf
from pynode.platform import native
from pynode.presence import ledger, receipts
from pynode.presence.admission import exemptions
from pynode.presence.chain import GENESIS
from pynode.state import quota
from pynode.state.records import Record, decode_record, doc_for, make_record
from pynode.state.store import Store
from pynode.state.sync import run_sync
from pynode.wire.errors import WireError
from tests import presence_util


def test_receipt_records_go_to_their_document_and_refuse_bad_shapes():
    requester = run_sync(Identity.from_seed(bytes([7]) * 32)).signer
    body = {"cap": "inference", "server": os.urandom(32), "epoch": 493_000, "count": 3, "units": 1200}
    r = run_sync(make_record(requester, "receipt", body, 493_000 * 3_600_000))
    assert decode_record(r.encoded).body == body and doc_for("receipt", body) == "receipts"
    for bad in (
        {**body, "count": 0},
        {**body, "units": -1},
        {**body, "server": bytes(31)},
        {**body, "cap": "Not A Slug"},
        {**body, "extra": 1},
        {k: v for k, v in body.items() if k != "units"},
    ):
        with pytest.raises(WireError):
            run_sync(make_record(requester, "receipt", bad, 0))


# ---- bonuses from receipts ------------------------------------------------------------------------------

INTERVAL = 1_800_000  # two rounds an hour: receipts of one epoch pay in the next hour's rounds
FIRST = 1_700_002_800_000 // INTERVAL  # a round starting on the hour


def naive_bonus(receipt_records: list[Record]):
    """The defence removed: every receipt naming a peer counts, with its own count (no pair cap, no presence,
    no group, no self check)."""

    def bonus(e: ledger.Evidence, peer: bytes, start_ms: int) -> Decimal:
        counts: dict[str, int] = {}
        for r in receipt_records:
            if r.body["server"] == peer and r.ts + receipts.RECEIPT_GRACE_MS <= start_ms:
                counts[r.body["cap"]] = counts.get(r.body["cap"], 0) + r.body["count"]
        caps = {c for c, n in counts.items() if n >= receipts.RECEIPT_REQUESTERS}
        return sum((ledger.BONUSES[c] for c in caps), Decimal(0))

    return bonus


def network(n: int, rounds: int, sybils: int) -> tuple[list[Identity], Identity, list[Record], list[Record]]:
    """`n` nodes (the first `sybils` behind one address, the rest each its own) certified in every round."""
    ids = [run_sync(Identity.from_seed(bytes([k + 1]) * 32)) for k in range(n)]
    relay = run_sync(Identity.from_seed(bytes([200]) * 32))
    t0 = FIRST * INTERVAL - 60_000
    profiles = [
        run_sync(
            presence_util.attested_profile(
                who, relay, b"one-address-16b!" if k < sybils else os.urandom(16), t0
            )
        )
        for k, who in enumerate(ids)
    ]
    certs, prev = [], GENESIS
    for k in range(rounds):
        certs.append(run_sync(presence_util.certificate(ids, ids[k], prev, FIRST + k, INTERVAL)))
        prev = bytes.fromhex(certs[-1].key)
    return ids, relay, profiles, certs


@pytest.mark.parametrize("defended", [True, False], ids=["defended", "defence-removed"])
def test_service_bonuses_need_receipts_from_distinct_present_requesters_of_other_groups(defended):
    """A server receipted by three live nodes of other groups earns the inference bonus in the next hour's
    rounds. A claimer's receipts from itself, its own group, a key that never took part, and one outsider
    earn nothing; nor do two colluders receipting each other for many requests."""
    ids, relay, profiles, certs = network(12, 5, sybils=3)  # nodes 0, 1, 2 behind one address
    epoch = FIRST * INTERVAL // receipts.EPOCH_MS
    ts = (epoch + 1) * receipts.EPOCH_MS + 60_000  # published as the epoch ends

    def receipt(requester: Identity, server: Identity, count: int = 1) -> Record:
        body = {"cap": "inference", "server": server.peer_id, "epoch": epoch, "count": count, "units": 0}
        return run_sync(make_record(requester.signer, "receipt", body, ts))

    server, claimer, colluders, plain = ids[4], ids[0], (ids[9], ids[10]), ids[5]
    outsider = run_sync(Identity.from_seed(bytes([99]) * 32))  # never took part in a round
    recs = [receipt(ids[k], server) for k in (6, 7, 8)]
    recs += [receipt(claimer, claimer), receipt(ids[1], claimer), receipt(ids[2], claimer)]
    recs += [receipt(outsider, claimer), receipt(ids[11], claimer)]
    recs += [receipt(colluders[0], colluders[1], 50), receipt(colluders[1], colluders[0], 50)]
    evidence = run_sync(
        ledger.gather(certs, profiles, verify, vrf.verify, frozenset({relay.peer_id}), receipt_records=recs)
    )
    assert len(evidence.chain) == 5
    # what counts: the server's three, the claimer's one outsider, one for each colluder
    assert {p: len(v) for p, v in evidence.served.items()} == {
        server.peer_id: 3, claimer.peer_id: 1, colluders[0].peer_id: 1, colluders[1].peer_id: 1
    }  # fmt: skip
    view = ledger.compute(evidence, ledger.verified_bonus if defended else naive_bonus(recs))
    paid = [c for c in evidence.chain if c.round * INTERVAL >= ts + receipts.RECEIPT_GRACE_MS]
    unpaid = [c for c in evidence.chain if c not in paid]
    assert paid and unpaid

    def ratio(peer: bytes, chain: list) -> float:
        """Its awards over a node's that served nothing, in the same rounds (one uptime): 1 + its bonus."""
        return sum(view.awards[c.round][peer] for c in chain) / sum(
            view.awards[c.round][plain.peer_id] for c in chain
        )

    assert ratio(server.peer_id, unpaid) == pytest.approx(1.0, rel=1e-3)
    assert ratio(server.peer_id, paid) == pytest.approx(1.10, rel=1e-3)
    for cheat in colluders:
        assert ratio(cheat.peer_id, paid) == pytest.approx(1.0 if defended else 1.10, rel=1e-3)
    # the claimer's group of three weighs its members 1, 1/2, 1/3 by raw points: a bonus puts it first
    group = sum(ratio(ids[k].peer_id, paid) for k in range(3))
    assert group == pytest.approx(1 + 1 / 2 + 1 / 3 + (0 if defended else 0.10), rel=1e-3)


# ---- receipts in the state ----------------------------------------------------------------------------


@pytest.mark.parametrize("defended", [True, False], ids=["defended", "defence-removed"])
def test_a_requester_publishing_receipts_for_months_is_never_refused_but_a_flood_is(defended, monkeypatch):
    """With the quota scaled to 64 records: a requester publishing 5 receipts as each of 40 hours ends (200) is
    never refused; 70 receipts for one hour stop after 64 + the quota, and so do receipts for hours long gone.
    Without the chain paying, the honest requester is cut off at its quota."""

    monkeypatch.setattr(quota, "AUTHOR_RECORDS", 64)
    requester = run_sync(Identity.from_seed(bytes([41]) * 32))
    store = Store(requester.peer_id, native)
    store.exemptions = exemptions() if defended else {}
    first = FIRST * INTERVAL // receipts.EPOCH_MS
    servers = [bytes([k]) * 32 for k in range(5)]

    def body(server: bytes, epoch: int) -> dict:
        return {"cap": "inference", "server": server, "epoch": epoch, "count": 3, "units": 900}

    written = 0
    for epoch in range(first, first + 40):
        ts = (epoch + 1) * receipts.EPOCH_MS + 5_000  # as the hour ends
        recs = [run_sync(make_record(requester.signer, "receipt", body(s, epoch), ts)) for s in servers]
        try:
            run_sync(store.write(requester.signer, recs))
        except ValueError:
            break
        written += 1
    assert (written == 40) == defended
    if not defended:
        return
    assert store.quotas["receipts"].usage(requester.peer_id).records == 0

    flooder = run_sync(Identity.from_seed(bytes([42]) * 32))
    flood_store = Store(flooder.peer_id, native)
    flood_store.exemptions = exemptions()
    ts = (first + 1) * receipts.EPOCH_MS + 5_000
    stale = [body(os.urandom(32), first - 24) for _ in range(100)]  # a day old: paid from its quota
    taken = 0
    for b in [body(os.urandom(32), first) for _ in range(70)] + stale:
        try:
            run_sync(
                flood_store.write(flooder.signer, [run_sync(make_record(flooder.signer, "receipt", b, ts))])
            )
        except ValueError:
            break
        taken += 1
    assert taken == 64 + 64  # the hour's 64 paid by the chain; 6 more and 58 stale ones fill its own quota
