"""The mutual signed-challenge handshake that opens every peer connection (PROTOCOL.md §3.1), sans-IO.

  I → R  {t: "hs1", peer: I, nonce: Ni}
  R → I  {t: "hs2", peer: R, nonce: Nr, sig: sign_R(transcript("responder"))}
  I → R  {t: "hs3", sig: sign_I(transcript("initiator"))}

  transcript = {role, initiator: I, responder: R, ni, nr}  (+ dtls: [I's fingerprints, R's] on a data channel)

Both nonces are fresh, so each transcript is unique and a recorded one cannot be replayed; each side signs its
role, so a signature cannot be reflected back to its author. On a direct channel both sides also sign the DTLS
certificate fingerprints they see in the offer and the answer: a relay that swapped the SDPs to sit between two
peers leaves them with different transcripts, and the handshake fails.

`Initiator` and `Responder` take frames in and hand back actions: `Send` a frame, `Sign` or `Verify` a
transcript (signing is asynchronous in the browser, so the caller performs it and feeds the result back).
They raise WireError on anything a peer should not have sent. The caller owns the clock and the connection.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pynode.net.limits import HS1_MAX_BYTES, MAX_FINGERPRINT_LEN, MAX_FINGERPRINTS
from pynode.wire import cbor
from pynode.wire.errors import WireError
from pynode.wire.limits import NONCE_BYTES
from pynode.wire.schema import expect_map, get_bytes

DOMAIN_HANDSHAKE = b"hyperspace/1/handshake\x00"
# Frames of an established session. A circuit has no session id, so when we restart a circuit the peer's
# frames of the old session may still be in flight ahead of its hs2: the initiator skips those.
SESSION_FRAMES = frozenset({"rpc", "req", "resp"})


# ---- DTLS fingerprints -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fingerprints:
    """The DTLS certificate fingerprints of both ends of a data channel, as their SDPs announce them."""

    initiator: tuple[str, ...]  # the offerer's (the handshake's initiator, §4.3)
    responder: tuple[str, ...]

    @classmethod
    def of(cls, offer: str, answer: str) -> Fingerprints:
        """From the offer and answer SDP text; raises ValueError when either has none or a malformed one."""
        return cls(sdp_fingerprints(offer), sdp_fingerprints(answer))


def sdp_fingerprints(sdp: str) -> tuple[str, ...]:
    """Every `a=fingerprint:` line of an SDP, as "<hash> <HEX:HEX:…>" (hash lowercase, hex uppercase),
    distinct and sorted, so both ends derive the same list from the same text."""
    found = set()
    for line in sdp.splitlines():
        if not line.startswith("a=fingerprint:"):
            continue
        parts = line[len("a=fingerprint:") :].split()
        if len(parts) != 2 or not _is_fingerprint(parts[0], parts[1]):
            raise ValueError(f"malformed DTLS fingerprint line {line[:80]!r}")
        found.add(f"{parts[0].lower()} {parts[1].upper()}")
        if len(found) > MAX_FINGERPRINTS:
            raise ValueError(f"more than {MAX_FINGERPRINTS} DTLS fingerprints")
    if not found:
        raise ValueError("the SDP has no DTLS fingerprint")
    return tuple(sorted(found))


def _is_fingerprint(algorithm: str, value: str) -> bool:
    pairs = value.split(":")
    return (
        len(algorithm) + 1 + len(value) <= MAX_FINGERPRINT_LEN
        and 1 <= len(algorithm) <= 16
        and all(c.isascii() and (c.isalnum() or c == "-") for c in algorithm)
        and len(pairs) >= 16
        and all(len(p) == 2 and all(c in "0123456789abcdefABCDEF" for c in p) for p in pairs)
    )


# ---- frames ----------------------------------------------------------------------------------------------


def transcript(
    role: str, initiator: bytes, responder: bytes, ni: bytes, nr: bytes, dtls: Fingerprints | None = None
) -> bytes:
    """The bytes each side signs: the handshake domain, then the deterministic CBOR of the transcript."""
    fields: dict[str, Any] = {
        "role": role,
        "initiator": initiator,
        "responder": responder,
        "ni": ni,
        "nr": nr,
    }
    if dtls is not None:
        fields["dtls"] = [list(dtls.initiator), list(dtls.responder)]
    return DOMAIN_HANDSHAKE + cbor.encode(fields)


def looks_like_hs1(buf: bytes) -> bool:
    """Cheap check whether a frame is an `hs1` (a peer starting over), without raising."""
    if len(buf) > HS1_MAX_BYTES:
        return False
    try:
        parse_hs1(buf)
    except WireError:
        return False
    return True


def parse_hs1(buf: bytes) -> tuple[bytes, bytes]:
    d = _frame(cbor.decode(buf), "hs1", {"t", "peer", "nonce"})
    return get_bytes(d, "peer", size=32), get_bytes(d, "nonce", size=NONCE_BYTES)


def parse_hs2(buf: bytes) -> tuple[bytes, bytes, bytes]:
    return _hs2(cbor.decode(buf))


def parse_hs3(buf: bytes) -> bytes:
    d = _frame(cbor.decode(buf), "hs3", {"t", "sig"})
    return get_bytes(d, "sig", size=64)


def _hs2(value: Any) -> tuple[bytes, bytes, bytes]:
    d = _frame(value, "hs2", {"t", "peer", "nonce", "sig"})
    peer = get_bytes(d, "peer", size=32)
    return peer, get_bytes(d, "nonce", size=NONCE_BYTES), get_bytes(d, "sig", size=64)


def _frame(value: Any, kind: str, keys: set[str]) -> dict[str, Any]:
    d = expect_map(value, kind, keys)
    if d["t"] != kind:
        raise WireError("handshake", f"expected {kind}, got {d['t']!r}")
    return d


# ---- actions ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Send:
    """Send a handshake frame to the peer."""

    frame: bytes


@dataclass(frozen=True)
class Sign:
    """Sign a handshake message with our own key."""

    message: bytes  # sign with our own key, then call `signed(signature)`


@dataclass(frozen=True)
class Verify:
    """Verify a peer's signature in the handshake."""

    peer: bytes
    message: bytes
    sig: bytes  # check `sig` by `peer` over `message`, then call `verified(ok)`


