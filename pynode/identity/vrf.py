"""ECVRF-EDWARDS25519-SHA512-TAI (RFC 9381, suite 0x03): verifiable random outputs from a node's key.

`prove(seed, alpha)` gives an 80-byte proof π; `verify(public_key, π, alpha)` gives the 64-byte output β, or
None for anything but a valid proof; `proof_to_hash(π)` gives β without checking (only for proofs already
verified, or one's own). The key is the node's Ed25519 identity: seed and public key (= peer id) are exactly
RFC 8032's, so a peer's VRF outputs are checked against its peer id alone and nobody can pick a separate VRF
key after seeing a round's seed.

The algorithm, hash-to-curve by try-and-increment, nonce, challenge and encodings are here; group arithmetic
comes from the platform's `Ed25519Group` (libsodium in CPython, pure Python in the browser). Both refuse the
same encodings, so a proof made on one platform verifies on the other. Stricter than RFC 9381 on purpose: the
public key and Γ must be canonical points of the prime-order subgroup (libsodium's scalar multiplication
refuses anything else; an honest key x·B and Γ = x·H always are), so small-order and mixed-order points are
refused whatever the backend.

Callers start α with a domain string ending in a zero byte, one per purpose (docs/PROTOCOL.md §1), so a
proof made for one purpose never counts for another.

Side channels: with the pure-Python group, proving is not constant-time (see pynode/platform/pure_ed25519.py).
"""

from __future__ import annotations

import functools
import hashlib

from pynode.platform import current
from pynode.platform.ed25519_group import Ed25519Group

SUITE = b"\x03"  # ECVRF-EDWARDS25519-SHA512-TAI
SEED_BYTES = 32
PUBLIC_KEY_BYTES = 32
PROOF_BYTES = 80  # Γ (32) ‖ c (16) ‖ s (32)
OUTPUT_BYTES = 64
CHALLENGE_BYTES = 16
L = 2**252 + 27742317777372353535851937790883648493  # the prime group order q
_MAX_TRIES = 256  # the counter is one byte; a try succeeds with probability ~1/2


class VrfError(ValueError):
    """A malformed key, seed or proof."""


@functools.cache
def default_group() -> Ed25519Group:
    """The platform's group: libsodium in CPython, pure Python in the browser."""
    return current().ed25519_group()


def _sha512(*parts: bytes) -> bytes:
    return hashlib.sha512(b"".join(parts)).digest()


def encode_to_curve(public_key: bytes, alpha: bytes, group: Ed25519Group) -> bytes:
    """H: try-and-increment (RFC 9381 §5.4.1.1) with the public key as salt, cofactor cleared."""
    for ctr in range(_MAX_TRIES):
        candidate = _sha512(SUITE, b"\x01", public_key, alpha, bytes([ctr]), b"\x00")[:32]
        h = group.clear_cofactor(candidate)
        if h is not None:
            return h
    raise VrfError("no curve point in 256 tries")  # probability 2^-256


def _challenge(*points: bytes) -> int:
    return int.from_bytes(_sha512(SUITE, b"\x02", *points, b"\x00")[:CHALLENGE_BYTES], "little")


def _decode_proof(pi: bytes, group: Ed25519Group) -> tuple[bytes, int, int]:
    if not isinstance(pi, bytes) or len(pi) != PROOF_BYTES:
        raise VrfError(f"a proof is {PROOF_BYTES} bytes")
    gamma = pi[:32]
    c = int.from_bytes(pi[32:48], "little")
    s = int.from_bytes(pi[48:], "little")
    if s >= L:
        raise VrfError("s is not reduced")
    if not group.is_valid_point(gamma):
        raise VrfError("Γ is not a point of the prime-order subgroup")
    return gamma, c, s


def _hash_gamma(gamma: bytes, group: Ed25519Group) -> bytes:
    cleared = group.clear_cofactor(gamma)
    if cleared is None:
        raise VrfError("Γ is not a curve point")
    return _sha512(SUITE, b"\x03", cleared, b"\x00")


class VrfKey:
    """A prover: the secret scalar, nonce key and public key expanded once from a 32-byte Ed25519 seed."""

    def __init__(self, seed: bytes, group: Ed25519Group | None = None) -> None:
        if not isinstance(seed, bytes) or len(seed) != SEED_BYTES:
            raise VrfError(f"a seed is {SEED_BYTES} bytes")
        self._given_group = group
        h = _sha512(seed)
        x = int.from_bytes(h[:32], "little")
        x &= (1 << 254) - 8  # RFC 8032 clamping: clear bits 0–2 and 255, set bit 254
        x |= 1 << 254
        self._x = x % L  # B and H have order L: reducing changes no product
        self._nonce_key = h[32:]

    # The group and the public key on first use, not when the identity loads: a tab's pure-Python group is a
    # module to import and a scalar multiplication, on the way to its first relay hello, which needs neither.
    @functools.cached_property
    def _group(self) -> Ed25519Group:
        return self._given_group or default_group()

    @functools.cached_property
    def public_key(self) -> bytes:
        return self._group.scalarmult_base(self._x)

    def prove(self, alpha: bytes) -> bytes:
        """π for `alpha` (RFC 9381 §5.1): deterministic, 80 bytes."""
        g = self._group
        h = encode_to_curve(self.public_key, alpha, g)
        gamma = g.scalarmult(self._x, h)
        k = int.from_bytes(_sha512(self._nonce_key, h), "little") % L  # RFC 8032-style nonce (§5.4.2.2)
        c = _challenge(self.public_key, h, gamma, g.scalarmult_base(k), g.scalarmult(k, h))
        s = (k + c * self._x) % L
        return gamma + c.to_bytes(CHALLENGE_BYTES, "little") + s.to_bytes(32, "little")


def public_key(seed: bytes, group: Ed25519Group | None = None) -> bytes:
    """The Ed25519 public key (= peer id) of `seed`."""
    return VrfKey(seed, group).public_key


def prove(seed: bytes, alpha: bytes, group: Ed25519Group | None = None) -> bytes:
    return VrfKey(seed, group).prove(alpha)


def proof_to_hash(pi: bytes, group: Ed25519Group | None = None) -> bytes:
    """β of a proof (RFC 9381 §5.2), without verifying it; raises VrfError when π is malformed."""
    g = group or default_group()
    gamma, _, _ = _decode_proof(pi, g)
    return _hash_gamma(gamma, g)


def verify(public_key: bytes, pi: bytes, alpha: bytes, group: Ed25519Group | None = None) -> bytes | None:
    """β when π is `public_key`'s proof for `alpha` (RFC 9381 §5.3), else None. Never raises on hostile bytes."""
    g = group or default_group()
    if not isinstance(public_key, bytes) or len(public_key) != PUBLIC_KEY_BYTES:
        return None
    if not isinstance(alpha, bytes) or not g.is_valid_point(public_key):
        return None
    try:
        gamma, c, s = _decode_proof(pi, g)
    except VrfError:
        return None
    h = encode_to_curve(public_key, alpha, g)
    u = g.sub(g.scalarmult_base(s), g.scalarmult(c, public_key))
    v = g.sub(g.scalarmult(s, h), g.scalarmult(c, gamma))
    if _challenge(public_key, h, gamma, u, v) != c:
        return None
    return _hash_gamma(gamma, g)
