"""State spam over real sockets (issue 15 item 4): one fresh identity publishes 10 MB of valid records. Every
replica — two nodes and the relay's own — keeps exactly the same quota's worth of them, no honest node is cut
off by the relay while forwarding and serving them, and a cold start afterwards completes with the same state."""

from __future__ import annotations

import asyncio

import pytest

from pynode.node import Node
from pynode.runtime.replica import StateReplica
from pynode.state.limits import AUTHOR_BYTES
from pynode.state.sync import STATE_TOPIC
from pynode.wire import cbor
from tests.netutil import eventually, node_on, relay_on
from tests.test_state_quota import DOC, result, spam_updates

pytestmark = pytest.mark.slow

SPAM_BYTES = 10 * 1024 * 1024


def spammer_records(replica: StateReplica, spammer: Node) -> int:
    return sum(1 for r in replica.store.records[DOC].values() if r.author == spammer.peer_id)


async def test_ten_megabytes_of_records_from_one_identity_stop_at_its_quota_on_every_replica(tmp_path):
    relay = await relay_on(tmp_path, archive_interval_s=3600)
    nodes: list[Node] = []
    replicas: list[StateReplica] = []
    try:
        for _ in range(2):
            node = await node_on(relay.url)
            nodes.append(node)
            replicas.append(StateReplica(node, interval=0.5))
            await replicas[-1].start()
        everyone = [*replicas, relay.relay.replica]
        spammer = await node_on(relay.url)
        nodes.append(spammer)
        spammer.subscribe(STATE_TOPIC)
        await eventually(
            lambda: len(spammer.router.mesh.get(STATE_TOPIC, ())) >= 3, 30, "spammer in the mesh"
        )
        honest = await replicas[0].publish("result", {**RESULT, "value": "0.42"})

        now = honest.ts
        records = [result(spammer.identity, i, now - 1000 * (4000 - i)) for i in range(SPAM_BYTES // 2600)]
        for update in spam_updates(spammer.identity, records, per_update=50):
            await spammer.publish(STATE_TOPIC, cbor.encode({"doc": DOC, "update": update}))
            await asyncio.sleep(0.25)  # ~0.5 MB/s to each of three peers: the spammer itself stays in budget

        kept = spammer_records(replicas[0], spammer)
        await eventually(
            lambda: all(spammer_records(r, spammer) == kept for r in everyone),
            30,
            "the same prefix everywhere",
        )
        assert 0 < kept < len(records)
        stored = sum(
            len(r.encoded) for r in replicas[0].store.records[DOC].values() if r.author == spammer.peer_id
        )
        assert stored <= AUTHOR_BYTES
        assert all(r.engine.rejections["over_quota"] >= 1 for r in replicas)
        assert all(r.store.version()[DOC] == everyone[0].store.version()[DOC] for r in everyone)

        late = await node_on(relay.url)  # a cold start of the whole board, ~4 MiB, paced by whoever serves it
        nodes.append(late)
        cold = StateReplica(late, interval=0.5)
        replicas.append(cold)
        await cold.start()
        await eventually(lambda: cold.store.version() == replicas[0].store.version(), 60, "cold start")
        assert spammer_records(cold, spammer) == kept and honest.key in cold.store.records[DOC]

        honest_nodes = nodes[:2] + [late]
        assert relay.relay.stats.rejections.get("rate_limited", 0) == 0
        assert [n.relay.connections for n in honest_nodes] == [1, 1, 1]
    finally:
        for r in replicas:
            await r.stop()
        for n in nodes:
            await n.stop()
        await relay.stop()


RESULT = {
    "domain": "ml",
    "task": "mlp-digits",
    "metric": "val_loss",
    "unit": "nats",
    "direction": "min",
    "seeds": 3,
}
