"""Where a blob lives: rendezvous (highest-random-weight) hashing over the peers that advertise `storage`.

Every peer ranks candidates for a blob by SHA-256(domain ‖ blob ‖ peer) and the first r are its holders.
Anyone computes the same ranking from the same peer list, with no coordination, and a departure or arrival
moves only the blobs whose top r it enters or leaves (about r/n of them), not the rest.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterable

DOMAIN = b"hyperspace/1/storage-placement\x00"


def weight(blob: bytes, peer: bytes) -> bytes:
    return hashlib.sha256(DOMAIN + blob + peer).digest()


def ranking(blob: bytes, peers: Iterable[bytes], excluded: Collection[bytes] = ()) -> list[bytes]:
    """Every candidate, best first."""
    return sorted((p for p in set(peers) if p not in excluded), key=lambda p: weight(blob, p), reverse=True)


def holders(blob: bytes, peers: Iterable[bytes], r: int, excluded: Collection[bytes] = ()) -> list[bytes]:
    """The r peers that should hold `blob` (fewer when fewer are known)."""
    return ranking(blob, peers, excluded)[:r]
