"""ECVRF-EDWARDS25519-SHA512-TAI (pynode.identity.vrf) on both group backends: libsodium and pure Python."""

import os

import pytest

from pynode.identity import vrf
from pynode.platform import pure_ed25519 as pure
from pynode.platform.conformance import VRF_VECTORS
from pynode.platform.native_ed25519 import SodiumEd25519Group
from pynode.platform.pure_ed25519 import PureEd25519Group

NACL, PURE = SodiumEd25519Group(), PureEd25519Group()
GROUPS = pytest.mark.parametrize("group", [NACL, PURE], ids=lambda g: g.name)

# RFC 9381 appendix B.3, examples 16–18: the encode-to-curve point H of each (pins try-and-increment alone)
VRF_H = [
    "91bbed02a99461df1ad4c6564a5f5d829d0b90cfc7903e7a5797bd658abf3318",
    "5b659fc3d4e9263fd9a4ed1d022d75eaacc20df5e09f9ea937502396598dc551",
    "bf4339376f5542811de615e3313d2b36f6f53c0acfebb482159711201192576a",
]
SEED = bytes(range(32))


def _torsion_points() -> list[bytes]:
    """The 8 points of small order, canonical encodings (the torsion group is cyclic: multiples of one T8)."""
    for i in range(64):
        p = pure._decode(vrf._sha512(b"torsion", bytes([i]))[:32])
        if p is None:
            continue
        t = pure._mul(pure.L, p)  # kills the prime-order part: what is left has order dividing 8
        if not pure._is_zero(pure._double(pure._double(t))):  # order exactly 8
            points, acc = [], pure.ZERO
            for _ in range(8):
                points.append(pure._encode(acc))
                acc = pure._add(acc, t)
            return points
    raise AssertionError("no point of order 8 found")


TORSION = _torsion_points()


def _non_canonical(encodings: list[bytes]) -> list[bytes]:
    """Other encodings of the same points: y + p where it fits in 255 bits, and x = 0 with the sign bit set."""
    out = []
    for e in encodings:
        n = int.from_bytes(e, "little")
        y = n & (2**255 - 1)
        if y + pure.P < 2**255:
            out.append((n + pure.P).to_bytes(32, "little"))
        if y in (1, pure.P - 1):
            out.append((n | 1 << 255).to_bytes(32, "little"))
    return out


def _plus(a: bytes, b: bytes) -> bytes:
    return pure._encode(pure._add(pure._decode(a), pure._decode(b)))


def _flip(data: bytes, index: int, bit: int = 0) -> bytes:
    return data[:index] + bytes([data[index] ^ (1 << bit)]) + data[index + 1 :]


@GROUPS
@pytest.mark.parametrize("vector", range(len(VRF_VECTORS)), ids=lambda i: f"example{16 + i}")
def test_rfc9381_examples_byte_for_byte(group, vector):
    seed, pk, alpha, pi, beta = VRF_VECTORS[vector]
    key = vrf.VrfKey(seed, group)
    assert key.public_key == pk
    assert vrf.encode_to_curve(pk, alpha, group).hex() == VRF_H[vector]
    assert key.prove(alpha) == pi
    assert vrf.prove(seed, alpha, group) == pi
    assert vrf.verify(pk, pi, alpha, group) == beta
    assert vrf.proof_to_hash(pi, group) == beta


def test_cpython_default_group_is_libsodium():
    assert vrf.default_group().name == "nacl"
    seed, pk, alpha, pi, beta = VRF_VECTORS[0]
    assert vrf.prove(seed, alpha) == pi and vrf.verify(pk, pi, alpha) == beta


@GROUPS
def test_round_trip_and_outputs_differ_per_alpha_and_key(group):
    outputs = set()
    for i in range(4):
        seed = os.urandom(32)
        key = vrf.VrfKey(seed, group)
        for alpha in (b"", b"round-%d" % i, os.urandom(100)):
            pi = key.prove(alpha)
            assert len(pi) == vrf.PROOF_BYTES and pi == key.prove(alpha), "deterministic"
            beta = vrf.verify(key.public_key, pi, alpha, group)
            assert beta is not None and len(beta) == vrf.OUTPUT_BYTES
            assert beta == vrf.proof_to_hash(pi, group)
            outputs.add(beta)
    assert len(outputs) == 12


def test_proofs_cross_backends():
    for _ in range(3):
        seed, alpha = os.urandom(32), os.urandom(16)
        pk = vrf.public_key(seed, NACL)
        assert vrf.public_key(seed, PURE) == pk
        by_nacl, by_pure = vrf.prove(seed, alpha, NACL), vrf.prove(seed, alpha, PURE)
        assert by_nacl == by_pure
        assert vrf.verify(pk, by_nacl, alpha, PURE) == vrf.verify(pk, by_pure, alpha, NACL) is not None


def test_every_single_bit_flip_of_a_proof_is_refused():
    seed, pk, alpha, pi, _ = VRF_VECTORS[1]
    for i in range(vrf.PROOF_BYTES):
        for bit in range(8):
            assert vrf.verify(pk, _flip(pi, i, bit), alpha, NACL) is None, f"byte {i} bit {bit}"


