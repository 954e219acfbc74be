"""The handshake machines (pynode/net/handshake.py) driven frame by frame, without connections or a loop."""

from __future__ import annotations

from collections import deque

import pytest

from pynode.identity import Identity
from pynode.net.handshake import (
    Action,
    Fingerprints,
    Initiator,
    Responder,
    Send,
    Sign,
    Verify,
    looks_like_hs1,
    sdp_fingerprints,
)
from pynode.platform.native import NaclSigner, verify_now
from pynode.wire import cbor
from pynode.wire.errors import WireError

ALICE = Identity(NaclSigner(b"a" * 32))
BOB = Identity(NaclSigner(b"b" * 32))
MALLORY = Identity(NaclSigner(b"m" * 32))
NI, NR = b"\x11" * 32, b"\x22" * 32
FP_A = "sha-256 " + ":".join(["A1"] * 32)
FP_B = "sha-256 " + ":".join(["B0"] * 32)


def run(side: Initiator | Responder, actions: list[Action], me: Identity) -> list[bytes]:
    """Carry out `actions` the way the runtime does, signing and verifying at once; returns the frames sent."""
    sent, todo = [], deque(actions)
    while todo:
        action = todo.popleft()
        if isinstance(action, Send):
            sent.append(action.frame)
        elif isinstance(action, Sign):
            todo.extend(side.signed(me.signer.sign_now(action.message)))
        else:
            assert isinstance(action, Verify)
            todo.extend(side.verified(verify_now(action.peer, action.message, action.sig)))
    return sent


def handshake(
    initiator: Identity = ALICE,
    responder: Identity = BOB,
    dialled: bytes | None = None,
    seen_by_responder: bytes | None = None,
    dtls_i: Fingerprints | None = None,
    dtls_r: Fingerprints | None = None,
) -> tuple[Initiator, Responder, list[bytes]]:
    """Alice dials `dialled` (Bob); `responder` answers a transport that names `seen_by_responder`."""
    i = Initiator(initiator.peer_id, dialled or BOB.peer_id, NI, dtls_i)
    r = Responder(responder.peer_id, seen_by_responder or initiator.peer_id, NR, dtls_r)
    (hs1,) = run(i, i.start(), initiator)
    assert run(r, r.start(), responder) == []
    (hs2,) = run(r, r.receive(hs1), responder)
    (hs3,) = run(i, i.receive(hs2), initiator)
    assert run(r, r.receive(hs3), responder) == []
    return i, r, [hs1, hs2, hs3]


def test_both_sides_authenticate_each_other():
    i, r, frames = handshake()
    assert i.established and r.established
    assert [cbor.decode(f)["t"] for f in frames] == ["hs1", "hs2", "hs3"]


def test_the_initiator_refuses_a_responder_with_another_identity():
    i = Initiator(ALICE.peer_id, BOB.peer_id, NI)
    mallory = Responder(MALLORY.peer_id, ALICE.peer_id, NR)  # Mallory answers the circuit to Bob
    (hs1,) = run(i, i.start(), ALICE)
    mallory.start()
    (hs2,) = run(mallory, mallory.receive(hs1), MALLORY)
    with pytest.raises(WireError, match="not the peer we dialled"):
        i.receive(hs2)
    assert not i.established


def test_the_responder_refuses_an_initiator_claiming_another_id():
    r = Responder(BOB.peer_id, MALLORY.peer_id, NR)  # the transport says Mallory
    r.start()
    with pytest.raises(WireError, match="another peer id"):
        r.receive(cbor.encode({"t": "hs1", "peer": ALICE.peer_id, "nonce": NI}))


def test_a_forged_responder_signature_is_refused():
    i = Initiator(ALICE.peer_id, BOB.peer_id, NI)
    i.start()
    forged = cbor.encode({"t": "hs2", "peer": BOB.peer_id, "nonce": NR, "sig": MALLORY.signer.sign_now(b"x")})
    with pytest.raises(WireError) as e:
        run(i, i.receive(forged), ALICE)
    assert e.value.reason == "bad_signature" and not i.established


def test_a_replayed_initiator_signature_is_refused():
    """A recorded hs1 + hs3 do not open a new session: the responder's fresh nonce changes the transcript."""
    _, _, (hs1, _, hs3) = handshake()
    r = Responder(BOB.peer_id, ALICE.peer_id, b"\x33" * 32)
    r.start()
    run(r, r.receive(hs1), BOB)
    with pytest.raises(WireError) as e:
        run(r, r.receive(hs3), BOB)
    assert e.value.reason == "bad_signature" and not r.established


@pytest.mark.parametrize(
    "frame",
    [
        b"\xff\x00garbage",
        cbor.encode({"t": "hs3", "sig": b"s" * 64}),
        cbor.encode({"t": "rpc"}),
        cbor.encode([1]),
    ],
)
def test_anything_but_hs1_first_is_refused(frame):
    r = Responder(BOB.peer_id, ALICE.peer_id, NR)
    r.start()
    with pytest.raises(WireError):
        r.receive(frame)


