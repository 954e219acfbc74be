"""Equivocation: an author that signs two different changes for the same Loro ids.

Loro names a change by (peer, counter) and keeps the first it sees under an id. An author that signs change X
for its next counter and sends it to one replica, and a different Y for the same counter to another, splits them
for ever: version vectors agree, contents differ; and when X and Y differ in length, a pull between the two
slices one of them, whose signature then fails, so honest replicas used to ban each other.

So a replica keeps, per document and author, the `Ledger` of the changes it imported: their counter spans and a
digest of each signature, chained. A pull names, beside each author's end counter, the chain up to it; the peer
answering it compares with its own ledger. Where they differ it leaves that author out of its answer (it would
send a slice) and returns its ledger of the author instead; the asker finds the first entry that differs, fetches
that change in full (`form_of`) and holds two changes signed by the same key over overlapping ids: `Evidence`
anyone can check without trusting either replica. The author is then faulty for good: its records count
nowhere, its later changes are imported for their ids only (honest changes may depend on them), and the
evidence travels with pulls to every replica that still trusts it. The forwarder is never blamed.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from pynode.platform.crdt import Change
from pynode.state.authorship import Rejected, SigCheck, change_payload, decode_message, loro_peer
from pynode.state.limits import MAX_EVIDENCE_CHANGE_BYTES, MAX_LEDGER_ENTRIES
from pynode.wire import cbor
from pynode.wire.errors import WireError
from pynode.wire.schema import expect_map, get_bytes, get_int, get_list, get_str

DIGEST_BYTES = 16  # of a change's signature in a ledger, and of a chain: collisions cost 2^64 signatures


def sig_digest(message: str | None) -> bytes:
    return hashlib.sha256((message or "").encode()).digest()[:DIGEST_BYTES]


@dataclass
class Ledger:
    """One author's changes in one document, in counter order: (start, end, signature digest), chained."""

    entries: list[tuple[int, int, bytes]] = field(default_factory=list)
    chains: list[bytes] = field(default_factory=list)  # chain after each entry
    by_end: dict[int, int] = field(default_factory=dict)  # end counter -> entry index

    @property
    def end(self) -> int:
        return self.entries[-1][1] if self.entries else 0

    def append(self, start: int, end: int, digest: bytes) -> None:
        prev = self.chains[-1] if self.chains else b""
        chain = hashlib.sha256(prev + start.to_bytes(8, "big") + end.to_bytes(8, "big") + digest).digest()
        self.entries.append((start, end, digest))
        self.chains.append(chain[:DIGEST_BYTES])
        self.by_end[end] = len(self.entries) - 1

    def truncate(self, n: int) -> None:
        """Forget every entry after the first `n` (entries appended for an update that was not imported)."""
        for _, end, _ in self.entries[n:]:
            self.by_end.pop(end, None)
        del self.entries[n:], self.chains[n:]

    def chain_at(self, end: int) -> bytes | None:
        """The chain up to a change boundary `end`, None when no change of ours ends there."""
        if end == 0:
            return b""
        i = self.by_end.get(end)
        return None if i is None else self.chains[i]

    def agrees(self, end: int, chain: bytes) -> bool:
        """Does a replica whose ledger ends at `end` with `chain` hold our history up to there?"""
        return self.chain_at(end) == chain


def first_difference(
    mine: list[tuple[int, int, bytes]], theirs: list[tuple[int, int, bytes]]
) -> tuple[tuple[int, int], tuple[int, int]] | None:
    """The spans (start, end) of our change and of theirs where two ledgers of one author first differ; both
    start at the same counter (ledgers are contiguous from 0). None when one is a prefix of the other."""
    for a, b in zip(mine, theirs, strict=False):
        if a != b:
            return (a[0], a[1]), (b[0], b[1])
    return None


# ---- a change in full, to check its signature anywhere ---------------------------------------------------


def form_of(doc: str, change: Change) -> dict[str, Any]:
    """Everything a signature check of `change` needs, as plain CBOR values."""
    return {
        "doc": doc,
        "peer": change.peer,
        "counter": change.counter,
        "length": change.length,
        "lamport": change.lamport,
        "deps": [list(d) for d in change.deps],
        "ts": change.timestamp,
        "items": [[op.key, op.value] for op in change.ops],
        "msg": change.message or "",
    }


