"""One hosted service's protocol core, sans-IO: refuses what breaks its limits, opens calls and streams, buffers
stream items between pulls, expires what its requester abandoned, and counts who was served or refused.

Order of checks for each request (PROTOCOL.md §11.2): size (unread), the requester's rate bucket (charged
unread, unless it already holds a stream, whose pulls must go on), CBOR and shape, the method and its
arguments, then concurrency. Inputs carry `now`; the runtime runs handlers and does the waiting.
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

from pynode.services import codec
from pynode.services.codec import ServiceError
from pynode.services.limits import (
    MAX_CHUNK_ITEMS,
    MAX_REPLY_BYTES,
    STREAM_BUFFER_BYTES,
    STREAM_IDLE_S,
    STREAM_MAX_S,
)
from pynode.services.quota import Quotas
from pynode.services.spec import Method, ServiceSpec
from pynode.wire import cbor
from pynode.wire.errors import WireError

CHUNK_OVERHEAD = 64  # bytes a chunk's map, stream id, flags and load add around its items


@dataclass(frozen=True)
class Begin:
    """Run `method` for `peer` with the parsed `args`; `sid` > 0 names the stream that collects its items."""

    peer: bytes
    method: str
    args: Any
    sid: int


@dataclass(frozen=True)
class Next:
    """Answer `peer`'s pull of stream `sid` with `ServiceServer.take` (waiting for items if there are none)."""

    peer: bytes
    sid: int


@dataclass(frozen=True)
class Stopped:
    """`peer` gave stream `sid` up (its slot is free already); acknowledge with `ServiceServer.ended`."""

    peer: bytes
    sid: int


@dataclass
class _Stream:
    peer: bytes
    started: float
    last_pull: float
    items: deque[tuple[Any, int]] = field(default_factory=deque)  # (item, its encoded size)
    buffered: int = 0
    done: bool = False
    error: ServiceError | None = None
    units: int = 0


@dataclass
class Tally:
    """What one service did, for the node's status and the dashboard."""

    served: int = 0  # calls and streams completed
    units: int = 0  # work they did (tokens, bytes...)
    refused: Counter[str] = field(default_factory=Counter)  # by code
    by_peer: Counter[bytes] = field(default_factory=Counter)  # completed, by requester
    refused_peers: Counter[bytes] = field(default_factory=Counter)
    cancelled: Counter[str] = field(default_factory=Counter)  # streams this server cancelled, by why


