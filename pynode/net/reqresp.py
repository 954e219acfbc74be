"""Point-to-point request/response between two connected peers (PROTOCOL.md §3.4).

Gossip broadcasts; some conversations are between two peers only: anti-entropy for the replicated state,
fetching a model's parameters, the capability services. They ride the same authenticated connection as
gossip, as two more frame types:

  {t: "req",  id: uint, proto: text, data: bytes}
  {t: "resp", id: uint, ok: bool, data: bytes}     (ok = false: data is a UTF-8 reason)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pynode.wire import cbor
from pynode.wire.errors import WireError
from pynode.wire.limits import MAX_FRAME_BYTES
from pynode.wire.schema import expect_map, get_bytes, get_int, get_str

MAX_PROTO_LEN = 64
MAX_INFLIGHT_PER_PEER = 32  # requests a peer may have open with us; more are refused as "busy"
MAX_REASON_BYTES = 256
DEFAULT_TIMEOUT_S = 10.0


class RequestFailed(Exception):
    """The remote peer answered with ok = false (or could not be reached)."""


@dataclass(frozen=True)
class Request:
    id: int
    proto: str
    data: bytes

    def encode(self) -> bytes:
        return cbor.encode({"t": "req", "id": self.id, "proto": self.proto, "data": self.data})


@dataclass(frozen=True)
class Response:
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
