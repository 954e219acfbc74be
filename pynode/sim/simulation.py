"""A deterministic discrete-event simulation of many gossip routers in virtual time.

Everything happens in an event heap ordered by virtual time; one seeded `random.Random` draws topology,
latencies, losses, churn and the routers' own choices, so a seed fixes the whole run. Validation is an
immediate ACCEPT (the simulator measures dissemination, not signatures), so envelopes carry a dummy signature.

Timeline: nodes join during the first half of the warm-up; then `messages` are published at random times
across the publish window while `churn` × nodes leave and as many new nodes join; a drain period lets the
last messages settle. Delivery is measured on the nodes that were up for the whole run.
"""

from __future__ import annotations

import heapq
import random
import time
from dataclasses import dataclass, field
from typing import Any

from pynode.gossip.events import Dial, Send, Validate, ValidationResult
from pynode.gossip.params import GossipParams, PeerScoreParams
from pynode.gossip.router import Router
from pynode.gossip.rpc import RPC
from pynode.sim.link import LinkModel
from pynode.stats import percentile
from pynode.wire.envelope import Envelope

DUMMY_SIG = bytes(64)

# event kinds, in the order they win ties at one instant
_RPC, _TICK, _JOIN, _LEAVE, _PUBLISH = range(5)


@dataclass(eq=False)
class _Node:
    index: int
    peer_id: bytes
    router: Router
    links: dict[int, float] = field(default_factory=dict)  # neighbour index -> one-way latency
    alive: bool = True
    stable: bool = True  # up for the whole run: the nodes delivery is measured on
    got: dict[bytes, tuple[int, float]] = field(
        default_factory=dict
    )  # msg id -> (hops, time) of first receipt


class Simulation:
    def __init__(
        self,
        seed: int,
        topic: str,
        link: LinkModel,
        params: GossipParams,
        degree: int,
        score_params: PeerScoreParams | None = None,
    ) -> None:
        self.rng = random.Random(seed)
        self.topic = topic
        self.link = link
        self.params = params
        self.score_params = score_params
        self.degree = degree
        self.nodes: list[_Node] = []
        self.by_id: dict[bytes, int] = {}
        self.live: list[int] = []  # alive node indices, for O(1) random choice
        self._live_pos: dict[int, int] = {}
        self.heap: list[tuple[float, int, int, int, int, Any]] = []
        self._seq = 0
        self.published_at: dict[bytes, float] = {}
        self.duplicates = 0
        self.first_receipts = 0
        self.now = 0.0

    # -- events --

    def schedule(self, t: float, kind: int, a: int = 0, b: int = 0, payload: Any = None) -> None:
        self._seq += 1
        heapq.heappush(self.heap, (t, kind, self._seq, a, b, payload))

    def run_until(self, end: float) -> None:
        heap = self.heap
        nodes = self.nodes
        while heap and heap[0][0] <= end:
            t, kind, _, a, b, payload = heapq.heappop(heap)
            self.now = t
            if kind == _RPC:
                self._deliver(nodes[a], nodes[b], payload, t)
            elif kind == _TICK:
                node = nodes[a]
                if node.alive:
                    self._apply(node, node.router.tick(t), t)
                    self._keep_connected(node, t)
                    self.schedule(node.router.next_deadline(), _TICK, a)
            elif kind == _JOIN:
                self.join(t, stable=payload)
            elif kind == _LEAVE:
                self.leave(t)
            else:
                self.publish(payload, t)
        self.now = end

    # -- membership --

    def join(self, now: float, stable: bool) -> _Node:
        index = len(self.nodes)
        peer_id = index.to_bytes(32, "big")
        router = Router(peer_id, self.params, self.score_params, rng=random.Random(self.rng.random()))
        node = _Node(index, peer_id, router)
        node.stable = stable
        self.nodes.append(node)
        self.by_id[peer_id] = index
        targets = self._random_live(self.degree, exclude=node)
        self._live_pos[index] = len(self.live)
        self.live.append(index)
        self._apply(node, node.router.subscribe(self.topic, now), now)
        for other in targets:
            self.connect(node, self.nodes[other], now)
        # heartbeats are staggered so the network does not pulse in lockstep
        self.schedule(now + self.rng.random() * self.params.heartbeat_interval, _TICK, index)
        return node

    def leave(self, now: float) -> None:
        index = self.live[self.rng.randrange(len(self.live))]
        node = self.nodes[index]
        node.alive = False
        node.stable = False
        last = self.live.pop()
        if last != index:
            pos = self._live_pos[index]
            self.live[pos] = last
            self._live_pos[last] = pos
        del self._live_pos[index]
        for other in list(node.links):
            neighbour = self.nodes[other]
            del neighbour.links[index]
            self._apply(neighbour, neighbour.router.remove_peer(node.peer_id, now), now)
        node.links.clear()

    def connect(self, a: _Node, b: _Node, now: float) -> None:
        if b.index in a.links or a is b or not b.alive:
            return
        latency = self.link.latency(self.rng)
        a.links[b.index] = b.links[a.index] = latency
        self._apply(a, a.router.add_peer(b.peer_id, now, outbound=True), now)
        self._apply(b, b.router.add_peer(a.peer_id, now), now)

    def _keep_connected(self, node: _Node, now: float) -> None:
        """The peer manager's job: a node that lost half its links to churn dials new ones."""
        if len(node.links) < self.degree // 2:
            for other in self._random_live(self.degree - len(node.links), exclude=node):
                self.connect(node, self.nodes[other], now)

    def _random_live(self, n: int, exclude: _Node) -> list[int]:
        live = [i for i in self.rng.sample(self.live, min(n + 1, len(self.live))) if i != exclude.index]
        return live[:n]

    # -- messages --

    def publish(self, seqno: int, now: float) -> None:
        node = self.nodes[self.live[self.rng.randrange(len(self.live))]]
        env = Envelope(self.topic, node.peer_id, seqno, int(now * 1000), seqno.to_bytes(8, "big"), DUMMY_SIG)
        self.published_at[env.msg_id] = now
        node.got[env.msg_id] = (0, now)
        self._apply(node, node.router.publish(env, now), now)

    def _deliver(self, dst: _Node, src: _Node, rpc: RPC, now: float) -> None:
        if not dst.alive or src.index not in dst.links:
            return  # the link went down while the RPC was in flight
        for env in rpc.msgs:
            if env.msg_id in dst.got:
                self.duplicates += 1
        self._apply(dst, dst.router.receive(src.peer_id, rpc, now), now, src)

    def _apply(self, node: _Node, outputs: list[Any], now: float, src: _Node | None = None) -> None:
        sends: list[Send] = []
        for out in outputs:
            if type(out) is Send:
                sends.append(out)
            elif type(out) is Validate:
                if out.msg_id not in node.got:
                    self.first_receipts += 1
                    hops = src.got[out.msg_id][0] + 1 if src is not None and out.msg_id in src.got else 1
                    node.got[out.msg_id] = (hops, now)
                self._apply(
                    node, node.router.report_validation(out.msg_id, ValidationResult.ACCEPT, now), now
                )
            elif type(out) is Dial:
                other = self.by_id.get(out.peer)
                if other is not None:
                    self.connect(node, self.nodes[other], now)
        if len(sends) > 1:
            # routers emit in set order, which varies with the process's hash seed; loss draws must not
            sends.sort(key=_by_peer)
        rng = self.rng
        loss = self.link.loss
        links = node.links
        for send in sends:
            dst = self.by_id[send.peer]
            latency = links.get(dst)
            if latency is not None and (loss == 0.0 or rng.random() >= loss):
                self._seq += 1
                heapq.heappush(self.heap, (now + latency, _RPC, self._seq, dst, node.index, send.rpc))


