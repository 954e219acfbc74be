"""Service capabilities, served and verified: who signed a receipt for whom (a pure view over `receipt` records).

A receipt (pynode/state/records.py; PROTOCOL.md §11.5) is signed by the requester that was served, naming the
server, the capability and the hour (epoch = ts // 3,600,000). A server cannot mint its own, and one requester
is worth the same whatever counts it signs: a pair of nodes counts once per (capability, epoch), so two
colluders cannot farm each other. A receipt counts only when

- its requester is not the server and not in the server's operator or origin group (membership.Groups at the
  epoch's end: one operator's nodes, or nodes behind one address, cannot vouch for each other);
- its requester took part in a certified round of that epoch (a live node, not a key minted for the receipt);
- the capability is a service's (research and validation are verified from reproduced results and agreeing
  reviews instead: ledger.capabilities).

A server has a capability verified for an epoch once RECEIPT_REQUESTERS distinct requesters did so. The rounds
that see it are those starting after the epoch ended (plus RECEIPT_GRACE_MS for the receipts to spread, and after
the receipts' own timestamps) within the ledger's bonus window, so the leader that published a round's points
held the same receipts as anyone recomputing them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from pynode.presence import membership
from pynode.presence.certificate import Certificate
from pynode.state.records import Record

EPOCH_MS = 3_600_000  # a receipt's epoch: the hour (the services' receipts use the same: PROTOCOL.md §11.5)
RECEIPT_REQUESTERS = (
    3  # distinct requesters whose receipts verify a capability for an epoch: not a colluding pair
)
RECEIPT_GRACE_MS = (
    10 * 60_000
)  # receipts are published as their epoch ends; they reach everyone well within this


@dataclass(frozen=True)
class Served:
    """One requester's word that `server` served `cap` in `epoch`; counted by rounds from `known_ms`."""

    requester: bytes
    server: bytes
    cap: str
    epoch: int
    known_ms: int


def present_by_epoch(chain: Iterable[Certificate]) -> dict[int, set[bytes]]:
    """The nodes that took part in a certified round, per epoch of the round's start."""
    out: dict[int, set[bytes]] = defaultdict(set)
    for cert in chain:
        out[cert.round * cert.interval_ms // EPOCH_MS].update(cert.entries)
    return out


def served(
    receipts: Iterable[Record], chain: list[Certificate], groups: membership.Groups, caps: frozenset[str]
) -> dict[bytes, list[Served]]:
    """server -> the receipts that count for it (one per requester, capability and epoch; `caps`: the
    capabilities receipts can verify)."""
    present = present_by_epoch(chain)
    best: dict[tuple[bytes, bytes, str, int], Served] = {}
    for r in receipts:
        if r.kind != "receipt":
            continue
        b = r.body
        server, cap, epoch = b["server"], b["cap"], b["epoch"]
        if cap not in caps or r.author == server or r.author not in present.get(epoch, ()):
            continue
        end = (epoch + 1) * EPOCH_MS
        g = groups.at((r.author, server), end - 1)
        if g[r.author] == g[server]:
            continue
        s = Served(r.author, server, cap, epoch, max(r.ts, end) + RECEIPT_GRACE_MS)
        key = (r.author, server, cap, epoch)
        if key not in best or s.known_ms < best[key].known_ms:
            best[key] = s  # a later receipt of the same pair and hour adds nothing
    out: dict[bytes, list[Served]] = defaultdict(list)
    for s in best.values():
        out[s.server].append(s)
    return dict(out)


def verified_caps(mine: Iterable[Served], start_ms: int, window_ms: int) -> set[str]:
    """The capabilities verified for a server as of a round starting at `start_ms`: those with
    RECEIPT_REQUESTERS distinct requesters in one epoch that ended within `window_ms` before it."""
    requesters: dict[tuple[str, int], set[bytes]] = defaultdict(set)
    for s in mine:
        if s.known_ms <= start_ms and start_ms - window_ms <= (s.epoch + 1) * EPOCH_MS:
            requesters[(s.cap, s.epoch)].add(s.requester)
    return {cap for (cap, _), who in requesters.items() if len(who) >= RECEIPT_REQUESTERS}
