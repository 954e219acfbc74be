"""py-libp2p GossipSub comparison anchor for ``hyperspace bench gossip``.

Run with the interpreter of the venv made by ``bench/libp2p_venv.py`` (py-libp2p 0.8.1, trio); NOT with the
project venv. Reads a JSON scenario on stdin, starts ``nodes`` real libp2p hosts (TCP, Noise, Mplex or Yamux, Ed25519
keys, signed messages) on 127.0.0.1 in this one process, connects them along ``edges``, subscribes all of them to
``topic``, waits ``settle_s`` for meshes to form, publishes the scheduled messages, waits ``drain_s`` and prints one
JSON object on stdout:

    {"delivery_ratio": float, "latency_ms": {"p50": float, "p99": float},
     "duplicates_per_msg_per_node": float, "cpu_s": float, "meta": {...diagnostics...}}

Scenario keys (defaults in ``DEFAULTS``): nodes, edges, topic, messages [{publisher, at_s}], size, settle_s,
drain_s, D, D_lo, D_hi, D_lazy, heartbeat_s. Optional knobs, defaulting to the configuration that is cheapest for
py-libp2p (its CPU cost, not its router, is the bottleneck: one process hosts every node):
  meshsub "1.1" | "1.0" | "1.2": newest GossipSub version advertised. 1.2 adds IDONTWANT, which py-libp2p sends
      for every message to every mesh peer as a separate RPC carrying a signed peer record (~2x CPU).
  muxer "mplex" | "yamux": yamux (py-libp2p's default) sends a window update per read (~+35% CPU).
  libp2p_extras false | true: keep py-libp2p's non-spec extras (10 msg/s per-forwarder-and-topic rate limit
      that drops legitimate traffic, IP-diversity "eclipse protection" that cannot hold on 127.0.0.1, adaptive
      gossip that can stretch the heartbeat to 60 s after 30 s of uptime).
  connect_timeout_s, log_level. Unknown keys are ignored with a warning.

Metrics: delivery_ratio = distinct (message, non-publisher node) first deliveries to the subscription /
(messages x (nodes - 1)); latency_ms = nearest-rank p50/p99 of receive time - send time (time.time_ns stamped in
the payload just before publish); duplicates_per_msg_per_node = copies received off the wire (every ``publish``
entry handed to Pubsub.push_msg, i.e. also those its seen-cache drops) minus first copies, over the same
denominator (copies of its own message reaching a publisher count as duplicates); cpu_s = process CPU time of the
publish + drain phase, all nodes together. meta holds diagnostics (mesh degrees, link check, timings).

Errors: message on stderr, exit code 1.
"""

from __future__ import annotations

import gc
import json
import logging
import math
import os
import struct
import sys
import time
from collections import Counter
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any

import multiaddr
import trio
from libp2p import new_host
from libp2p.abc import IHost, ISubscriptionAPI
from libp2p.custom_types import TProtocol
from libp2p.peer.id import ID
from libp2p.peer.peerinfo import info_from_p2p_addr
from libp2p.pubsub.gossipsub import PROTOCOL_ID, PROTOCOL_ID_V11, PROTOCOL_ID_V12, GossipSub
from libp2p.pubsub.pb import rpc_pb2
from libp2p.pubsub.pubsub import Pubsub
from libp2p.tools.anyio_service import background_trio_service

DEFAULTS: dict[str, Any] = {
    "topic": "hs/1/bench",
    "size": 1024,
    "settle_s": 2.0,
    "drain_s": 3.0,
    "D": 6,
    "D_lo": 4,
    "D_hi": 12,
    "D_lazy": 6,
    "heartbeat_s": 1.0,
    "meshsub": "1.1",
    "libp2p_extras": False,
    "muxer": "mplex",
    "connect_timeout_s": 10.0,
    "log_level": "ERROR",
}
MESHSUB_VERSIONS: dict[str, list[TProtocol]] = {
    "1.0": [PROTOCOL_ID],
    "1.1": [PROTOCOL_ID_V11, PROTOCOL_ID],
    "1.2": [PROTOCOL_ID_V12, PROTOCOL_ID_V11, PROTOCOL_ID],
}
# Payload header: message index, publisher index, send time (time.time_ns); the rest is random bytes.
HEADER = struct.Struct(">IIQ")


