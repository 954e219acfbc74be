import asyncio
import contextlib
import os
import stat

import cbor2
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pynode.identity import Identity, parse_peer_id, peer_id_text, verify
from pynode.platform import native
from pynode.wire import cbor
from pynode.wire.envelope import Envelope, sign_envelope, verify_envelope
from pynode.wire.errors import WireError
from pynode.wire.limits import MAX_FRAME_BYTES

ALICE = Identity(native.NaclSigner(bytes(range(32))))


def run(coro):
    return asyncio.run(coro)


# ---- deterministic CBOR ---------------------------------------------------------------------------

values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.text(max_size=20)
    | st.binary(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


@given(values)
def test_canonical_values_round_trip(value):
    assert cbor.decode(cbor.encode(value)) == value


@given(st.binary(max_size=200))
def test_arbitrary_bytes_never_crash_the_decoder(buf):
    with contextlib.suppress(WireError):
        cbor.decode(buf)


@pytest.mark.parametrize(
    "buf, reason",
    [
        (b"\x9f\x01\xff", "non_canonical"),  # indefinite-length array
        (cbor2.dumps(cbor2.CBORTag(35, "a+")), "bad_type"),  # regex tag
        (cbor2.dumps(cbor2.CBORTag(28, [1])), "bad_type"),  # shared-reference tag
        (cbor2.dumps(1.5), "bad_type"),  # floats
        (b"\x18\x05", "non_canonical"),  # 5 in a two-byte form
        (cbor.encode({"a": 1}) + b"\x00", "trailing_bytes"),
        (b"\x81" * 20 + b"\x01", "too_deep"),
        (bytes.fromhex("a2616101616102"), "non_canonical"),  # duplicate keys
        (bytes.fromhex("a1820102" + "01"), "bad_type"),  # array as a map key
        (b"\x9b\xff\xff\xff\xff\xff\xff\xff\xff", "truncated"),  # array claiming 2^64 items
        (b"\x5a\xff\xff\xff\xff", "truncated"),  # bytes claiming 4 GiB
        (bytes.fromhex("a2616202616101"), "non_canonical"),  # keys out of order
    ],
)
def test_decoder_refuses(buf, reason):
    with pytest.raises(WireError) as e:
        cbor.decode(buf)
    assert e.value.reason == reason


def test_oversized_frame_is_refused_before_decoding():
    with pytest.raises(WireError) as e:
        cbor.decode(b"\x00" * (MAX_FRAME_BYTES + 1))
    assert e.value.reason == "oversized"


# ---- envelopes ------------------------------------------------------------------------------------


def test_envelope_signs_and_verifies_and_round_trips():
    env = run(sign_envelope(ALICE.signer, "hs/1/test", 7, 1_700_000_000_000, b"hello"))
    assert run(verify_envelope(env, verify))
    again = Envelope.from_wire(cbor.decode(cbor.encode(env.to_wire())))
    assert again == env and again.msg_id == env.msg_id


@pytest.mark.parametrize("field", ["topic", "seqno", "ts", "data"])
def test_tampered_envelope_fails_verification(field):
    env = run(sign_envelope(ALICE.signer, "hs/1/test", 7, 1_700_000_000_000, b"hello"))
    changed = {"topic": "hs/1/other", "seqno": 8, "ts": 1, "data": b"HELLO"}[field]
    forged = Envelope(**_replace(env, field, changed))
    assert not run(verify_envelope(forged, verify))
    assert forged.msg_id != env.msg_id


def _replace(env, field, value):
    d = {
        "topic": env.topic,
        "sender": env.sender,
        "seqno": env.seqno,
        "ts": env.ts,
        "data": env.data,
        "sig": env.sig,
    }
    d[field] = value
    return d


def test_signature_from_another_domain_does_not_verify():
    env = run(sign_envelope(ALICE.signer, "hs/1/test", 1, 1, b"x"))
    # the same fields signed without the gossip domain prefix (as if lifted from another protocol)
    raw_sig = ALICE.signer.sign_now(cbor.encode(env.unsigned()))
    assert not run(
        verify_envelope(Envelope(env.topic, env.sender, env.seqno, env.ts, env.data, raw_sig), verify)
    )


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d.pop("sig"),
        lambda d: d.update(extra=1),
        lambda d: d.update(sig=b"short"),
        lambda d: d.update(seqno=-1),
        lambda d: d.update(seqno=True),
        lambda d: d.update(topic=""),
        lambda d: d.update(topic="x" * 129),
        lambda d: d.update(topic="bad\nline"),
        lambda d: d.update({"from": b"\x00" * 31}),
        lambda d: d.update(data="text, not bytes"),
    ],
)
def test_malformed_envelopes_are_refused(mutate):
    env = run(sign_envelope(ALICE.signer, "hs/1/test", 1, 1, b"x"))
    d = env.to_wire()
    mutate(d)
    with pytest.raises(WireError):
        Envelope.from_wire(d)


# ---- identity -------------------------------------------------------------------------------------


def test_peer_id_text_round_trips_and_rejects_garbage():
    assert parse_peer_id(peer_id_text(ALICE.peer_id)) == ALICE.peer_id
    assert parse_peer_id(ALICE.text.upper()) == ALICE.peer_id
    for bad in ["", "abc", "!" * 52, ALICE.text[:-1]]:
        with pytest.raises(ValueError):
            parse_peer_id(bad)


async def test_identity_persists_with_mode_0600(tmp_path):
    first = await Identity.load_or_create(tmp_path)
    path = tmp_path / native.KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert (await Identity.load_or_create(tmp_path)).peer_id == first.peer_id


async def test_identity_file_readable_by_others_is_refused(tmp_path):
    await Identity.load_or_create(tmp_path)
    os.chmod(tmp_path / native.KEY_FILE, 0o644)
    with pytest.raises(PermissionError, match="chmod 600"):
        await Identity.load_or_create(tmp_path)


async def test_corrupt_identity_file_is_refused(tmp_path):
    (tmp_path / native.KEY_FILE).write_bytes(b"short")
    os.chmod(tmp_path / native.KEY_FILE, 0o600)
    with pytest.raises(ValueError, match="not an identity key"):
        await Identity.load_or_create(tmp_path)


async def test_identity_from_a_seed_signs_as_rfc8032_and_a_generated_one_is_fresh():
    seed = bytes.fromhex(
        "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"
    )  # RFC 8032 test 1
    identity = await Identity.from_seed(seed)
    assert identity.peer_id.hex() == "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
    a, b = await Identity.generate(), await Identity.generate()
    assert a.peer_id != b.peer_id
    assert await verify(a.peer_id, b"m", await a.signer.sign(b"m"))
    assert not await verify(b.peer_id, b"m", await a.signer.sign(b"m"))
