"""Relay frames (PROTOCOL.md §2): round trips, strict parsing in each direction, and the hello signature."""

import contextlib

import cbor2
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pynode.identity import Identity
from pynode.net.relay_proto import (
    DOMAIN_RELAY_HELLO,
    HELLO_MAX_SKEW_MS,
    Challenge,
    CircuitFrom,
    CircuitTo,
    Error,
    Hello,
    Join,
    Leave,
    PeerInfo,
    SignalFrom,
    SignalTo,
    Unreachable,
    Welcome,
    hello_payload,
    make_hello,
    parse_relay_frame,
    verify_hello,
)
from pynode.platform.native import NaclSigner
from pynode.wire import cbor
from pynode.wire.errors import WireError
from pynode.wire.limits import MAX_FRAME_BYTES, MAX_RELAY_FRAME_BYTES, MAX_SIGNAL_BYTES

ALICE = Identity(NaclSigner(bytes(range(32))))
BOB = Identity(NaclSigner(bytes(range(1, 33))))
RELAY = bytes(range(100, 132))
NONCE = bytes(32)
NOW_MS = 1_700_000_000_000

FROM_RELAY = [
    Challenge(NONCE, RELAY),
    Welcome((PeerInfo(ALICE.peer_id, ("relay", "inference")), PeerInfo(BOB.peer_id, ()))),
    Welcome(()),
    Join(ALICE.peer_id, ("storage",)),
    Leave(ALICE.peer_id),
    SignalFrom(ALICE.peer_id, b"sdp"),
    CircuitFrom(ALICE.peer_id, b"x" * MAX_FRAME_BYTES),
    Unreachable(BOB.peer_id),
    Error("bad_frame", ""),
]
FROM_NODE = [
    Hello(ALICE.peer_id, ("research",), NOW_MS, bytes(64)),
    SignalTo(BOB.peer_id, b"s" * MAX_SIGNAL_BYTES),
    CircuitTo(BOB.peer_id, b""),
]


@pytest.mark.parametrize("frame", FROM_RELAY, ids=lambda f: type(f).__name__)
def test_relay_frames_round_trip(frame):
    assert parse_relay_frame(frame.encode(), from_relay=True) == frame


@pytest.mark.parametrize("frame", FROM_NODE, ids=lambda f: type(f).__name__)
def test_node_frames_round_trip(frame):
    assert parse_relay_frame(frame.encode(), from_relay=False) == frame


def test_a_maximal_circuit_frame_fits_a_relay_message():
    assert len(CircuitTo(BOB.peer_id, b"x" * MAX_FRAME_BYTES).encode()) <= MAX_RELAY_FRAME_BYTES


@pytest.mark.parametrize(
    "frame, from_relay",
    [(SignalFrom(ALICE.peer_id, b""), False), (CircuitTo(BOB.peer_id, b""), True)],
    ids=["signal-from-read-by-relay", "circuit-to-read-by-node"],
)
def test_a_frame_read_in_the_wrong_direction_is_refused(frame, from_relay):
    with pytest.raises(WireError) as e:
        parse_relay_frame(frame.encode(), from_relay=from_relay)
    assert e.value.reason == "bad_field"


@pytest.mark.parametrize(
    "value, reason",
    [
        ({"t": "hello", "peer": bytes(32), "caps": [], "ts": 1, "sig": bytes(64), "x": 1}, "bad_field"),
        ({"t": "hello", "peer": bytes(31), "caps": [], "ts": 1, "sig": bytes(64)}, "bad_field"),
        ({"t": "hello", "peer": bytes(32), "caps": [], "ts": -1, "sig": bytes(64)}, "bad_field"),
        ({"t": "hello", "peer": bytes(32), "caps": ["a"] * 17, "ts": 1, "sig": bytes(64)}, "bad_field"),
        ({"t": "hello", "peer": bytes(32), "caps": ["a" * 33], "ts": 1, "sig": bytes(64)}, "bad_field"),
        ({"t": "hello", "peer": bytes(32), "caps": [""], "ts": 1, "sig": bytes(64)}, "bad_field"),
        ({"t": "hello", "peer": bytes(32), "caps": ["a\nb"], "ts": 1, "sig": bytes(64)}, "bad_field"),
        ({"t": "hello", "peer": bytes(32), "caps": [1], "ts": 1, "sig": bytes(64)}, "bad_field"),
        ({"t": "hello", "peer": bytes(32), "caps": "a", "ts": 1, "sig": bytes(64)}, "bad_field"),
        ({"t": "signal", "to": bytes(32), "data": b"s" * (MAX_SIGNAL_BYTES + 1)}, "bad_field"),
        ({"t": "circuit", "to": bytes(32), "data": "text"}, "bad_field"),
        ({"t": "circuit", "to": bytes(32)}, "bad_field"),
        ({"t": "welcome", "peers": []}, "unknown_type"),  # relay → node only
        ({"t": 1}, "unknown_type"),
        ({"to": bytes(32)}, "unknown_type"),
        ([1, 2], "bad_type"),
        ("circuit", "bad_type"),
    ],
)
def test_node_frames_are_checked_field_by_field(value, reason):
    with pytest.raises(WireError) as e:
        parse_relay_frame(cbor.encode(value), from_relay=False)
    assert e.value.reason == reason


