"""Storage between real nodes on a loopback relay: a blob stored on one node is fetched by another, a holder
is killed and the blob is re-replicated to r holders; a hostile holder serving wrong chunks is penalised while
the fetch completes from honest ones; malformed and oversized requests are refused with clear errors."""

from __future__ import annotations

import random
import time
from typing import Any

import pytest

from pynode.identity import Identity
from pynode.net.reqresp import RequestFailed
from pynode.node import Node, NodeConfig
from pynode.platform import native
from pynode.runtime.services import ServicesRuntime
from pynode.runtime.storage import StorageRuntime
from pynode.services import codec
from pynode.services.storage import messages as msg
from pynode.services.storage.backend import MemoryBackend
from pynode.services.storage.limits import CHUNK_BYTES
from pynode.services.storage.manifest import split
from pynode.services.storage.placement import holders as placement_of
from pynode.wire import cbor
from tests.netutil import eventually, relay_on

pytestmark = pytest.mark.slow


class Member:
    def __init__(self, node: Node, services: ServicesRuntime, storage: StorageRuntime | None) -> None:
        self.node, self.services, self.storage = node, services, storage

    async def stop(self) -> None:
        if self.storage is not None:
            await self.storage.stop()
        await self.services.stop()
        await self.node.stop()


@pytest.fixture
async def mesh(tmp_path):
    relay = await relay_on(tmp_path, embedded_node=False)
    made: list[Member] = []

    async def add(storage: bool = True) -> Member:
        node = Node(await Identity.generate(), native.relay_link(relay.url), NodeConfig(direct_peers=0))
        services = ServicesRuntime(node, None)
        runtime = (
            StorageRuntime(node, services, MemoryBackend(), 64 * 1024 * 1024, upkeep_s=0.3)
            if storage
            else None
        )
        await node.start()
        await services.start()
        if runtime is not None:
            await runtime.start()
        made.append(Member(node, services, runtime))
        return made[-1]

    yield add, made, relay.url
    for m in made:
        await m.stop()
    await relay.stop()


async def _connected(members: list[Member]) -> None:
    want = len(members) - 1
    await eventually(lambda: all(len(m.node.connected_peers()) >= want for m in members), 30, "full mesh")


async def test_store_fetch_kill_a_holder_and_rereplicate(mesh):
    add, made, _ = mesh
    members = [await add() for _ in range(6)]
    await _connected(members)
    owner, reader = members[0], members[5]
    await eventually(lambda: len(owner.services.providers("storage")) == 5, 20, "storage peers")
    data = random.Random(1).randbytes(3 * CHUNK_BYTES + 1234)
    assert owner.storage is not None and reader.storage is not None
    blob = await owner.storage.put(data)
    placement = owner.storage.core.placement(blob)
    assert len(placement) == 3

    def holding() -> list[Member]:
        return [m for m in made if m.storage is not None and m.storage.core.holdings.has(blob)]

    await eventually(
        lambda: all(m in holding() for m in members if m.node.peer_id in placement), 30, "placed"
    )
    assert await reader.storage.get(blob) == data  # fetched from whoever holds it
    victim = next(m for m in holding() if m is not owner and m.node.peer_id in placement)
    await victim.stop()
    made.remove(victim)
    survivors = [m for m in members if m is not victim]

    target = placement_of(blob, [m.node.peer_id for m in survivors], 3)
    assert victim.node.peer_id not in target and set(target) != set(placement)

    def placed_again() -> bool:
        return all(
            m.storage is not None and m.storage.core.holdings.has(blob)
            for m in survivors
            if m.node.peer_id in target
        )

    await eventually(placed_again, 40, "re-replicated to the new placement")
    assert len(holding()) >= 3
    assert len(await reader.storage.holders(blob)) >= 3


