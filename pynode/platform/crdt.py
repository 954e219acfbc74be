"""What the replicated state needs from a CRDT document, independent of where it runs.

CPython implements it on `loro` (native_loro.py); the browser implements the same on `loro-crdt` through the
Pyodide FFI. Both read changes back as the platform-neutral `Change` / `Op` below, built from Loro's own JSON
export of a change span (identical on both sides once parsed), so authorship checks run unchanged on both.

Version vectors travel as `{peer: end counter}` dicts (exclusive end), never as Loro's binary encoding.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

VersionVector = dict[int, int]


class CrdtError(Exception):
    """The CRDT refused input (undecodable blob, bad name). Loro raises bare BaseExceptions; we wrap them."""


class SplitUnavailable(CrdtError):
    """A splitter (BlobSplit) that cannot run here (its worker did not start): nothing said about the blob."""


# Op and Change are named tuples (immutable, compared field by field) rather than frozen dataclasses: a cold
# start reads thousands of each, and a frozen dataclass sets every field through object.__setattr__ (in
# Pyodide, 5,000 Changes took 22-38 ms to make that way)
class Op(NamedTuple):
    """One operation of a change. Only map operations on root maps are described in full."""

    container: str  # Loro's container id text, e.g. "cid:root-<name>:Map"
    kind: str  # "insert", "delete", or whatever else Loro emitted (text, list, tree ops...)
    key: str | None
    value: object  # bytes for a binary value; anything else is reported as is


class Change(NamedTuple):
    """One change in a CRDT blob: its author, first op counter, op count and Lamport time."""

    peer: int
    counter: int  # first op's counter
    length: int  # number of ops (= counters) in the change
    lamport: int
    deps: tuple[tuple[int, int], ...]  # (peer, counter) ids, sorted
    timestamp: int
    message: str | None
    ops: tuple[Op, ...]


def parse_id(text: str) -> tuple[int, int]:
    """Loro's "counter@peer" id text → (peer, counter)."""
    counter, _, peer = text.partition("@")
    return int(peer), int(counter)


def op_from_json(raw: dict[str, Any]) -> Op:
    content = raw.get("content") or {}
    value = content.get("value")
    if isinstance(value, list):
        # Loro's JSON writes binary values as integer lists; bytes() checks types and range in C (a list of
        # anything else stays a list)
        with contextlib.suppress(TypeError, ValueError):
            value = bytes(value)
    return Op(str(raw.get("container")), str(content.get("type")), content.get("key"), value)


def change_from_json(raw: dict[str, Any]) -> Change:
    """One change of Loro's JSON export of an id span (`export_json_in_id_span` / `exportJsonInIdSpan`).

    One pass over the ops (a cold start reads thousands of changes of one op each)."""
    peer, counter = parse_id(raw["id"])
    ops = []
    top = None  # the largest op counter: the change spans counter..top
    for o in raw.get("ops", []):
        ops.append(op_from_json(o))
        c = o.get("counter", counter)
        if top is None or c > top:
            top = c
    deps = tuple(map(parse_id, raw.get("deps", [])))
    return Change(
        peer,
        counter,
        0 if top is None else top - counter + 1,
        int(raw["lamport"]),
        tuple(sorted(deps)) if len(deps) > 1 else deps,
        int(raw.get("timestamp", 0)),
        raw.get("msg"),
        tuple(ops),
    )


@dataclass(frozen=True)
class BlobMeta:
    """What a CRDT blob holds, read without importing it: its mode, change count and version span."""

    mode: str  # "updates", "snapshot", or another Loro mode name
    change_count: int
    start: VersionVector
    end: VersionVector
    # (peer, counter) ids the blob's changes depend on from outside it (Loro's start frontiers): with `start`,
    # what a document must hold before the blob imports without waiting
    deps: tuple[tuple[int, int], ...] = ()

    def missing_from(self, have: VersionVector) -> bool:
        """Would this blob wait for changes `have` lacks? Exact for every blob Loro exports; a forged header
        can hide dependencies, which the import then reveals."""
        return any(counter >= have.get(peer, 0) for peer, counter in self.deps) or any(
            first > have.get(peer, 0) for peer, first in self.start.items()
        )


@dataclass(frozen=True)
class ImportResult:
    """The outcome of importing a blob into a CRDT document."""

    pending: bool  # some changes wait for dependencies this document does not have


