"""Fetching one blob from whoever holds it, sans-IO.

Inputs: `start()`, then for each `Ask` the runtime carried out, `answered(ask, value)` with the peer's result
or `failed(ask, reason)` when it refused, timed out or left. Outputs: `Ask` (call `method` on `peer`),
`Penalise` (the peer sent something provably wrong), and finally one `Done` or `GaveUp`.

The manifest comes from one holder; chunks are then spread over every holder, FETCH_WINDOW in flight. Each
chunk is checked against the manifest on arrival: a bad one is refused, its sender penalised and dropped from
this fetch, and the chunk asked of another holder. When all chunks are in, the whole blob is checked against
its id: if it does not match, the manifest lied — its sender is penalised and the fetch starts over with
another holder's manifest.
"""

from __future__ import annotations

import hashlib
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

from pynode.services.storage.limits import FETCH_WINDOW, MAX_BLOB_BYTES
from pynode.services.storage.manifest import Manifest
from pynode.services.storage.messages import CHUNK, MANIFEST, chunk_result, manifest_result
from pynode.wire.errors import WireError


@dataclass(frozen=True)
class Ask:
    peer: bytes
    method: str
    args: dict[str, Any] = field(hash=False)
    index: int = -1  # the chunk asked for; -1 for the manifest


@dataclass(frozen=True)
class Penalise:
    peer: bytes
    reason: str


@dataclass(frozen=True)
class Done:
    manifest: Manifest
    chunks: list[bytes]

    @property
    def data(self) -> bytes:
        return b"".join(self.chunks)


@dataclass(frozen=True)
class GaveUp:
    reason: str


Output = Ask | Penalise | Done | GaveUp


class Fetch:
    def __init__(
        self, blob: bytes, holders: list[bytes], limit: int = MAX_BLOB_BYTES, window: int = FETCH_WINDOW
    ) -> None:
        self.blob = blob
        self.limit = limit  # refuse a manifest of a larger blob (the asker knows what it expects)
        self.window = window
        self.holders: list[bytes] = list(dict.fromkeys(holders))  # still usable, best first
        self.bad: set[bytes] = set()  # penalised during this fetch
        self.manifest: Manifest | None = None
        self.manifest_from: bytes | None = None
        self._manifest_tried: set[bytes] = set()
        self._chunks: dict[int, bytes] = {}
        self._queue: deque[int] = deque()
        self._inflight: dict[int, bytes] = {}
        self._load: Counter[bytes] = Counter()
        self._lacking: dict[int, set[bytes]] = {}  # chunk → holders that did not have it
        self.finished = False
        self.bytes_received = 0

    def add_holders(self, peers: list[bytes]) -> list[Output]:
        for p in peers:
            if p not in self.bad and p not in self.holders:
                self.holders.append(p)
        return [] if self.finished else (self._pump() if self.manifest else self._ask_manifest())

    def start(self) -> list[Output]:
        return self._ask_manifest()

    # ---- answers --------------------------------------------------------------------------------------

    def answered(self, ask: Ask, value: Any) -> list[Output]:
        if self.finished:
            return []
        if ask.index < 0:
            return self._on_manifest(ask.peer, value)
        return self._on_chunk(ask, value)

    def failed(self, ask: Ask, reason: str) -> list[Output]:
        """The peer refused, timed out or left: use the others."""
        if self.finished:
            return []
        self._forget(ask.peer)
        if ask.index < 0:
            return self._ask_manifest()
        self._inflight.pop(ask.index, None)
        self._load[ask.peer] -= 1
        self._queue.appendleft(ask.index)
        return self._pump()

    # ---- internals ------------------------------------------------------------------------------------

    def _forget(self, peer: bytes) -> None:
        if peer in self.holders:
            self.holders.remove(peer)

    def _penalise(self, peer: bytes, reason: str) -> Penalise:
        self.bad.add(peer)
        self._forget(peer)
        return Penalise(peer, reason)

    def _ask_manifest(self) -> list[Output]:
        if self.manifest is not None:
            return []
        for p in self.holders:
            if p not in self._manifest_tried:
                self._manifest_tried.add(p)
                return [Ask(p, MANIFEST, {"blob": self.blob})]
        return self._give_up("no holder gave a manifest")

    def _on_manifest(self, peer: bytes, value: Any) -> list[Output]:
        if self.manifest is not None:
            return []
        try:
            m = manifest_result(value, self.blob, self.limit)
        except WireError as e:
            return [self._penalise(peer, f"bad manifest: {e}"), *self._ask_manifest()]
        if m is None:  # not held there after all
            self._forget(peer)
            return self._ask_manifest()
        self.manifest, self.manifest_from = m, peer
        self._queue = deque(range(m.chunks))
        return self._pump()

    def _on_chunk(self, ask: Ask, value: Any) -> list[Output]:
        m, i, peer = self.manifest, ask.index, ask.peer
        if self._inflight.get(i) != peer or m is None:
            return []  # an answer for a manifest since discarded
        del self._inflight[i]
        self._load[peer] -= 1
        out: list[Output] = []
        try:
            data = chunk_result(value, m, i)
        except WireError as e:
            out.append(self._penalise(peer, f"bad chunk: {e}"))
            data = None
        if data is None:
            self._lacking.setdefault(i, set()).add(peer)
            self._queue.appendleft(i)
            return out + self._pump()
        self._chunks[i] = data
        self.bytes_received += len(data)
        if len(self._chunks) < m.chunks:
            return out + self._pump()
        chunks = [self._chunks[k] for k in range(m.chunks)]
        h = hashlib.sha256()
        for c in chunks:
            h.update(c)
        if h.digest() == self.blob:
            self.finished = True
            return [*out, Done(m, chunks)]
        # every chunk matched the manifest, and the blob does not match its id: the manifest lied
        assert self.manifest_from is not None
        out.append(self._penalise(self.manifest_from, "manifest does not add up to the blob id"))
        self.manifest = self.manifest_from = None
        self._chunks, self._lacking, self._queue = {}, {}, deque()
        return out + self._ask_manifest()

    def _pump(self) -> list[Output]:
        assert self.manifest is not None
        out: list[Output] = []
        while self._queue and len(self._inflight) < self.window:
            i = self._queue[0]
            lacking = self._lacking.get(i, set())
            usable = [p for p in self.holders if p not in lacking]
            if not usable:
                if self._inflight:
                    break  # wait: an answer in flight may add a holder or free one
                return out + self._give_up(f"no holder left for chunk {i}")
            peer = min(usable, key=lambda p: self._load[p])
            self._queue.popleft()
            self._inflight[i] = peer
            self._load[peer] += 1
            out.append(Ask(peer, CHUNK, {"blob": self.blob, "index": i}, i))
        return out

    def _give_up(self, reason: str) -> list[Output]:
        self.finished = True
        return [GaveUp(reason)]
