"""Embedding and memory with the real model: peers embed and search through the mesh (loopback relay), hostile
requests are refused, the OpenAI client gets the same vectors from /v1/embeddings, a research agent cites related work from the memory, and the binary-code index finds the
true nearest neighbours of real embeddings (Cranfield titles and queries)."""

from __future__ import annotations

import gzip
import json

import openai
import pytest

from pynode.identity import Identity
from pynode.node import Node, NodeConfig
from pynode.platform import native
from pynode.runtime.api import ApiServer
from pynode.runtime.memory import host_knowledge, related_work
from pynode.runtime.services import ServicesRuntime
from pynode.services import codec
from pynode.services.codec import ServiceError
from pynode.services.embedding import assets
from pynode.services.embedding.embedder import cosine, open_embedder
from pynode.services.embedding.limits import MAX_CHARS, MAX_SENTENCES
from pynode.services.embedding.service import EmbeddingClient
from pynode.services.memory.index import Entry, VectorIndex
from pynode.state.records import make_record
from pynode.state.store import Store
from tests.netutil import eventually, relay_on

pytestmark = pytest.mark.slow

PAPERS = [
    (
        "Stemming the Cranfield collection",
        "We test whether Porter stemming raises NDCG@10 of BM25 retrieval.",
    ),
    ("Momentum after costs", "We test whether a 12-month momentum rule keeps its Sharpe ratio after costs."),
    (
        "Propensity matching on NSW",
        "We test whether matching on propensity scores recovers the experimental effect.",
    ),
]


@pytest.fixture(scope="module")
def built() -> None:
    from wasm_build.export_embedding import ensure_built

    ensure_built(assets.MODEL_DIR)  # what `make web` does; a no-op when the graph is up to date


async def _papers(who: Identity, store: Store) -> list:
    records = []
    for i, (title, abstract) in enumerate(PAPERS):
        md = f"# {title}\n\n## Abstract\n\n{abstract}\n\n## Method\n\n..."
        body = {"title": title, "domain": "search", "task": "cranfield-bm25", "results": [], "markdown": md}
        records.append(await make_record(who.signer, "paper", body, 1000 + i))
    await store.write(who.signer, records)
    return records


async def _node(url: str) -> tuple[Node, ServicesRuntime, Identity]:
    identity = await Identity.generate()
    node = Node(identity, native.relay_link(url), NodeConfig(direct_peers=0))
    return node, ServicesRuntime(node, None, []), identity


