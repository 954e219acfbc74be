"""`hyperspace bench gossip`: our GossipSub against py-libp2p's, same topology, same message schedule.

Real mode: one scenario (a random connected graph of ~4 links per node and a publish schedule) is run twice —
by our nodes, each linked to its scenario neighbours only, over WebRTC data channels negotiated through an
in-process relay; and by py-libp2p hosts over TCP (bench/libp2p_gossip.py, in its own venv). Both run all
their nodes in one process, stamp a send time in each payload, and count every copy off the wire.

Sim mode (`--sim`): the discrete-event simulator at scale, with 10% loss and 20% churn.
"""

from __future__ import annotations

import asyncio
import gc
import json
import struct
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from bench.libp2p_anchor import random_scenario, run_libp2p_gossip
from pynode.stats import percentile

HEADER = struct.Struct(">IIQ")  # message index, publisher, send time (ns, perf counter)


def run_bench(
    sim: bool = False,
    nodes: int | None = None,
    messages: int | None = None,
    size: int = 1024,
    seed: int = 1,
    with_libp2p: bool = True,
) -> dict[str, Any]:
    if sim:
        return _run_sim(nodes or 10_000, messages or 100, seed)
    scenario = random_scenario(
        nodes=nodes or 10, degree=4, messages=messages or 500, duration_s=10.0, size=size, seed=seed
    )
    _log(
        f"scenario: {scenario['nodes']} nodes, {len(scenario['edges'])} links, {len(scenario['messages'])} messages"
    )
    _log("running ours (WebRTC data channels, in-process relay for signalling)...")
    ours = asyncio.run(run_ours(scenario))
    result: dict[str, Any] = {"nodes": scenario["nodes"], "messages": len(scenario["messages"]), "ours": ours}
    if with_libp2p:
        _log("running py-libp2p (TCP, mplex, GossipSub v1.1, its own venv)...")
        theirs = run_libp2p_gossip(scenario)
        result["libp2p"] = {
            k: theirs[k] for k in ("delivery_ratio", "latency_ms", "duplicates_per_msg_per_node", "cpu_s")
        }
    _table(result)
    return result


async def run_ours(scenario: dict[str, Any]) -> dict[str, Any]:
    from pynode.identity import Identity
    from pynode.node import Node, NodeConfig
    from pynode.platform import native
    from relay_server.config import RelayConfig
    from relay_server.server import start_relay

    n, topic, size = scenario["nodes"], scenario["topic"], scenario["size"]
    schedule = scenario["messages"]
    identities = [await Identity.generate() for _ in range(n)]
    neighbours: dict[int, set[int]] = defaultdict(set)
    for i, j in scenario["edges"]:
        neighbours[i].add(j)
        neighbours[j].add(i)

    first_rx: dict[tuple[int, int], float] = {}

    def receiver(node: int):
        def on_message(env: Any) -> None:
            idx, _publisher, sent_ns = HEADER.unpack_from(env.data)
            first_rx.setdefault((idx, node), (time.perf_counter_ns() - sent_ns) / 1e6)

        return on_message

    with tempfile.TemporaryDirectory() as tmp:
        relay = await start_relay(
            RelayConfig(port=0, data_dir=Path(tmp), static_dir=None, log_level="warning"), embedded_node=False
        )
        nodes: list[Node] = []
        try:
            for i, identity in enumerate(identities):
                allowed = frozenset(identities[j].peer_id for j in neighbours[i])
                config = NodeConfig(
                    target_peers=len(allowed),
                    direct_peers=len(allowed),
                    ice_addresses=["127.0.0.1"],
                    allowed_peers=allowed,
                )
                node = Node(identity, native.relay_link(relay.url), config)
                node.subscribe(topic, receiver(i))
                await node.start()
                nodes.append(node)
            await _until(
                lambda: all(
                    sum(1 for kind in nodes[i].connected_peers().values() if kind == "direct")
                    == len(neighbours[i])
                    for i in range(n)
                ),
                90,
                "every scenario link to be a direct data channel",
            )
            await _until(
                lambda: all(len(nodes[i].router.mesh[topic]) >= min(4, len(neighbours[i])) for i in range(n)),
                30,
                "meshes to form",
            )
            await asyncio.sleep(scenario.get("settle_s", 2.0))
            gc.collect()
            gc.freeze()  # as the libp2p side does: no full collection pauses during the measurement
            dup0 = sum(node.router.counters["msg_duplicate"] for node in nodes)
            cpu0 = time.process_time()
            start = time.perf_counter()
            for idx, entry in enumerate(schedule):
                delay = start + entry["at_s"] - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                publisher = entry["publisher"]
                payload = HEADER.pack(idx, publisher, time.perf_counter_ns()).ljust(size, b"\0")
                await nodes[publisher].publish(topic, payload)
            await asyncio.sleep(scenario.get("drain_s", 3.0))
            cpu_s = time.process_time() - cpu0
            dup = sum(node.router.counters["msg_duplicate"] for node in nodes) - dup0
        finally:
            gc.unfreeze()
            for node in nodes:
                await node.stop()
            await relay.stop()

    expected = len(schedule) * (n - 1)
    latencies = sorted(first_rx[k] for k in first_rx if schedule[k[0]]["publisher"] != k[1])
    return {
        "delivery_ratio": round(len(latencies) / expected, 6) if expected else 1.0,
        "latency_ms": {"p50": _pct(latencies, 50), "p99": _pct(latencies, 99)},
        "duplicates_per_msg_per_node": round(dup / expected, 3) if expected else 0.0,
        "cpu_s": round(cpu_s, 3),
    }