async def test_a_holder_serving_wrong_chunks_is_penalised_and_the_fetch_completes(mesh):
    add, _, url = mesh
    honest = [await add() for _ in range(3)]
    data = random.Random(2).randbytes(4 * CHUNK_BYTES)
    manifest, chunks = split(data)
    evil_node = Node(await Identity.generate(), native.relay_link(url), NodeConfig(direct_peers=0))
    evil_node.relay.caps.append("storage")

    async def evil(peer: bytes, raw: bytes) -> bytes:
        call = codec.decode_request(raw, 1 << 20)
        if call.method == msg.MANIFEST:
            return codec.Result(manifest.to_wire(), 0).encode()
        if call.method == msg.CHUNK:
            i = call.args["index"]
            return codec.Result({"data": bytes(len(chunks[i]))}, 0).encode()  # the right size, wrong bytes
        return codec.Result(None, 0).encode()

    evil_node.handle(codec.proto("storage"), evil)
    await evil_node.start()
    try:
        owner, reader = honest[0], honest[2]
        await eventually(lambda: len(reader.node.connected_peers()) >= 3, 30, "mesh with the evil node")
        assert owner.storage is not None and reader.storage is not None
        blob = await owner.storage.put(data)
        assert blob == manifest.blob
        got = await reader.storage.get(blob, hints=[evil_node.peer_id])  # the evil one asked first
        assert got == data
        assert evil_node.peer_id in reader.storage.core.excluded
        assert reader.node.rejections["storage_bad_chunk"] == 1
    finally:
        await evil_node.stop()


async def test_hostile_requests_are_refused_with_clear_errors(mesh):
    add, _, _ = mesh
    server, client = await add(), await add()
    await _connected([server, client])
    proto = codec.proto("storage")

    async def refusal(data: bytes) -> str:
        with pytest.raises(RequestFailed) as e:
            await client.node.request(server.node.peer_id, proto, data, 10)
        return str(e.value)

    assert (await refusal(b"\xff" * 10)).startswith("bad_request")  # not CBOR
    assert (await refusal(bytes(100_000))).startswith("too_large")  # over the spec's max_bytes, unread
    call = codec.Call(msg.CHUNK, {"blob": b"x" * 31, "index": 0}).encode()
    assert "blob must be 32 bytes" in await refusal(call)
    lie = {"blob": b"x" * 32, "size": 10, "hashes": b"y" * 32}  # one chunk whose hash is not the id
    offer = codec.Call(msg.OFFER, {"manifest": lie, "ttl": 600, "holders": []}).encode()
    assert "one-chunk blob's chunk hash is its id" in await refusal(offer)
    big = {"blob": b"x" * 32, "size": 1 << 40, "hashes": b""}
    assert "size must be" in await refusal(
        codec.Call(msg.OFFER, {"manifest": big, "ttl": 600, "holders": []}).encode()
    )
    raw = await client.node.request(
        server.node.peer_id, proto, codec.Call(msg.MANIFEST, {"blob": b"z" * 32}).encode(), 10
    )
    assert cbor.decode(raw)["r"] is None  # not held: a null, not an error


async def _cli(*args: str) -> tuple[int, str, str]:
    import asyncio
    import sys

    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "pynode.cli",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 90)
    return proc.returncode or 0, out.decode(), err.decode()


async def test_the_storage_command_puts_locates_and_gets_a_file(mesh, tmp_path):
    add, _, url = mesh
    members = [await add() for _ in range(4)]
    await _connected(members)
    data = random.Random(3).randbytes(CHUNK_BYTES + 777)
    (tmp_path / "in.bin").write_bytes(data)
    common = ["--relay", url, "--data-dir", str(tmp_path / "cli"), "--wait", "40"]
    code, out, err = await _cli("storage", "put", str(tmp_path / "in.bin"), "--replicas", "3", *common)
    assert code == 0, err
    blob = out.strip()
    assert bytes.fromhex(blob) == split(data)[0].blob
    held = [m for m in members if m.storage is not None and m.storage.core.holdings.has(bytes.fromhex(blob))]
    assert len(held) >= 3  # on the storage nodes: the command's own node has left
    code, out, err = await _cli("storage", "holders", blob, *common)
    assert code == 0 and len(out.split()) >= 3, err
    code, out, err = await _cli("storage", "get", blob, "-o", str(tmp_path / "out.bin"), *common)
    assert code == 0, err
    assert (tmp_path / "out.bin").read_bytes() == data
    code, out, err = await _cli("storage", "get", "ab" * 32, *common)
    assert code == 1 and err.strip() == f"hyperspace: no connected holder delivered {'ab' * 32}"
    code, out, err = await _cli("storage", "get", "nothex", *common)
    assert code == 1 and "a blob id is 64 hex digits" in err


