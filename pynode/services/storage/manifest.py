"""What a blob is made of: its SHA-256 (the id), its size and the SHA-256 of each of its chunks.

A blob is cut into CHUNK_BYTES pieces (the last one shorter). A fetcher gets the manifest from a holder, checks
each chunk against it as it arrives (a bad chunk is refused and its sender penalised at once) and the whole blob
against its id at the end (a manifest that lies about the chunks is caught there, and its sender penalised).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from pynode.services.storage.limits import CHUNK_BYTES, HASH_BYTES, MAX_BLOB_BYTES, MAX_CHUNKS
from pynode.wire.errors import WireError
from pynode.wire.schema import expect_map, get_bytes, get_int


def blob_id(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def chunk_count(size: int) -> int:
    return max(1, -(-size // CHUNK_BYTES))


def chunk_length(size: int, index: int) -> int:
    """Bytes in chunk `index` of a blob of `size` bytes."""
    return min(CHUNK_BYTES, size - index * CHUNK_BYTES)


@dataclass(frozen=True)
class Manifest:
    blob: bytes  # SHA-256 of the whole blob
    size: int
    hashes: tuple[bytes, ...]  # SHA-256 of each chunk, in order

    @property
    def chunks(self) -> int:
        return len(self.hashes)

    def to_wire(self) -> dict[str, Any]:
        return {"blob": self.blob, "size": self.size, "hashes": b"".join(self.hashes)}

    @classmethod
    def from_wire(cls, value: Any, limit: int = MAX_BLOB_BYTES) -> Manifest:
        """A manifest from the network, checked for shape and self-consistency; WireError otherwise."""
        d = expect_map(value, "manifest", {"blob", "size", "hashes"})
        blob = get_bytes(d, "blob", size=HASH_BYTES)
        size = get_int(d, "size", 0, min(limit, MAX_BLOB_BYTES))
        joined = get_bytes(d, "hashes", max_len=MAX_CHUNKS * HASH_BYTES)
        if len(joined) != chunk_count(size) * HASH_BYTES:
            raise WireError("bad_manifest", f"{len(joined) // HASH_BYTES} chunk hashes for {size} bytes")
        hashes = tuple(joined[i : i + HASH_BYTES] for i in range(0, len(joined), HASH_BYTES))
        if len(hashes) == 1 and hashes[0] != blob:
            raise WireError("bad_manifest", "a one-chunk blob's chunk hash is its id")
        return cls(blob, size, hashes)

    def check_chunk(self, index: int, data: bytes) -> None:
        """Raise WireError unless `data` is chunk `index` of this blob."""
        if not 0 <= index < self.chunks:
            raise WireError("bad_chunk", f"chunk {index} of a {self.chunks}-chunk blob")
        if len(data) != chunk_length(self.size, index):
            raise WireError(
                "bad_chunk", f"chunk {index} has {len(data)} bytes, expected {chunk_length(self.size, index)}"
            )
        if hashlib.sha256(data).digest() != self.hashes[index]:
            raise WireError("bad_chunk", f"chunk {index} does not match its hash")


def split(data: bytes) -> tuple[Manifest, list[bytes]]:
    """Cut a blob into chunks and describe it; ValueError when it is larger than any holder accepts."""
    if len(data) > MAX_BLOB_BYTES:
        raise ValueError(f"a blob of {len(data)} bytes is over the {MAX_BLOB_BYTES}-byte limit")
    chunks = [data[i : i + CHUNK_BYTES] for i in range(0, len(data), CHUNK_BYTES)] or [b""]
    hashes = tuple(hashlib.sha256(c).digest() for c in chunks)
    return Manifest(blob_id(data), len(data), hashes), chunks