def test_circuit_data_is_capped_at_one_peer_frame():
    with pytest.raises(WireError) as e:
        parse_relay_frame(
            cbor.encode({"t": "circuit", "to": bytes(32), "data": b"x" * (MAX_FRAME_BYTES + 1)}), False
        )
    assert e.value.reason == "bad_field"


def test_oversized_and_non_canonical_buffers_are_refused_before_fields():
    with pytest.raises(WireError) as e:
        parse_relay_frame(b"\x00" * (MAX_RELAY_FRAME_BYTES + 1), from_relay=False)
    assert e.value.reason == "oversized"
    unordered = cbor2.dumps({"to": bytes(32), "data": b"", "t": "circuit"})
    with pytest.raises(WireError) as e:
        parse_relay_frame(unordered, from_relay=False)
    assert e.value.reason == "non_canonical"


def test_welcome_peers_are_checked():
    bad = {"t": "welcome", "peers": [{"peer": bytes(32), "caps": [], "extra": 1}]}
    with pytest.raises(WireError):
        parse_relay_frame(cbor.encode(bad), from_relay=True)


@given(st.binary(max_size=300), st.booleans())
def test_arbitrary_bytes_never_crash_the_parser(buf, from_relay):
    with contextlib.suppress(WireError):
        parse_relay_frame(buf, from_relay)


# ---- the hello signature -------------------------------------------------------------------------------


def test_hello_payload_is_domain_separated_canonical_cbor():
    payload = hello_payload(NONCE, RELAY, ALICE.peer_id, ("a",), 5)
    assert payload.startswith(DOMAIN_RELAY_HELLO)
    body = payload[len(DOMAIN_RELAY_HELLO) :]
    assert cbor.decode(body) == {
        "nonce": NONCE,
        "relay": RELAY,
        "peer": ALICE.peer_id,
        "caps": ["a"],
        "ts": 5,
    }


async def test_a_signed_hello_verifies():
    hello = await make_hello(ALICE.signer, NONCE, RELAY, ("inference",), NOW_MS)
    assert hello.peer == ALICE.peer_id
    await verify_hello(hello, NONCE, RELAY, NOW_MS + HELLO_MAX_SKEW_MS)


@pytest.mark.parametrize(
    "change, reason",
    [
        ({"nonce": bytes([1] * 32)}, "bad_signature"),
        ({"relay": bytes(32)}, "bad_signature"),
        ({"now_ms": NOW_MS + HELLO_MAX_SKEW_MS + 1}, "stale_hello"),
        ({"now_ms": NOW_MS - HELLO_MAX_SKEW_MS - 1}, "stale_hello"),
        ({"peer": BOB.peer_id}, "bad_signature"),
        ({"caps": ("inference", "relay")}, "bad_signature"),
    ],
)
async def test_a_hello_for_another_challenge_key_or_time_is_refused(change, reason):
    hello = await make_hello(ALICE.signer, NONCE, RELAY, ("inference",), NOW_MS)
    if "peer" in change or "caps" in change:
        hello = Hello(change.get("peer", hello.peer), change.get("caps", hello.caps), hello.ts, hello.sig)
    with pytest.raises(WireError) as e:
        await verify_hello(
            hello, change.get("nonce", NONCE), change.get("relay", RELAY), change.get("now_ms", NOW_MS)
        )
    assert e.value.reason == reason
