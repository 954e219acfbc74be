"""The mutual signed-challenge handshake that opens every peer connection (PROTOCOL.md §3).

  I → R  {t: "hs1", peer: I, nonce: Ni}
  R → I  {t: "hs2", peer: R, nonce: Nr, sig: sign_R({role: "responder", initiator, responder, ni, nr})}
  I → R  {t: "hs3", sig: sign_I({role: "initiator", initiator, responder, ni, nr})}

Both nonces are fresh, so each transcript is unique and a recorded one cannot be replayed; each side signs
its role, so a signature cannot be reflected back to its author.
"""

from __future__ import annotations

import asyncio
from typing import Any

from pynode.identity import Identity
from pynode.net.connection import Connection
from pynode.platform import current
from pynode.wire import cbor
from pynode.wire.errors import WireError
from pynode.wire.limits import NONCE_BYTES
from pynode.wire.schema import expect_map, get_bytes

DOMAIN_HANDSHAKE = b"hyperspace/1/handshake\x00"
HANDSHAKE_TIMEOUT_S = 10.0


def transcript(role: str, initiator: bytes, responder: bytes, ni: bytes, nr: bytes) -> bytes:
    fields = {"role": role, "initiator": initiator, "responder": responder, "ni": ni, "nr": nr}
    return DOMAIN_HANDSHAKE + cbor.encode(fields)


def looks_like_hs1(buf: bytes) -> bool:
    """Cheap check whether a frame is an `hs1` (a peer starting over), without raising."""
    if len(buf) > 128:
        return False
    try:
        parse_hs1(buf)
    except WireError:
        return False
    return True


def parse_hs1(buf: bytes) -> tuple[bytes, bytes]:
    d = _frame(buf, "hs1", {"t", "peer", "nonce"})
    return get_bytes(d, "peer", size=32), get_bytes(d, "nonce", size=NONCE_BYTES)


def parse_hs2(buf: bytes) -> tuple[bytes, bytes, bytes]:
    d = _frame(buf, "hs2", {"t", "peer", "nonce", "sig"})
    return (
        get_bytes(d, "peer", size=32),
        get_bytes(d, "nonce", size=NONCE_BYTES),
        get_bytes(d, "sig", size=64),
    )


def parse_hs3(buf: bytes) -> bytes:
    d = _frame(buf, "hs3", {"t", "sig"})
    return get_bytes(d, "sig", size=64)


def _frame(buf: bytes, kind: str, keys: set[str]) -> dict[str, Any]:
    d = expect_map(cbor.decode(buf), kind, keys)
    if d["t"] != kind:
        raise WireError("handshake", f"expected {kind}, got {d['t']!r}")
    return d


# Frames of an established session. A circuit has no session id, so when we restart a circuit the peer's
# frames of the old session may still be in flight ahead of its hs2: the initiator skips those.
_SESSION_FRAMES = {"rpc", "req", "resp"}


async def _next_handshake_frame(conn: Connection) -> bytes:
    while True:
        frame = await conn.recv()
        value = cbor.decode(frame)
        if not (isinstance(value, dict) and value.get("t") in _SESSION_FRAMES):
            return frame


async def initiate(conn: Connection, me: Identity, timeout: float = HANDSHAKE_TIMEOUT_S) -> None:
    """Run the initiator's side; on success `conn.authenticated` is set, else WireError/TimeoutError."""
    async with asyncio.timeout(timeout):
        ni = current().random_bytes(NONCE_BYTES)
        await conn.send(cbor.encode({"t": "hs1", "peer": me.peer_id, "nonce": ni}))
        peer, nr, sig = parse_hs2(await _next_handshake_frame(conn))
        if peer != conn.remote:
            raise WireError("handshake", "responder is not the peer we dialled")
        if not await current().verify(peer, transcript("responder", me.peer_id, peer, ni, nr), sig):
            raise WireError("bad_signature", "responder's handshake signature")
        mine = await me.signer.sign(transcript("initiator", me.peer_id, peer, ni, nr))
        await conn.send(cbor.encode({"t": "hs3", "sig": mine}))
    conn.authenticated = True


async def respond(conn: Connection, me: Identity, first: bytes, timeout: float = HANDSHAKE_TIMEOUT_S) -> None:
    """Run the responder's side, given the initiator's first frame (already received)."""
    async with asyncio.timeout(timeout):
        peer, ni = parse_hs1(first)
        if peer != conn.remote:
            raise WireError("handshake", "initiator claims another peer id than its transport")
        nr = current().random_bytes(NONCE_BYTES)
        sig = await me.signer.sign(transcript("responder", peer, me.peer_id, ni, nr))
        await conn.send(cbor.encode({"t": "hs2", "peer": me.peer_id, "nonce": nr, "sig": sig}))
        theirs = parse_hs3(await conn.recv())
        if not await current().verify(peer, transcript("initiator", peer, me.peer_id, ni, nr), theirs):
            raise WireError("bad_signature", "initiator's handshake signature")
    conn.authenticated = True