@GROUPS
def test_tampered_proof_alpha_or_key_is_refused(group):
    seed, pk, alpha, pi, _ = VRF_VECTORS[2]
    for i in (0, 31, 32, 47, 48, 79):  # Γ, c and s, first and last byte each
        assert vrf.verify(pk, _flip(pi, i), alpha, group) is None, f"byte {i}"
    assert vrf.verify(pk, pi, alpha + b"\x00", group) is None
    assert vrf.verify(pk, pi, b"", group) is None
    assert vrf.verify(VRF_VECTORS[0][1], pi, alpha, group) is None, "another key"
    other = vrf.VrfKey(os.urandom(32), group)
    assert vrf.verify(other.public_key, other.prove(b"a"), b"b", group) is None


@GROUPS
def test_malformed_inputs_are_refused_without_raising(group):
    seed, pk, alpha, pi, _ = VRF_VECTORS[0]
    for bad_pi in (b"", pi[:-1], pi + b"\x00", bytes(80), b"\xff" * 80, bytearray(pi), "x" * 80, None):
        assert vrf.verify(pk, bad_pi, alpha, group) is None
    for bad_pk in (b"", pk[:31], pk + b"\x00", b"\xff" * 32, None):
        assert vrf.verify(bad_pk, pi, alpha, group) is None
    assert vrf.verify(pk, pi, "text", group) is None
    for bad_pi in (pi[:79], bytes(80)):
        with pytest.raises(vrf.VrfError):
            vrf.proof_to_hash(bad_pi, group)
    for bad_seed in (b"", seed[:31], seed + b"\x00", "x" * 32):
        with pytest.raises(vrf.VrfError):
            vrf.VrfKey(bad_seed, group)


@GROUPS
def test_unreduced_s_is_refused(group):
    """s + L gives the same s·B: accepting it would make proofs malleable."""
    seed, pk, alpha, pi, _ = VRF_VECTORS[0]
    s = int.from_bytes(pi[48:], "little")
    assert vrf.verify(pk, pi[:48] + (s + vrf.L).to_bytes(32, "little"), alpha, group) is None


@GROUPS
def test_small_order_and_mixed_order_public_keys_are_refused(group):
    seed, pk, alpha, pi, _ = VRF_VECTORS[0]
    for t in TORSION + _non_canonical(TORSION):
        assert not group.is_valid_point(t), t.hex()
        assert vrf.verify(t, pi, alpha, group) is None, t.hex()
    # a real key plus a torsion component: RFC 9381's validate_key would pass it, we do not
    for t in TORSION[1:]:
        assert vrf.verify(_plus(pk, t), pi, alpha, group) is None
    assert group.is_valid_point(pk)


@GROUPS
def test_small_order_mixed_order_and_non_canonical_gamma_is_refused(group):
    seed, pk, alpha, pi, _ = VRF_VECTORS[0]
    gamma, rest = pi[:32], pi[32:]
    for bad in TORSION + _non_canonical(TORSION) + [_plus(gamma, t) for t in TORSION[1:]]:
        assert vrf.verify(pk, bad + rest, alpha, group) is None, bad.hex()
        with pytest.raises(vrf.VrfError):
            vrf.proof_to_hash(bad + rest, group)


def test_backends_agree_on_which_encodings_are_points():
    """The same accept/refuse decisions everywhere: a proof valid on one platform is valid on the other."""
    samples = [os.urandom(32) for _ in range(300)]
    small_y = [y.to_bytes(32, "little") for y in range(40)] + [
        (pure.P + y).to_bytes(32, "little") for y in range(19)
    ]
    samples += small_y + [(int.from_bytes(s, "little") | 1 << 255).to_bytes(32, "little") for s in small_y]
    samples += TORSION + [VRF_VECTORS[0][1], _plus(VRF_VECTORS[0][1], TORSION[1])]
    decoded = 0
    for s in samples:
        cleared = NACL.clear_cofactor(s)
        assert PURE.clear_cofactor(s) == cleared, s.hex()
        assert PURE.is_valid_point(s) == NACL.is_valid_point(s), s.hex()
        decoded += cleared is not None
    assert 100 < decoded < len(samples), "samples must include both decodable and undecodable encodings"


@GROUPS
def test_group_edge_cases_match(group):
    b = group.scalarmult_base(1)
    assert group.scalarmult_base(0) == group.scalarmult_base(vrf.L) == (1).to_bytes(32, "little")
    assert (
        group.scalarmult(0, b)
        == group.scalarmult(5, (1).to_bytes(32, "little"))
        == (1).to_bytes(32, "little")
    )
    assert group.scalarmult(vrf.L + 3, b) == group.scalarmult_base(3)
    assert group.sub(group.scalarmult_base(5), group.scalarmult_base(2)) == group.scalarmult_base(3)
    assert group.sub(b, b) == (1).to_bytes(32, "little")


async def test_a_node_identity_proves_with_its_own_key(tmp_path):
    """The VRF key is the identity key: proofs verify against the peer id, also after reloading the key."""
    from pynode.identity import Identity

    first = await Identity.load_or_create(tmp_path)
    again = await Identity.load_or_create(tmp_path)
    assert first.vrf is not None and again.vrf is not None
    assert first.vrf.public_key == first.peer_id == again.peer_id
    pi = first.vrf.prove(b"hyperspace/1/test\x00seed")
    assert pi == again.vrf.prove(b"hyperspace/1/test\x00seed")
    assert vrf.verify(again.peer_id, pi, b"hyperspace/1/test\x00seed") is not None
    generated = await Identity.generate()
    assert generated.vrf is not None and generated.vrf.public_key == generated.peer_id != first.peer_id
