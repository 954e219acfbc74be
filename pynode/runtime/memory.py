"""Keeps a node's memory index (pynode/services/memory) in step with its replica, and hosts the embedding and
memory services on its ServicesRuntime.

The indexer reads the papers and results documents, embeds what the index lacks — INDEX_BATCH records per step,
newest first, so a node that joins a large network serves recent work soon — and adds them. The index holds
nothing the state does not: drop it and the next steps rebuild the same one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from array import array
from collections.abc import Awaitable, Callable
from typing import Any

from pynode.research.paper import Related
from pynode.services.embedding.assets import MODEL_NAME, ModelMissing
from pynode.services.embedding.embedder import LazyEmbedder, lazy_embedder
from pynode.services.embedding.service import EmbeddingClient, EmbeddingService
from pynode.services.memory.corpus import DOCS, Item, item
from pynode.services.memory.index import Entry, VectorIndex
from pynode.services.memory.limits import INDEX_BATCH, MAX_QUERY_CHARS
from pynode.services.memory.service import MemoryService
from pynode.state.records import Record
from pynode.state.store import Store

log = logging.getLogger(__name__)

INDEX_INTERVAL_S = 2.0  # how often the indexer looks for new records when it has caught up
DIM = 384  # all-MiniLM-L6-v2's dimension (the memory's index when this node has no embedder of its own)
Embed = Callable[[list[str]], Awaitable[list[array]]]


class MemoryIndexer:
    def __init__(self, store: Store, index: VectorIndex, embed: Embed) -> None:
        self.store = store
        self.index = index
        self.embed = embed
        self.failures = 0
        self._items: dict[str, Item | None] = {}  # record key → its indexed form (None: nothing to index)
        self._task: asyncio.Task[None] | None = None

    def pending(self) -> list[Item]:
        """Indexable records the index lacks (and would keep), newest first."""
        todo = []
        for doc in DOCS:
            for record in self.store.all_records(doc):
                if record.key not in self._items:
                    self._items[record.key] = item(record)
                it = self._items[record.key]
                if it is not None and it.key not in self.index and self.index.would_keep(it.key, it.ts):
                    todo.append(it)
        todo.sort(key=lambda it: (it.ts, it.key), reverse=True)
        return todo

    async def step(self) -> int:
        """Embed and add up to INDEX_BATCH missing records; how many were added."""
        batch = self.pending()[:INDEX_BATCH]
        if not batch:
            return 0
        vectors = await self.embed([it.text for it in batch])
        for it, v in zip(batch, vectors, strict=True):
            self.index.add(Entry(it.key, it.ts, v, it.meta))
        return len(batch)

    async def start(self) -> None:
        self._task = asyncio.ensure_future(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _loop(self) -> None:
        while True:
            try:
                added = await self.step()
            except asyncio.CancelledError:
                raise
            except Exception as e:  # the embedder is away (a peer left): try again later
                self.failures += 1
                log.info("memory indexer: %s", e)
                added = 0
            await asyncio.sleep(0 if added else INDEX_INTERVAL_S)

    def status(self) -> dict[str, Any]:
        return {"entries": len(self.index), "exact": self.index.searches_exactly(), "failures": self.failures}


class KnowledgeHost:
    """The embedding and memory services a node hosts, and the memory's indexer (started by `start`)."""

    def __init__(self, embedder: LazyEmbedder | None, indexer: MemoryIndexer | None) -> None:
        self.embedder = embedder
        self.indexer = indexer

    async def start(self) -> None:
        if self.indexer is not None:
            await self.indexer.start()

    async def stop(self) -> None:
        if self.indexer is not None:
            await self.indexer.stop()

    def describe(self) -> str:
        parts = []
        if self.embedder is not None:
            loaded = "" if self.embedder.loaded else ", loaded on first use"
            parts.append(f"embedding ({self.embedder.info.name} on {self.embedder.device}{loaded})")
        if self.indexer is not None:
            parts.append(f"memory ({len(self.indexer.index)} papers and results indexed)")
        return ", ".join(parts)


async def host_knowledge(services: Any, store: Store | None, memory: bool = True) -> KnowledgeHost:
    """Host `embedding` (when this platform has the built model) and `memory` (when a store is given: its
    queries and records are embedded locally, or through a peer's embedding service without the model) on
    a ServicesRuntime, before the node starts (the relay hello names them). `start()` runs the indexer. The model
    is loaded by its first use — a request, or an indexing step with records to index — not here."""
    embedder: LazyEmbedder | None = None
    try:
        embedder = lazy_embedder()
    except ModelMissing as e:
        log.warning("embedding service not hosted: %s", e)
    if embedder is not None:
        services.host(EmbeddingService(embedder).service())
    if not memory or store is None:
        return KnowledgeHost(embedder, None)
    embed: Embed = embedder.embed if embedder is not None else EmbeddingClient(services).embed
    index = VectorIndex(embedder.dim if embedder is not None else DIM)
    services.host(MemoryService(index, embed, MODEL_NAME).service())
    return KnowledgeHost(embedder, MemoryIndexer(store, index, embed))


RELATED_K = 5  # related works cited per paper


def related_work(
    services: Any, store: Store, k: int = RELATED_K
) -> Callable[[str, str], Awaitable[list[Related]]]:
    """A research agent's related-work lookup (ResearchConfig.related): the mesh's memory (this node's when it
    hosts one) answers keys; only records our own replica holds are cited, with their own titles — a peer's
    answer is a hint, never a source."""

    async def lookup(text: str, domain: str) -> list[Related]:
        answer = await services.call(
            "memory", "search", {"text": text[:MAX_QUERY_CHARS], "k": k, "domain": domain}
        )
        hits = answer.get("hits") if isinstance(answer, dict) else None
        if not isinstance(hits, list):
            raise ValueError("the memory's answer has no hits")
        found: list[Related] = []
        for hit in hits[:k]:
            if not isinstance(hit, dict) or not isinstance(hit.get("score_ppm"), int):
                continue
            record = _record(store, hit.get("key"))
            it = item(record) if record is not None else None
            if it is not None and it.key not in {r.key for r in found}:
                score = max(-1.0, min(1.0, hit["score_ppm"] / 1_000_000))
                found.append(Related(it.key, it.meta["kind"], it.meta["title"], score))
        return found

    return lookup


def _record(store: Store, key: Any) -> Record | None:
    if not isinstance(key, str):
        return None
    for doc in DOCS:
        found = store.records[doc].get(key)
        if found is not None:
            return found
    return None
