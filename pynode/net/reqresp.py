"""Point-to-point request/response between two connected peers (PROTOCOL.md §3.4), sans-IO.

Gossip broadcasts; some conversations are between two peers only: anti-entropy for the replicated state,
fetching a model's parameters, the capability services. They ride the same authenticated connection as
gossip, as two more frame types:

  {t: "req",  id: uint, proto: text, data: bytes}
  {t: "resp", id: uint, ok: bool, data: bytes}     (ok = false: data is a UTF-8 reason)

`ReqResp` is both ends of that for every peer: it numbers our requests and remembers their deadlines, matches
responses, fails what a departed peer or the clock leaves unanswered, and counts what each peer has us serve.
Inputs carry `now`; outputs are values (`Reply`, `Serve`, `Answered`, `Failed`) the runtime carries out.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Container
from dataclasses import dataclass
from typing import Any

from pynode.identity import short_id
from pynode.net.limits import MAX_INFLIGHT_PER_PEER, MAX_PROTO_LEN, MAX_REASON_BYTES
from pynode.wire import cbor
from pynode.wire.errors import WireError
from pynode.wire.limits import MAX_FRAME_BYTES
from pynode.wire.schema import expect_map, get_bytes, get_int, get_str

log = logging.getLogger(__name__)


class RequestFailed(Exception):
    """The remote peer answered with ok = false (or could not be reached)."""


@dataclass(frozen=True)
class Request:
    """A request frame: its id, protocol name and payload."""

    id: int
    proto: str
    data: bytes

    def encode(self) -> bytes:
        return cbor.encode({"t": "req", "id": self.id, "proto": self.proto, "data": self.data})


@dataclass(frozen=True)
class Response:
    """A response frame to the request with the same id."""

    id: int
    ok: bool
    data: bytes

    def encode(self) -> bytes:
        return cbor.encode({"t": "resp", "id": self.id, "ok": self.ok, "data": self.data})

    @classmethod
    def refusal(cls, id: int, reason: str) -> Response:
        return cls(id, False, reason.encode()[:MAX_REASON_BYTES])


def parse(value: Any) -> Request | Response:
    """A decoded `req` or `resp` frame (the caller has checked `t`)."""
    if value.get("t") == "req":
        d = expect_map(value, "req", {"t", "id", "proto", "data"})
        return Request(
            get_int(d, "id"),
            get_str(d, "proto", MAX_PROTO_LEN),
            get_bytes(d, "data", max_len=MAX_FRAME_BYTES),
        )
    d = expect_map(value, "resp", {"t", "id", "ok", "data"})
    if not isinstance(d["ok"], bool):
        raise WireError("bad_field", "ok must be a boolean")
    data = get_bytes(d, "data", max_len=MAX_FRAME_BYTES if d["ok"] else MAX_REASON_BYTES)
    return Response(get_int(d, "id"), d["ok"], data)


# ---- outputs ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    """Send `frame` to `peer`."""

    peer: bytes
    frame: bytes


@dataclass(frozen=True)
class Serve:
    """Run the service for `request`, then report its outcome with `ReqResp.served`."""

    peer: bytes
    request: Request


@dataclass(frozen=True)
class Answered:
    """Our request `id` to `peer` got its response."""

    peer: bytes
    id: int
    ok: bool
    data: bytes  # ok = false: the peer's reason, UTF-8


@dataclass(frozen=True)
class Failed:
    """Our request `id` to `peer` will get no response: the peer left, or the deadline passed."""

    peer: bytes
    id: int
    reason: str
    timed_out: bool


Output = Reply | Serve | Answered | Failed


class ReqResp:
    def __init__(self, rejections: Counter[str], max_inflight: int = MAX_INFLIGHT_PER_PEER) -> None:
        self.rejections = rejections  # hostile or useless input, by reason (shared with the node)
        self.max_inflight = max_inflight
        self._last_id = 0
        self._open: dict[tuple[bytes, int], float] = {}  # our requests: (peer, id) -> deadline
        self._serving: Counter[bytes] = Counter()  # requests each peer has us serve right now

    # ---- asking ---------------------------------------------------------------------------------------

    def request(self, peer: bytes, proto: str, data: bytes, now: float, timeout: float) -> tuple[int, bytes]:
        """Open a request; returns its id and the frame to send to `peer`."""
        self._last_id += 1
        self._open[(peer, self._last_id)] = now + timeout
        return self._last_id, Request(self._last_id, proto, data).encode()

    def cancel(self, peer: bytes, id: int) -> None:
        """The asker stopped waiting: a late response will count as unexpected."""
        self._open.pop((peer, id), None)

    def tick(self, now: float) -> list[Output]:
        """Fail every request whose deadline has passed."""
        expired = [key for key, deadline in self._open.items() if deadline <= now]
        for key in expired:
            del self._open[key]
        return [Failed(peer, id, "timed out", timed_out=True) for peer, id in expired]

    def next_deadline(self) -> float | None:
        """When `tick` will next have something to fail (None: no request is open)."""
        return min(self._open.values(), default=None)

    def peer_gone(self, peer: bytes) -> list[Output]:
        """`peer` has no connection left: nothing we asked it will be answered."""
        gone = [key for key in self._open if key[0] == peer]
        for key in gone:
            del self._open[key]
        return [Failed(peer, id, f"{short_id(peer)} disconnected", timed_out=False) for _, id in gone]

    # ---- frames from a peer ---------------------------------------------------------------------------

    def receive(self, peer: bytes, value: dict[str, Any], services: Container[str]) -> list[Output]:
        """A decoded `req` or `resp` frame from `peer`; raises WireError when it is malformed."""
        message = parse(value)
        if isinstance(message, Response):
            if self._open.pop((peer, message.id), None) is None:
                self.rejections["unexpected_response"] += 1
                return []
            return [Answered(peer, message.id, message.ok, message.data)]
        if message.proto not in services:
            return [Reply(peer, Response.refusal(message.id, f"unknown protocol {message.proto}").encode())]
        if self._serving[peer] >= self.max_inflight:
            self.rejections["requests_over_limit"] += 1
            return [Reply(peer, Response.refusal(message.id, "busy").encode())]
        self._serving[peer] += 1
        return [Serve(peer, message)]

    def served(self, peer: bytes, id: int, ok: bool, data: bytes) -> Reply:
        """The service for request `id` of `peer` finished: the response to send (a refusal if `ok` is false,
        `data` then being the reason)."""
        self._serving[peer] -= 1
        if self._serving[peer] <= 0:
            del self._serving[peer]
        response = Response(id, True, data) if ok else Response.refusal(id, data.decode("utf-8", "replace"))
        frame = response.encode()
        if len(frame) > MAX_FRAME_BYTES:
            log.error("a service answered %d bytes, over the frame limit", len(frame))
            frame = Response.refusal(id, "response too large").encode()
        return Reply(peer, frame)

    def serving(self, peer: bytes) -> int:
        return self._serving[peer]
