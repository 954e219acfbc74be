"""State sync as a sans-IO state machine: gossiped updates, anti-entropy pulls, chunked cold start.

Inputs: `write` (our records), `on_gossip` (an update from the state topic), `tick(now, peers)`,
`on_request` (a peer pulls from us), `on_response` / `on_failure` (our pull's outcome). Outputs: `Publish`
(gossip this), `Ask` (send this request to that peer). No sockets, no clock, no sleeps: the asyncio runtime
(replica.py) and the simulator (simulate.py) drive it. Coroutines here only await signing and verification.

Anti-entropy: every `interval` seconds a replica sends one random connected peer its version vectors
(`have`); the peer answers with every update we lack, per document, up to RESPONSE_BUDGET bytes. A
document too big for that is named in `big` and fetched in chunks by `fetch` (a cold start of a large board).
A replica with empty documents asks for snapshots (`snapshot: true`): one peer's state, validated, then the
pulls that follow catch up on whatever that snapshot missed.

  gossip   {doc: text, update: bytes}
  request  {have: {doc: [[loro peer, end counter]...]}, snapshot: bool}
         | {fetch: {doc, have, snapshot, token: bytes, offset: uint}}
  response {docs: {doc: bytes}, big: [doc]}
         | {chunk: {doc, token: bytes, offset, total, data: bytes}}
"""

from __future__ import annotations

import hashlib
import random
from collections import Counter, OrderedDict, deque
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any

from pynode.gossip.events import ValidationResult
from pynode.identity import Signer
from pynode.net.pacer import Pacer
from pynode.platform.crdt import CrdtError, VersionVector
from pynode.state.authorship import Rejected
from pynode.state.held import HeldUpdates
from pynode.state.limits import (
    CHUNK_BYTES,
    EXPORT_CACHE,
    EXPORT_TTL_S,
    MAX_BLOB_BYTES,
    MAX_GOSSIP_UPDATE,
    MAX_STRIKES,
    MAX_VV_PEERS,
    PULL_TIMEOUT_S,
    RESPONSE_BUDGET,
    SERVE_BYTES_BURST,
    SERVE_BYTES_PER_S,
    SERVE_FRAMES_PER_S,
    SERVE_MAX_DELAY_S,
    SERVE_PEERS,
)
from pynode.state.records import DOCS, Record
from pynode.state.store import Deferred, Store
from pynode.wire import cbor
from pynode.wire.errors import WireError
from pynode.wire.schema import expect_map, get_bytes, get_int, get_list

STATE_TOPIC = "hs/1/state"
SYNC_PROTO = "hs/1/state/sync"
AE_INTERVAL_S = 2.0


@dataclass(frozen=True)
class Publish:
    data: bytes


@dataclass(frozen=True)
class Ask:
    peer: bytes
    data: bytes


def run_sync(coro: Coroutine[Any, Any, Any]) -> Any:
    """Run a coroutine that never really suspends (native signing and verification) without a loop."""
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value
    coro.close()
    raise RuntimeError("coroutine suspended; drive it with asyncio")


def _vv_to_wire(vv: VersionVector) -> list[list[int]]:
    return [[p, e] for p, e in sorted(vv.items())]


def _vv_from_wire(value: Any) -> VersionVector:
    if not isinstance(value, list) or len(value) > MAX_VV_PEERS:
        raise WireError("bad_field", "a version vector is a list of [peer, counter]")
    out: VersionVector = {}
    for pair in value:
        if not (
            isinstance(pair, list)
            and len(pair) == 2
            and all(isinstance(x, int) and 0 <= x < 2**63 for x in pair)
        ):
            raise WireError("bad_field", "a version vector entry is [peer, counter]")
        out[pair[0]] = pair[1]
    return out


def _doc_name(value: Any) -> str:
    if value not in DOCS:
        raise WireError("bad_field", "unknown document")
    return value


@dataclass
class _Download:
    peer: bytes
    doc: str
    have: VersionVector
    snapshot: bool
    token: bytes = b""
    total: int = 0
    data: bytearray | None = None


