"""Peer ids, their text form, and `Identity` (a node's key).

A peer id is the node's 32-byte Ed25519 public key. Its text form is lowercase RFC 4648 base32 without
padding (52 characters): case-insensitive, URL- and filename-safe, and decodable with any standard library.
An `Identity` wraps a `Signer` and, made from a seed, the same key as an ECVRF prover (vrf.py); its
constructors reach the platform through identity/signatures.py and are async on every platform, because the
browser's key import and key storage are.
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass

from pynode.identity import signatures
from pynode.identity.vrf import VrfKey
from pynode.wire.signing import Signer

PEER_ID_BYTES = 32
PEER_ID_TEXT_LEN = 52


def peer_id_text(peer: bytes) -> str:
    return base64.b32encode(peer).decode("ascii").rstrip("=").lower()


def short_id(peer: bytes) -> str:
    """The first 8 characters of the text form, for logs and dashboards."""
    return peer_id_text(peer)[:8]


def parse_peer_id(text: str) -> bytes:
    """Parse a peer id's text form; raises ValueError with a reason on anything else."""
    if len(text) != PEER_ID_TEXT_LEN:
        raise ValueError(f"a peer id is {PEER_ID_TEXT_LEN} base32 characters, got {len(text)}")
    try:
        raw = base64.b32decode(text.upper() + "====")
    except ValueError as e:
        raise ValueError(f"not a base32 peer id: {e}") from None
    if len(raw) != PEER_ID_BYTES:
        raise ValueError("not a peer id")
    return raw


@dataclass(frozen=True)
class Identity:
    """A node's signing key, the peer id it implies, and the same key as a VRF prover."""

    signer: Signer
    vrf: VrfKey | None = None  # None when made from a signer alone (its seed is not at hand)

    @property
    def peer_id(self) -> bytes:
        return self.signer.public_key

    @property
    def text(self) -> str:
        return peer_id_text(self.peer_id)

    @classmethod
    async def from_seed(cls, seed: bytes) -> Identity:
        return cls(await signatures.load_signer(seed), VrfKey(seed))

    @classmethod
    async def generate(cls) -> Identity:
        return await cls.from_seed(signatures.new_seed())

    @classmethod
    async def load_or_create(cls, place: str | os.PathLike[str]) -> Identity:
        """The identity kept at `place` (CPython: a data directory, key file mode 0600; browser: an IndexedDB
        entry name), created on first use."""
        return await cls.from_seed(await signatures.load_or_create_seed(place))
