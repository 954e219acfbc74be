"""The CRDT document for CPython, on `loro` (PyPI, binary compatible with `loro-crdt` in the browser).

Every call into Loro is wrapped: Loro signals errors (and Rust panics) as bare BaseExceptions, which
`except Exception` would miss and which must never take the node down; they become CrdtError here.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TypeVar

import loro
from loro import CounterSpan, ExportMode, IdSpan, LoroDoc

from pynode.platform.crdt import (
    BlobMeta,
    Change,
    CrdtError,
    ImportResult,
    Planned,
    VersionVector,
    change_from_json,
    parse_id,
    split_spans,
)

T = TypeVar("T")
_PASS_THROUGH = (KeyboardInterrupt, SystemExit, GeneratorExit)


def _guard(call: Callable[[], T], what: str) -> T:
    try:
        return call()
    except _PASS_THROUGH:
        raise
    except BaseException as e:  # noqa: BLE001 — Loro's errors and panics derive from BaseException only
        raise CrdtError(f"{what}: {str(e)[:200]}") from None


def _to_vv(vv: VersionVector) -> loro.VersionVector:
    out = loro.VersionVector()
    for peer, end in vv.items():
        if end > 0:
            out.set_end(loro.ID(peer, end))
    return out


def _from_vv(vv: loro.VersionVector) -> VersionVector:
    return {peer: end for peer, (_start, end) in vv.to_spans().inner().items() if end > 0}


class LoroCrdtDoc:
    """A Loro document restricted to what the state core uses: binary values in root maps."""

    def __init__(self, doc: LoroDoc | None = None, peer: int | None = None) -> None:
        self._doc = doc if doc is not None else LoroDoc()
        if peer is not None:
            self.peer = peer

    @property
    def peer(self) -> int:
        return self._doc.peer_id

    @peer.setter
    def peer(self, value: int) -> None:
        def set_peer() -> None:
            self._doc.peer_id = value

        _guard(set_peer, "set peer id")

    def version(self) -> VersionVector:
        return _from_vv(self._doc.oplog_vv)

    def next_change(self) -> tuple[int, int, tuple[tuple[int, int], ...]]:
        """(counter, lamport, deps) that this document's next local change will carry.

        Found by a dry run in a fork rather than recomputed, so the signature made over them can never
        disagree with what Loro then records.
        """

        def probe() -> tuple[int, int, tuple[tuple[int, int], ...]]:
            fork = self._doc.fork()
            fork.peer_id = self._doc.peer_id
            fork.get_map("_probe").insert("_", 0)
            fork.set_next_commit_message("probe")
            fork.commit()
            last = fork.oplog_vv.get_last(self._doc.peer_id)
            meta = fork.get_change(loro.ID(self._doc.peer_id, last))
            deps = json.loads(
                fork.export_json_in_id_span(IdSpan(self._doc.peer_id, CounterSpan(last, last + 1)))
            )
            return last, meta.lamport, tuple(sorted(parse_id(d) for d in deps[0]["deps"]))

        return _guard(probe, "dry run")

    def put(self, root: str, items: list[tuple[str, bytes]], message: str) -> None:
        def put() -> None:
            m = self._doc.get_map(root)
            for key, value in items:
                m.insert(key, value)
            self._doc.set_next_commit_message(message)
            self._doc.commit()

        _guard(put, "write")

    def get(self, root: str, key: str) -> bytes | None:
        def get() -> bytes | None:
            found = self._doc.get_map(root).get(key)
            value = getattr(found, "value", None)  # a container in that slot has no `.value`
            return value if isinstance(value, bytes) else None

        return _guard(get, "read")

    def get_many(self, root: str, keys: list[str]) -> list[bytes | None]:
        return [self.get(root, key) for key in keys]

    def roots(self) -> dict[str, dict[str, bytes]]:
        value = _guard(self._doc.get_deep_value, "read")
        return {
            name: {k: v for k, v in entries.items() if isinstance(v, bytes)}
            for name, entries in value.items()
            if isinstance(entries, dict)
        }

    def export_updates(self, since: VersionVector) -> bytes:
        return _guard(lambda: self._doc.export(ExportMode.Updates(_to_vv(since))), "export")

    def export_snapshot(self) -> bytes:
        return _guard(lambda: self._doc.export(ExportMode.Snapshot()), "export")

    def import_(self, blob: bytes) -> ImportResult:
        status = _guard(lambda: self._doc.import_(blob), "import")
        return ImportResult(pending=status.pending is not None and bool(status.pending.inner()))

    def fork(self) -> LoroCrdtDoc:
        return LoroCrdtDoc(_guard(self._doc.fork, "fork"), peer=self.peer)

    def changes(self, peer: int, start: int, end: int) -> list[Change]:
        if end <= start:
            return []
        text = _guard(
            lambda: self._doc.export_json_in_id_span(IdSpan(peer, CounterSpan(start, end))), "export changes"
        )
        return [change_from_json(raw) for raw in json.loads(text)]

    def change_at(self, peer: int, counter: int) -> Change | None:
        found = self.changes(peer, counter, counter + 1)
        return found[0] if found else None


class LoroSplit:
    """`BlobSplit` on this thread: the blob imported into a scratch document, its changes exported a part at a
    time (split_spans). CPython replicas import blobs whole; this one is for tests of the store's split path."""

    def __init__(self, blob: bytes, max_changes: int) -> None:
        self._blob = blob
        self._max = max_changes
        self._doc: LoroDoc | None = None
        self._parts: list[list[tuple[int, int, int]]] = []

    async def meta(self) -> BlobMeta:
        return blob_meta(self._blob)

    async def next(self) -> bytes | None:
        doc = self._doc
        if doc is None:
            doc = self._doc = LoroDoc()
            _guard(lambda: doc.import_(self._blob), "import")
            self._parts = split_spans(_guard(lambda: _all_changes(doc), "read changes"), self._max)
        if not self._parts:
            return None
        spans = [IdSpan(peer, CounterSpan(start, end)) for peer, start, end in self._parts.pop(0)]
        return _guard(lambda: doc.export(ExportMode.UpdatesInRange(spans)), "export")

    def close(self) -> None:
        self._parts = []


