"""Identity's cross-platform checks, run beside the platform suite (pynode/platform/conformance.py) in CPython and
in the tab: the ECVRF on each platform's group, RFC 9381 byte for byte, so proofs cross platforms.

They live here rather than in the platform's suite because they use pynode.identity, which the platform package
never imports.
"""

from __future__ import annotations

from typing import Any

from pynode.identity import vrf
from pynode.platform import Platform
from pynode.platform.conformance import VRF_VECTORS, Check


async def check_vrf_rfc9381(p: Platform, _: dict[str, Any]) -> None:
    """ECVRF on this platform's group: RFC 9381 byte for byte (so proofs cross platforms), forgeries refused."""
    group = p.ed25519_group()
    for i, (seed, pk, alpha, pi, beta) in enumerate(VRF_VECTORS, start=16):
        key = vrf.VrfKey(seed, group)
        assert key.public_key == pk, f"example {i}: public key"
        assert key.prove(alpha) == pi, f"example {i}: proof {key.prove(alpha).hex()}"
        assert vrf.verify(pk, pi, alpha, group) == beta, f"example {i}: verify"
        assert vrf.proof_to_hash(pi, group) == beta, f"example {i}: proof_to_hash"
    seed, pk, alpha, pi, _ = VRF_VECTORS[0]
    identity, s = (1).to_bytes(32, "little"), int.from_bytes(pi[48:], "little")
    refused = {
        "tampered Γ": (pk, bytes([pi[0] ^ 1]) + pi[1:], alpha),
        "tampered s": (pk, pi[:-1] + bytes([pi[-1] ^ 1]), alpha),
        "unreduced s": (pk, pi[:48] + (s + vrf.L).to_bytes(32, "little"), alpha),
        "other alpha": (pk, pi, b"\x00"),
        "other key": (VRF_VECTORS[1][1], pi, alpha),
        "small-order key": (identity, pi, alpha),
        "small-order Γ": (pk, identity + pi[32:], alpha),
        "short proof": (pk, pi[:79], alpha),
    }
    for what, (key_bytes, proof, message) in refused.items():
        assert vrf.verify(key_bytes, proof, message, group) is None, f"{what} verified"


CHECKS: list[Check] = [check_vrf_rfc9381]