def test_the_initiator_skips_frames_of_the_peers_old_session_before_hs2():
    i = Initiator(ALICE.peer_id, BOB.peer_id, NI)
    r = Responder(BOB.peer_id, ALICE.peer_id, NR)
    (hs1,) = run(i, i.start(), ALICE)
    r.start()
    (hs2,) = run(r, r.receive(hs1), BOB)
    for old in (cbor.encode({"t": "rpc"}), cbor.encode({"t": "req", "id": 1, "proto": "p", "data": b""})):
        assert i.receive(old) == []  # sent on the old session before Bob saw the new hs1
    (hs3,) = run(i, i.receive(hs2), ALICE)
    run(r, r.receive(hs3), BOB)
    assert i.established and r.established


def test_frames_after_the_handshake_are_not_handshake_frames():
    i, r, (hs1, hs2, hs3) = handshake()
    with pytest.raises(WireError):
        r.receive(hs3)
    with pytest.raises(WireError):
        i.receive(hs2)


def test_steps_out_of_order_are_a_bug_not_a_peer_error():
    i = Initiator(ALICE.peer_id, BOB.peer_id, NI)
    with pytest.raises(RuntimeError):
        i.signed(b"s" * 64)
    with pytest.raises(ValueError):
        Initiator(ALICE.peer_id, BOB.peer_id, b"short")


def test_looks_like_hs1():
    hs1 = cbor.encode({"t": "hs1", "peer": ALICE.peer_id, "nonce": NI})
    assert looks_like_hs1(hs1)
    assert not looks_like_hs1(cbor.encode({"t": "rpc"}))
    assert not looks_like_hs1(b"\xff")
    assert not looks_like_hs1(cbor.encode({"t": "hs1", "peer": ALICE.peer_id, "nonce": b"n" * 31}))


# ---- DTLS fingerprints bound into the transcript of a data channel ----------------------------------------


def _sdp(*fingerprints: str) -> str:
    return "v=0\r\n" + "".join(f"a=fingerprint:{fp}\r\n" for fp in fingerprints) + "a=setup:actpass\r\n"


def test_matching_fingerprints_authenticate():
    dtls = Fingerprints.of(_sdp(FP_A), _sdp(FP_B))
    i, r, _ = handshake(dtls_i=dtls, dtls_r=dtls)
    assert i.established and r.established


def test_a_relay_that_swapped_the_sdps_fails_the_handshake():
    """Mallory relays the signalling and replaces each side's certificate with hers: each end then binds
    different fingerprints, so neither signature verifies and Mallory cannot sit in the middle."""
    fp_m = "sha-256 " + ":".join(["EE"] * 32)
    alice_sees = Fingerprints.of(_sdp(FP_A), _sdp(fp_m))  # Alice offered FP_A, got Mallory's answer
    bob_sees = Fingerprints.of(_sdp(fp_m), _sdp(FP_B))  # Bob got Mallory's offer, answered FP_B
    with pytest.raises(WireError) as e:
        handshake(dtls_i=alice_sees, dtls_r=bob_sees)
    assert e.value.reason == "bad_signature"


def test_a_circuit_transcript_does_not_verify_on_a_data_channel():
    with pytest.raises(WireError):
        handshake(dtls_i=None, dtls_r=Fingerprints((FP_A,), (FP_B,)))


def test_sdp_fingerprints_are_normalised_deduplicated_and_sorted():
    lower = "SHA-256 " + ":".join(["b0"] * 32)
    sdp = _sdp(FP_A, lower, "sha-384 " + ":".join(["0c"] * 48)) + "m=application 9\r\n" + _sdp(FP_A)
    assert sdp_fingerprints(sdp) == (FP_A, FP_B, "sha-384 " + ":".join(["0C"] * 48))
    assert sdp_fingerprints(sdp.replace("\r\n", "\n")) == sdp_fingerprints(sdp)


@pytest.mark.parametrize(
    "sdp",
    [
        "v=0\r\n",  # none
        _sdp("sha-256"),  # no value
        _sdp("sha-256 A1:B2"),  # too short to be a digest
        _sdp("sha-256 " + ":".join(["G1"] * 32)),  # not hex
        _sdp("sha 256 " + ":".join(["A1"] * 32)),  # three fields
        _sdp(*(f"sha-256 {i:02X}:" + ":".join(["A1"] * 31) for i in range(9))),  # too many
        _sdp("sha-256 " + ":".join(["A1"] * 100)),  # too long
    ],
)
def test_sdp_without_a_usable_fingerprint_is_refused(sdp):
    with pytest.raises(ValueError):
        sdp_fingerprints(sdp)
