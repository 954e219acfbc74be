"""Review on real nodes: a researcher publishes, validators drawn by VRF re-execute it, and every replica —
the relay's too — holds the same reviews and computes the same standings."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from pynode.platform import native
from pynode.review import sortition
from pynode.review.policy import check_record
from pynode.runtime.replica import StateReplica
from pynode.runtime.research import ResearchAgent, ResearchConfig
from pynode.runtime.review import ReviewAgent, ReviewConfig
from pynode.state.store import Store
from pynode.state.sync import STATE_TOPIC
from tests.netutil import eventually, node_on, relay_on

pytestmark = pytest.mark.slow


async def test_drawn_validators_review_a_result_and_every_replica_agrees(tmp_path):
    relay = await relay_on(tmp_path, archive_interval_s=3600)
    replicas = []
    for _ in range(4):  # three validators (≤ k: all drawn) and a researcher
        node = await node_on(relay.url)
        replica = StateReplica(node, interval=0.5, store=Store(node.peer_id, native, policy=check_record))
        await replica.start()
        replicas.append(replica)
    validators = [ReviewAgent(r, r.node.identity, ReviewConfig(cpu_share=1.0)) for r in replicas[:3]]
    try:
        for r in replicas:
            await eventually(lambda r=r: r.node.router.mesh.get(STATE_TOPIC), 20, "state mesh")
        for v in validators:
            await v.start()
        for r in replicas:
            await eventually(lambda r=r: len(r.store.records["identities"]) == 3, 20, "profiles everywhere")
        # results are reviewed by validators known before their window opened: wait for the next epoch
        await asyncio.sleep(
            (sortition.epoch_start(sortition.epoch_of(int(time.time() * 1000)) + 1)) / 1000 - time.time()
        )
        researcher = ResearchAgent(replicas[3], ResearchConfig(domains=("search",), seed=1, cpu_share=1.0))
        published = await researcher.run_once()
        key = published.result.key

        def reviewed(r):
            return {x.author for x in r.store.all_records("reviews") if x.body["target"] == key}

        for r in replicas:
            await eventually(lambda r=r: len(reviewed(r)) == 3, 60, "three reviews everywhere")
        relay_store = relay.relay.replica.store
        await eventually(
            lambda: len([x for x in relay_store.all_records("reviews")]) == 3, 20, "at the relay"
        )
        views = [v.analysis().standings[key] for v in validators]
        for s in views:
            assert [row.verdict for row in s.counted] == ["reproduced"] * 3
            assert s.consensus == "reproduced" and s.median == views[0].median
        assert {row.record.key for row in views[0].rows} == {row.record.key for row in views[2].rows}
        async with httpx.AsyncClient() as client:
            shown = (await client.get(f"http://127.0.0.1:{relay.port}/api/reviews")).json()
        (row,) = [r for r in shown["results"] if r["result"] == key]
        assert sorted(r["verdict"] for r in row["reviews"]) == ["reproduced"] * 3
        assert all(r["proof_verified"] for r in row["reviews"])
    finally:
        for v in validators:
            await v.stop()
        for r in replicas:
            await r.stop()
            await r.node.stop()
        await relay.stop()
