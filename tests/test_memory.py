"""The memory and embedding services' cores, sans-IO: the vector index (exact ranking, binary-code candidates,
order-independent rebuilds under the size cap), records → indexed texts, the indexer, and hostile arguments
refused before any work (by the framework's size check, then by each method's parser)."""

from __future__ import annotations

import math
import random
from array import array

import pytest

from pynode.identity import Identity
from pynode.platform import native
from pynode.services import codec
from pynode.services.codec import ServiceError
from pynode.services.embedding.limits import MAX_CHARS, MAX_REQUEST_BYTES, MAX_SENTENCES
from pynode.services.embedding.service import pack, parse_embed, unpack
from pynode.services.memory.corpus import item
from pynode.services.memory.index import Entry, VectorIndex, sign_code
from pynode.services.memory.limits import MAX_K
from pynode.services.memory.service import MemoryService, parse_search
from pynode.services.server import ServiceServer
from pynode.services.spec import Context, Method, ServiceSpec
from pynode.state.records import make_record
from pynode.state.store import Store

DIM = 32


def unit(values) -> array:
    n = math.sqrt(sum(x * x for x in values))
    return array("f", (x / n for x in values))


def clustered(n: int, seed: int, dim: int = DIM) -> list[Entry]:
    """Topics, subtopics within them and items near a subtopic (neighbourhoods as embeddings have them),
    with distinct timestamps."""
    rng = random.Random(seed)
    topics = [[rng.gauss(0, 1) for _ in range(dim)] for _ in range(8)]
    subtopics = [[x + rng.gauss(0, 0.7) for x in topics[i % 8]] for i in range(max(1, n // 10))]
    out = []
    for i in range(n):
        v = unit([x + rng.gauss(0, 0.3) for x in subtopics[i % len(subtopics)]])
        out.append(Entry(f"{i:064x}", 1000 + i, v, {"kind": "paper" if i % 2 else "result", "n": i}))
    return out


def brute_force(entries: list[Entry], q: array, k: int) -> list[str]:
    scored = sorted(entries, key=lambda e: (-sum(a * b for a, b in zip(q, e.vector, strict=True)), e.key))
    return [e.key for e in scored[:k]]


def test_exact_search_is_the_brute_force_ranking():
    entries = clustered(300, seed=1)
    index = VectorIndex(DIM)
    for e in entries:
        assert index.add(e)
    assert not index.add(entries[0])  # a key already present is ignored
    rng = random.Random(2)
    for _ in range(20):
        q = unit([rng.gauss(0, 1) for _ in range(DIM)])
        hits = index.search(q, 10, exact=True)
        assert [h.key for h in hits] == brute_force(entries, q, 10)
        assert all(a.score >= b.score for a, b in zip(hits, hits[1:], strict=False))


def test_filters_apply_before_ranking():
    entries = clustered(200, seed=3)
    index = VectorIndex(DIM)
    for e in entries:
        index.add(e)
    q = entries[5].vector
    hits = index.search(q, 7, keep=lambda m: m["kind"] == "result", exact=True)
    assert len(hits) == 7 and all(h.meta["kind"] == "result" for h in hits)
    assert [h.key for h in hits] == brute_force([e for e in entries if e.meta["kind"] == "result"], q, 7)


def test_binary_codes_find_most_true_neighbours():
    """The approximate path on clustered data: recall@10 against exact search (bench services measures it
    on real embeddings). A broken code (e.g. every bit the same) would fall to chance (~10/1500)."""
    entries = clustered(1500, seed=4, dim=384)
    index = VectorIndex(384)
    for e in entries:
        index.add(e)
    rng = random.Random(5)
    found = 0
    for _ in range(20):
        q = unit([x + rng.gauss(0, 0.02) for x in entries[rng.randrange(1500)].vector])
        approx = {h.key for h in index.search(q, 10, exact=False)}
        found += len(approx & {h.key for h in index.search(q, 10, exact=True)})
    assert found / 200 >= 0.9
    assert sign_code(array("f", [1.0, -1.0, 0.5])) == 0b101


def test_a_rebuild_in_any_order_gives_the_same_index_under_the_cap():
    entries = clustered(120, seed=6)
    q = entries[0].vector
    answers = []
    for seed in range(3):
        shuffled = entries[:]
        random.Random(seed).shuffle(shuffled)
        index = VectorIndex(DIM, max_entries=50)
        for e in shuffled:
            index.add(e)
        answers.append((index.keys(), [h.key for h in index.search(q, 10)]))
    assert answers[0] == answers[1] == answers[2]
    assert answers[0][0] == {e.key for e in entries[-50:]}  # the newest 50 stay
    index = VectorIndex(DIM, max_entries=50)
    for e in entries:
        index.add(e)
    assert not index.would_keep(entries[0].key, entries[0].ts) and not index.add(entries[0])


def test_index_refuses_vectors_of_another_dimension():
    index = VectorIndex(DIM)
    with pytest.raises(ValueError):
        index.add(Entry("a" * 64, 1, array("f", [1.0] * 3)))
    with pytest.raises(ValueError):
        index.search(array("f", [1.0] * 3), 1)


@pytest.mark.parametrize(
    "args",
    [
        {},
        {"text": "a", "vector": pack([unit([1.0] * DIM)])},  # both
        {"text": ""},
        {"text": "x" * 2001},
        {"text": 5},
        {"text": "ok", "k": 0},
        {"text": "ok", "k": MAX_K + 1},
        {"text": "ok", "k": True},
        {"text": "ok", "k": "10"},
        {"text": "ok", "kind": "review"},
        {"text": "ok", "domain": "astrology"},
        {"text": "ok", "task": "../etc"},
        {"text": "ok", "extra": 1},
        {"vector": b"\x00\x00\x80"},  # not whole floats
        {"vector": bytes(4 * 2000)},  # too many
        {"vector": bytes(4 * DIM)},  # zero
        {"vector": array("f", [math.nan] * DIM).tobytes()},
        {"vector": [1.0, 2.0]},
    ],
)
def test_hostile_search_arguments_are_refused(args):
    with pytest.raises(ValueError):
        parse_search(args)


@pytest.mark.parametrize(
    "args",
    [
        {},
        {"texts": []},
        {"texts": "a sentence"},
        {"texts": ["a"] * (MAX_SENTENCES + 1)},
        {"texts": ["x" * (MAX_CHARS + 1)]},
        {"texts": ["ok", 3]},
        {"texts": ["ok"], "model": "other"},
    ],
)
def test_hostile_embed_arguments_are_refused(args):
    with pytest.raises(ValueError):
        parse_embed(args)


def test_parsers_accept_what_they_promise():
    assert parse_embed({"texts": ["", "x" * MAX_CHARS]}) == ["", "x" * MAX_CHARS]
    q = parse_search({"vector": pack([unit([1.0] * DIM)]), "k": MAX_K, "kind": "paper", "domain": "ml"})
    assert (
        len(q.vector) == DIM and q.keep({"kind": "paper", "domain": "ml"}) and not q.keep({"kind": "result"})
    )


def test_the_framework_refuses_oversized_requests_unread():
    """The spec's max_bytes bounds what is read: a batch bigger than any valid one never reaches parse."""
    parsed = []
    spec = ServiceSpec("embedding", max_bytes=MAX_REQUEST_BYTES)
    server = ServiceServer(spec, {"embed": Method(lambda a: parsed.append(a) or a, None)})
    huge = codec.Call("embed", {"texts": ["é" * MAX_CHARS] * (2 * MAX_SENTENCES)}).encode()
    with pytest.raises(ServiceError) as e:
        server.receive(b"p" * 32, huge, 0.0)
    assert e.value.code == codec.TOO_LARGE and parsed == []
    biggest_valid = codec.Call("embed", {"texts": ["\U0001f600" * MAX_CHARS] * MAX_SENTENCES}).encode()
    assert len(biggest_valid) <= MAX_REQUEST_BYTES


def test_served_vectors_are_checked_before_use():
    good = [unit([1.0, 2.0, 3.0]), unit([-1.0, 0.5, 0.0])]
    assert [list(v) for v in unpack({"vectors": pack(good)}, 2, 3)] == [list(v) for v in good]
    for bad in (
        {"vectors": pack(good)[:-4]},
        {"vectors": pack([good[0]])},
        {"vectors": pack([array("f", [1.0, 1.0, 1.0]), good[1]])},  # not unit length
        {"vectors": pack([array("f", [math.nan, 0, 0]), good[1]])},
        {"vectors": "text"},
        [pack(good)],
    ):
        with pytest.raises(ValueError):
            unpack(bad, 2, 3)


async def _paper(who: Identity, title: str, abstract: str, ts: int):
    md = f"# {title}\n\n*Author*\n\n## Abstract\n\n{abstract}\n\n## Method\n\nsecret method text"
    body = {
        "title": title,
        "domain": "search",
        "task": "cranfield-bm25",
        "results": ["ab" * 32],
        "markdown": md,
    }
    return await make_record(who.signer, "paper", body, ts)


async def test_records_become_indexed_texts():
    who = await Identity.generate()
    paper = await _paper(who, "Stemming helps", "We test whether stemming raises NDCG.", 5)
    it = item(paper)
    assert it is not None and it.key == paper.key and it.ts == 5
    assert it.text == "Stemming helps. We test whether stemming raises NDCG."  # the method stays out
    assert it.meta["kind"] == "paper" and it.meta["title"] == "Stemming helps"
    body = {"domain": "search", "task": "cranfield-bm25", "metric": "ndcg10", "unit": "ndcg",
            "direction": "max", "value": "0.41", "seeds": 3}  # fmt: skip
    baseline = await make_record(who.signer, "result", body, 6)
    assert item(baseline) is None  # nothing to relate
    hypothesis = await make_record(who.signer, "result", {**body, "hypothesis": "k1 = 1.6 is better"}, 7)
    found = item(hypothesis)
    assert found is not None and found.text == "cranfield-bm25: k1 = 1.6 is better"
    assert found.meta["value"] == "0.41" and found.meta["kind"] == "result"


async def test_the_service_answers_vector_queries_from_the_index():
    entries = clustered(40, seed=8)
    index = VectorIndex(DIM)
    for e in entries:
        index.add(e)
    asked: list[list[str]] = []

    async def embed(texts: list[str]) -> list[array]:
        asked.append(texts)
        return [entries[3].vector for _ in texts]

    service = MemoryService(index, embed, "test")
    ctx = Context(b"p" * 32)
    by_vector = await service.search(ctx, parse_search({"vector": pack([entries[3].vector]), "k": 3}))
    assert by_vector["hits"][0]["key"] == entries[3].key and by_vector["hits"][0]["score_ppm"] >= 999_000
    assert by_vector["exact"] is True and by_vector["size"] == 40 and asked == []
    by_text = await service.search(ctx, parse_search({"text": "anything", "k": 3}))
    assert by_text["hits"] == by_vector["hits"] and asked == [["anything"]] and ctx.units == 2
    with pytest.raises(ServiceError) as e:
        await service.search(ctx, parse_search({"vector": pack([unit([1.0] * (DIM + 1))])}))
    assert e.value.code == codec.BAD_REQUEST
    huge = array("f", (x * 1e38 for x in entries[3].vector))  # unnormalised: the service normalises it
    extreme = await service.search(ctx, parse_search({"vector": pack([huge]), "k": 1}))
    assert extreme["hits"][0]["key"] == entries[3].key and extreme["hits"][0]["score_ppm"] >= 999_000


async def test_the_indexer_rebuilds_from_the_store_newest_first():
    from pynode.runtime.memory import MemoryIndexer

    who = await Identity.generate()
    store = Store(who.signer.public_key, native)
    papers = [await _paper(who, f"Paper {i}", f"abstract number {i}", ts=100 + i) for i in range(20)]
    await store.write(who.signer, papers)

    def embed_of(text: str) -> array:  # a fixed text → vector map stands in for the model here
        rng = random.Random(text)
        return unit([rng.gauss(0, 1) for _ in range(DIM)])

    async def embed(texts: list[str]) -> list[array]:
        return [embed_of(t) for t in texts]

    index = VectorIndex(DIM)
    indexer = MemoryIndexer(store, index, embed)
    assert await indexer.step() == 16  # INDEX_BATCH
    assert papers[-1].key in index and papers[0].key not in index  # newest first
    assert await indexer.step() == 4 and await indexer.step() == 0
    rebuilt = VectorIndex(DIM)
    again = MemoryIndexer(store, rebuilt, embed)
    while await again.step():
        pass
    q = embed_of(item(papers[7]).text)
    assert [h.key for h in rebuilt.search(q, 5)] == [h.key for h in index.search(q, 5)]
    assert index.search(q, 1)[0].key == papers[7].key
