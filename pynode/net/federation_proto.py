"""Relay-to-relay frames (PROTOCOL.md §2.11): what two federated relays say over one `/p2p` WebSocket.

A federation link starts like a node's session (`challenge`, `hello` with the `federation` capability), then the
dialling relay challenges back and the accepting relay answers with its own `hello`: both ends are
authenticated by the same signed hello a node uses. After that both sides send:

- `dir`: a signed, expiring directory of the peers the sender hosts. Each entry is the peer's own `hello` to the
  sender (nonce, ts, caps, signature), so a relay cannot list a peer that never connected to it.
- `hop`: a `signal` or `circuit` frame one of the sender's peers addressed to a peer the receiver hosts.
- `unreachable`: the receiver of a `hop` does not host its target (any more).
- `error`: why the sender is closing the link.

Parsing is strict and size-limited like every relay frame; `parse_fed_frame` is the only way in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pynode.net import relay_proto as rp
from pynode.net.limits import (
    MAX_DIR_ENTRIES_PER_FRAME,
    MAX_DIR_RELAY_URLS,
    MAX_ERROR_CODE_LEN,
)
from pynode.wire import cbor
from pynode.wire.errors import WireError
from pynode.wire.limits import (
    MAX_ERROR_TEXT,
    MAX_FRAME_BYTES,
    MAX_RELAY_FRAME_BYTES,
    MAX_SIGNAL_BYTES,
    NONCE_BYTES,
)
from pynode.wire.schema import expect_map, get_bool, get_bytes, get_int, get_list, get_str

FED_CAP = "federation"  # the capability a relay announces in its hello to open a federation link
DOMAIN_FED_DIR = b"hyperspace/1/relay-directory\x00"
HOP_KINDS = ("signal", "circuit")


@dataclass(frozen=True)
class Entry:
    """A hosted peer, proven by its hello to the listing relay (PROTOCOL.md §2.2)."""

    peer: bytes
    caps: tuple[str, ...]
    ts: int  # the hello's ts: the newest claim on a peer wins (it moved there last)
    nonce: bytes
    sig: bytes

    def to_wire(self) -> dict[str, Any]:
        return {
            "peer": self.peer,
            "caps": list(self.caps),
            "ts": self.ts,
            "nonce": self.nonce,
            "sig": self.sig,
        }

    def hello_payload(self, relay: bytes) -> bytes:
        """What the peer signed: its hello to `relay`."""
        return rp.hello_payload(self.nonce, relay, self.peer, self.caps, self.ts)


@dataclass(frozen=True)
class DirBody:
    """A directory update before its signature: `full` replaces what the receiver holds, else it applies
    `add` and `remove` to the update numbered `seq - 1`."""

    relay: bytes
    seq: int
    exp: int  # milliseconds since the Unix epoch: the receiver forgets these routes after this
    full: bool
    url: str  # the sender's public /p2p URL ("" when it has none)
    relays: tuple[tuple[bytes, str], ...]  # (id, URL) of other relays the sender links to (discovery)
    add: tuple[Entry, ...]
    remove: tuple[bytes, ...]

    def to_wire(self) -> dict[str, Any]:
        return {
            "t": "dir",
            "relay": self.relay,
            "seq": self.seq,
            "exp": self.exp,
            "full": self.full,
            "url": self.url,
            "relays": [{"relay": r, "url": u} for r, u in self.relays],
            "add": [e.to_wire() for e in self.add],
            "del": list(self.remove),
        }

    def payload(self) -> bytes:
        return DOMAIN_FED_DIR + cbor.encode(self.to_wire())


@dataclass(frozen=True)
class Dir:
    body: DirBody
    sig: bytes

    def encode(self) -> bytes:
        return cbor.encode({**self.body.to_wire(), "sig": self.sig})


@dataclass(frozen=True)
class Hop:
    kind: str  # "signal" | "circuit"
    sender: bytes
    to: bytes
    data: bytes

    def encode(self) -> bytes:
        return cbor.encode(
            {"t": "hop", "kind": self.kind, "from": self.sender, "to": self.to, "data": self.data}
        )


@dataclass(frozen=True)
class HopUnreachable:
    peer: bytes  # the hop's target, not hosted here
    to: bytes  # the hop's sender, who should hear it

    def encode(self) -> bytes:
        return cbor.encode({"t": "unreachable", "peer": self.peer, "to": self.to})


FedFrame = rp.Challenge | rp.Hello | rp.Error | Dir | Hop | HopUnreachable


def _entry(value: Any) -> Entry:
    d = expect_map(value, "directory entry", {"peer", "caps", "ts", "nonce", "sig"})
    return Entry(
        get_bytes(d, "peer", size=rp.PEER_BYTES),
        rp.parse_caps(d["caps"]),
        get_int(d, "ts"),
        get_bytes(d, "nonce", size=NONCE_BYTES),
        get_bytes(d, "sig", size=rp.SIG_BYTES),
    )


def _url(value: Any) -> str:
    return "" if value == "" else rp.relay_url(value)  # "": the sender has no public URL


def _dir(d: dict[str, Any]) -> Dir:
    keys = {"t", "relay", "seq", "exp", "full", "url", "relays", "add", "del", "sig"}
    d = expect_map(d, "dir", keys)
    body = DirBody(
        relay=get_bytes(d, "relay", size=rp.PEER_BYTES),
        seq=get_int(d, "seq"),
        exp=get_int(d, "exp"),
        full=get_bool(d, "full"),
        url=_url(d["url"]),
        relays=tuple(_known_relay(r) for r in get_list(d, "relays", MAX_DIR_RELAY_URLS)),
        add=tuple(_entry(e) for e in get_list(d, "add", MAX_DIR_ENTRIES_PER_FRAME)),
        remove=tuple(_peer(p) for p in get_list(d, "del", MAX_DIR_ENTRIES_PER_FRAME)),
    )
    return Dir(body, get_bytes(d, "sig", size=rp.SIG_BYTES))


def _known_relay(value: Any) -> tuple[bytes, str]:
    d = expect_map(value, "relay", {"relay", "url"})
    return get_bytes(d, "relay", size=rp.PEER_BYTES), rp.relay_url(d["url"])


def _peer(value: Any) -> bytes:
    if not isinstance(value, bytes) or len(value) != rp.PEER_BYTES:
        raise WireError("bad_field", f"a peer id is {rp.PEER_BYTES} bytes")
    return value


def _hop(d: dict[str, Any]) -> Hop:
    d = expect_map(d, "hop", {"t", "kind", "from", "to", "data"})
    kind = d["kind"]
    if kind not in HOP_KINDS:
        raise WireError("bad_field", "a hop's kind is signal or circuit")
    limit = MAX_SIGNAL_BYTES if kind == "signal" else MAX_FRAME_BYTES
    return Hop(
        kind, get_bytes(d, "from", size=rp.PEER_BYTES), get_bytes(d, "to", size=rp.PEER_BYTES),
        get_bytes(d, "data", max_len=limit),
    )  # fmt: skip


def _unreachable(d: dict[str, Any]) -> HopUnreachable:
    d = expect_map(d, "unreachable", {"t", "peer", "to"})
    return HopUnreachable(get_bytes(d, "peer", size=rp.PEER_BYTES), get_bytes(d, "to", size=rp.PEER_BYTES))


def _error(d: dict[str, Any]) -> rp.Error:
    d = expect_map(d, "error", {"t", "code", "msg"})
    return rp.Error(get_str(d, "code", MAX_ERROR_CODE_LEN), get_str(d, "msg", MAX_ERROR_TEXT, min_len=0))


def _challenge(d: dict[str, Any]) -> rp.Challenge:
    d = expect_map(d, "challenge", {"t", "nonce", "relay"})
    return rp.Challenge(get_bytes(d, "nonce", size=NONCE_BYTES), get_bytes(d, "relay", size=rp.PEER_BYTES))


def _hello(d: dict[str, Any]) -> rp.Hello:
    d = expect_map(d, "hello", {"t", "peer", "caps", "ts", "sig"})
    return rp.Hello(
        get_bytes(d, "peer", size=rp.PEER_BYTES), rp.parse_caps(d["caps"]), get_int(d, "ts"),
        get_bytes(d, "sig", size=rp.SIG_BYTES),
    )  # fmt: skip


_PARSERS = {
    "challenge": _challenge,
    "hello": _hello,
    "error": _error,
    "dir": _dir,
    "hop": _hop,
    "unreachable": _unreachable,
}


def parse_fed_frame(buf: bytes) -> FedFrame:
    """Parse one message of a federation link (either direction); raises WireError on anything else."""
    value = cbor.decode(buf, max_bytes=MAX_RELAY_FRAME_BYTES)
    if not isinstance(value, dict):
        raise WireError("bad_type", "a federation frame must be a map")
    kind = value.get("t")
    if not isinstance(kind, str) or kind not in _PARSERS:
        raise WireError("unknown_type", f"no federation frame type {str(kind)[:32]!r}")
    return _PARSERS[kind](value)
