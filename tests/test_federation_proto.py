"""Federation frames and the welcome's relay list (PROTOCOL.md §2.3, §2.11): strict parsing of hostile bytes."""

from __future__ import annotations

import pytest

from pynode.net import relay_proto as rp
from pynode.net.federation_proto import Dir, DirBody, Entry, Hop, HopUnreachable, parse_fed_frame
from pynode.net.limits import MAX_DIR_ENTRIES_PER_FRAME, MAX_DIR_RELAY_URLS, MAX_RELAY_URL_LEN
from pynode.wire import cbor
from pynode.wire.errors import WireError
from pynode.wire.limits import MAX_SIGNAL_BYTES

P = b"\x01" * 32
Q = b"\x02" * 32


def _body(**kw) -> DirBody:
    fields = dict(
        relay=P, seq=7, exp=1, full=True, url="wss://a/p2p", relays=((Q, "wss://b/p2p"),), add=(), remove=()
    )
    fields.update(kw)
    return DirBody(**fields)


def test_every_frame_round_trips():
    entry = Entry(Q, ("webrtc",), 5, b"\x03" * 32, b"\x04" * 64)
    frames = [
        Dir(_body(add=(entry,), remove=(P,)), b"\x05" * 64),
        Hop("circuit", P, Q, b"frame"),
        Hop("signal", P, Q, b"sdp"),
        HopUnreachable(Q, P),
    ]
    for frame in frames:
        assert parse_fed_frame(frame.encode()) == frame
    assert parse_fed_frame(rp.Challenge(b"\x06" * 32, P).encode()) == rp.Challenge(b"\x06" * 32, P)


@pytest.mark.parametrize(
    "value",
    [
        {"t": "hop", "kind": "rpc", "from": P, "to": Q, "data": b""},  # no such kind
        {"t": "hop", "kind": "signal", "from": P, "to": Q, "data": b"x" * (MAX_SIGNAL_BYTES + 1)},
        {"t": "hop", "kind": "circuit", "from": P[:31], "to": Q, "data": b""},
        {"t": "hop", "kind": "circuit", "from": P, "to": Q, "data": b"", "extra": 1},
        {"t": "unreachable", "peer": Q},
        {"t": "welcome", "peers": []},  # a node's frame, not a relay link's
        {**_body().to_wire(), "sig": b"\x00" * 64, "full": 1},  # a bool is a bool
        {**_body().to_wire(), "sig": b"\x00" * 64, "url": "http://a/p2p"},
        {
            **_body().to_wire(),
            "sig": b"\x00" * 64,
            "relays": [{"relay": Q, "url": "wss://" + "a" * MAX_RELAY_URL_LEN}],
        },
        {
            **_body().to_wire(),
            "sig": b"\x00" * 64,
            "relays": [{"relay": Q, "url": "wss://b"}] * (MAX_DIR_RELAY_URLS + 1),
        },
        {**_body().to_wire(), "sig": b"\x00" * 64, "del": [P] * (MAX_DIR_ENTRIES_PER_FRAME + 1)},
        {
            **_body().to_wire(),
            "sig": b"\x00" * 64,
            "add": [{"peer": Q, "caps": [], "ts": 1, "nonce": P, "sig": P}],
        },
    ],
)
def test_malformed_frames_are_refused(value):
    with pytest.raises(WireError):
        parse_fed_frame(cbor.encode(value))


def test_a_welcome_may_name_the_federations_relays_and_nodes_refuse_bad_ones():
    peers = (rp.PeerInfo(P, ("relay",)),)
    plain = rp.Welcome(peers)
    assert "relays" not in plain.to_wire()  # the frame a relay without a federation sends is unchanged
    named = rp.Welcome(peers, ("wss://a/p2p", "ws://127.0.0.1:8787/p2p"))
    assert rp.parse_relay_frame(named.encode(), from_relay=True) == named
    for bad in (["https://a/p2p"], [""], ["wss://a"] * (MAX_DIR_RELAY_URLS + 1), [7]):
        with pytest.raises(WireError):
            rp.parse_relay_frame(cbor.encode({**plain.to_wire(), "relays": bad}), from_relay=True)
