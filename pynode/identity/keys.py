"""Peer ids and their text form.

A peer id is the node's 32-byte Ed25519 public key. Its text form is lowercase RFC 4648 base32 without
padding (52 characters): case-insensitive, URL- and filename-safe, and decodable with any standard library.
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass

from pynode.platform import Signer, current

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
    """A node's signing key and the peer id it implies."""

    signer: Signer

    @property
    def peer_id(self) -> bytes:
        return self.signer.public_key

    @property
    def text(self) -> str:
        return peer_id_text(self.peer_id)

    @classmethod
    def from_seed(cls, seed: bytes) -> Identity:
        return cls(current().signer_from_seed(seed))

    @classmethod
    def generate(cls) -> Identity:
        return cls.from_seed(current().random_bytes(32))

    @classmethod
    def load_or_create(cls, data_dir: str | os.PathLike[str]) -> Identity:
        """Load the identity kept in `data_dir`, creating it (mode 0600) on first use."""
        return cls.from_seed(current().load_or_create_seed(data_dir))
