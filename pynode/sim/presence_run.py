"""The presence timeline the benchmark and the tests run (pynode/sim/presence.py has the machinery).

`nodes` nodes join just before a round boundary; `rounds` rounds run. Some nodes cheat from the start
(presence_adversaries: copiers, lazy nodes, nodes revealing uncommitted rows, proof forgers); `sybils` of the nodes share one
relay-attested origin (ten nodes behind one address); in each round listed in `crash_rounds` the node whose
claim ranks first crashes just before its turn to lead, so its first backup must take over. Measured:
rounds certified, certificate latency (round start → the certificate at each live node; rounds without a
crash), the extra delay a crashed leader causes, cheaters caught (a strike that holds in the chain), the
Sybil group's points against one honest node's, and whether the points recomputed from the certificates
with every proof checked equal the awards the leaders published.
"""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from pynode.presence.core import PulseCore
from pynode.presence.ledger import Ledger, verify_published
from pynode.presence.params import Timing
from pynode.sim import presence_adversaries as adv
from pynode.sim.link import LinkModel
from pynode.sim.presence import EPOCH_MS, PresenceSimulation, SimNode, make_identities
from pynode.stats import percentile

CHEATS: dict[str, Callable[..., None]] = {
    "copy_answers": adv.copy_answers,
    "lazy": adv.lazy,
    "reveal_uncommitted": adv.reveal_uncommitted,
    "forge_proof": adv.forge_proof,
}


