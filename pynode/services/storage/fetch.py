"""Fetching one blob from whoever holds it, sans-IO.

Inputs: `start()`, then for each `Ask` the runtime carried out, `answered(ask, value)` with the peer's result
or `failed(ask, reason)` when it refused, timed out or left. Outputs: `Ask` (call `method` on `peer`),
`Penalise` (the peer sent something provably wrong), and finally one `Done` or `GaveUp`.

Every holder is first asked for its manifest; the first valid one is used, and chunks are asked only of the
holders whose manifest is the same, FETCH_WINDOW in flight, spread over them. So a chunk that does not match
the manifest is provably its sender's fault (its own manifest names another hash): it is refused, the sender
penalised and dropped from this fetch, and the chunk asked of another holder. When all chunks are in, the whole
blob is checked against its id; if it does not match, the manifest lied, every holder that sent it is
penalised, and the fetch starts over with a different manifest another holder sent.
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
    code: str  # bad_chunk, bad_manifest or false_manifest (one that does not add up to the blob id)
    detail: str


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
FALSE_MANIFEST, LIED = "false_manifest", "its chunks do not add up to the blob id"


class Fetch:
    def __init__(
        self, blob: bytes, holders: list[bytes], limit: int = MAX_BLOB_BYTES, window: int = FETCH_WINDOW
    ) -> None:
        self.blob = blob
        self.limit = limit  # refuse a manifest of a larger blob (the asker knows what it expects)
        self.window = window
        self.holders: list[bytes] = list(dict.fromkeys(holders))  # still usable, best first
        self.bad: set[bytes] = set()  # penalised during this fetch
        self.said: dict[bytes, Manifest] = {}  # the manifest each holder sent
        self.manifest: Manifest | None = None  # the one we fetch by
        self._lied: set[Manifest] = set()  # manifests whose chunks did not add up to the id
        self._asked: set[bytes] = set()
        self._waiting: set[bytes] = set()  # manifest asks in flight
        self._chunks: dict[int, bytes] = {}
        self._queue: deque[int] = deque()
        self._inflight: dict[int, bytes] = {}
        self._load: Counter[bytes] = Counter()
        self._lacking: dict[int, set[bytes]] = {}  # chunk → holders that did not have it
        self.finished = False
        self.bytes_received = 0

    def start(self) -> list[Output]:
        return self._ask_manifests()

    def add_holders(self, peers: list[bytes]) -> list[Output]:
        for p in peers:
            if p not in self.bad and p not in self.holders:
                self.holders.append(p)
        return [] if self.finished else self._ask_manifests()

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
            self._waiting.discard(ask.peer)
        elif self._inflight.get(ask.index) == ask.peer:
            del self._inflight[ask.index]
            self._load[ask.peer] -= 1
            self._queue.appendleft(ask.index)
        return self._next()

    # ---- internals ------------------------------------------------------------------------------------

    def _forget(self, peer: bytes) -> None:
        if peer in self.holders:
            self.holders.remove(peer)

    def _penalise(self, peer: bytes, code: str, detail: str) -> Penalise:
        self.bad.add(peer)
        self._forget(peer)
        return Penalise(peer, code, detail)

    def _ask_manifests(self) -> list[Output]:
        out: list[Output] = []
        for p in self.holders:
            if p not in self._asked:
                self._asked.add(p)
                self._waiting.add(p)
                out.append(Ask(p, MANIFEST, {"blob": self.blob}))
        return out + (self._next() if not out else [])

    def _on_manifest(self, peer: bytes, value: Any) -> list[Output]:
        self._waiting.discard(peer)
        try:
            m = manifest_result(value, self.blob, self.limit)
        except WireError as e:
            return [self._penalise(peer, "bad_manifest", str(e)), *self._next()]
        if m is None:  # not held there after all
            self._forget(peer)
            return self._next()
        if m in self._lied:
            return [self._penalise(peer, FALSE_MANIFEST, LIED), *self._next()]
        self.said[peer] = m
        return self._next()

    def _on_chunk(self, ask: Ask, value: Any) -> list[Output]:
        m, i, peer = self.manifest, ask.index, ask.peer
        if self._inflight.get(i) != peer or m is None:
            return []  # an answer for a manifest since discarded
        del self._inflight[i]
        self._load[peer] -= 1
        if peer in self.bad:  # penalised already: its other answers in flight are dropped unread
            self._queue.appendleft(i)
            return self._next()
        out: list[Output] = []
        try:
            data = chunk_result(value, m, i)
        except WireError as e:
            out.append(self._penalise(peer, "bad_chunk", str(e)))
            data = None
        if data is None:
            self._lacking.setdefault(i, set()).add(peer)
            self._queue.appendleft(i)
            return out + self._next()
        self._chunks[i] = data
        self.bytes_received += len(data)
        if len(self._chunks) < m.chunks:
            return out + self._next()
        chunks = [self._chunks[k] for k in range(m.chunks)]
        h = hashlib.sha256()
        for c in chunks:
            h.update(c)
        if h.digest() == self.blob:
            self.finished = True
            return [*out, Done(m, chunks)]
        # every chunk matched the manifest and the blob does not match its id: whoever sent it lied
        self._lied.add(m)
        out += [self._penalise(p, FALSE_MANIFEST, LIED) for p, s in self.said.items() if s == m]
        self.said = {p: s for p, s in self.said.items() if s != m}
        self.manifest = None
        self._chunks, self._lacking, self._queue, self._inflight = {}, {}, deque(), {}
        self._load.clear()
        return out + self._next()

    def _next(self) -> list[Output]:
        """Pick a manifest if none is chosen yet, then keep the window of chunk requests full."""
        if self.manifest is None:
            choice = next((self.said[p] for p in self.holders if p in self.said), None)
            if choice is None:
                return [] if self._waiting else self._give_up("no holder gave a usable manifest")
            self.manifest = choice
            self._queue = deque(range(choice.chunks))
        out: list[Output] = []
        while self._queue and len(self._inflight) < self.window:
            i = self._queue[0]
            lacking = self._lacking.get(i, set())
            usable = [p for p in self.holders if self.said.get(p) == self.manifest and p not in lacking]
            if not usable:
                if self._inflight or self._waiting:
                    break  # an answer on its way may free or add a holder
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
