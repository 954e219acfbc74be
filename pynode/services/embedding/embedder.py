"""Sentences → all-MiniLM-L6-v2 vectors: the pure-Python tokenizer, then the exported graph (encoder, mean
pooling over the attention mask, L2 normalisation — sentence-transformers' pipeline) on whatever runs graphs
here (platform `graph_session`: onnxruntime in CPython, onnxruntime-web in the tab)."""

from __future__ import annotations

import asyncio
from array import array
from typing import Protocol

from pynode.platform import current, in_browser
from pynode.platform.model import GraphSession, Tensor
from pynode.services.embedding import assets
from pynode.services.embedding.limits import BATCH
from pynode.services.embedding.tokenizer import WordPieceTokenizer


class Embedder:
    def __init__(self, session: GraphSession, tokenizer: WordPieceTokenizer, info: assets.ModelInfo) -> None:
        self.session = session
        self.tokenizer = tokenizer
        self.info = info
        self.dim = info.dim

    def embed_now(self, texts: list[str]) -> list[array]:
        """One unit vector (array('f') of `dim` floats) per text, in order. Blocks while the graph runs."""
        ids = [self.tokenizer.encode(t) for t in texts]
        order = sorted(
            range(len(ids)), key=lambda i: len(ids[i])
        )  # similar lengths share a batch: less padding
        out: list[array] = [array("f")] * len(ids)
        for start in range(0, len(order), BATCH):
            chunk = order[start : start + BATCH]
            width = max(len(ids[i]) for i in chunk)
            flat_ids = array("q")
            mask = array("q")
            for i in chunk:
                pad = width - len(ids[i])
                flat_ids.extend(ids[i])
                flat_ids.extend([self.tokenizer.pad_id] * pad)
                mask.extend([1] * len(ids[i]))
                mask.extend([0] * pad)
            shape = (len(chunk), width)
            feeds = {
                "input_ids": Tensor("int64", shape, flat_ids),
                "attention_mask": Tensor("int64", shape, mask),
            }
            vectors = self.session.run(feeds, ["embedding"])["embedding"].data
            for row, i in enumerate(chunk):
                out[i] = vectors[row * self.dim : (row + 1) * self.dim]
        return out

    @property
    def device(self) -> str:
        return self.session.device

    async def embed(self, texts: list[str]) -> list[array]:
        """As `embed_now`, off the event loop (a thread in CPython; inline through JSPI in the tab)."""
        return await asyncio.to_thread(self.embed_now, texts)


class TextEmbedder(Protocol):
    """What the embedding service and the memory need of a model: an `Embedder` or a `LazyEmbedder`."""

    info: assets.ModelInfo
    dim: int

    @property
    def device(self) -> str: ...

    async def embed(self, texts: list[str]) -> list[array]: ...


class LazyEmbedder:
    """The model, loaded by its first `embed`: reading, hashing and optimising the 86 MiB graph takes seconds
    and holds ~260 MB, which a node that never embeds (nobody asks it, nothing to index) never pays."""

    def __init__(self, info: assets.ModelInfo, threads: int = 1) -> None:
        self.info = info
        self.dim = info.dim
        self.threads = threads
        self._embedder: Embedder | None = None
        self._lock = asyncio.Lock()  # concurrent first requests load it once

    @property
    def loaded(self) -> bool:
        return self._embedder is not None

    @property
    def device(self) -> str:
        # before loading, where the platform's graph sessions run (pynode/platform: native "cpu", browser "wasm")
        return self._embedder.device if self._embedder is not None else ("wasm" if in_browser() else "cpu")

    async def load(self) -> Embedder:
        async with self._lock:
            if self._embedder is None:
                self._embedder = await open_embedder(self.threads)
        return self._embedder

    async def embed(self, texts: list[str]) -> list[array]:
        return await (await self.load()).embed(texts)


def lazy_embedder(threads: int = 1) -> LazyEmbedder:
    """The model, to be loaded on first use. Raises assets.ModelMissing now, as `open_embedder` would, when
    the graph was never built (its manifest, or in CPython its file, is missing)."""
    info = assets.model_info()
    if not in_browser() and not assets.graph_path().is_file():
        raise assets.ModelMissing(
            f"the embedding graph {assets.graph_path()} is not built (make web builds it)"
        )
    return LazyEmbedder(info, threads)


async def open_embedder(threads: int = 1) -> Embedder:
    """The model on this platform: the built graph file in CPython, web/dist's copy in the tab (both checked
    against the manifest's sha256). Raises assets.ModelMissing when the graph was never built."""
    info = assets.model_info()
    source = assets.MODEL_URL if in_browser() else str(assets.graph_path())
    session = await current().graph_session(source, info.sha256, threads)
    tokenizer = WordPieceTokenizer.from_vocab_text(assets.vocab_text(), info.max_tokens)
    return Embedder(session, tokenizer, info)


def cosine(a: array, b: array) -> float:
    """Cosine similarity of two vectors (the embedder's are unit length, so this is their dot product)."""
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    na = sum(x * x for x in a) ** 0.5
    nb = sum(y * y for y in b) ** 0.5
    return dot / (na * nb) if na and nb else 0.0