class SyncEngine:
    def __init__(self, store: Store, rng: random.Random, interval: float = AE_INTERVAL_S) -> None:
        self.store = store
        self.rng = rng
        self.interval = interval
        self.pull_timeout = PULL_TIMEOUT_S
        self.cold = True  # no pull has completed yet
        self.last_pull_new = 0  # records the last completed pull brought
        self.pulls = 0
        self.failures = 0
        self.rejections: Counter[str] = Counter()
        self.bytes_in = 0
        self._next_pull = 0.0
        self._waiting: bytes | None = None  # the peer our open request went to
        self._asked_at = 0.0
        self._download: _Download | None = None
        self._exports: OrderedDict[bytes, tuple[float, bytes]] = OrderedDict()
        self._serving: OrderedDict[bytes, Pacer] = OrderedDict()  # each asker's pace, least recent first
        self.held = HeldUpdates()  # gossiped updates waiting for their dependencies
        # (author, reason) of authors whose updates were hostile only in hindsight: the runtime penalises them
        self.penalties: deque[tuple[bytes, str]] = deque(maxlen=64)

    # ---- our writes -------------------------------------------------------------------------------

    async def write(self, signer: Signer, records: list[Record]) -> list[Publish]:
        updates = await self.store.write(signer, records)
        return [Publish(cbor.encode({"doc": name, "update": blob})) for name, blob in updates.items()]

    # ---- gossip -----------------------------------------------------------------------------------

    async def on_gossip(self, sender: bytes, data: bytes, now_ms: int) -> ValidationResult:
        """Verdict on one gossiped update (importing it when valid). REJECT penalises the forwarders.

        An update that depends on changes we lack is held (IGNOREd: not forwarded) and imported as soon as
        they arrive; whatever this update brings may be what held ones were waiting for."""
        name, blob = "", b""
        try:
            if len(data) > MAX_GOSSIP_UPDATE + 1024:
                raise Rejected("oversized", f"{len(data)} bytes")
            try:
                msg = expect_map(
                    cbor.decode(data, max_bytes=MAX_GOSSIP_UPDATE + 1024), "update", {"doc", "update"}
                )
                name = _doc_name(msg["doc"])
                blob = get_bytes(msg, "update", max_len=MAX_GOSSIP_UPDATE)
            except WireError as e:
                raise Rejected("malformed_update", e.reason) from None
            await self.store.receive(name, blob, now_ms, ("updates",), only_author=sender)
        except Rejected as e:
            self.rejections[e.reason] += 1
            return ValidationResult.REJECT
        except Deferred as e:
            if e.reason == "missing_dependencies":
                self._next_pull = 0.0  # gossip outran us: pull at the next tick, and keep it meanwhile
                self.held.hold(name, blob, self.store.crdt.crdt_blob_meta(blob), sender, now_ms)
            await self._release(now_ms)  # expiry runs even while nothing new arrives
            return ValidationResult.IGNORE
        self.bytes_in += len(data)
        await self._release(now_ms)
        return ValidationResult.ACCEPT

    async def _release(self, now_ms: int) -> None:
        """Import every held update whose dependencies have arrived (each may release more); expire the rest
        in time, and penalise authors whose dependencies keep never coming."""
        while ready := self.held.take_ready(self.store.version(), now_ms):
            for h in ready:
                try:
                    await self.store.receive(h.doc, h.blob, now_ms, ("updates",), only_author=h.author)
                except Rejected as e:
                    self.rejections[e.reason] += 1
                    self._penalise(h.author, f"state_{e.reason}")
                except Deferred:
                    pass  # a pull brought it meanwhile
        for author in [a for a, n in self.held.strikes.items() if n >= MAX_STRIKES]:
            self._penalise(author, "state_unresolved_dependencies")

    def _penalise(self, author: bytes, reason: str) -> None:
        self.held.forget(author)
        self.penalties.append((author, reason))

    # ---- anti-entropy: asking ---------------------------------------------------------------------

    def tick(self, now: float, peers: list[bytes]) -> list[Ask]:
        if self._waiting is not None:
            if now - self._asked_at < self.pull_timeout and self._waiting in peers:
                return []
            self.on_failure(self._waiting)
        if now < self._next_pull or not peers:
            return []
        self._next_pull = now + self.interval * (0.5 + self.rng.random())  # jitter: no lockstep rounds
        peer = peers[self.rng.randrange(len(peers))]
        versions = self.store.version()
        request = {"have": {n: _vv_to_wire(v) for n, v in versions.items()}, "snapshot": self._empty()}
        return [self._ask(peer, request, now)]

    def _empty(self) -> bool:
        return all(not v for v in self.store.version().values())

    def _ask(self, peer: bytes, request: dict[str, Any], now: float) -> Ask:
        self._waiting = peer
        self._asked_at = now
        return Ask(peer, cbor.encode(request))

    def on_failure(self, peer: bytes) -> None:
        """Our request to `peer` failed or timed out: try someone else next tick."""
        if self._waiting == peer:
            self._waiting = None
            self._download = None
            self.failures += 1
            self._next_pull = 0.0

    async def on_response(self, peer: bytes, data: bytes, now: float, now_ms: int) -> list[Ask]:
        """Apply a pull's answer. Raises Rejected (after recording it) when the peer sent bad state."""
        if self._waiting != peer:
            return []
        self._waiting = None
        self.bytes_in += len(data)
        try:
            return await self._apply_response(peer, data, now, now_ms)
        except Rejected as e:
            self.rejections[e.reason] += 1
            self._download = None
            raise

    async def _apply_response(self, peer: bytes, data: bytes, now: float, now_ms: int) -> list[Ask]:
        try:
            msg = cbor.decode(data)
            if isinstance(msg, dict) and "chunk" in msg:
                return await self._on_chunk(
                    peer, expect_map(msg, "response", {"chunk"})["chunk"], now, now_ms
                )
            d = expect_map(msg, "response", {"docs", "big"})
            if not isinstance(d["docs"], dict):
                raise WireError("bad_field", "docs must be a map")
            blobs = {_doc_name(n): get_bytes(d["docs"], n) for n in d["docs"]}
            big = [_doc_name(n) for n in get_list(d, "big", len(DOCS))]
        except WireError as e:
            raise Rejected("malformed_response", e.reason) from None
        new = 0
        for name, blob in blobs.items():
            new += await self._receive(name, blob, now_ms)
        if new:
            await self._release(now_ms)
        self.pulls += 1
        self.last_pull_new = new
        self.cold = False
        for name in big:
            have = self.store.docs[name].version()
            self._download = _Download(peer, name, have, snapshot=not have)
            return [self._ask_chunk(now)]
        return []

    async def _receive(self, name: str, blob: bytes, now_ms: int) -> int:
        try:
            return len(await self.store.receive(name, blob, now_ms, ("updates", "snapshot")))
        except Deferred:
            return 0

    def _ask_chunk(self, now: float) -> Ask:
        dl = self._download
        assert dl is not None
        offset = len(dl.data) if dl.data is not None else 0
        fetch = {
            "doc": dl.doc,
            "have": _vv_to_wire(dl.have),
            "snapshot": dl.snapshot,
            "token": dl.token,
            "offset": offset,
        }
        return self._ask(dl.peer, {"fetch": fetch}, now)

    async def _on_chunk(self, peer: bytes, value: Any, now: float, now_ms: int) -> list[Ask]:
        dl = self._download
        try:
            c = expect_map(value, "chunk", {"doc", "token", "offset", "total", "data"})
            doc = _doc_name(c["doc"])
            token = get_bytes(c, "token", 16)
            total = get_int(c, "total", 1, MAX_BLOB_BYTES)
            offset = get_int(c, "offset")
            part = get_bytes(c, "data", max_len=CHUNK_BYTES)
        except WireError as e:
            raise Rejected("malformed_response", e.reason) from None
        if dl is None or dl.peer != peer or dl.doc != doc:
            raise Rejected("unexpected_chunk")
        if dl.data is None:
            dl.data, dl.token, dl.total = bytearray(), token, total
        if (
            token != dl.token
            or total != dl.total
            or offset != len(dl.data)
            or offset + len(part) > total
            or not part
        ):
            raise Rejected("bad_chunk", "chunk does not continue the download")
        dl.data += part
        if len(dl.data) < dl.total:
            return [self._ask_chunk(now)]
        self._download = None
        blob = bytes(dl.data)
        if hashlib.sha256(blob).digest()[:16] != dl.token:
            raise Rejected("bad_chunk", "reassembled blob does not match its token")
        self.last_pull_new = await self._receive(doc, blob, now_ms)
        if self.last_pull_new:
            await self._release(now_ms)
        self.pulls += 1
        self.cold = False
        return []

    # ---- anti-entropy: answering ------------------------------------------------------------------

    def serve_delay(self, peer: bytes, size: int, now: float) -> float | None:
        """Seconds to hold an answer of `size` bytes to `peer` before sending it, paced per peer; None when
        that peer's answers are booked too far ahead (answer busy: it asks again, or someone else)."""
        pacer = self._serving.pop(peer, None)
        if pacer is None:
            pacer = Pacer(SERVE_BYTES_PER_S, SERVE_BYTES_BURST, SERVE_FRAMES_PER_S, SERVE_FRAMES_PER_S, now,
                          SERVE_MAX_DELAY_S)  # fmt: skip
        self._serving[peer] = pacer
        while len(self._serving) > SERVE_PEERS:
            self._serving.popitem(last=False)
        return pacer.book(size, now)

    def on_request(self, peer: bytes, data: bytes, now: float) -> bytes:
        """Answer a pull. Raises WireError for a malformed request (the runtime penalises the peer)."""
        msg = cbor.decode(data)
        if isinstance(msg, dict) and "fetch" in msg:
            return self._answer_fetch(expect_map(msg, "request", {"fetch"})["fetch"], now)
        d = expect_map(msg, "request", {"have", "snapshot"})
        if not isinstance(d["have"], dict) or not isinstance(d["snapshot"], bool):
            raise WireError("bad_field", "have must be a map and snapshot a boolean")
        haves = {_doc_name(n): _vv_from_wire(v) for n, v in d["have"].items()}
        docs: dict[str, bytes] = {}
        big: list[str] = []
        budget = RESPONSE_BUDGET
        for name in DOCS:
            have = haves.get(name, {})
            mine = self.store.docs[name].version()
            if all(end <= have.get(p, 0) for p, end in mine.items()):
                continue  # nothing they lack
            blob = self._export(name, have, d["snapshot"] and not have)
            if len(blob) <= budget:
                docs[name] = blob
                budget -= len(blob)
            else:
                big.append(name)
        return cbor.encode({"docs": docs, "big": big})

    def _export(self, name: str, have: VersionVector, snapshot: bool) -> bytes:
        try:
            return self.store.snapshot(name) if snapshot else self.store.export_since(name, have)
        except CrdtError as e:
            raise WireError("bad_field", f"cannot export from that version: {e}") from None

    def _answer_fetch(self, value: Any, now: float) -> bytes:
        f = expect_map(value, "fetch", {"doc", "have", "snapshot", "token", "offset"})
        name = _doc_name(f["doc"])
        token = get_bytes(f, "token", max_len=16)
        offset = get_int(f, "offset", 0, MAX_BLOB_BYTES)
        for t, (at, _) in list(self._exports.items()):
            if now - at > EXPORT_TTL_S:
                del self._exports[t]
        if token:
            cached = self._exports.get(token)
            if cached is None:
                raise WireError("gone", "that export expired; start over")
            blob = cached[1]
        else:
            if not isinstance(f["snapshot"], bool):
                raise WireError("bad_field", "snapshot must be a boolean")
            blob = self._export(name, _vv_from_wire(f["have"]), f["snapshot"])
            token = hashlib.sha256(blob).digest()[:16]
            self._exports[token] = (now, blob)
            while len(self._exports) > EXPORT_CACHE:
                self._exports.popitem(last=False)
        if offset >= len(blob):
            raise WireError("bad_field", "offset beyond the export")
        part = blob[offset : offset + CHUNK_BYTES]
        return cbor.encode(
            {"chunk": {"doc": name, "token": token, "offset": offset, "total": len(blob), "data": part}}
        )

    # ---- status -----------------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        if self.cold:
            state = "cold"
        elif self._download is not None or self.last_pull_new:
            state = "syncing"
        else:
            state = "synced"
        return {
            "sync": state,
            **self.store.stats(),
            "pulls": self.pulls,
            "pull_failures": self.failures,
            "rejected": dict(self.rejections),
        }
