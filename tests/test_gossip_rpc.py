"""The gossip RPC frame of PROTOCOL.md §5: round trip, and strict refusal of anything malformed."""

from __future__ import annotations

from typing import Any

import pytest

from pynode.gossip.rpc import RPC, Prune, SubOpt, split
from pynode.platform.native import NaclSigner
from pynode.wire import cbor
from pynode.wire.envelope import Envelope, signing_payload
from pynode.wire.errors import WireError
from pynode.wire.limits import MAX_IHAVE_IDS, MAX_IWANT_IDS, MAX_PX_PEERS

SIGNER = NaclSigner(bytes(range(32)))
TOPIC = "hs/1/test"
ID = bytes(32)


def envelope(seqno: int = 1, data: bytes = b"hello") -> Envelope:
    unsigned = {
        "topic": TOPIC,
        "from": SIGNER.public_key,
        "seqno": seqno,
        "ts": 1_700_000_000_000,
        "data": data,
    }
    sig = SIGNER.sign_now(signing_payload(unsigned))
    return Envelope(TOPIC, SIGNER.public_key, seqno, 1_700_000_000_000, data, sig)


def full_rpc() -> RPC:
    return RPC(
        subs=[SubOpt(True, TOPIC), SubOpt(False, "hs/1/other")],
        msgs=[envelope()],
        ihave=[(TOPIC, [ID, bytes([1]) * 32])],
        iwant=[bytes([2]) * 32],
        graft=[TOPIC],
        prune=[Prune(TOPIC, [bytes([3]) * 32], 60)],
    )


def test_rpc_round_trips_through_cbor() -> None:
    rpc = full_rpc()
    decoded = RPC.decode(rpc.encode())
    assert decoded == rpc
    assert decoded.msgs[0].msg_id == rpc.msgs[0].msg_id


def test_empty_parts_are_omitted_from_the_frame() -> None:
    assert RPC(graft=[TOPIC]).to_wire() == {"t": "rpc", "ctrl": {"graft": [TOPIC]}}
    assert RPC().to_wire() == {"t": "rpc"}


def test_wire_shape_matches_protocol_doc() -> None:
    wire = full_rpc().to_wire()
    assert set(wire) == {"t", "subs", "msgs", "ctrl"}
    assert wire["subs"][0] == {"sub": True, "topic": TOPIC}
    assert set(wire["ctrl"]) == {"ihave", "iwant", "graft", "prune"}
    assert wire["ctrl"]["ihave"][0] == {"topic": TOPIC, "ids": [ID, bytes([1]) * 32]}
    assert wire["ctrl"]["prune"][0] == {"topic": TOPIC, "px": [bytes([3]) * 32], "backoff": 60}


def mutate(path: list[Any], value: Any) -> dict[str, Any]:
    wire = full_rpc().to_wire()
    target = wire
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return wire


@pytest.mark.parametrize(
    "wire",
    [
        pytest.param(mutate(["t"], "hello"), id="wrong-frame-type"),
        pytest.param({**full_rpc().to_wire(), "extra": 1}, id="unknown-key"),
        pytest.param(mutate(["subs", 0, "sub"], 1), id="sub-not-bool"),
        pytest.param(mutate(["subs", 0, "topic"], ""), id="empty-topic"),
        pytest.param(mutate(["subs", 0, "topic"], "hs/1/\n"), id="unprintable-topic"),
        pytest.param(mutate(["subs", 0, "topic"], "x" * 129), id="long-topic"),
        pytest.param(mutate(["subs"], []), id="empty-list-not-omitted"),
        pytest.param(mutate(["msgs", 0, "sig"], b"short"), id="bad-envelope"),
        pytest.param(mutate(["ctrl", "iwant"], [b"short"]), id="short-message-id"),
        pytest.param(mutate(["ctrl", "iwant"], "ids"), id="iwant-not-a-list"),
        pytest.param(mutate(["ctrl", "iwant"], [ID] * (MAX_IWANT_IDS + 1)), id="too-many-iwant-ids"),
        pytest.param(
            mutate(["ctrl", "ihave"], [{"topic": TOPIC, "ids": [ID] * (MAX_IHAVE_IDS // 2 + 1)}] * 2),
            id="too-many-ihave-ids-in-total",
        ),
        pytest.param(mutate(["ctrl", "graft"], [TOPIC] * 65), id="too-many-graft-topics"),
        pytest.param(mutate(["ctrl", "graft"], [7]), id="graft-topic-not-text"),
        pytest.param(mutate(["ctrl", "prune", 0, "px"], [ID] * (MAX_PX_PEERS + 1)), id="too-many-px"),
        pytest.param(mutate(["ctrl", "prune", 0, "px"], [b"x" * 31]), id="bad-px-peer"),
        pytest.param(mutate(["ctrl", "prune", 0, "backoff"], -1), id="negative-backoff"),
        pytest.param(mutate(["ctrl", "prune", 0, "backoff"], True), id="bool-backoff"),
        pytest.param(mutate(["ctrl"], {}), id="empty-ctrl"),
        pytest.param(mutate(["ctrl"], {"idontwant": [ID]}), id="unknown-control"),
        pytest.param([1, 2], id="not-a-map"),
    ],
)
def test_malformed_rpc_is_refused(wire: Any) -> None:
    with pytest.raises(WireError):
        RPC.from_wire(wire)
    with pytest.raises(WireError):
        RPC.decode(cbor.encode(wire))


def test_non_canonical_bytes_are_refused() -> None:
    with pytest.raises(WireError):
        RPC.decode(full_rpc().encode() + b"\x00")


def test_split_keeps_every_frame_within_the_limits() -> None:
    ids = [i.to_bytes(32, "big") for i in range(MAX_IWANT_IDS + 10)]
    big = envelope(2, data=bytes(700_000))
    rpc = RPC(iwant=ids, ihave=[(TOPIC, ids)], graft=[TOPIC], msgs=[envelope(1), big])
    parts = split(rpc)
    assert len(parts) > 1
    decoded = [RPC.decode(part.encode()) for part in parts]  # each one passes the receiver's checks
    assert [i for p in decoded for i in p.iwant] == ids
    assert [i for p in decoded for _, ids_ in p.ihave for i in ids_] == ids
    assert sorted(m.seqno for p in decoded for m in p.msgs) == [1, 2]
    assert [t for p in decoded for t in p.graft] == [TOPIC]
