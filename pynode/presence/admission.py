"""Which round certificates (and points records, and receipts) a replica stores, and who pays (quota.Exemption).

A leader writes a certificate (up to 240 KiB at 1,200 nodes) for every round it leads; charged to its author's
quota (4 MiB) like a result, a long-running leader would be cut off after ~17 rounds. A certificate's content
proves what it is, so the chain of rounds pays for it instead, under rules any replica applies alike:

Refused outright (`refusal`: the author signed something no honest leader signs, every replica agrees): a
certificate whose seed does not follow from its `prev` and round, or that does not verify (certificate.check:
the leader's pulse and challenge proofs, a quorum of its VRF-drawn committee's co-signatures).

Charged to the chain (`claim`), when it extends the chain at its round's time:
- its interval is at least CHAIN_MIN_INTERVAL_MS, its round starts within [ts − CHAIN_LAG_MS, ts + skew] of
  the record's own timestamp, and after the start of the author's previous chain certificate plus its interval:
  one certificate per round per leader, so a leader's chain certificates are bounded by the rounds elapsed;
- its `prev` is a certificate at hand (held, or in the same update) for an earlier round, and the author took
  part in it. An honest leader's store holds `prev` when it writes (the runtime waits for it), so its change
  depends on prev's and every replica has prev when it checks: the verdict is the same everywhere.
Anything else (a network's first certificate, a second one for a round, a stale or unlinked one) is charged to
its author's quota as before: a flood of out-of-chain certificates stops at the quota, on every replica.

What this does not stop: a key whose own Sybil keys play its committee can extend a chain it forged from a
genesis certificate (paid from its quota), one certificate per round of record time, and record times can be
backdated. So the chain pays for at most CHAIN_AUTHOR_RECORDS certificates and CHAIN_AUTHOR_BYTES per author:
16 times what a key may otherwise make every replica store, and more than an honest leader writes in years
(one certificate per round it leads: every round of a lone node's network for nine months at 90 s; its 1/n
share of rounds with n nodes named in each, ~170 B a round at any n). PROTOCOL.md §8.1.
"""

from __future__ import annotations

from typing import Any

from pynode.identity import verify
from pynode.presence.certificate import SigVerify, VrfVerify, vrf_output
from pynode.presence.chain import seed_for
from pynode.presence.ledger import CertCache
from pynode.presence.limits import (
    CHAIN_AUTHOR_BYTES,
    CHAIN_AUTHOR_RECORDS,
    CHAIN_LAG_MS,
    CHAIN_MIN_INTERVAL_MS,
    POINTS_PARTS,
    RECEIPT_AUTHOR_BYTES,
    RECEIPT_AUTHOR_RECORDS,
    RECEIPTS_PER_EPOCH,
)
from pynode.presence.receipts import EPOCH_MS as RECEIPT_EPOCH_MS
from pynode.state.quota import Exemption, Held
from pynode.state.records import Record
from pynode.wire.limits import MAX_CLOCK_SKEW_MS


class ChainAccount:
    """The Store's exemption for certificates. Its per-author state: the start (ms) of the author's last chain
    certificate, and how many and how many bytes the chain paid for."""

    def __init__(self, verify_sig: SigVerify = verify, verify_vrf: VrfVerify = vrf_output) -> None:
        self.verify_sig = verify_sig
        self.verify_vrf = verify_vrf
        self.cache = CertCache()  # each certificate checked once: the pulse runtime's ledger reads it too

    def claim(self, record: Record, held: Held, before: Any) -> tuple[int, int, int] | None:
        b = record.body
        interval, round_ = b["interval"], b["round"]
        start = round_ * interval
        if (
            interval < CHAIN_MIN_INTERVAL_MS
            or not record.ts - CHAIN_LAG_MS <= start <= record.ts + MAX_CLOCK_SKEW_MS
        ):
            return None
        last, count, size = before if before is not None else (-1, 0, 0)
        if before is not None and start < last + interval:
            return None  # a second certificate for a round, or one older than the author's last
        if count >= CHAIN_AUTHOR_RECORDS or size + len(record.encoded) > CHAIN_AUTHOR_BYTES:
            return None  # backdated record times could buy a key unbounded rounds: the totals stay finite
        prev = held(b["prev"].hex())
        if prev is None or prev.kind != "certificate" or prev.body["round"] >= round_:
            return None
        if record.author not in {p[0] for p in prev.body["participants"]}:
            return None
        return start, count + 1, size + len(record.encoded)

    async def refusal(self, record: Record) -> str | None:
        b = record.body
        if b["seed"] != seed_for(b["prev"], b["round"]):
            return "its seed does not follow from its prev and round"
        if await self.cache.get(record, self.verify_sig, self.verify_vrf, full=False) is None:
            return "it does not verify (leader or challenge proof, or its committee's quorum)"
        return None