def _by_peer(send: Send) -> bytes:
    return send.peer


def run_simulation(
    nodes: int = 1000,
    messages: int = 100,
    loss: float = 0.1,
    churn: float = 0.2,
    seed: int = 1,
    topic: str = "hs/1/sim",
    warmup_s: float = 10.0,
    publish_s: float = 20.0,
    drain_s: float = 5.0,
    degree: int = 8,
    median_latency_ms: float = 40.0,
    params: GossipParams | None = None,
    score_params: PeerScoreParams | None = None,
) -> dict[str, Any]:
    """Simulate `nodes` routers in one topic and measure how `messages` spread; see the module docstring."""
    started = time.perf_counter()
    link = LinkModel(median_latency_ms / 1000, loss=loss)
    sim = Simulation(seed, topic, link, params or GossipParams(), degree, score_params)
    rng = sim.rng
    join_s = warmup_s / 2
    for i in range(nodes):
        sim.schedule(join_s * i / nodes, _JOIN, payload=True)
    sim.run_until(warmup_s)
    # from here on, joiners are churn: not up for the whole run, so not measured
    churned = round(churn * nodes)
    for _ in range(churned):
        sim.schedule(warmup_s + rng.random() * publish_s, _LEAVE)
        sim.schedule(warmup_s + rng.random() * publish_s, _JOIN, payload=False)
    for seqno in range(messages):
        sim.schedule(warmup_s + rng.random() * publish_s, _PUBLISH, payload=seqno)
    sim.run_until(warmup_s + publish_s + drain_s)

    stable = [n for n in sim.nodes if n.stable]
    received = 0
    hop_counts: list[float] = []
    latencies: list[float] = []
    for node in stable:
        received += len(node.got)
        for mid, (h, t) in node.got.items():
            if h > 0:  # the publisher's own copy is no hop
                hop_counts.append(h)
                latencies.append((t - sim.published_at[mid]) * 1000)
    expected = len(sim.published_at) * len(stable)
    return {
        "nodes": nodes,
        "messages": len(sim.published_at),
        "delivery_ratio": round(received / expected, 6) if expected else 0.0,
        "hops": {"p50": percentile(hop_counts, 50, 0.0), "p99": percentile(hop_counts, 99, 0.0)},
        "latency_ms": {
            "p50": round(percentile(latencies, 50, 0.0), 1),
            "p99": round(percentile(latencies, 99, 0.0), 1),
        },
        "duplicates_per_msg_per_node": round(sim.duplicates / sim.first_receipts, 3)
        if sim.first_receipts
        else 0.0,
        "wall_s": round(time.perf_counter() - started, 2),
    }
