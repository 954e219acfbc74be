"""The embedding service's protocol (capability `embedding`): `embed` — all-MiniLM-L6-v2 vectors of a batch.

Arguments: `{"texts": [str, ...]}`, 1..MAX_SENTENCES texts of at most MAX_CHARS characters each (the request's
bytes are bounded before parsing by the spec's max_bytes). Answer: `{"model", "dim", "vectors"}` with the unit
vectors as one little-endian float32 byte string, sentence after sentence (the wire has no floats).
`EmbeddingClient` asks the mesh (or this node) for vectors and checks the answer before trusting it.
"""

from __future__ import annotations

import math
import sys
from array import array
from typing import Any, Protocol

from pynode.services.embedding.embedder import TextEmbedder
from pynode.services.embedding.limits import MAX_CHARS, MAX_REQUEST_BYTES, MAX_SENTENCES
from pynode.services.spec import Context, Method, Service, ServiceSpec

NAME = "embedding"
UNIT_TOLERANCE = 1e-3  # a served vector's norm may differ from 1 by float error, not more


def parse_embed(args: dict[str, Any]) -> list[str]:
    if set(args) != {"texts"}:
        raise ValueError("the only argument is texts")
    texts = args["texts"]
    if not isinstance(texts, list) or not 1 <= len(texts) <= MAX_SENTENCES:
        raise ValueError(f"texts must be a list of 1..{MAX_SENTENCES} strings")
    for t in texts:
        if not isinstance(t, str) or len(t) > MAX_CHARS:
            raise ValueError(f"each text must be a string of at most {MAX_CHARS} characters")
    return texts


def pack(vectors: list[array]) -> bytes:
    out = array("f")
    for v in vectors:
        out.extend(v)
    if sys.byteorder == "big":
        out.byteswap()
    return out.tobytes()


def unpack(answer: Any, count: int, dim: int) -> list[array]:
    """Vectors from a (hostile) peer's answer: the right count and dimension, finite, unit length."""
    data = answer.get("vectors") if isinstance(answer, dict) else None
    if not isinstance(data, bytes) or len(data) != 4 * count * dim:
        raise ValueError(f"expected {count} vectors of {dim} floats")
    flat = array("f", data)
    if sys.byteorder == "big":
        flat.byteswap()
    vectors = [flat[i * dim : (i + 1) * dim] for i in range(count)]
    for v in vectors:
        norm = math.sqrt(sum(x * x for x in v))
        if not math.isfinite(norm) or abs(norm - 1) > UNIT_TOLERANCE:
            raise ValueError("a served vector is not of unit length")
    return vectors


class EmbeddingService:
    def __init__(self, embedder: TextEmbedder) -> None:
        self.embedder = embedder

    async def embed(self, ctx: Context, texts: list[str]) -> dict[str, Any]:
        vectors = await self.embedder.embed(texts)
        ctx.units += len(texts)
        return {"model": self.embedder.info.name, "dim": self.embedder.dim, "vectors": pack(vectors)}

    def service(self) -> Service:
        spec = ServiceSpec(
            NAME,
            max_bytes=MAX_REQUEST_BYTES,
            per_min=60,
            burst=10,
            concurrent=1,  # one batch per requester at a time: the work is CPU-bound
            capacity=2,
            timeout_s=30.0,
            info={
                "model": self.embedder.info.name,
                "dim": self.embedder.dim,
                "max_sentences": MAX_SENTENCES,
                "max_chars": MAX_CHARS,
                "device": self.embedder.device,
            },
        )
        return Service(spec, {"embed": Method(parse_embed, self.embed)})


class Caller(Protocol):
    """What the client needs of pynode/runtime/services.ServicesRuntime."""

    async def call(self, cap: str, method: str, args: dict[str, Any], **kw: Any) -> Any: ...


class EmbeddingClient:
    """Embeds texts through the mesh (in-process when this node hosts the service), MAX_SENTENCES at a time."""

    def __init__(self, services: Caller, dim: int = 384) -> None:
        self.services = services
        self.dim = dim

    async def embed(self, texts: list[str]) -> list[array]:
        out: list[array] = []
        for start in range(0, len(texts), MAX_SENTENCES):
            batch = [t[:MAX_CHARS] for t in texts[start : start + MAX_SENTENCES]]
            n = len(batch)
            answer = await self.services.call(NAME, "embed", {"texts": batch}, units=lambda _answer, n=n: n)
            out.extend(unpack(answer, len(batch), self.dim))
        return out