class ServiceServer:
    def __init__(self, spec: ServiceSpec, methods: dict[str, Method]) -> None:
        self.spec = spec
        self.methods = methods
        self.quotas = Quotas(spec.per_min, spec.burst)
        self.tally = Tally()
        self._streams: dict[int, _Stream] = {}
        self._last_sid = 0

    # ---- requests ---------------------------------------------------------------------------------------

    def receive(self, peer: bytes, data: bytes, now: float) -> Begin | Next | Stopped:
        """A request of `peer`. Returns what to do (Stopped: a stop, done already); raises ServiceError."""
        try:
            return self._receive(peer, data, now)
        except ServiceError as e:
            self.tally.refused[e.code] += 1
            self.tally.refused_peers[peer] += 1
            raise

    def _receive(self, peer: bytes, data: bytes, now: float) -> Begin | Next | Stopped:
        spec = self.spec
        if len(data) > spec.max_bytes:
            raise ServiceError(codec.TOO_LARGE, f"request of {len(data)} bytes > {spec.max_bytes}")
        # Charged before parsing, refused or not: malformed requests spend the same bucket as calls. A peer
        # holding a stream is charged after parsing, for calls only, so that its pulls go on.
        holds_stream = any(s.peer == peer for s in self._streams.values())
        if not holds_stream and not self.quotas.take(peer, now):
            raise ServiceError(codec.RATE_LIMITED, f"{spec.per_min} calls a minute")
        message = codec.decode_request(data, spec.max_bytes)
        if isinstance(message, codec.Pull):
            self._owned(peer, message.sid).last_pull = now
            return Next(peer, message.sid)
        if isinstance(message, codec.Stop):
            if self._streams.get(message.sid) is not None and self._streams[message.sid].peer == peer:
                self._end(message.sid, completed=False)
            return Stopped(peer, message.sid)
        method = self.methods.get(message.method)
        if method is None:
            raise ServiceError(codec.UNKNOWN_METHOD, f"{spec.name} has no method {message.method!r}")
        try:
            args = method.parse(message.args)
        except (ValueError, WireError) as e:
            raise ServiceError(codec.BAD_REQUEST, str(e)[:200]) from None
        if self.quotas.open.get(peer, 0) >= spec.concurrent:
            raise ServiceError(codec.BUSY, f"at most {spec.concurrent} open calls per requester")
        if self.quotas.total_open >= spec.capacity:
            raise ServiceError(codec.BUSY, f"serving {spec.capacity} calls already")
        if holds_stream and not self.quotas.take(peer, now):
            raise ServiceError(codec.RATE_LIMITED, f"{spec.per_min} calls a minute")
        self.quotas.acquire(peer)
        sid = 0
        if method.stream:
            self._last_sid += 1
            sid = self._last_sid
            self._streams[sid] = _Stream(peer, now, now)
        return Begin(peer, message.method, args, sid)

    def finished(self, peer: bytes, ok: bool, units: int) -> None:
        """A unary call ended (ok: answered): frees its slot."""
        self.quotas.release(peer)
        if ok:
            self.tally.served += 1
            self.tally.units += units
            self.tally.by_peer[peer] += 1

    def refused(self, peer: bytes, code: str) -> None:
        """A call the handler refused or failed (counted like the framework's own refusals)."""
        self.tally.refused[code] += 1
        self.tally.refused_peers[peer] += 1

    def result(self, value: Any) -> bytes:
        data = codec.Result(value, self.load()).encode()
        if len(data) > MAX_REPLY_BYTES:
            raise ServiceError(codec.FAILED, "result larger than a frame")
        return data

    # ---- streams ----------------------------------------------------------------------------------------

    def push(self, sid: int, item: Any) -> bool:
        """The producer's next item; False when the stream is gone (stop producing). Raises ServiceError if
        the item alone could never fit a chunk."""
        s = self._streams.get(sid)
        if s is None:
            return False
        size = len(cbor.encode(item))
        if size + CHUNK_OVERHEAD > MAX_REPLY_BYTES:
            raise ServiceError(codec.FAILED, "a stream item larger than a frame")
        s.items.append((item, size))
        s.buffered += size
        return True

    def room(self, sid: int) -> bool:
        """Whether the producer may run further ahead (False also when the stream is gone)."""
        s = self._streams.get(sid)
        return s is not None and s.buffered < STREAM_BUFFER_BYTES

    def ended(self, sid: int) -> bytes:
        """The final, empty chunk acknowledging a stop."""
        return codec.Chunk(sid, [], True, self.load()).encode()

    def alive(self, sid: int) -> bool:
        return sid in self._streams

    def close(self, sid: int, error: ServiceError | None, units: int) -> None:
        """The producer ended (error None: all items were pushed)."""
        s = self._streams.get(sid)
        if s is not None:
            s.done, s.error, s.units = True, error, units

    def take(self, sid: int) -> bytes | None:
        """The chunk for a pull: buffered items (end set once the producer is done and they are all out), or
        None when nothing is there yet. Raises ServiceError when the producer failed with nothing left."""
        s = self._streams.get(sid)
        if s is None:
            raise ServiceError(codec.NO_STREAM, "the stream ended")
        if not s.items and not s.done:
            return None
        if not s.items and s.error is not None:
            self._end(sid, completed=False)
            self.refused(s.peer, s.error.code)
            raise s.error
        items, size = [], CHUNK_OVERHEAD
        while s.items and len(items) < MAX_CHUNK_ITEMS and size + s.items[0][1] <= MAX_REPLY_BYTES:
            item, n = s.items.popleft()
            items.append(item)
            size += n
            s.buffered -= n
        end = s.done and not s.items and s.error is None
        if end:
            self._end(sid, completed=True)
        return codec.Chunk(sid, items, end, self.load()).encode()

    def _owned(self, peer: bytes, sid: int) -> _Stream:
        s = self._streams.get(sid)
        if s is None or s.peer != peer:  # another peer's stream is as good as unknown to this one
            raise ServiceError(codec.NO_STREAM, f"no open stream {sid}")
        return s

    def _end(self, sid: int, completed: bool) -> None:
        s = self._streams.pop(sid)
        self.quotas.release(s.peer)
        if completed:
            self.tally.served += 1
            self.tally.units += s.units
            self.tally.by_peer[s.peer] += 1

    # ---- time and departures ------------------------------------------------------------------------------

    def tick(self, now: float, connected: set[bytes]) -> list[int]:
        """Streams to cancel: their requester left, stopped pulling, or they ran past STREAM_MAX_S."""
        gone = []
        for sid, s in list(self._streams.items()):
            why = (
                "left"
                if s.peer not in connected
                else "idle"
                if now - s.last_pull > STREAM_IDLE_S
                else "too_long"
                if now - s.started > STREAM_MAX_S
                else None
            )
            if why is not None:
                gone.append(sid)
                self._end(sid, completed=False)
                self.refused(s.peer, codec.CANCELLED)
                self.tally.cancelled[why] += 1
        return gone

    def open_streams(self, peer: bytes | None = None) -> list[int]:
        return [sid for sid, s in self._streams.items() if peer is None or s.peer == peer]

    def load(self) -> int:
        """Open calls and streams in permille of capacity (answers carry it: clients route by it)."""
        return min(1_000_000, self.quotas.total_open * 1000 // self.spec.capacity)
