"""The handshake driven over in-memory connections (`links.authenticate`), data-channel chunks, receive queues.
The machines themselves, frame by frame, are in test_handshake_machine.py."""

import asyncio

import pytest

from pynode.identity import Identity
from pynode.net.chunks import CHUNK_BYTES, Reassembler, split
from pynode.net.connection import ConnectionClosed
from pynode.net.handshake import Initiator, Responder
from pynode.net.links import authenticate
from pynode.platform import native
from pynode.platform.native import NaclSigner
from pynode.wire import cbor
from pynode.wire.errors import WireError
from pynode.wire.limits import MAX_FRAME_BYTES
from tests.memconn import pipe

ALICE = Identity(NaclSigner(b"a" * 32))
BOB = Identity(NaclSigner(b"b" * 32))
MALLORY = Identity(NaclSigner(b"m" * 32))


async def initiate(conn, me: Identity, timeout: float = 10) -> None:
    side = Initiator(me.peer_id, conn.remote, native.random_bytes(32))
    await authenticate(conn, side, me.signer, native.verify, timeout=timeout)


async def respond(conn, me: Identity, first: bytes | None = None, timeout: float = 10) -> None:
    side = Responder(me.peer_id, conn.remote, native.random_bytes(32))
    await authenticate(conn, side, me.signer, native.verify, first, timeout=timeout)


async def test_mutual_handshake_authenticates_both_ends():
    a, b = pipe(ALICE.peer_id, BOB.peer_id)
    await asyncio.gather(initiate(a, ALICE), respond(b, BOB))
    assert a.authenticated and b.authenticated


async def test_the_responder_may_be_handed_the_hs1_it_already_read():
    a, b = pipe(ALICE.peer_id, BOB.peer_id)

    async def responder():
        await respond(b, BOB, first=await b.recv())

    await asyncio.gather(initiate(a, ALICE), responder())
    assert a.authenticated and b.authenticated


async def test_initiator_refuses_a_responder_with_another_identity():
    # Alice dials Bob, but Mallory answers the circuit
    a, m = pipe(ALICE.peer_id, BOB.peer_id)
    with pytest.raises(WireError, match="not the peer we dialled"):
        await asyncio.gather(initiate(a, ALICE, timeout=2), respond(m, MALLORY))
    assert not a.authenticated


async def test_a_peer_breaking_the_protocol_raises_wire_error():
    a, b = pipe(ALICE.peer_id, BOB.peer_id)
    await a.send(b"\xff\x00garbage")
    with pytest.raises(WireError):
        await respond(b, BOB)


async def test_silent_peer_times_out():
    a, _ = pipe(ALICE.peer_id, BOB.peer_id)
    with pytest.raises(TimeoutError):
        await initiate(a, ALICE, timeout=0.05)


async def test_initiator_skips_frames_of_the_peers_old_session_before_hs2():
    a, b = pipe(ALICE.peer_id, BOB.peer_id)

    async def responder_with_old_frames_in_flight():
        first = await b.recv()
        await b.send(cbor.encode({"t": "rpc"}))  # sent on the old session before Bob saw the new hs1
        await respond(b, BOB, first)

    await asyncio.gather(initiate(a, ALICE), responder_with_old_frames_in_flight())
    assert a.authenticated and b.authenticated


# ---- data-channel chunking -------------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, CHUNK_BYTES - 1, CHUNK_BYTES, CHUNK_BYTES + 1, 5 * CHUNK_BYTES + 7])
def test_chunks_round_trip(size):
    frame = bytes(i % 251 for i in range(size))
    r = Reassembler()
    out = [r.push(c) for c in split(frame)]
    assert out[-1] == frame and all(o is None for o in out[:-1])
    assert all(len(c) <= CHUNK_BYTES + 1 for c in split(frame))


def test_reassembler_refuses_frames_over_the_limit():
    r = Reassembler()
    chunk = bytes([1]) + b"x" * CHUNK_BYTES
    with pytest.raises(WireError) as e:
        for _ in range(MAX_FRAME_BYTES // CHUNK_BYTES + 1):
            r.push(chunk)
    assert e.value.reason == "oversized"


def test_reassembler_refuses_bad_prefix_and_oversized_chunk():
    with pytest.raises(WireError):
        Reassembler().push(b"\x07abc")
    with pytest.raises(WireError):
        Reassembler().push(b"")
    with pytest.raises(WireError):
        Reassembler().push(b"\x00" + b"x" * (CHUNK_BYTES + 1))


async def test_connection_closes_when_the_peer_floods_its_receive_queue():
    a, b = pipe(ALICE.peer_id, BOB.peer_id)
    for _ in range(1000):
        if b.closed:
            break
        await a.send(b"x")
    assert b.closed and "overflow" in b.close_reason
    with pytest.raises(ConnectionClosed):
        while True:
            await b.recv()
