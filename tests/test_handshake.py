import asyncio

import pytest

from pynode.identity import Identity
from pynode.net import handshake
from pynode.net.chunks import CHUNK_BYTES, Reassembler, split
from pynode.net.connection import ConnectionClosed
from pynode.wire import cbor
from pynode.wire.errors import WireError
from pynode.wire.limits import MAX_FRAME_BYTES
from tests.memconn import pipe

ALICE = Identity.from_seed(b"a" * 32)
BOB = Identity.from_seed(b"b" * 32)
MALLORY = Identity.from_seed(b"m" * 32)


async def test_mutual_handshake_authenticates_both_ends():
    a, b = pipe(ALICE.peer_id, BOB.peer_id)

    async def responder():
        await handshake.respond(b, BOB, await b.recv())

    await asyncio.gather(handshake.initiate(a, ALICE), responder())
    assert a.authenticated and b.authenticated


async def test_initiator_refuses_a_responder_with_another_identity():
    # Alice dials Bob, but Mallory answers the circuit
    a, m = pipe(ALICE.peer_id, BOB.peer_id)

    async def mallory():
        await handshake.respond(m, MALLORY, await m.recv())

    with pytest.raises(WireError, match="not the peer we dialled"):
        await asyncio.gather(handshake.initiate(a, ALICE, timeout=2), mallory())
    assert not a.authenticated


async def test_responder_refuses_an_initiator_claiming_another_id():
    # the transport says Mallory, hs1 claims Alice
    m, b = pipe(MALLORY.peer_id, BOB.peer_id)
    await m.send(cbor.encode({"t": "hs1", "peer": ALICE.peer_id, "nonce": b"n" * 32}))
    with pytest.raises(WireError, match="another peer id"):
        await handshake.respond(b, BOB, await b.recv())


async def test_forged_responder_signature_is_refused():
    a, b = pipe(ALICE.peer_id, BOB.peer_id)

    async def forger():
        await b.recv()
        # claims Bob's id but signs with Mallory's key
        await b.send(cbor.encode({"t": "hs2", "peer": BOB.peer_id, "nonce": b"r" * 32, "sig": b"\x01" * 64}))

    with pytest.raises(WireError) as e:
        await asyncio.gather(handshake.initiate(a, ALICE, timeout=2), forger())
    assert e.value.reason == "bad_signature"


async def test_replayed_initiator_signature_is_refused():
    """A recorded hs3 does not open a new session: the responder's fresh nonce changes the transcript."""
    a, b = pipe(ALICE.peer_id, BOB.peer_id)

    async def responder():
        await handshake.respond(b, BOB, await b.recv())

    await asyncio.gather(handshake.initiate(a, ALICE), responder())
    recorded_hs1, recorded_hs3 = a.sent[0], a.sent[1]

    # Mallory replays Alice's frames to Bob on a new circuit that the relay attributes to Alice
    m, b2 = pipe(ALICE.peer_id, BOB.peer_id)
    await m.send(recorded_hs1)

    async def replay():
        await m.recv()  # Bob's new hs2 with a fresh nonce
        await m.send(recorded_hs3)

    with pytest.raises(WireError) as e:
        await asyncio.gather(handshake.respond(b2, BOB, await b2.recv(), timeout=2), replay())
    assert e.value.reason == "bad_signature"
    assert not b2.authenticated


async def test_garbage_instead_of_handshake_is_refused():
    a, b = pipe(ALICE.peer_id, BOB.peer_id)
    await a.send(b"\xff\x00garbage")
    with pytest.raises(WireError):
        await handshake.respond(b, BOB, await b.recv())


async def test_silent_peer_times_out():
    a, _ = pipe(ALICE.peer_id, BOB.peer_id)
    with pytest.raises(TimeoutError):
        await handshake.initiate(a, ALICE, timeout=0.05)


def test_looks_like_hs1():
    hs1 = cbor.encode({"t": "hs1", "peer": ALICE.peer_id, "nonce": b"n" * 32})
    assert handshake.looks_like_hs1(hs1)
    assert not handshake.looks_like_hs1(cbor.encode({"t": "rpc"}))
    assert not handshake.looks_like_hs1(b"\xff")


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


async def test_initiator_skips_frames_of_the_peers_old_session_before_hs2():
    a, b = pipe(ALICE.peer_id, BOB.peer_id)

    async def responder_with_old_frames_in_flight():
        first = await b.recv()
        await b.send(cbor.encode({"t": "rpc"}))  # sent on the old session before Bob saw the new hs1
        await handshake.respond(b, BOB, first)

    await asyncio.gather(handshake.initiate(a, ALICE), responder_with_old_frames_in_flight())
    assert a.authenticated and b.authenticated