class CrdtDoc(Protocol):
    peer: int

    def version(self) -> VersionVector: ...

    def next_change(self) -> tuple[int, int, tuple[tuple[int, int], ...]]:
        """(counter, lamport, deps) the next local change will carry."""
        ...

    def put(self, root: str, items: list[tuple[str, bytes]], message: str) -> None:
        """Insert binary values into root map `root` as one change carrying `message`."""
        ...

    def get(self, root: str, key: str) -> bytes | None: ...

    def get_many(self, root: str, keys: list[str]) -> list[bytes | None]:
        """`get` of each key, in order, in one call (the browser crosses into loro-crdt once)."""
        ...

    def roots(self) -> dict[str, dict[str, bytes]]: ...

    def export_updates(self, since: VersionVector) -> bytes: ...

    def export_snapshot(self) -> bytes: ...

    def import_(self, blob: bytes) -> ImportResult: ...

    def fork(self) -> CrdtDoc: ...

    def changes(self, peer: int, start: int, end: int) -> list[Change]: ...

    def change_at(self, peer: int, counter: int) -> Change | None: ...


class BlobSplit(Protocol):
    """A blob's changes re-exported as a sequence of updates, in causal order, each holding at most the
    `max_changes` asked for, made off the caller's thread (the tab: a worker of its own). Importing them one by
    one into a document then takes one bounded call each, where the blob itself would take one call that grows
    with it (a cold start's snapshot: its header read and its import). Errors raise CrdtError."""

    async def meta(self) -> BlobMeta:
        """What the blob claims about itself (`Crdt.crdt_blob_meta`), read off the caller's thread."""
        ...

    async def next(self) -> bytes | None:
        """The next update; None after the last."""
        ...

    def close(self) -> None:
        """Stop early (the blob was refused): the rest is not made."""
        ...


Planned = tuple[int, int, int, int, tuple[tuple[int, int], ...]]  # (lamport, peer, counter, length, deps)


def split_spans(changes: list[Planned], max_changes: int) -> list[list[tuple[int, int, int]]]:
    """The parts of a split (BlobSplit): every change → parts of at most `max_changes` whole changes, each as
    (peer, start, end) counter spans, every change after its dependencies. An author's changes are taken in runs
    for as long as their dependencies are in (the store reads a part's changes one author's span at a time:
    changes in plain Lamport order, 50 authors in step, made a read per 2-3 changes); when a run stops, the
    change of least Lamport time not taken comes next, whose dependencies (all of less Lamport time) are all
    taken. The tab's splitter does the same in JS (browser_loro.py). Raises ValueError for a set of changes no
    document holds (an author's changes not in Lamport order)."""
    if max_changes < 1:
        raise ValueError("a part holds at least one change")
    ordered = sorted(changes, key=lambda c: (c[0], c[1], c[2]))
    chains: dict[int, list[int]] = {}
    for i, (_, peer, _, _, _) in enumerate(ordered):
        chains.setdefault(peer, []).append(i)
    for chain in chains.values():
        if any(ordered[a][2] >= ordered[b][2] for a, b in zip(chain, chain[1:], strict=False)):
            raise ValueError("an author's changes out of Lamport order")
    at = dict.fromkeys(chains, 0)  # each author's next change, as an index into its chain
    have: dict[int, int] = {}  # each author's end counter taken so far
    taken = [False] * len(ordered)
    parts: list[list[tuple[int, int, int]]] = []
    part: list[tuple[int, int, int]] = []
    least, current, size = 0, -1, 0
    for _ in ordered:
        chain = chains.get(current, [])
        i = chain[at[current]] if chain and at[current] < len(chain) else -1
        if i < 0 or any(have.get(p, 0) <= c for p, c in ordered[i][4]):
            while taken[least]:
                least += 1
            i = least
        _, peer, counter, length, _ = ordered[i]
        taken[i], at[peer], have[peer], current = True, at[peer] + 1, counter + length, peer
        if part and part[-1][0] == peer and part[-1][2] == counter:
            part[-1] = (peer, part[-1][1], counter + length)
        else:
            part.append((peer, counter, counter + length))
        size += 1
        if size == max_changes:
            parts.append(part)
            part, size = [], 0
    if part:
        parts.append(part)
    return parts


class Crdt(Protocol):
    """Where documents come from: what pynode.state is handed (the platform satisfies it). A platform may also
    offer `crdt_split(blob, max_changes) -> BlobSplit | None` (None: not here, not now); the store then imports
    a large blob a bounded part at a time."""

    def crdt_doc(self, peer: int | None = None) -> CrdtDoc:
        """A new, empty document with Loro peer id `peer`."""
        ...

    def crdt_blob_meta(self, blob: bytes) -> BlobMeta:
        """What an update or snapshot claims about itself, read without importing it; raises CrdtError."""
        ...
