"""Relay frames (PROTOCOL.md §2): what a node and a relay say to each other over the `/p2p` WebSocket.

Shared by the relay server and the node's relay client, so it imports no web framework. Every frame is a
frozen dataclass; `to_wire()` gives its CBOR value and `encode()` its bytes. `parse_relay_frame` is the only
way in: it size-limits, decodes strictly and checks every field, raising WireError on anything else.

`signal` and `circuit` travel in both directions with different fields: a node names the target (`to`), the
relay names the source (`from`). They are distinct classes so a frame can never be read in the wrong direction.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

from pynode.net.limits import (
    HELLO_MAX_SKEW_MS,
    MAX_DIR_RELAY_URLS,
    MAX_ERROR_CODE_LEN,
    MAX_RELAY_URL_LEN,
    MAX_WELCOME_PEERS,
)
from pynode.platform import Signer, current
from pynode.wire import cbor
from pynode.wire.errors import WireError
from pynode.wire.limits import (
    MAX_CAPABILITIES,
    MAX_CAPABILITY_LEN,
    MAX_ERROR_TEXT,
    MAX_FRAME_BYTES,
    MAX_RELAY_FRAME_BYTES,
    MAX_SIGNAL_BYTES,
    NONCE_BYTES,
)
from pynode.wire.schema import expect_map, get_bytes, get_int, get_list, get_str

DOMAIN_RELAY_HELLO = b"hyperspace/1/relay-hello\x00"
PEER_BYTES = 32
SIG_BYTES = 64


class _Frame(ABC):
    @abstractmethod
    def to_wire(self) -> dict[str, Any]: ...

    def encode(self) -> bytes:
        return cbor.encode(self.to_wire())


@dataclass(frozen=True)
class PeerInfo:
    """One entry of a welcome: a connected peer and the capabilities it announced."""

    peer: bytes
    caps: tuple[str, ...]

    def to_wire(self) -> dict[str, Any]:
        return {"peer": self.peer, "caps": list(self.caps)}


# relay → node


@dataclass(frozen=True)
class Challenge(_Frame):
    """The relay's first frame: a nonce for the client to sign into its hello."""

    nonce: bytes
    relay: bytes  # the relay's peer id, signed into the hello so a hello is good for one relay only

    def to_wire(self) -> dict[str, Any]:
        return {"t": "challenge", "nonce": self.nonce, "relay": self.relay}


@dataclass(frozen=True)
class Welcome(_Frame):
    """The relay's answer to a good hello: the peers on it and the other relays."""

    peers: tuple[PeerInfo, ...]  # newest first
    relays: tuple[
        str, ...
    ] = ()  # the federation's relays (/p2p URLs) to fail over to; sent when there are any

    def to_wire(self) -> dict[str, Any]:
        relays = {"relays": list(self.relays)} if self.relays else {}
        return {"t": "welcome", "peers": [p.to_wire() for p in self.peers], **relays}


@dataclass(frozen=True)
class Join(_Frame):
    """A peer joined the relay."""

    peer: bytes
    caps: tuple[str, ...]

    def to_wire(self) -> dict[str, Any]:
        return {"t": "join", "peer": self.peer, "caps": list(self.caps)}


@dataclass(frozen=True)
class Leave(_Frame):
    """A peer left the relay."""

    peer: bytes

    def to_wire(self) -> dict[str, Any]:
        return {"t": "leave", "peer": self.peer}


@dataclass(frozen=True)
class SignalFrom(_Frame):
    """A WebRTC signalling message from another peer."""

    sender: bytes
    data: bytes

    def to_wire(self) -> dict[str, Any]:
        return {"t": "signal", "from": self.sender, "data": self.data}


@dataclass(frozen=True)
class CircuitFrom(_Frame):
    """Data from another peer over a relayed circuit."""

    sender: bytes
    data: bytes

    def to_wire(self) -> dict[str, Any]:
        return {"t": "circuit", "from": self.sender, "data": self.data}


@dataclass(frozen=True)
class Unreachable(_Frame):
    """A peer a frame was addressed to is not on the relay."""

    peer: bytes

    def to_wire(self) -> dict[str, Any]:
        return {"t": "unreachable", "peer": self.peer}


