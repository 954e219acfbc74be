"""The service protocol's messages (PROTOCOL.md §11), sans-IO: what rides in the `data` of a req/resp frame.

A service named NAME answers requests on protocol `hs/1/svc/NAME` of the request multiplexer
(`pynode/net/reqresp.py`). Every request's data is one CBOR map:

  {op: "call", m: method, a: {args}}    start a call; a streamed method answers its first chunk
  {op: "pull", s: stream id}            the next chunk of a stream this peer opened
  {op: "stop", s: stream id}            the requester gives up a stream (the server frees its slot)

and every answer (a `resp` with ok = true) is one CBOR map:

  {r: result, load: permille}                                   a unary call's result
  {s: stream id, items: [item...], end: bool, load: permille}   a chunk: what was produced since the last pull

Streams are pulled, one chunk per request: the producer runs ahead of its puller into a bounded buffer, so a
pull usually finds several items waiting and the round trip overlaps the work (no new frame type, and a
requester that stops pulling stops the work). A refusal is a `resp` with ok = false whose reason is
"CODE: detail"; `CODE` (below) tells the requester whether another peer may succeed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pynode.services.limits import MAX_CHUNK_ITEMS, MAX_METHOD_LEN, SERVICE_PROTO_PREFIX
from pynode.wire import cbor
from pynode.wire.errors import WireError
from pynode.wire.schema import expect_map, get_int, get_list, get_str

# Refusal codes. RETRYABLE ones concern this server (full, gone, slow); another peer may well succeed.
BAD_REQUEST = "bad_request"  # malformed or invalid arguments: no peer will take it
TOO_LARGE = "too_large"  # over the service's advertised max_bytes
UNKNOWN_METHOD = "unknown_method"
RATE_LIMITED = "rate_limited"  # this requester's quota on this server is spent for now
BUSY = "busy"  # the server's concurrency is full
NO_STREAM = "no_stream"  # the stream is unknown here: expired, finished, or another peer's
TIMEOUT = "timeout"
FAILED = "failed"  # the service broke while serving
CANCELLED = "cancelled"  # the server is stopping, or stopped the work
UNAVAILABLE = "unavailable"  # no peer offers the capability (client side)
RETRYABLE = frozenset({RATE_LIMITED, BUSY, NO_STREAM, TIMEOUT, FAILED, CANCELLED, UNAVAILABLE})
CODES = frozenset({BAD_REQUEST, TOO_LARGE, UNKNOWN_METHOD} | RETRYABLE)


class ServiceError(Exception):
    """A refusal with a code; carried as the reason "CODE: detail" of a refused response."""

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code
        self.detail = detail

    @property
    def retryable(self) -> bool:
        return self.code in RETRYABLE

    @classmethod
    def from_reason(cls, reason: str) -> ServiceError:
        """Parse a peer's refusal reason; anything without a known code counts as a failure of that peer."""
        code, _, detail = reason.partition(": ")
        if code in CODES:
            return cls(code, detail)
        return cls(FAILED, reason[:200])


def proto(name: str) -> str:
    return SERVICE_PROTO_PREFIX + name


# ---- requests ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    method: str
    args: dict[str, Any]

    def encode(self) -> bytes:
        return cbor.encode({"op": "call", "m": self.method, "a": self.args})


@dataclass(frozen=True)
class Pull:
    sid: int

    def encode(self) -> bytes:
        return cbor.encode({"op": "pull", "s": self.sid})


@dataclass(frozen=True)
class Stop:
    sid: int

    def encode(self) -> bytes:
        return cbor.encode({"op": "stop", "s": self.sid})


Message = Call | Pull | Stop


def decode_request(data: bytes, max_bytes: int) -> Message:
    """Size first, then CBOR, then shape; raises ServiceError (too_large or bad_request)."""
    if len(data) > max_bytes:
        raise ServiceError(TOO_LARGE, f"request of {len(data)} bytes > {max_bytes}")
    try:
        value = cbor.decode(data, max_bytes=max_bytes)
        if not isinstance(value, dict):
            raise WireError("bad_type", "a service request must be a map")
        op = value.get("op")
        if op == "call":
            d = expect_map(value, "call", {"op", "m", "a"})
            method = get_str(d, "m", MAX_METHOD_LEN)
            if not isinstance(d["a"], dict):
                raise WireError("bad_field", "a (the arguments) must be a map")
            return Call(method, d["a"])
        if op in ("pull", "stop"):
            d = expect_map(value, op, {"op", "s"})
            sid = get_int(d, "s", 1, 2**63 - 1)
            return Pull(sid) if op == "pull" else Stop(sid)
        raise WireError("bad_field", f"op must be call, pull or stop, not {str(op)[:16]!r}")
    except WireError as e:
        raise ServiceError(BAD_REQUEST, str(e)) from None


# ---- answers ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Result:
    value: Any
    load: int  # the server's load after this call, in permille of its capacity

    def encode(self) -> bytes:
        return cbor.encode({"r": self.value, "load": self.load})


@dataclass(frozen=True)
class Chunk:
    sid: int
    items: list[Any]
    end: bool
    load: int

    def encode(self) -> bytes:
        return cbor.encode({"s": self.sid, "items": self.items, "end": self.end, "load": self.load})


def decode_answer(data: bytes, max_bytes: int) -> Result | Chunk:
    """A server's answer; raises ServiceError(failed) when it is malformed (that server is broken)."""
    try:
        value = cbor.decode(data, max_bytes=max_bytes)
        if isinstance(value, dict) and "r" in value:
            d = expect_map(value, "result", {"r", "load"})
            return Result(d["r"], get_int(d, "load", 0, 1_000_000))
        d = expect_map(value, "chunk", {"s", "items", "end", "load"})
        if not isinstance(d["end"], bool):
            raise WireError("bad_field", "end must be a boolean")
        items = get_list(d, "items", MAX_CHUNK_ITEMS)
        return Chunk(get_int(d, "s", 1, 2**63 - 1), items, d["end"], get_int(d, "load", 0, 1_000_000))
    except WireError as e:
        raise ServiceError(FAILED, f"malformed answer: {e}") from None
