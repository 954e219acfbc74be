"""A replica's own copy of a document it has already checked, sealed, so that loading it again skips the checks.

A tab that reloads reads its documents back from its own storage. Checked like network input, a board of 5,000
records costs two signature verifications, a CBOR decode and a schema check per record (seconds in a tab). But
those bytes are not network bytes: this replica checked every change when it first received them, then wrote
them itself. So beside a document's snapshot it keeps a seal: what it knew of the snapshot (the records decoded,
in the order it admitted them, its equivocation ledgers and its authors' quotas), under an HMAC-SHA256 keyed by a
secret only this replica's storage holds, covering the author, the document's name, the snapshot's SHA-256 and
that description. The description is packed with `marshal` (unpacked in C, also in Pyodide: a CBOR decode in
Python is what made the check slow), and only read once the MAC holds.
`Store.restore` imports a snapshot whose seal holds as one blob and takes its records, quotas and ledgers
from the description; a seal that does not hold (another key, a damaged or altered file, another version)
leaves the snapshot to `Store.receive`, which checks everything as before.

What the seal proves: that the snapshot and its description were written by code holding the secret, i.e.
code of this origin (in a tab, the secret sits in the same IndexedDB as the files). It cannot protect against
whatever can write that storage: it can read the secret too (and replace the node's code). It rules out a
snapshot altered or damaged on its own, or copied in from another profile or identity, and needs no network.

Sans-IO: no storage, no clock; hashing is done in units of HASH_UNIT_BYTES through the store's `Slices`, so
a tab's loop runs between them.
"""

from __future__ import annotations

import hashlib
import hmac
import marshal
from dataclasses import dataclass
from typing import Any

from pynode.platform.crdt import VersionVector
from pynode.state.slices import Slices

SEAL_DOMAIN = b"hyperspace/1/state-seal\x00"
SEAL_VERSION = 1
SECRET_BYTES = 32  # the HMAC key
MAC_BYTES = 32
RECORDS_PER_CHUNK = 32  # records unpacked at once when restoring: well under a millisecond in a tab
HASH_UNIT_BYTES = 16 * 1024  # bytes hashed per unit of slice work: ~0.2-0.5 ms in a tab's wasm SHA-256

# one record as sealed: (kind, author, ts, body, sig, encoded), every field as Record holds it
SealedRecord = tuple[str, bytes, int, dict[str, Any], bytes, bytes]


@dataclass(frozen=True)
class Opened:
    """What a seal that holds says of its snapshot."""

    version: VersionVector
    # the records in the order the store admitted them (each author's in chain order), RECORDS_PER_CHUNK a
    # chunk, each packed on its own: unpacking 5,000 at once would hold a tab's loop for tens of milliseconds
    chunks: list[bytes]
    ledgers: list[tuple[int, list[tuple[int, int, bytes]]]]  # per Loro peer: (start, end, signature digest)
    quotas: list[tuple[bytes, int, int, list[int], Any]]  # Quotas.dump


@dataclass(frozen=True)
class Captured:
    """A document's snapshot and what the store knew of it at that moment, to seal."""

    snapshot: bytes
    version: list[tuple[int, int]]
    records: list[Any]  # the store's Records (immutable: packed later, they are still these)
    ledgers: list[tuple[int, list[tuple[int, int, bytes]]]]
    quotas: list[tuple[bytes, int, int, list[int], Any]]


async def capture(store: Any, name: str) -> Captured:
    """`store`'s document `name` and its description, read at one moment between two checks (a check that
    paused has appended ledger entries its document does not hold yet; a description of an earlier or later
    state would be sealed as this snapshot's); the copying is of references only."""
    async with store._busy:  # the store's one-check-at-a-time lock (store.py)
        return Captured(
            store.snapshot(name),
            sorted(store.docs[name].version().items()),
            list(store.records[name].values()),
            [(peer, list(ledger.entries)) for peer, ledger in store.ledgers[name].items()],
            store.quotas[name].dump(),
        )


async def seal(author: bytes, name: str, captured: Captured, secret: bytes, slices: Slices) -> bytes:
    """The sealed file for `captured`: the MAC, then the description, packed in slices."""
    chunks = []
    for i in range(0, len(captured.records), RECORDS_PER_CHUNK):
        batch = captured.records[i : i + RECORDS_PER_CHUNK]
        await slices.take(len(batch))
        chunks.append(marshal.dumps([(r.kind, r.author, r.ts, r.body, r.sig, r.encoded) for r in batch]))
    body = marshal.dumps((SEAL_VERSION, name, captured.version, chunks, captured.ledgers, captured.quotas))
    return await _mac(author, name, captured.snapshot, body, secret, slices) + body


async def open_sealed(
    author: bytes, name: str, snapshot: bytes, sealed: bytes, secret: bytes, slices: Slices
) -> Opened | None:
    """The description in `sealed` if its seal holds for `snapshot`, else None (check the snapshot in full)."""
    if len(secret) != SECRET_BYTES or len(sealed) <= MAC_BYTES:
        return None
    body = sealed[MAC_BYTES:]
    if not hmac.compare_digest(sealed[:MAC_BYTES], await _mac(author, name, snapshot, body, secret, slices)):
        return None
    try:  # written by this code under this secret: only another version of it can make this fail
        version, sealed_name, vv, chunks, ledgers, quotas = marshal.loads(body)
    except (EOFError, ValueError, TypeError):
        return None
    if version != SEAL_VERSION or sealed_name != name:
        return None
    return Opened(dict(vv), chunks, ledgers, quotas)


def unpack(chunk: bytes) -> list[SealedRecord]:
    """One of `Opened.chunks`' records (the seal held: it is what `capture` packed)."""
    return marshal.loads(chunk)


async def _mac(
    author: bytes, name: str, snapshot: bytes, body: bytes, secret: bytes, slices: Slices
) -> bytes:
    digest = hashlib.sha256()
    await _feed(digest, snapshot, slices)
    mac = hmac.new(secret, SEAL_DOMAIN, hashlib.sha256)
    # lengths first: no two (author, name, snapshot, body) give the same input
    mac.update(len(author).to_bytes(4, "big") + author + len(name).to_bytes(4, "big") + name.encode())
    mac.update(digest.digest())
    await _feed(mac, body, slices)
    return mac.digest()


async def _feed(h: Any, data: bytes, slices: Slices) -> None:
    view = memoryview(data)
    for at in range(0, len(data), HASH_UNIT_BYTES):
        await slices.take()
        h.update(view[at : at + HASH_UNIT_BYTES])
