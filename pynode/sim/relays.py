"""Relay federation at scale: R relays running the real federation core (`pynode/net/federation.py`), N nodes
running the real fail-over choice (`pynode/net/failover.py`), relays that die (and come back), in virtual time.

What is real: every relay's directory, its signed-update batching and refresh, routes and their conflict rule,
link expiry, hop admission; every node's choice of the next relay and its delays. What is modelled: latencies
(the kernel's `LinkModel`, one draw per node-relay and relay-relay pair), a connection taking two round trips
(WebSocket, then challenge-hello-welcome), a dead relay refusing a connection after one round trip and its
sessions noticed one latency after it died. Signatures are not computed: the runtime checks them before the
core sees an update, and their cost is the relay benchmark's to measure.

Measured: fail-over (a dead relay's node: death → welcomed elsewhere), directory convergence (a node's arrival →
every live relay routes to it), and routing: circuits dialled between random live nodes, and the share that
reach a node connected at that moment (`delivery`), with the same share counting only nodes settled for a
second (`delivery_settled`: what a node that just moved cannot have yet).

    python -m pynode.sim.relays --relays 10 --nodes 10000 --failures 3 --seed 1   # prints the run's JSON
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass, field
from typing import Any

from pynode.net import federation as fed
from pynode.net.failover import RelayChoice
from pynode.net.federation_proto import DirBody, Entry
from pynode.net.limits import DIR_FLUSH_S
from pynode.sim.kernel import Kernel
from pynode.sim.link import LinkModel

T0_MS = 1_700_000_000_000  # the wall clock at virtual time 0 (directories carry wall-clock expiries)
SETTLED_S = 1.0  # a node this long on its relay counts as settled for `delivery_settled`
_NO_SIG = b"\x00" * 64  # the runtime verifies signatures before the core; the simulation has none to check


class _Quiet:
    def link_up(self, a: int, b: int) -> None: ...
    def link_down(self, node: int, gone: int) -> None: ...


@dataclass
class _Node:
    choice: RelayChoice
    relay: int | None = None  # the relay it has a session with
    since: float = 0.0
    attempt: int = 0  # numbers its connection attempts: a stale completion is ignored


@dataclass
class _Stats:
    failover: list[float] = field(default_factory=list)
    convergence: list[float] = field(default_factory=list)
    dials: int = 0
    reached: int = 0
    dials_settled: int = 0
    reached_settled: int = 0
    updates: int = 0
    entries_sent: int = 0
    cut: int = 0


class RelaySimulation:
    def __init__(
        self, relays: int, nodes: int, seed: int = 1, link: LinkModel | None = None, expire_links: bool = True
    ) -> None:
        self.kernel = Kernel(seed, link or LinkModel(), 0, _Quiet())
        self.rng = self.kernel.rng
        self.ids = [self._relay_id(i) for i in range(relays)]
        self.cores = [fed.Federation(rid, url=f"wss://relay{i}/p2p") for i, rid in enumerate(self.ids)]
        self.up = [True] * relays
        self.hosted: list[set[int]] = [set() for _ in range(relays)]
        self.peer_ids = [self._node_id(i) for i in range(nodes)]
        self.nodes = [_Node(RelayChoice(relays, self.rng)) for _ in range(nodes)]
        self.latency = [[self.kernel.link.latency(self.rng) for _ in range(relays)] for _ in range(nodes)]
        self.relay_latency = [
            [self.kernel.link.latency(self.rng) for _ in range(relays)] for _ in range(relays)
        ]
        self.died_at: dict[int, float] = {}  # node -> when its relay died under it
        # peer -> (arrival, its relay, the relays that route to it there), until every live relay does
        self.arrived: dict[bytes, tuple[float, int, set[int]]] = {}
        self.expire_links = expire_links
        self.stats = _Stats()

    @staticmethod
    def _relay_id(i: int) -> bytes:
        return bytes([0xF0]) + i.to_bytes(4, "big") * 7 + b"\x00" * 3

    @staticmethod
    def _node_id(i: int) -> bytes:
        return bytes([0x10]) + i.to_bytes(4, "big") * 7 + b"\x00" * 3

    def now_ms(self) -> int:
        return T0_MS + int(self.kernel.now * 1000)

    # ---- relays ----------------------------------------------------------------------------------------

    def start(self) -> None:
        for i in range(len(self.cores)):
            for j in range(i + 1, len(self.cores)):
                self._link(i, j)
            self.kernel.at(self.rng.uniform(0, DIR_FLUSH_S), self._flush, i)
        for n in range(len(self.nodes)):
            choice = self.nodes[n].choice
            choice.current = n % len(self.cores)  # spread like operators spread their relay lists
            self.kernel.at(self.rng.uniform(0, 5.0), self._connect, n)

    def _link(self, i: int, j: int) -> None:
        """Relays i and j link (the smaller id dials); each sends the other its full directory."""
        t = self.now_ms()
        for a, b in ((i, j), (j, i)):
            core = self.cores[a]
            if core.admit_link(self.ids[b], self.ids[a] < self.ids[b], t) in (fed.ADMIT, fed.REPLACE):
                self._apply(a, core.link_up(self.ids[b], self.ids[a] < self.ids[b], t))
        for a, b in ((i, j), (j, i)):
            for body in self.cores[a].snapshot(self.ids[b], t):
                self._send_dir(a, b, body)

    def _send_dir(self, a: int, b: int, body: DirBody) -> None:
        self.stats.updates += 1
        self.stats.entries_sent += len(body.add) + len(body.remove)
        self.kernel.at(self.kernel.now + self.relay_latency[a][b], self._receive_dir, a, b, body)

    def _receive_dir(self, a: int, b: int, body: DirBody) -> None:
        if self.up[a] and self.up[b]:
            self._apply(b, self.cores[b].directory(self.ids[a], body, self.now_ms()))
            for e in body.add:
                self._routed(e.peer, b)

    def _flush(self, i: int) -> None:
        if not self.up[i]:
            return
        for body in self.cores[i].take_updates(self.now_ms()):
            for j in range(len(self.cores)):
                if j != i and self.up[j]:
                    self._send_dir(i, j, body)
        if self.expire_links:
            self._apply(i, self.cores[i].tick(self.now_ms()))
        self.kernel.at(self.kernel.now + DIR_FLUSH_S, self._flush, i)

    def _apply(self, i: int, outputs: list[fed.Output]) -> None:
        for out in outputs:
            if isinstance(out, fed.Cut):
                self.stats.cut += 1

    def kill(self, i: int) -> None:
        """Relay i dies: its sessions end (each node notices one latency later), the others drop its link."""
        self.up[i] = False
        now = self.kernel.now
        for n in list(self.hosted[i]):
            self.died_at[n] = now
            self.kernel.at(now + self.latency[n][i], self._session_ended, n, i)
        self.hosted[i].clear()
        self.cores[i] = fed.Federation(self.ids[i], url=f"wss://relay{i}/p2p", seq_start=self.now_ms() << 8)
        for j in range(len(self.cores)):
            if j != i and self.up[j]:
                self.kernel.at(now + self.relay_latency[i][j], self._link_down, j, i)

    def revive(self, i: int) -> None:
        self.up[i] = True
        for j in range(len(self.cores)):
            if j != i and self.up[j]:
                self._link(i, j)
        self.kernel.at(self.kernel.now + DIR_FLUSH_S, self._flush, i)

    def _link_down(self, j: int, i: int) -> None:
        if self.up[j] and not self.up[i]:
            self._apply(j, self.cores[j].link_down(self.ids[i]))

    # ---- nodes -----------------------------------------------------------------------------------------

    def _connect(self, n: int) -> None:
        node = self.nodes[n]
        node.attempt += 1
        r = node.choice.current
        rtt = 2 * self.latency[n][r]
        if self.up[r]:
            self.kernel.at(self.kernel.now + 2 * rtt, self._welcomed, n, r, node.attempt)
        else:  # connection refused after one round trip
            self.kernel.at(self.kernel.now + rtt, self._retry, n)

    def _retry(self, n: int) -> None:
        node = self.nodes[n]
        self.kernel.at(self.kernel.now + node.choice.ended(self.kernel.now), self._connect, n)

    def _welcomed(self, n: int, r: int, attempt: int) -> None:
        node = self.nodes[n]
        if attempt != node.attempt:
            return
        if not self.up[r]:  # it died during the handshake
            self._retry(n)
            return
        now = self.kernel.now
        node.relay, node.since = r, now
        node.choice.connected(now)
        self.hosted[r].add(n)
        peer = self.peer_ids[n]
        self.cores[r].host(Entry(peer, ("webrtc",), self.now_ms(), b"\x00" * 32, _NO_SIG))
        self.arrived[peer] = (now, r, set())
        if n in self.died_at:
            self.stats.failover.append(now - self.died_at.pop(n))

    def _session_ended(self, n: int, r: int) -> None:
        node = self.nodes[n]
        if node.relay != r:
            return
        node.relay = None
        self.kernel.at(self.kernel.now + node.choice.ended(self.kernel.now), self._connect, n)

    def _routed(self, peer: bytes, j: int) -> None:
        """Relay j applied an update naming `peer`: once every live relay routes it home, it has converged."""
        arrival = self.arrived.get(peer)
        if arrival is None:
            return
        t, r, routing = arrival
        if self.cores[j].route(peer) == self.ids[r]:
            routing.add(j)
        if all(k in routing for k in range(len(self.cores)) if self.up[k] and k != r):
            del self.arrived[peer]
            self.stats.convergence.append(self.kernel.now - t)

    # ---- traffic ---------------------------------------------------------------------------------------

    def dial(self) -> None:
        """A random node with a session dials a random other node with one; the hop is judged where it lands."""
        live = [n for n in self.rng.sample(range(len(self.nodes)), 2) if self.nodes[n].relay is not None]
        if len(live) < 2:
            return
        s, t = live
        rs, rt = self.nodes[s].relay, self.nodes[t].relay
        assert rs is not None and rt is not None
        if not (self.up[rs] and self.up[rt]):
            return  # a session with a relay that just died: gone already, though the node does not know yet
        settled = max(self.nodes[s].since, self.nodes[t].since) <= self.kernel.now - SETTLED_S
        if rs == rt:
            self._count(True, settled)
            return
        via = self.cores[rs].route(self.peer_ids[t])
        if via is None:
            self._count(False, settled)
            return
        if self.cores[rs].unannounced(self.peer_ids[s]):
            self._flush_now(rs)  # as the runtime does: the update goes out on the link before the hop
        x = self.ids.index(via)
        self.kernel.at(self.kernel.now + self.relay_latency[rs][x], self._hop, rs, x, s, t, settled)

    def _hop(self, rs: int, x: int, s: int, t: int, settled: bool) -> None:
        if not (self.up[rs] and self.up[x]):
            self._count(False, settled)
            return
        verdict = self.cores[x].admit_hop(self.ids[rs], self.peer_ids[s], self.peer_ids[t], self.now_ms())
        if isinstance(verdict, list):
            self._apply(x, verdict)
        self._count(verdict == fed.DELIVER, settled)

    def _count(self, reached: bool, settled: bool) -> None:
        self.stats.dials += 1
        self.stats.reached += reached
        if settled:
            self.stats.dials_settled += 1
            self.stats.reached_settled += reached

    def _flush_now(self, i: int) -> None:
        for body in self.cores[i].take_updates(self.now_ms(), force=True):
            for j in range(len(self.cores)):
                if j != i and self.up[j]:
                    self._send_dir(i, j, body)

    def run(
        self, duration_s: float, failures: list[tuple[float, int, float | None]], dials_per_s: float
    ) -> None:
        """`failures`: (when, relay, back after seconds or None)."""
        self.start()
        for when, relay, back in failures:
            self.kernel.at(when, self.kill, relay)
            if back is not None:
                self.kernel.at(when + back, self.revive, relay)
        step = 1.0 / dials_per_s
        t = 5.0
        while t < duration_s:
            self.kernel.at(t, self.dial)
            t += step
        self.kernel.run_until(duration_s)

    def routes_correct(self) -> bool:
        """Every live relay routes every node with a session to the relay it is on."""
        for n, node in enumerate(self.nodes):
            if node.relay is None:
                continue
            for j, core in enumerate(self.cores):
                if self.up[j] and j != node.relay and core.route(self.peer_ids[n]) != self.ids[node.relay]:
                    return False
        return True


def _pct(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 3)


def run_relay_simulation(
    relays: int = 10,
    nodes: int = 10_000,
    failures: int = 3,
    duration_s: float = 60.0,
    dials_per_s: float = 500.0,
    seed: int = 1,
) -> dict[str, Any]:
    """Relays die one after another (every third comes back 15 s later); returns the measures as a dict."""
    started = time.perf_counter()
    sim = RelaySimulation(relays, nodes, seed)
    plan = [(15.0 + 10.0 * k, k % relays, 15.0 if k % 3 == 2 else None) for k in range(failures)]
    sim.run(duration_s, plan, dials_per_s)
    s = sim.stats
    on = [len(h) for h, up in zip(sim.hosted, sim.up, strict=True) if up]
    return {
        "relays": relays,
        "nodes": nodes,
        "failures": failures,
        "seed": seed,
        "virtual_s": duration_s,
        "connected": sum(1 for n in sim.nodes if n.relay is not None),
        "failovers": len(s.failover),
        "failover_p50_s": _pct(s.failover, 0.5),
        "failover_p99_s": _pct(s.failover, 0.99),
        "failover_max_s": _pct(s.failover, 1.0),
        "convergence_p50_s": _pct(s.convergence, 0.5),
        "convergence_p99_s": _pct(s.convergence, 0.99),
        "dials": s.dials,
        "delivery": round(s.reached / s.dials, 5) if s.dials else 0.0,
        "delivery_settled": round(s.reached_settled / s.dials_settled, 5) if s.dials_settled else 0.0,
        "routes_correct": sim.routes_correct(),
        "nodes_per_live_relay": [min(on), max(on)] if on else [0, 0],
        "directory_updates": s.updates,
        "directory_entries_sent": s.entries_sent,
        "links_cut": s.cut,
        "wall_s": round(time.perf_counter() - started, 2),
    }


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m pynode.sim.relays", description=__doc__.split("\n\n")[0])
    p.add_argument("--relays", type=int, default=10)
    p.add_argument("--nodes", type=int, default=10_000)
    p.add_argument(
        "--failures", type=int, default=3, help="relays that die, 10 s apart (every third returns)"
    )
    p.add_argument("--duration", type=float, default=60.0, help="virtual seconds")
    p.add_argument("--dials", type=float, default=500.0, help="circuits dialled per virtual second")
    p.add_argument("--seed", type=int, default=1)
    a = p.parse_args()
    print(json.dumps(run_relay_simulation(a.relays, a.nodes, a.failures, a.duration, a.dials, a.seed)))


if __name__ == "__main__":
    main()