@dataclass(frozen=True)
class Error(_Frame):
    """An error the relay reports; some end the connection."""

    code: str  # bad_frame, bad_hello, rate_limited, too_many_connections, replaced, shutting_down, link_refused, cut_off
    msg: str

    def to_wire(self) -> dict[str, Any]:
        return {"t": "error", "code": self.code, "msg": self.msg}


# node → relay


@dataclass(frozen=True)
class Hello(_Frame):
    """The client's signed hello, answering the relay's challenge."""

    peer: bytes
    caps: tuple[str, ...]
    ts: int  # milliseconds since the Unix epoch
    sig: bytes

    def to_wire(self) -> dict[str, Any]:
        return {"t": "hello", "peer": self.peer, "caps": list(self.caps), "ts": self.ts, "sig": self.sig}


@dataclass(frozen=True)
class SignalTo(_Frame):
    """A WebRTC signalling message for another peer."""

    to: bytes
    data: bytes

    def to_wire(self) -> dict[str, Any]:
        return {"t": "signal", "to": self.to, "data": self.data}


@dataclass(frozen=True)
class CircuitTo(_Frame):
    """Data for another peer over a relayed circuit."""

    to: bytes
    data: bytes

    def to_wire(self) -> dict[str, Any]:
        return {"t": "circuit", "to": self.to, "data": self.data}


RelayFrame = (
    Challenge
    | Welcome
    | Join
    | Leave
    | SignalFrom
    | CircuitFrom
    | Unreachable
    | Error
    | Hello
    | SignalTo
    | CircuitTo
)


# Parsing