@dataclass(frozen=True)
class Form:
    """A parsed change form: its author, its span and the signature to check."""

    doc: str
    author: bytes
    peer: int
    start: int
    end: int
    encoded: bytes
    check: SigCheck


def parse_form(value: Any) -> Form:
    """Parse a change form (raises WireError; Rejected when it cannot be the author's signed change)."""
    d = expect_map(
        value, "change", {"doc", "peer", "counter", "length", "lamport", "deps", "ts", "items", "msg"}
    )
    items = []
    for item in get_list(d, "items", MAX_LEDGER_ENTRIES):
        if not (
            isinstance(item, list)
            and len(item) == 2
            and isinstance(item[0], str)
            and isinstance(item[1], bytes)
        ):
            raise WireError("bad_field", "a change item is [key, value]")
        items.append((item[0], item[1]))
    deps = []
    for dep in get_list(d, "deps", MAX_LEDGER_ENTRIES):
        if not (isinstance(dep, list) and len(dep) == 2 and all(isinstance(x, int) for x in dep)):
            raise WireError("bad_field", "a dependency is [peer, counter]")
        deps.append((dep[0], dep[1]))
    doc, peer = get_str(d, "doc", 64), get_int(d, "peer", 0, 2**63 - 1)
    start, length = get_int(d, "counter", 0, 2**31), get_int(d, "length", 1, MAX_LEDGER_ENTRIES)
    author, sig = decode_message(get_str(d, "msg", 256))
    if loro_peer(author) != peer or length != len(items):
        raise Rejected("bad_evidence", "a change form that is not its author's change")
    payload = change_payload(
        doc,
        peer,
        start,
        get_int(d, "lamport", 0, 2**63 - 1),
        tuple(sorted(deps)),
        get_int(d, "ts", 0, 2**63),
        items,
    )
    encoded = cbor.encode(d)
    if len(encoded) > MAX_EVIDENCE_CHANGE_BYTES:
        raise Rejected("bad_evidence", "a change form too large to be evidence")
    return Form(doc, author, peer, start, start + length, encoded, SigCheck(author, payload, sig))


@dataclass(frozen=True)
class Evidence:
    """Two changes one author signed over overlapping ids of one document: proof that it equivocated."""

    doc: str
    author: bytes
    a: Form
    b: Form

    def to_wire(self) -> list[Any]:
        return [cbor.decode(self.a.encoded), cbor.decode(self.b.encoded)]


def evidence_of(a: Form, b: Form) -> Evidence:
    """The evidence two parsed forms make, once both signatures are verified; Rejected if they make none."""
    if a.doc != b.doc or a.author != b.author:
        raise Rejected("bad_evidence", "two changes of different authors or documents")
    if a.end <= b.start or b.end <= a.start:
        raise Rejected("bad_evidence", "the changes do not share an id")
    if a.encoded == b.encoded:
        raise Rejected("bad_evidence", "the same change twice")
    return Evidence(a.doc, a.author, a, b)


def parse_evidence(value: Any) -> tuple[Form, Form]:
    if not (isinstance(value, list) and len(value) == 2):
        raise WireError("bad_field", "evidence is two change forms")
    return parse_form(value[0]), parse_form(value[1])


def ledger_to_wire(ledger: Ledger) -> list[list[Any]]:
    return [[s, e, d] for s, e, d in ledger.entries[:MAX_LEDGER_ENTRIES]]


def ledger_from_wire(value: Any) -> list[tuple[int, int, bytes]]:
    out = []
    for entry in get_list({"l": value}, "l", MAX_LEDGER_ENTRIES):
        if not (isinstance(entry, list) and len(entry) == 3):
            raise WireError("bad_field", "a ledger entry is [start, end, digest]")
        start, end = entry[0], entry[1]
        if not (isinstance(start, int) and isinstance(end, int) and 0 <= start < end < 2**31):
            raise WireError("bad_field", "a ledger entry spans counters")
        out.append((start, end, get_bytes({"d": entry[2]}, "d", size=DIGEST_BYTES)))
    return out