class PointsAccount:
    """The Store's exemption for the `points` records a leader publishes with a certificate (ledger.points_bodies):
    the chain pays for those that name a certificate, in (round, part) order per author, at most POINTS_PARTS a
    round, under the same totals. They cannot be matched to their certificate here (another document, which
    may arrive later), so the rule reads the records alone; the ledger counts only a canonical leader's."""

    def claim(self, record: Record, held: Held, before: Any) -> tuple[tuple[int, int], int, int] | None:
        b = record.body
        round_, part = b["round"], b.get("part", 0)
        if (
            "cert" not in b
            or part >= POINTS_PARTS
            or round_ * CHAIN_MIN_INTERVAL_MS > record.ts + MAX_CLOCK_SKEW_MS
        ):
            return None
        last, count, size = before if before is not None else ((-1, -1), 0, 0)
        if (round_, part) <= last:
            return None
        if count >= CHAIN_AUTHOR_RECORDS or size + len(record.encoded) > CHAIN_AUTHOR_BYTES:
            return None
        return (round_, part), count + 1, size + len(record.encoded)

    async def refusal(self, record: Record) -> str | None:
        return None  # the schema is all a points record can be held to here


class ReceiptAccount:
    """The Store's exemption for receipts (receipts.py): a requester publishes one per server and capability as
    each hour ends, for as long as it uses services, far past a quota sized for results. The chain pays for a
    receipt of the epoch its record time falls in or the one before, none older than the epoch before the author's
    newest, at most RECEIPTS_PER_EPOCH an epoch, under totals of their own (backdating buys a key no more than those)."""

    def claim(self, record: Record, held: Held, before: Any) -> tuple[int, int, int, int, int] | None:
        epoch, now = record.body["epoch"], record.ts // RECEIPT_EPOCH_MS
        if not now - 1 <= epoch <= now:
            return None
        # (newest epoch, receipts in it, in the one before it, receipts in all, their bytes)
        last, n_last, n_prev, count, size = before if before is not None else (-1, 0, 0, 0, 0)
        if epoch > last:  # a batch may mix the hour that ended with the running one (a node stopping)
            last, n_last, n_prev = epoch, 0, (n_last if epoch == last + 1 else 0)
        if epoch == last and n_last < RECEIPTS_PER_EPOCH:
            n_last += 1
        elif epoch == last - 1 and n_prev < RECEIPTS_PER_EPOCH:
            n_prev += 1
        else:
            return None
        if count >= RECEIPT_AUTHOR_RECORDS or size + len(record.encoded) > RECEIPT_AUTHOR_BYTES:
            return None
        return last, n_last, n_prev, count + 1, size + len(record.encoded)

    async def refusal(self, record: Record) -> str | None:
        return None  # a receipt is its requester's word; the points view decides what it is worth


def exemptions() -> dict[str, Exemption]:
    """What every replica's Store is given: the chain pays for certificates, their points and receipts."""
    return {"certificate": ChainAccount(), "points": PointsAccount(), "receipt": ReceiptAccount()}
