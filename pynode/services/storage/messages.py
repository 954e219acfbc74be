"""The storage service's methods, their arguments and their results (PROTOCOL.md §11, storage).

  manifest {blob}                    → manifest map, or null when the blob is not held here
  chunk    {blob, index}             → {data}, or null when not held here
  has      {blobs: [id...]}          → [bool...]: which of them are held here, whole
  offer    {manifest, ttl, holders}  → "stored" (already held: expiry extended) or "pulling" (the holder
                                       fetches it from the offerer and the other holders it knows)
  prove    {blob, seed, count}       → [answer...], SHA-256(domain ‖ seed ‖ index ‖ chunk) per picked chunk

Every parser is a pure validator of hostile arguments (WireError on anything else); every result parser checks
what a peer answered before it is used.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pynode.services.storage.limits import (
    HASH_BYTES,
    MAX_CHUNKS,
    MAX_HAS_BLOBS,
    MAX_OFFER_HOLDERS,
    MAX_TTL_S,
    PEER_BYTES,
    PROOF_CHUNKS,
    SEED_BYTES,
)
from pynode.services.storage.manifest import Manifest, chunk_length
from pynode.wire.errors import WireError
from pynode.wire.schema import expect_map, get_bytes, get_int, get_list

NAME = "storage"
MANIFEST, CHUNK, HAS, OFFER, PROVE = "manifest", "chunk", "has", "offer", "prove"
STORED, PULLING = "stored", "pulling"


@dataclass(frozen=True)
class ChunkArgs:
    blob: bytes
    index: int


@dataclass(frozen=True)
class OfferArgs:
    manifest: Manifest
    ttl: int
    holders: list[bytes]  # peers the offerer knows to hold it (besides itself): the pull may use them


@dataclass(frozen=True)
class ProveArgs:
    blob: bytes
    seed: bytes
    count: int


def parse_blob(a: dict[str, Any]) -> bytes:
    return get_bytes(expect_map(a, "manifest args", {"blob"}), "blob", size=HASH_BYTES)


def parse_chunk(a: dict[str, Any]) -> ChunkArgs:
    d = expect_map(a, "chunk args", {"blob", "index"})
    return ChunkArgs(get_bytes(d, "blob", size=HASH_BYTES), get_int(d, "index", 0, MAX_CHUNKS - 1))


def parse_has(a: dict[str, Any]) -> list[bytes]:
    blobs = get_list(expect_map(a, "has args", {"blobs"}), "blobs", MAX_HAS_BLOBS)
    if not all(isinstance(b, bytes) and len(b) == HASH_BYTES for b in blobs):
        raise WireError("bad_field", "blobs must be 32-byte ids")
    return blobs


def parse_offer(a: dict[str, Any]) -> OfferArgs:
    d = expect_map(a, "offer args", {"manifest", "ttl", "holders"})
    holders = get_list(d, "holders", MAX_OFFER_HOLDERS)
    if not all(isinstance(p, bytes) and len(p) == PEER_BYTES for p in holders):
        raise WireError("bad_field", "holders must be 32-byte peer ids")
    return OfferArgs(Manifest.from_wire(d["manifest"]), get_int(d, "ttl", 1, MAX_TTL_S), holders)


def parse_prove(a: dict[str, Any]) -> ProveArgs:
    d = expect_map(a, "prove args", {"blob", "seed", "count"})
    return ProveArgs(
        get_bytes(d, "blob", size=HASH_BYTES),
        get_bytes(d, "seed", size=SEED_BYTES),
        get_int(d, "count", 1, PROOF_CHUNKS),
    )


# ---- what a peer answered ---------------------------------------------------------------------------------


def manifest_result(value: Any, blob: bytes, limit: int) -> Manifest | None:
    if value is None:
        return None
    m = Manifest.from_wire(value, limit)
    if m.blob != blob:
        raise WireError("bad_manifest", "the manifest of another blob")
    return m


def chunk_result(value: Any, manifest: Manifest, index: int) -> bytes | None:
    """The chunk's bytes (checked against the manifest: WireError when they do not match), None if not held."""
    if value is None:
        return None
    data = get_bytes(expect_map(value, "chunk", {"data"}), "data", max_len=chunk_length(manifest.size, index))
    manifest.check_chunk(index, data)
    return data


def has_result(value: Any, asked: int) -> list[bool]:
    if not isinstance(value, list) or len(value) != asked or not all(isinstance(v, bool) for v in value):
        raise WireError("bad_field", f"has must answer {asked} booleans")
    return value


def prove_result(value: Any, count: int) -> list[bytes] | None:
    if value is None:
        return None
    if not isinstance(value, list) or len(value) != count:
        raise WireError("bad_field", f"a proof is {count} answers")
    if not all(isinstance(v, bytes) and len(v) == HASH_BYTES for v in value):
        raise WireError("bad_field", "proof answers are 32-byte hashes")
    return value