async def test_peers_embed_and_search_memory_through_the_mesh(tmp_path, built, monkeypatch):
    relay = await relay_on(tmp_path, embedded_node=False)
    server, hosting, who = await _node(relay.url)
    store = Store(who.peer_id, native)
    papers = await _papers(who, store)
    knowledge = await host_knowledge(hosting, store)  # before start: the relay hello announces both caps
    indexer = knowledge.indexer
    client, asking, _ = await _node(relay.url)
    try:
        for n in (server, client):
            await n.start()
        await hosting.start()
        await asking.start()
        assert indexer is not None and knowledge.embedder is not None
        await knowledge.start()
        await eventually(lambda: len(indexer.index) == len(PAPERS), 30, "the memory indexes the papers")
        await eventually(lambda: asking.providers("memory") == [server.peer_id], 20, "discovery")

        texts = ["porter stemming for retrieval", "naïve café — 東京"]
        remote = await EmbeddingClient(asking).embed(texts)
        local = await (await open_embedder()).embed(texts)
        assert all(cosine(a, b) > 0.9999 for a, b in zip(remote, local, strict=True))

        answer = await asking.call("memory", "search", {"text": "does stemming help BM25 ranking?", "k": 2})
        assert answer["hits"][0]["key"] == papers[0].key and answer["size"] == len(PAPERS)
        assert answer["hits"][0]["score_ppm"] > answer["hits"][1]["score_ppm"]

        for cap, method, args, code in [
            ("embedding", "embed", {"texts": ["x" * MAX_CHARS] * (4 * MAX_SENTENCES)}, codec.TOO_LARGE),
            ("embedding", "embed", {"texts": ["ok"] * (MAX_SENTENCES + 1)}, codec.BAD_REQUEST),
            ("memory", "search", {"text": "ok", "k": 10_000}, codec.BAD_REQUEST),
            ("memory", "search", {"vector": b"\x00" * 12}, codec.BAD_REQUEST),
        ]:
            with pytest.raises(ServiceError) as e:
                await asking.call(cap, method, args)
            assert e.value.code == code
        refused = hosting.servers["embedding"].tally.refused
        assert refused[codec.TOO_LARGE] == 1 and refused[codec.BAD_REQUEST] == 1

        # the OpenAI-compatible API of the hosting node answers with the same vectors (the real client)
        api = ApiServer(hosting, "127.0.0.1", 0, token="t0ken")
        await api.start()
        try:
            openai_client = openai.AsyncOpenAI(base_url=api.url, api_key="t0ken", max_retries=0)
            made = await openai_client.embeddings.create(model=assets.MODEL_NAME, input=texts)
        finally:
            await api.stop()
        assert [len(d.embedding) for d in made.data] == [384, 384]
        assert all(cosine(d.embedding, b) > 0.9999 for d, b in zip(made.data, local, strict=True))

        # a peer's answer is a hint: only records our own replica holds are cited
        lonely = Store(client.peer_id, native)
        assert await related_work(asking, lonely)("stemming", "search") == []
        cited = await related_work(asking, store)("stemming and BM25", "search")
        assert cited[0].key == papers[0].key and cited[0].title == PAPERS[0][0]

        # a node without the model still hosts a memory: it embeds through the peer's embedding service
        monkeypatch.setattr(assets, "MODEL_DIR", tmp_path / "no-model")
        theirs = await host_knowledge(asking, store)
        assert theirs.embedder is None and theirs.indexer is not None and "embedding" not in asking.services
        while await theirs.indexer.step():
            pass
        assert theirs.indexer.index.keys() == indexer.index.keys()  # the same records, the same index
        mine = await asking.call("memory", "search", {"text": "propensity score matching", "k": 1})
        assert mine["hits"][0]["key"] == papers[2].key
    finally:
        await knowledge.stop()
        for runtime in (hosting, asking):
            await runtime.stop()
        for n in (server, client):
            await n.stop()
        await relay.stop()


async def test_a_research_agent_cites_related_work_from_the_memory(tmp_path, built):
    from pynode.runtime.replica import LocalReplica
    from pynode.runtime.research import ResearchAgent, ResearchConfig

    identity = await Identity.generate()
    node = Node(identity, native.relay_link("ws://127.0.0.1:9/"), NodeConfig(direct_peers=0))  # never started
    services = ServicesRuntime(node, None, [])
    replica = LocalReplica(identity.signer, Store(identity.peer_id, native), tmp_path)
    indexer = (await host_knowledge(services, replica.store)).indexer  # not started: stepped by hand below
    assert indexer is not None
    config = ResearchConfig(domains=("search",), seed=1, related=related_work(services, replica.store))
    agent = ResearchAgent(replica, config)
    first = await agent.run_once()
    assert "## Related work" not in first.paper.body["markdown"]  # nothing indexed yet
    while await indexer.step():
        pass
    assert first.paper.key in indexer.index
    second = await agent.run_once()
    markdown = second.paper.body["markdown"]
    assert "## Related work" in markdown and first.paper.key[:16] in markdown


def _cranfield() -> tuple[list[str], list[str]]:
    from pynode.research.assets import DATA_DIR

    data = json.loads(gzip.decompress((DATA_DIR / "cranfield.json.gz").read_bytes()))
    return [d[1] for d in data["docs"]], data["queries"]


async def test_binary_code_search_finds_the_true_neighbours_of_real_embeddings(built):
    """recall@10 ≥ 0.95 against exact search (bench services reports the same measure at larger scale)."""
    titles, queries = _cranfield()
    embedder = await open_embedder()
    index = VectorIndex(embedder.dim)
    for i, v in enumerate(await embedder.embed(titles)):
        index.add(Entry(f"{i:064x}", i, v))
    found = 0
    for q in await embedder.embed(queries[:50]):
        exact = {h.key for h in index.search(q, 10, exact=True)}
        found += len(exact & {h.key for h in index.search(q, 10, exact=False)})
    assert found / 500 >= 0.95
