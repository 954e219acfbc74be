"""Research agents on real nodes: a relay and three CPython nodes research, publish, and agree on everything."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from pynode.identity import Identity
from pynode.platform import native
from pynode.research.agent import decimal_text
from pynode.research.policy import check_result
from pynode.research.reproduce import reproduce
from pynode.runtime.replica import StateReplica
from pynode.runtime.research import ResearchAgent, ResearchConfig
from pynode.state.records import make_record
from pynode.state.store import Store
from pynode.state.sync import STATE_TOPIC
from pynode.state.views import leaderboards
from tests.netutil import eventually, node_on, relay_on

pytestmark = pytest.mark.slow
DOC = "results.search"


async def replica_on(url: str, policy=check_result) -> StateReplica:
    node = await node_on(url)
    replica = StateReplica(node, interval=0.5, store=Store(node.peer_id, native, policy=policy))
    await replica.start()
    return replica


def agent_for(replica: StateReplica, tmp_path, i: int, cpu_share: float = 1.0) -> ResearchAgent:
    config = ResearchConfig(
        domains=("search",), seed=i, cpu_share=cpu_share, state_file=tmp_path / f"plan-{i}.json"
    )
    return ResearchAgent(replica, config)


async def test_agents_publish_results_and_papers_that_every_replica_agrees_on(tmp_path):
    relay = await relay_on(tmp_path, archive_interval_s=3600)
    replicas = [await replica_on(relay.url) for _ in range(3)]
    try:
        for r in replicas:
            await eventually(lambda r=r: len(r.node.connected_peers()) >= 2, 20, "peers")
            await eventually(lambda r=r: r.node.router.mesh.get(STATE_TOPIC), 20, "state mesh")
        agents = [agent_for(r, tmp_path, i) for i, r in enumerate(replicas)]
        published = []
        for agent in agents:  # in turn, each after the previous result has spread
            p = await agent.run_once()
            published.append(p)
            keys = {q.result.key for q in published} | {q.paper.key for q in published}
            for r in replicas:
                await eventually(
                    lambda r=r, keys=keys: keys <= set(r.store.records[DOC]) | set(r.store.records["papers"]),
                    20,
                    "results and papers everywhere",
                )
        assert published[0].finding.proposal.operator == "baseline"
        for p in published[1:]:  # later agents build on what is on the board: lineage is recorded
            assert p.result.body["inspired_by"] in replicas[0].store.records[DOC]
            assert p.result.body["baseline"] == published[0].result.key
            assert "## Results" in p.paper.body["markdown"] and p.paper.body["figures"][0].startswith("<svg")
        boards = [leaderboards(r.store.all_records(DOC)) for r in replicas]
        assert boards[0] == boards[1] == boards[2] and len(next(iter(boards[0].values()))) == 3
        relay_results = relay.relay.replica.store.records[DOC]
        await eventually(lambda: published[2].result.key in relay_results, 20, "the relay's replica has them")

        honest = published[1].result
        assert reproduce(honest).agree
        forger = await Identity.from_seed(bytes([5]) * 32)
        samples = [decimal_text(float(v) + 0.05) for v in honest.body["samples"]]  # a better claim…
        value = decimal_text(sum(float(v) for v in samples) / len(samples))  # …that is self-consistent
        tampered_body = {**honest.body, "samples": samples, "value": value}
        check_result(
            await make_record(forger.signer, "result", tampered_body, honest.ts)
        )  # passes the policy
        tampered = await make_record(forger.signer, "result", tampered_body, honest.ts)
        verdict = reproduce(tampered)
        assert not verdict.agree and "claimed" in verdict.reason and verdict.max_error > 0.04
    finally:
        for r in replicas:
            await r.stop()
            await r.node.stop()
        await relay.stop()


async def test_a_peer_publishing_a_hostile_config_is_refused_and_penalised(tmp_path):
    relay = await relay_on(tmp_path, archive_interval_s=3600)
    honest = await replica_on(relay.url)
    attacker = await replica_on(relay.url, policy=None)
    try:
        await eventually(lambda: attacker.node.peer_id in honest.node.connected_peers(), 20, "connected")
        await eventually(lambda: honest.node.router.mesh.get(STATE_TOPIC), 20, "state mesh")
        body = {
            "domain": "search",
            "task": "cranfield-ndcg10",
            "metric": "ndcg10",
            "unit": "ndcg",
            "direction": "max",
            "value": "0.99",
            "seeds": 3,
            "samples": ["0.99", "0.99", "0.99"],
            "config": json.dumps({"stemmer": "porter; rm -rf /", "k1": 1e308}),
        }
        record = await attacker.publish("result", body)
        await eventually(lambda: honest.engine.rejections["refused_record"] >= 1, 20, "refused")
        # gossiped, it is REJECTed and the router scores the sender down; pulled, the server is banned
        sender = attacker.node.peer_id
        assert honest.node.router.score(sender, time.monotonic()) < 0 or honest.node.is_banned(sender)
        await asyncio.sleep(1.5)  # anti-entropy pulls bring it too: they are refused the same way
        assert record.key not in honest.store.records[DOC]
    finally:
        for r in (honest, attacker):
            await r.stop()
            await r.node.stop()
        await relay.stop()


async def test_a_node_stopped_mid_experiment_publishes_nothing_partial_and_resumes(tmp_path):
    relay = await relay_on(tmp_path, archive_interval_s=3600)
    replica = await replica_on(relay.url)
    try:
        # at a 5% CPU share the agent idles ~19× each seed's time after it: a wide window to stop it in
        agent = agent_for(replica, tmp_path, 0, cpu_share=0.05)
        run = asyncio.ensure_future(agent.run_once())
        await eventually(lambda: agent.progress.seeds_done >= 1, 30, "first seed done")
        run.cancel()
        await asyncio.gather(run, return_exceptions=True)
        assert replica.store.counts()[DOC] == 0 and replica.store.counts()["papers"] == 0
        plan = json.loads((tmp_path / "plan-0.json").read_text())
        again = agent_for(replica, tmp_path, 0)  # a restarted node reads the same plan file
        published = await again.run_once()
        assert published.result.body["config"] == plan["config"]
        assert not (tmp_path / "plan-0.json").exists()
        assert replica.store.counts()[DOC] == 1
    finally:
        await replica.stop()
        await replica.node.stop()
        await relay.stop()