def _caps(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or len(value) > MAX_CAPABILITIES:
        raise WireError("bad_field", f"caps must be a list of at most {MAX_CAPABILITIES} names")
    for name in value:
        # Printable only: capability names end up in logs and dashboards.
        if not isinstance(name, str) or not 1 <= len(name) <= MAX_CAPABILITY_LEN or not name.isprintable():
            raise WireError("bad_field", f"a capability is 1..{MAX_CAPABILITY_LEN} printable characters")
    return tuple(value)


parse_caps = _caps  # the federation's directory entries carry a hello's caps (federation_proto.py)


def _peer_info(value: Any) -> PeerInfo:
    d = expect_map(value, "welcome peer", {"peer", "caps"})
    return PeerInfo(get_bytes(d, "peer", size=PEER_BYTES), _caps(d["caps"]))


def _challenge(d: dict[str, Any]) -> Challenge:
    d = expect_map(d, "challenge", {"t", "nonce", "relay"})
    return Challenge(get_bytes(d, "nonce", size=NONCE_BYTES), get_bytes(d, "relay", size=PEER_BYTES))


def relay_url(value: Any) -> str:
    """A relay's /p2p URL as a relay names it (a welcome's `relays`, a federation directory)."""
    if (
        not isinstance(value, str)
        or not 1 <= len(value) <= MAX_RELAY_URL_LEN
        or not value.isprintable()
        or not value.startswith(("ws://", "wss://"))
    ):
        raise WireError(
            "bad_field", f"a relay URL is ws:// or wss://, at most {MAX_RELAY_URL_LEN} characters"
        )
    return value


def _welcome(d: dict[str, Any]) -> Welcome:
    d = expect_map(d, "welcome", {"t", "peers"}, optional={"relays"})
    relays = tuple(relay_url(u) for u in get_list(d, "relays", MAX_DIR_RELAY_URLS)) if "relays" in d else ()
    return Welcome(tuple(_peer_info(p) for p in get_list(d, "peers", MAX_WELCOME_PEERS)), relays)


def _join(d: dict[str, Any]) -> Join:
    d = expect_map(d, "join", {"t", "peer", "caps"})
    return Join(get_bytes(d, "peer", size=PEER_BYTES), _caps(d["caps"]))


def _leave(d: dict[str, Any]) -> Leave:
    d = expect_map(d, "leave", {"t", "peer"})
    return Leave(get_bytes(d, "peer", size=PEER_BYTES))


def _signal_from(d: dict[str, Any]) -> SignalFrom:
    d = expect_map(d, "signal", {"t", "from", "data"})
    return SignalFrom(get_bytes(d, "from", size=PEER_BYTES), get_bytes(d, "data", max_len=MAX_SIGNAL_BYTES))


def _circuit_from(d: dict[str, Any]) -> CircuitFrom:
    d = expect_map(d, "circuit", {"t", "from", "data"})
    return CircuitFrom(get_bytes(d, "from", size=PEER_BYTES), get_bytes(d, "data", max_len=MAX_FRAME_BYTES))


def _unreachable(d: dict[str, Any]) -> Unreachable:
    d = expect_map(d, "unreachable", {"t", "peer"})
    return Unreachable(get_bytes(d, "peer", size=PEER_BYTES))


def _error(d: dict[str, Any]) -> Error:
    d = expect_map(d, "error", {"t", "code", "msg"})
    return Error(get_str(d, "code", MAX_ERROR_CODE_LEN), get_str(d, "msg", MAX_ERROR_TEXT, min_len=0))


def _hello(d: dict[str, Any]) -> Hello:
    d = expect_map(d, "hello", {"t", "peer", "caps", "ts", "sig"})
    return Hello(
        peer=get_bytes(d, "peer", size=PEER_BYTES),
        caps=_caps(d["caps"]),
        ts=get_int(d, "ts"),
        sig=get_bytes(d, "sig", size=SIG_BYTES),
    )


def _signal_to(d: dict[str, Any]) -> SignalTo:
    d = expect_map(d, "signal", {"t", "to", "data"})
    return SignalTo(get_bytes(d, "to", size=PEER_BYTES), get_bytes(d, "data", max_len=MAX_SIGNAL_BYTES))


def _circuit_to(d: dict[str, Any]) -> CircuitTo:
    d = expect_map(d, "circuit", {"t", "to", "data"})
    return CircuitTo(get_bytes(d, "to", size=PEER_BYTES), get_bytes(d, "data", max_len=MAX_FRAME_BYTES))


_FROM_RELAY = {
    "challenge": _challenge,
    "welcome": _welcome,
    "join": _join,
    "leave": _leave,
    "signal": _signal_from,
    "circuit": _circuit_from,
    "unreachable": _unreachable,
    "error": _error,
}
_FROM_NODE = {"hello": _hello, "signal": _signal_to, "circuit": _circuit_to}


def parse_relay_frame(buf: bytes, from_relay: bool) -> RelayFrame:
    """Parse one WebSocket message; `from_relay` says which side sent it (a relay parses with False)."""
    value = cbor.decode(buf, max_bytes=MAX_RELAY_FRAME_BYTES)
    if not isinstance(value, dict):
        raise WireError("bad_type", "a relay frame must be a map")
    kind = value.get("t")
    parsers = _FROM_RELAY if from_relay else _FROM_NODE
    if not isinstance(kind, str) or kind not in parsers:
        raise WireError("unknown_type", f"no relay frame type {str(kind)[:32]!r} in this direction")
    return parsers[kind](value)


# The hello signature


def hello_payload(
    nonce: bytes, relay: bytes, peer: bytes, caps: tuple[str, ...] | list[str], ts: int
) -> bytes:
    return DOMAIN_RELAY_HELLO + cbor.encode(
        {"nonce": nonce, "relay": relay, "peer": peer, "caps": list(caps), "ts": ts}
    )


async def make_hello(signer: Signer, nonce: bytes, relay: bytes, caps: tuple[str, ...], ts: int) -> Hello:
    """Answer a relay's challenge; `ts` is the node's clock in milliseconds since the Unix epoch."""
    sig = await signer.sign(hello_payload(nonce, relay, signer.public_key, caps, ts))
    return Hello(signer.public_key, tuple(caps), ts, sig)


async def verify_hello(hello: Hello, nonce: bytes, relay: bytes, now_ms: int) -> None:
    """Raise WireError (`stale_hello` or `bad_signature`) unless `hello` answers this challenge, now."""
    if abs(hello.ts - now_ms) > HELLO_MAX_SKEW_MS:
        raise WireError("stale_hello", f"hello ts is {hello.ts - now_ms} ms off the relay's clock")
    payload = hello_payload(nonce, relay, hello.peer, hello.caps, hello.ts)
    if not await current().verify(hello.peer, payload, hello.sig):
        raise WireError("bad_signature", "hello signature does not verify")