class _Replica:
    """A replica without gossip (records reach others through review_world's Network), stamping its records
    `age_ms` in the past: results look settled, so a drawn reviewer takes them at once."""

    def __init__(self, who: Identity, net: Any, age_ms: int = 0) -> None:
        from pynode.review.policy import check_record
        from pynode.state.store import Store

        self.who, self.net, self.age_ms = who, net, age_ms
        self.store = Store(who.peer_id, native, policy=check_record)

    async def publish(self, kind: str, body: dict[str, Any]) -> Any:
        from pynode.state.records import make_record

        record = await make_record(self.who.signer, kind, body, int(time.time() * 1000) - self.age_ms)
        await self.store.write(self.who.signer, [record])
        self.net.publish(self.who, record)
        return record


async def test_a_reviewer_checks_an_ml_results_checkpoints_fetched_from_the_authors_storage(mesh):
    """An ml result's trained checkpoints go into storage (r = 3 holders) and a validator on another node, which
    holds none of them, fetches and checks them: the honest result reproduces, a fabricated metric over the same
    checkpoints fails on them, and a checkpoint nobody holds makes its result unavailable."""
    from pynode.review.params import SETTLE_MS
    from pynode.runtime.research import ResearchAgent, ResearchConfig
    from pynode.runtime.review import ReviewAgent, ReviewConfig
    from tests.review_world import Network, identity, ml_result, profile

    add, made, _ = mesh
    members = [await add() for _ in range(4)]
    reader = await add(storage=False)  # keeps nobody's blobs: what it checks comes over the network
    reader.storage = StorageRuntime(
        reader.node, reader.services, MemoryBackend(), 64 * 1024 * 1024, keeps_others=False
    )
    await _connected([*members, reader])
    author = members[0]
    assert author.storage is not None
    await eventually(lambda: len(author.services.providers("storage")) == 3, 20, "storage peers")
    net, writer, me = Network(), identity(), identity()
    research = ResearchAgent(
        _Replica(writer, net, SETTLE_MS + 1000),
        ResearchConfig(domains=("ml",), tasks=("digits-mlp",), cpu_share=1.0, seed=1, storage=author.storage),
    )
    honest = (await research.run_once()).result
    blobs = [bytes.fromhex(n) for n in honest.body["checkpoints"]]
    assert len(blobs) == honest.body["seeds"] == 3
    for blob in blobs:  # replicated to its r placement holders (the three other storage nodes)
        placement = author.storage.core.placement(blob)
        assert len(placement) == 3

        def placed(blob: bytes = blob, placement: list[bytes] = placement) -> bool:
            return all(m.storage.core.holdings.has(blob) for m in members if m.node.peer_id in placement)

        await eventually(placed, 30, "checkpoints placed")
    thetas = [await author.storage.get(b) for b in blobs]  # the author's own copies
    assert all(t is not None for t in thetas)
    config, samples = honest.body["config"], [float(v) for v in honest.body["samples"]]
    fabricated = ml_result(writer, config, [v - 0.05 for v in samples], honest.ts + 1, thetas)
    lost = ml_result(writer, config, samples, honest.ts + 2, [*thetas[:2], b"never stored"])
    net.publish(writer, fabricated, lost)

    now = int(time.time() * 1000)
    for v in (me, identity(), identity()):  # three validators ≤ k: each is drawn for every result
        net.publish(v, profile(v, ts=now - 120_000))
    validator = _Replica(me, net)
    agent = ReviewAgent(validator, me, ReviewConfig(cpu_share=1.0, storage=reader.storage))
    net.deliver(validator.store, now)
    reviews = {r.body["target"]: r.body for r in await agent.run_once()}
    assert reviews[honest.key]["verdict"] == "reproduced"
    assert reviews[fabricated.key]["verdict"] == "not_reproduced"
    assert "the checkpoint scores" in reviews[fabricated.key]["comment"]
    assert reviews[lost.key]["verdict"] == "unavailable"
    assert "seed 2" in reviews[lost.key]["comment"] and "held by no peer" in reviews[lost.key]["comment"]
    assert not any(reader.storage.core.holdings.has(b) for b in blobs)
    assert reader.storage.fetched_bytes >= 2 * sum(map(len, thetas))  # all three, for two of the results
