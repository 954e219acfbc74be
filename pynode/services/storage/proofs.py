"""Storage proofs: a challenger that holds a blob checks that another holder still has it.

The challenger picks a fresh random seed; the seed (with the blob id) picks PROOF_CHUNKS chunk indices, and the
holder answers SHA-256(domain ‖ seed ‖ index ‖ chunk) for each. Without the chunks it cannot compute these
(the seed is new each time, so answers cannot be precomputed), and the answer is 32 bytes per chunk, not the
chunk. A holder that dropped a share f of the chunks fails a challenge with probability 1 − (1 − f)^k.
"""

from __future__ import annotations

import hashlib

from pynode.services.storage.limits import PROOF_CHUNKS

DOMAIN_PICK = b"hyperspace/1/storage-proof-pick\x00"
DOMAIN_ANSWER = b"hyperspace/1/storage-proof\x00"


def indices(seed: bytes, blob: bytes, chunks: int, count: int = PROOF_CHUNKS) -> list[int]:
    """The chunks a challenge asks about (with repetition when the blob has fewer than `count`)."""
    return [
        int.from_bytes(hashlib.sha256(DOMAIN_PICK + seed + blob + i.to_bytes(4, "big")).digest()[:8], "big")
        % chunks
        for i in range(count)
    ]


def answer(seed: bytes, index: int, chunk: bytes) -> bytes:
    return hashlib.sha256(DOMAIN_ANSWER + seed + index.to_bytes(4, "big") + chunk).digest()
