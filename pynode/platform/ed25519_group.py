"""The edwards25519 group seam the ECVRF (pynode/identity/vrf.py) runs on.

CPython backs it with libsodium (native_ed25519.py); the browser, which has no libsodium, with the pure-Python
group in pynode/platform/pure_ed25519.py. Both accept and refuse exactly the same encodings, so a proof made on
one platform verifies on the other.
"""

from __future__ import annotations

from typing import Protocol

IDENTITY_ENCODING = (1).to_bytes(32, "little")  # the neutral element (x = 0, y = 1)


class Ed25519Group(Protocol):
    """Points are 32-byte RFC 8032 encodings; scalars are non-negative ints (reduced mod the group order L)."""

    name: str

    def is_valid_point(self, s: bytes) -> bool:
        """Canonical, on the curve, in the prime-order subgroup and not the identity."""
        ...

    def clear_cofactor(self, s: bytes) -> bytes | None:
        """8·P for any canonical curve point P (RFC 8032 decoding), None when `s` encodes none."""
        ...

    def scalarmult_base(self, k: int) -> bytes:
        """k·B for the standard base point B."""
        ...

    def scalarmult(self, k: int, s: bytes) -> bytes:
        """k·P for a P in the prime-order subgroup (the identity included)."""
        ...

    def sub(self, a: bytes, b: bytes) -> bytes:
        """A − B for curve points A and B."""
        ...
