"""A DiLoCo late joiner fetches the certified outer state through storage: the nodes in the run share their
recent states as blobs (the state hash a certificate names is the blob's id), and the joiner downloads it in
verified chunks from the nodes holding it instead of from the certificate's issuer alone."""

import asyncio

import pytest

from pynode.runtime.diloco import DilocoPeer
from pynode.runtime.services import ServicesRuntime
from pynode.runtime.storage import StorageRuntime
from pynode.services.storage.backend import MemoryBackend
from pynode.train.diloco import RunSpec
from tests.netutil import eventually, node_on, relay_on

pytestmark = pytest.mark.slow


async def test_a_late_joiner_fetches_the_state_through_storage(tmp_path):
    relay = await relay_on(tmp_path, embedded_node=False)
    nodes = [await node_on(relay.url) for _ in range(3)]
    services = [ServicesRuntime(n, None) for n in nodes]
    storages = [
        StorageRuntime(n, s, MemoryBackend(), 64 * 2**20) for n, s in zip(nodes, services, strict=True)
    ]
    peers = [DilocoPeer(n, storage=s) for n, s in zip(nodes, storages, strict=True)]
    run = RunSpec(task="digits-mlp", seed=5, H=4, codec="int8", deadline_s=30, cert_timeout_s=10, min_peers=2)
    try:
        for s in [*services, *storages]:
            await s.start()
        await eventually(lambda: all(len(n.connected_peers()) >= 2 for n in nodes), 30, "full mesh")
        await eventually(lambda: all(len(s.providers("storage")) == 2 for s in services), 30, "storage peers")
        await peers[0].found(run)
        await eventually(lambda: run.run_id in peers[1].announced, 20, "announcement")
        await peers[1].join(run.run_id)
        await asyncio.gather(*(p.wait_round(2, 60) for p in peers[:2]))
        assert all(len(p._shared) >= 1 for p in peers[:2])  # each shares its recent states
        await eventually(lambda: peers[2].announced.get(run.run_id, (run, 0, b""))[1] >= 2, 20, "later news")
        await peers[2].join(run.run_id)
        await peers[2].wait_round(3, 90)
        assert storages[2].fetched_bytes >= 8 + 8 * peers[2].core.n  # the state came through storage
        await asyncio.gather(*(p.wait_round(4, 90) for p in peers))
        for r in sorted({e.round for p in peers for e in p.log}):
            assert len({(e.state_hash, e.theta_hash) for p in peers for e in p.log if e.round == r}) == 1
        assert all(sum(p.core.rejected.values()) == 0 for p in peers), [p.core.rejected for p in peers]
    finally:
        for p in peers:
            await p.stop()
        for s in [*storages, *services]:
            await s.stop()
        for n in nodes:
            await n.stop()
        await relay.stop()