def _run_sim(nodes: int, messages: int, seed: int) -> dict[str, Any]:
    from pynode.sim import run_simulation

    _log(f"simulating {nodes} nodes, {messages} messages, 10% loss, 20% churn (seed {seed})...")
    result = run_simulation(nodes=nodes, messages=messages, loss=0.1, churn=0.2, seed=seed)
    rows = [
        ("nodes", result["nodes"]),
        ("messages", result["messages"]),
        ("delivery ratio", result["delivery_ratio"]),
        ("hops p50 / p99", f"{result['hops']['p50']} / {result['hops']['p99']}"),
        ("latency p50 / p99 (virtual ms)", f"{result['latency_ms']['p50']} / {result['latency_ms']['p99']}"),
        ("duplicates per msg per node", result["duplicates_per_msg_per_node"]),
        ("wall time (s)", result["wall_s"]),
    ]
    width = max(len(k) for k, _ in rows)
    _log("\n".join(f"  {k:<{width}}  {v}" for k, v in rows))
    return result


async def _until(cond: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise RuntimeError(f"bench: timed out after {timeout:.0f} s waiting for {what}")
        await asyncio.sleep(0.1)


def _pct(values: list[float], q: float) -> float | None:
    value = percentile(values, q)
    return None if value is None else round(value, 3)


def _table(result: dict[str, Any]) -> None:
    cols = [c for c in ("ours", "libp2p") if c in result]
    rows = [
        ("delivery ratio", lambda r: f"{r['delivery_ratio']:.4f}"),
        ("latency p50 (ms)", lambda r: f"{r['latency_ms']['p50']}"),
        ("latency p99 (ms)", lambda r: f"{r['latency_ms']['p99']}"),
        ("duplicates / msg / node", lambda r: f"{r['duplicates_per_msg_per_node']:.3f}"),
        ("cpu (s)", lambda r: f"{r['cpu_s']:.2f}"),
    ]
    lines = [
        f"gossip: {result['nodes']} nodes, {result['messages']} messages",
        f"  {'':<24}" + "".join(f"{c:>12}" for c in cols),
    ]
    for name, fmt in rows:
        lines.append(f"  {name:<24}" + "".join(f"{fmt(result[c]):>12}" for c in cols))
    if "libp2p" in result and result["libp2p"]["cpu_s"]:
        lines.append(f"  cpu ratio ours/libp2p: {result['ours']['cpu_s'] / result['libp2p']['cpu_s']:.2f}")
    _log("\n".join(lines))


def _log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


if __name__ == "__main__":
    print(json.dumps(run_bench()))