class ScenarioError(ValueError):
    """The scenario JSON is malformed."""


@dataclass
class Scenario:
    nodes: int
    edges: list[tuple[int, int]]
    messages: list[tuple[int, float]]  # (publisher, at_s)
    topic: str
    size: int
    settle_s: float
    drain_s: float
    D: int
    D_lo: int
    D_hi: int
    D_lazy: int
    heartbeat_s: float
    meshsub: str
    libp2p_extras: bool
    muxer: str
    connect_timeout_s: float
    log_level: str

    @classmethod
    def parse(cls, raw: Any) -> Scenario:
        if not isinstance(raw, dict):
            raise ScenarioError("scenario must be a JSON object")
        unknown = set(raw) - set(DEFAULTS) - {"nodes", "edges", "messages"}
        if unknown:
            print(f"libp2p_gossip: ignoring unknown scenario keys {sorted(unknown)}", file=sys.stderr)
        d = {**DEFAULTS, **raw}
        try:
            sc = cls(
                nodes=int(d["nodes"]),
                edges=[(int(i), int(j)) for i, j in d.get("edges", [])],
                messages=[(int(m["publisher"]), float(m["at_s"])) for m in d.get("messages", [])],
                **{k: type(default)(d[k]) for k, default in DEFAULTS.items()},  # cast to the default's type
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ScenarioError(f"bad scenario field: {exc!r}") from exc
        sc.muxer, sc.log_level = sc.muxer.lower(), sc.log_level.upper()
        sc.validate()
        return sc

    def validate(self) -> None:
        if self.nodes < 2:
            raise ScenarioError("nodes must be >= 2")
        for i, j in self.edges:
            if not (0 <= i < self.nodes and 0 <= j < self.nodes) or i == j:
                raise ScenarioError(f"bad edge {[i, j]}")
        for p, t in self.messages:
            if not 0 <= p < self.nodes or t < 0 or not math.isfinite(t):
                raise ScenarioError(f"bad message publisher={p} at_s={t}")
        if self.size < HEADER.size:
            raise ScenarioError(f"size must be >= {HEADER.size}")
        if not 0 < self.D_lo <= self.D <= self.D_hi:
            raise ScenarioError("need 0 < D_lo <= D <= D_hi")
        if self.heartbeat_s <= 0:
            raise ScenarioError("heartbeat_s must be > 0")
        if self.muxer not in ("yamux", "mplex"):
            raise ScenarioError("muxer must be 'yamux' or 'mplex'")
        if self.meshsub not in MESHSUB_VERSIONS:
            raise ScenarioError(f"meshsub must be one of {sorted(MESHSUB_VERSIONS)}")


class BenchGossipSub(GossipSub):
    """GossipSub with the spec's D_lazy (py-libp2p hard-codes 6) and optional non-spec extras off."""

    def __init__(self, sc: Scenario) -> None:
        super().__init__(
            protocols=MESHSUB_VERSIONS[sc.meshsub],
            degree=sc.D,
            degree_low=sc.D_lo,
            degree_high=sc.D_hi,
            heartbeat_interval=sc.heartbeat_s,  # type: ignore[arg-type]  # annotated int, used by trio.sleep
            adaptive_gossip_enabled=sc.libp2p_extras,
            spam_protection_enabled=sc.libp2p_extras,
            eclipse_protection_enabled=sc.libp2p_extras,
        )
        self.d_lazy = sc.D_lazy

    def _get_adaptive_gossip_peers_count(self, topic: str, total_peers: int) -> int:
        if self.adaptive_gossip_enabled:
            return super()._get_adaptive_gossip_peers_count(topic, total_peers)
        return max(self.d_lazy, int(total_peers * 0.25))  # spec: max(D_lazy, gossip_factor * eligible)


@dataclass
class Stats:
    """Shared measurement state (single process, so plain dicts suffice)."""

    topic: str
    first_rx: dict[tuple[int, int], float] = field(default_factory=dict)  # (msg, node) -> latency ms
    copies: Counter[tuple[int, int]] = field(default_factory=Counter)  # (msg, node) -> copies off the wire
    publisher_of: dict[int, int] = field(default_factory=dict)


def instrument(pubsub: Pubsub, node: int, stats: Stats) -> None:
    """Count every copy of a bench message a node receives from the network, before the seen-cache check.

    Pubsub.continuously_read_stream schedules ``self.push_msg(peer, msg)`` for each received ``publish`` entry
    (mesh forwards and IWANT replies alike); ``push_msg`` then drops seen messages silently. Wrapping the bound
    method on the instance catches all of them; local publishes (forwarder == self) are skipped.
    """
    original = pubsub.push_msg
    my_id = pubsub.my_id

    async def push_msg(msg_forwarder: ID, msg: rpc_pb2.Message) -> None:
        if msg_forwarder != my_id and stats.topic in msg.topicIDs and len(msg.data) >= HEADER.size:
            idx = HEADER.unpack_from(msg.data)[0]
            stats.copies[(idx, node)] += 1
        await original(msg_forwarder, msg)

    pubsub.push_msg = push_msg  # type: ignore[method-assign]


async def receive_loop(sub: ISubscriptionAPI, node: int, stats: Stats) -> None:
    """Record first delivery to the application and its one-way latency."""
    while True:
        msg = await sub.get()
        now_ns = time.time_ns()
        if len(msg.data) < HEADER.size:
            continue
        idx, publisher, sent_ns = HEADER.unpack_from(msg.data)
        if publisher != node:
            stats.first_rx.setdefault((idx, node), (now_ns - sent_ns) / 1e6)


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100); None for an empty list."""
    if not values:
        return None
    s = sorted(values)
    return s[max(0, min(len(s) - 1, math.ceil(q / 100 * len(s)) - 1))]


async def run_bench(sc: Scenario) -> dict[str, Any]:
    stats = Stats(topic=sc.topic)
    listen = [multiaddr.Multiaddr("/ip4/127.0.0.1/tcp/0")]
    t_wall = time.perf_counter()
    async with AsyncExitStack() as stack:
        nursery = await stack.enter_async_context(trio.open_nursery())
        hosts: list[IHost] = []
        pubsubs: list[Pubsub] = []
        routers: list[BenchGossipSub] = []
        for node in range(sc.nodes):
            host = new_host(listen_addrs=listen, muxer_preference=sc.muxer.upper())  # type: ignore[arg-type]
            router = BenchGossipSub(sc)
            pubsub = Pubsub(host, router)
            await stack.enter_async_context(host.run(listen_addrs=listen))
            # The swarm's auto-connector dials every peer in the peerstore while below 50 connections; stop it
            # so the topology stays exactly ``edges``.
            await host.get_network().auto_connector.stop()  # type: ignore[attr-defined]
            await stack.enter_async_context(background_trio_service(pubsub))
            await stack.enter_async_context(background_trio_service(router))
            await pubsub.wait_until_ready()
            instrument(pubsub, node, stats)
            nursery.start_soon(receive_loop, await pubsub.subscribe(sc.topic), node, stats)
            hosts.append(host)
            pubsubs.append(pubsub)
            routers.append(router)
        t_started = time.perf_counter()

        failed: list[tuple[int, int]] = []

        async def dial(i: int, j: int) -> None:
            try:
                with trio.fail_after(sc.connect_timeout_s):
                    await hosts[i].connect(info_from_p2p_addr(hosts[j].get_addrs()[0]))
            except Exception as exc:  # any dial failure aborts the run below
                print(f"libp2p_gossip: dial {i}->{j} failed: {exc!r}", file=sys.stderr)
                failed.append((i, j))

        async with trio.open_nursery() as dials:
            for i, j in sorted({(min(e), max(e)) for e in sc.edges}):
                dials.start_soon(dial, i, j)
        if failed:
            raise RuntimeError(f"{len(failed)} of {len(sc.edges)} connections failed: {failed[:5]}")
        t_connected = time.perf_counter()
        await trio.sleep(sc.settle_s)
        mesh = [len(r.mesh.get(sc.topic, ())) for r in routers]
        # Move the ~70 imported packages and setup state out of the GC's view: full collections otherwise stall
        # all N nodes of this one process at once for 60-80 ms (they would be N separate heaps in production).
        gc.collect()
        gc.freeze()

        schedule = sorted(enumerate(sc.messages), key=lambda m: m[1][1])
        cpu0, t_pub = time.process_time(), time.perf_counter()
        t0 = trio.current_time()
        lateness: list[float] = []
        for idx, (publisher, at_s) in schedule:
            await trio.sleep_until(t0 + at_s)
            lateness.append((trio.current_time() - t0 - at_s) * 1e3)
            stats.publisher_of[idx] = publisher
            payload = HEADER.pack(idx, publisher, time.time_ns()) + os.urandom(sc.size - HEADER.size)
            await pubsubs[publisher].publish(sc.topic, payload)
        await trio.sleep(sc.drain_s)
        cpu_s = time.process_time() - cpu0
        t_done = time.perf_counter()
        adjacency = {(i, j) for e in sc.edges for i, j in (e, e[::-1])}
        ids = {h.get_id(): k for k, h in enumerate(hosts)}
        links = {(k, ids[p]) for k, h in enumerate(hosts) for p in h.get_connected_peers() if p in ids}
        nursery.cancel_scope.cancel()  # stop receive loops; services are torn down by the exit stack

    m, n = len(sc.messages), sc.nodes
    expected = m * (n - 1)
    dup = sum(
        c - (0 if stats.publisher_of.get(idx) == node else 1) for (idx, node), c in stats.copies.items() if c
    )
    lat = list(stats.first_rx.values())
    p50, p99 = percentile(lat, 50), percentile(lat, 99)
    return {
        "delivery_ratio": len(stats.first_rx) / expected if expected else 1.0,
        "latency_ms": {"p50": p50 and round(p50, 3), "p99": p99 and round(p99, 3)},
        "duplicates_per_msg_per_node": dup / expected if expected else 0.0,
        "cpu_s": round(cpu_s, 4),
        "meta": {
            "impl": "py-libp2p 0.8.1 GossipSub",
            "nodes": n,
            "edges": len(sc.edges),
            "messages": m,
            "delivered": len(stats.first_rx),
            "expected": expected,
            "copies_received": sum(stats.copies.values()),
            "mesh_degree_at_publish": {"min": min(mesh), "mean": round(sum(mesh) / n, 2), "max": max(mesh)},
            "extra_links": len(links - adjacency),
            "missing_links": len(adjacency - links),
            "publish_lateness_ms_max": round(max(lateness, default=0.0), 3),
            "meshsub": MESHSUB_VERSIONS[sc.meshsub][0],
            "libp2p_extras": sc.libp2p_extras,
            "muxer": sc.muxer,
            "startup_s": round(t_started - t_wall, 3),
            "connect_s": round(t_connected - t_started, 3),
            "publish_drain_wall_s": round(t_done - t_pub, 3),
            "teardown_s": round(time.perf_counter() - t_done, 3),
        },
    }


def main() -> int:
    try:
        sc = Scenario.parse(json.load(sys.stdin))
    except (json.JSONDecodeError, ScenarioError) as exc:
        print(f"libp2p_gossip: invalid scenario: {exc}", file=sys.stderr)
        return 1
    handler = logging.StreamHandler(sys.stderr)
    handler.setLevel(getattr(logging, sc.log_level, logging.ERROR))
    for name in ("", "libp2p"):  # libp2p detaches its logger from the root logger at import
        logging.getLogger(name).addHandler(handler)
    try:
        result = trio.run(run_bench, sc)
    except BaseException as exc:  # trio wraps task failures in (Base)ExceptionGroup
        if isinstance(exc, KeyboardInterrupt):
            raise
        print(f"libp2p_gossip: benchmark failed: {exc!r}", file=sys.stderr)
        return 1
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