Action = Send | Sign | Verify


# ---- the two sides ---------------------------------------------------------------------------------------


class _Side:
    def __init__(self, me: bytes, remote: bytes, nonce: bytes, dtls: Fingerprints | None = None) -> None:
        if len(nonce) != NONCE_BYTES:
            raise ValueError(f"a handshake nonce is {NONCE_BYTES} fresh random bytes")
        self.me, self.remote, self.nonce, self.dtls = me, remote, nonce, dtls
        self.state = "start"

    @property
    def established(self) -> bool:
        return self.state == "done"

    def _expect(self, *states: str) -> None:
        if self.state not in states:
            raise RuntimeError(f"handshake step out of order (in state {self.state})")


class Initiator(_Side):
    """The side that opened the connection: sends hs1, checks hs2, sends hs3."""

    def start(self) -> list[Action]:
        self._expect("start")
        self.state = "await_hs2"
        return [Send(cbor.encode({"t": "hs1", "peer": self.me, "nonce": self.nonce}))]

    def receive(self, frame: bytes) -> list[Action]:
        if self.state != "await_hs2":
            raise WireError("handshake", f"unexpected frame while the initiator is in state {self.state}")
        value = cbor.decode(frame)
        if isinstance(value, dict) and value.get("t") in SESSION_FRAMES:
            return []  # the responder's old session, still in flight (§3.1)
        peer, self._nr, sig = _hs2(value)
        if peer != self.remote:
            raise WireError("handshake", "responder is not the peer we dialled")
        self.state = "verify"
        return [Verify(peer, self._transcript("responder"), sig)]

    def verified(self, ok: bool) -> list[Action]:
        self._expect("verify")
        if not ok:
            raise WireError("bad_signature", "responder's handshake signature")
        self.state = "sign"
        return [Sign(self._transcript("initiator"))]

    def signed(self, sig: bytes) -> list[Action]:
        self._expect("sign")
        self.state = "done"
        return [Send(cbor.encode({"t": "hs3", "sig": sig}))]

    def _transcript(self, role: str) -> bytes:
        return transcript(role, self.me, self.remote, self.nonce, self._nr, self.dtls)


class Responder(_Side):
    """The side that was dialled: checks hs1, sends hs2, checks hs3."""

    def start(self) -> list[Action]:
        self._expect("start")
        self.state = "await_hs1"
        return []

    def receive(self, frame: bytes) -> list[Action]:
        if self.state == "await_hs1":
            peer, self._ni = parse_hs1(frame)
            if peer != self.remote:
                raise WireError("handshake", "initiator claims another peer id than its transport")
            self.state = "sign"
            return [Sign(self._transcript("responder"))]
        if self.state == "await_hs3":
            sig = parse_hs3(frame)
            self.state = "verify"
            return [Verify(self.remote, self._transcript("initiator"), sig)]
        raise WireError("handshake", f"unexpected frame while the responder is in state {self.state}")

    def signed(self, sig: bytes) -> list[Action]:
        self._expect("sign")
        self.state = "await_hs3"
        return [Send(cbor.encode({"t": "hs2", "peer": self.me, "nonce": self.nonce, "sig": sig}))]

    def verified(self, ok: bool) -> list[Action]:
        self._expect("verify")
        if not ok:
            raise WireError("bad_signature", "initiator's handshake signature")
        self.state = "done"
        return []

    def _transcript(self, role: str) -> bytes:
        return transcript(role, self.remote, self.me, self._ni, self.nonce, self.dtls)