class PresenceRun:
    """Builds the network, runs the rounds, measures."""

    def __init__(
        self, nodes: int, seed: int, timing: Timing, loss: float = 0.0, median_latency_ms: float = 40.0
    ):
        self.sim = PresenceSimulation(seed, LinkModel(median_latency_ms / 1000, loss=loss), timing)
        self.timing = timing
        self.rng = random.Random(seed)
        self.identities = make_identities(nodes, self.rng)
        self.first = EPOCH_MS // timing.interval_ms + 1  # the first round that starts after the joins
        self.cheaters: dict[bytes, str] = {}
        self.sybils: list[bytes] = []
        self.crashed: dict[int, bytes] = {}  # round -> the leader that crashed in it
        self.tweaks: dict[
            bytes, Callable[[PulseCore], None]
        ] = {}  # peer -> what to do to its core on joining

    def start_v(self, r: int) -> float:
        """Round r's start in virtual seconds (on an honest clock)."""
        return (r * self.timing.interval_ms - EPOCH_MS) / 1000

    def build(self, cheats: Sequence[str] = (), sybils: int = 0, skews: dict[int, int] | None = None) -> None:
        """Profiles (the first `sybils` nodes share an origin), cores (node i+1… cheat as `cheats` says)."""
        sim, ids = self.sim, self.identities
        join_at = self.start_v(self.first) - 3.0
        for i, identity in enumerate(ids):
            origin = b"sybil-origin-16b" if i < sybils else hashlib.sha256(identity.peer_id).digest()[:16]
            self.sim.kernel.at(join_at, sim.profile, identity, origin)
        self.sybils = [ids[i].peer_id for i in range(sybils)]
        for k, name in enumerate(cheats):
            self.cheaters[ids[sybils + k].peer_id] = name
        for i, identity in enumerate(ids):
            sim.kernel.at(join_at + 2.0 * i / len(ids), self._join, identity, (skews or {}).get(i, 0))

    def _join(self, identity: Any, skew_ms: int) -> None:
        sim = self.sim
        assert identity.vrf is not None
        core = PulseCore(
            identity.peer_id, identity.vrf, self.timing, sim.shared.verify_vrf, sim.shared.check_reveal
        )
        name = self.cheaters.get(identity.peer_id)
        if name == "copy_answers":
            adv.copy_answers(core, self.identities[-1].peer_id)  # copies an honest node's task
        elif name is not None:
            CHEATS[name](core)
        if identity.peer_id in self.tweaks:
            self.tweaks[identity.peer_id](core)
        sim.add(identity, core, skew_ms)

    def run(self, rounds: int, crash_rounds: Sequence[int] = ()) -> None:
        for k in crash_rounds:
            r = self.first + k
            self.sim.kernel.at(self.start_v(r) + (self.timing.commit_ms - 200) / 1000, self._crash_leader, r)
        self.sim.kernel.run_until(self.start_v(self.first + rounds))

    def _crash_leader(self, r: int) -> None:
        ranked = []
        for node in self.sim.nodes:
            rs = node.core.rounds.get(r)
            honest = node.identity.peer_id not in self.cheaters
            if honest and self.sim.kernel.alive[node.index] and rs is not None and rs.mine is not None:
                ranked.append((rs.mine.pulse.claim, node))
        if ranked:
            node = min(ranked, key=lambda x: x[0])[1]
            self.crashed[r] = node.identity.peer_id
            self.sim.crash(node)

    # ---- measures -----------------------------------------------------------------------------------

    def live(self) -> list[SimNode]:
        return [n for n in self.sim.nodes if self.sim.kernel.alive[n.index]]

    def latencies(self, view: Ledger, rounds: Iterable[int]) -> list[float]:
        """Round start → the counted certificate's arrival, at every live node, for `rounds`."""
        wanted = set(rounds)
        return [
            n.arrivals[c.key] - self.start_v(c.round)
            for c in view.chain
            if c.round in wanted
            for n in self.live()
            if c.key in n.arrivals
        ]

    def measure(self, rounds: int) -> dict[str, Any]:
        t0 = time.perf_counter()
        view = self.sim.ledger(full=True, fresh=True)  # recomputed from the certificates, every proof checked
        audit_s = time.perf_counter() - t0
        span = range(self.first, self.first + rounds)
        chain = {c.round for c in view.chain}
        lat = self.latencies(view, (r for r in span if r not in self.crashed))
        crash = self.latencies(view, self.crashed)
        p50 = percentile(lat, 50, 0.0)
        caught = [p for p in self.cheaters if p in view.standings and view.standings[p].strikes > 0]
        return {
            "rounds": rounds,
            "certified_rounds": sum(r in chain for r in span),
            "certificate_latency_s": {"p50": round(p50, 3), "p99": round(percentile(lat, 99, 0.0), 3)},
            "leader_failover_s": round(percentile(crash, 50, 0.0) - p50, 3) if crash else None,
            "takeover_s": self.timing.takeover_ms / 1000,
            "participants_min": min((len(c.entries) for c in view.chain if c.round in span), default=0),
            "cheaters": {
                "tried": len(self.cheaters),
                "caught": len(caught),
                "kinds": sorted(set(self.cheaters.values())),
            },
            "sybil": self._sybil(view),
            "recomputed_equal": verify_published(view, self.sim.points).equal,
            "audit_s": round(audit_s, 2),
        }

    def _sybil(self, view: Ledger) -> dict[str, Any] | None:
        if not self.sybils:
            return None
        s = view.standings
        rounds = max((s[p].rounds for p in self.sybils if p in s), default=0)
        honest = [
            st.milli for p, st in s.items()
            if p not in self.sybils and p not in self.cheaters and st.rounds == rounds and st.strikes == 0
        ]  # fmt: skip
        one = sum(honest) / len(honest) if honest else 0
        group = sum(s[p].milli for p in self.sybils if p in s)
        return {"nodes": len(self.sybils), "points_vs_one": round(group / one, 3) if one else None}


def run_presence_simulation(
    nodes: int = 1000,
    rounds: int = 6,
    seed: int = 1,
    loss: float = 0.0,
    interval_ms: int = 90_000,
    crash_rounds: Sequence[int] = (3,),
    cheats: Sequence[str] = tuple(CHEATS),
    sybils: int = 10,
) -> dict[str, Any]:
    started = time.perf_counter()
    run = PresenceRun(nodes, seed, Timing(interval_ms=interval_ms), loss)
    run.build(cheats, sybils)
    run.run(rounds, crash_rounds)
    sim_s = time.perf_counter() - started
    out = {"nodes": nodes, "loss": loss, "interval_s": interval_ms / 1000, **run.measure(rounds)}
    return {
        **out,
        "sim_wall_s": round(sim_s, 1),
        "wall_s": round(time.perf_counter() - started, 1),
        "run": run,
    }
