"""The memory service's protocol (capability `memory`): `search` — the k nearest papers and results to a text
or a vector, optionally of one kind, domain or task.

Arguments: exactly one of `text` (embedded by the serving node) or `vector` (little-endian float32 bytes of
the index's dimension, unit length); `k` (1..MAX_K); optional `kind`, `domain`, `task` filters. Answer:
`{"dim", "size", "exact", "hits": [{"key", "score_ppm", "kind", "domain", "task", "title", ...}]}` with the
cosine as integer parts per million (the wire has no floats). The index is rebuilt from the replicated state,
so an answer is a hint to be checked against the records it names, never a source of truth.
"""

from __future__ import annotations

import math
import sys
from array import array
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from pynode.services import codec
from pynode.services.codec import ServiceError
from pynode.services.memory.corpus import KINDS
from pynode.services.memory.index import VectorIndex
from pynode.services.memory.limits import MAX_DIM, MAX_K, MAX_QUERY_CHARS, MAX_REQUEST_BYTES
from pynode.services.spec import Context, Method, Service, ServiceSpec
from pynode.state.records import DOMAINS, SLUG

NAME = "memory"
Embed = Callable[[list[str]], Awaitable[list[array]]]


@dataclass(frozen=True)
class Query:
    text: str | None
    vector: array | None
    k: int
    kind: str | None
    domain: str | None
    task: str | None

    def keep(self, meta: dict[str, Any]) -> bool:
        return all(
            want is None or meta.get(name) == want
            for name, want in (("kind", self.kind), ("domain", self.domain), ("task", self.task))
        )


def vector_from_bytes(data: Any, max_dim: int = MAX_DIM) -> array:
    """A float32 vector from hostile bytes: whole floats, bounded, finite, non-zero."""
    if not isinstance(data, bytes) or not 0 < len(data) <= 4 * max_dim or len(data) % 4:
        raise ValueError(f"vector must be 1..{max_dim} little-endian float32 values as bytes")
    v = array("f", data)
    if sys.byteorder == "big":
        v.byteswap()
    if not all(math.isfinite(x) for x in v) or not any(v):
        raise ValueError("vector must be finite and non-zero")
    return v


def parse_search(args: dict[str, Any]) -> Query:
    extra = set(args) - {"text", "vector", "k", "kind", "domain", "task"}
    if extra:
        raise ValueError(f"unknown arguments: {sorted(extra)[:4]}")
    text, vector = args.get("text"), args.get("vector")
    if (text is None) == (vector is None):
        raise ValueError("give exactly one of text or vector")
    if text is not None and (not isinstance(text, str) or not 0 < len(text) <= MAX_QUERY_CHARS):
        raise ValueError(f"text must be 1..{MAX_QUERY_CHARS} characters")
    k = args.get("k", 10)
    if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= MAX_K:
        raise ValueError(f"k must be an integer in 1..{MAX_K}")
    kind, domain, task = args.get("kind"), args.get("domain"), args.get("task")
    if kind is not None and kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}")
    if domain is not None and domain not in DOMAINS:
        raise ValueError(f"domain must be one of {DOMAINS}")
    if task is not None and (not isinstance(task, str) or not SLUG.fullmatch(task)):
        raise ValueError("task must be a task id")
    return Query(text, None if vector is None else vector_from_bytes(vector), k, kind, domain, task)


def _normalized(v: array) -> array:
    # in doubles: float32 values (finite, not all zero: parse_search) never square to 0 or overflow
    norm = math.sqrt(sum(x * x for x in v))
    return array("f", (x / norm for x in v))


class MemoryService:
    """Answers `search` from a VectorIndex; `embed` turns text queries into vectors (the node's embedder)."""

    def __init__(self, index: VectorIndex, embed: Embed, model: str) -> None:
        self.index = index
        self.embed = embed
        self.model = model

    async def search(self, ctx: Context, q: Query) -> dict[str, Any]:
        if q.vector is not None:
            if len(q.vector) != self.index.dim:
                raise ServiceError(codec.BAD_REQUEST, f"vector must have {self.index.dim} floats")
            vector = _normalized(q.vector)
        else:
            vector = (await self.embed([q.text or ""]))[0]
        exact = self.index.searches_exactly()
        hits = self.index.search(vector, q.k, q.keep, exact)
        ctx.units += 1
        return {
            "dim": self.index.dim,
            "size": len(self.index),
            "exact": exact,
            "hits": [{"key": h.key, "score_ppm": round(h.score * 1_000_000), **h.meta} for h in hits],
        }

    def service(self) -> Service:
        spec = ServiceSpec(
            NAME,
            max_bytes=MAX_REQUEST_BYTES,
            per_min=120,
            burst=20,
            concurrent=2,
            capacity=8,
            timeout_s=10.0,
            info={"model": self.model, "dim": self.index.dim, "max_k": MAX_K, "kinds": list(KINDS)},
        )
        return Service(spec, {"search": Method(parse_search, self.search)})