def _all_changes(doc: LoroDoc) -> list[Planned]:
    """(lamport, peer, counter, length, deps) of every change `doc` holds."""
    out = []
    for peer, end in _from_vv(doc.oplog_vv).items():
        counter = 0
        while counter < end:
            meta = doc.get_change(loro.ID(peer, counter))
            out.append((meta.lamport, peer, meta.id.counter, meta.len, _frontier_ids(meta.deps.encode())))
            counter = meta.id.counter + meta.len
    return out


def blob_meta(blob: bytes) -> BlobMeta:
    meta = _guard(lambda: LoroDoc.decode_import_blob_meta(blob, True), "blob metadata")
    mode = str(meta.mode).rsplit(".", 1)[-1].lower()
    deps = _guard(lambda: _frontier_ids(meta.start_frontiers.encode()), "blob metadata")
    return BlobMeta(
        mode, int(meta.change_num), _from_vv(meta.partial_start_vv), _from_vv(meta.partial_end_vv), deps
    )


def _frontier_ids(encoded: bytes) -> tuple[tuple[int, int], ...]:
    """The ids of `Frontiers.encode()` (postcard: a LEB128 count, then per id a LEB128 peer and a zigzag
    LEB128 counter): loro's Python binding offers no other way to list them."""
    pos = 0

    def varint() -> int:
        nonlocal pos
        value = shift = 0
        while True:
            byte = encoded[pos]
            pos += 1
            value |= (byte & 0x7F) << shift
            shift += 7
            if byte < 0x80:
                return value

    ids = []
    for _ in range(varint()):
        peer, zigzag = varint(), varint()
        ids.append((peer, (zigzag >> 1) ^ -(zigzag & 1)))
    return tuple(sorted(ids))
