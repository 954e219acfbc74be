"""`hyperspace bench chaos`: a relay and honest nodes as real processes under scripted faults — is anything lost?

The scenario (all on loopback, every part its own OS process):
- a relay (`hyperspace relay`) archiving to a local bare Git repository every `archive_interval_s`;
- `nodes` honest CPython nodes (bench/chaos_node.py: Node + StateReplica) — half of them also keep direct
  WebRTC links, half talk only over relay circuits — each publishing a gossip message every second and a
  result record every `record_every_s`; each reaches the relay through its own lossy, slow link
  (bench/chaos_proxy.py: 5–40 ms latency, 1% of chunks held 200–400 ms as a retransmission would, 2 MiB/s);
- one Byzantine process (bench/chaos_byzantine.py) running a rotation of the attacks of issue 15;
- faults on a schedule: an honest node SIGKILLed every `kill_every_s` and restarted a few seconds later
  (same identity and data directory), the relay SIGKILLed while its archiver runs git (and restarted on
  the same port and data), and a node's link cut now and then.
After `duration_s` the faults and the attacks stop, the nodes stop writing, and the network gets up to
`drain_s` to settle; then every replica and the archive are read.

What is counted (nothing is left out because a fault caused it):
- gossip_delivery: over every gossip message an honest node published during the chaos (its publish call
  returned) while it stayed up `PUBLISHER_UP_S` after (a SIGKILL right after a publish may take the frame
  with it: not a published message), the share of (message, honest subscriber) pairs delivered, counting
  every other honest node whose process had been running `SETTLE_S` before the publish and kept running
  `GRACE_S` after it. Messages published while the relay is down or a link is cut are counted like any
  other. Duplicates (a message delivered again to the same node process: a replay getting through) are
  reported apart.
- records: every record an honest node wrote (committed, saved to its disk, gossiped) during the chaos:
  how many are on every honest replica at the end, how many are in the archive's pushed history, and
  `lost` — how many are on no replica and not in the archive.
- honest_disconnects: every relay session of an honest node that ended for a reason other than the
  relay process being killed (a session lost while it was down, or within RELAY_KILL_S of the kill or of its
  return: a dead relay kicks nobody, and a socket's death is noticed late through the proxy) or the benchmark cutting that
  node's link (within CUT_S of the cut): the relay refusing it, kicking it for rate, or dropping it as a
  slow consumer all count, and so does any loss nobody explains.
- honest_faulty: honest authors (the nodes, and the relay's own node, which writes certificates and points)
  that any honest replica holds faulty for equivocation — each would have all its records dropped everywhere.
- max_rss_mib: the largest resident set of any relay or honest node process, sampled every second, with
  each role's first and last samples of its longest-lived process beside it.

JSON on stdout (with --json), the table on stderr.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench.chaos_proxy import LinkProxy, Shape
from pynode.identity import parse_peer_id
from pynode.state.authorship import loro_peer

SETTLE_S = 15.0  # a (re)started node counts as a subscriber after this: start-up, relay, peers, mesh
GRACE_S = 10.0  # a message has this long to reach a subscriber
PUBLISHER_UP_S = 2.0  # a publisher must outlive its publish by this for the message to count as sent
RELAY_KILL_S = 5.0  # a session lost this soon after a relay SIGKILL was lost to the kill
CUT_S = 2.0  # likewise after the benchmark cut the node's link
ARCHIVE_WAIT_S = 20.0  # how long to wait for the archiver to run git before killing the relay anyway
SAMPLE_S = 1.0
LINK_UP_S = (
    180.0  # for the honest nodes to start and link up before the faults begin (a loaded machine is slow)
)
QUIET = "quiet"  # a file the benchmark creates when the nodes are to stop publishing and writing
RECOVERY_S = 15.0  # delivery is also shown apart for messages published this soon after the relay came back
PHASES = {
    "relay_down": "while the relay was down",
    "relay_recovery": f"in the {RECOVERY_S:g} s after it came back",
    "steady": "otherwise",
}


@dataclass
class Proc:
    role: str
    index: int
    cmd: list[str]
    log: Path
    env: dict[str, str] | None = None
    popen: subprocess.Popen[bytes] | None = None
    lives: list[list[float]] = field(default_factory=list)  # [started, ended] per process lifetime
    rss: list[tuple[float, int, float]] = field(default_factory=list)  # (t, life, MiB)

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.popen = subprocess.Popen(self.cmd, stdout=out, stderr=out, env=self.env)
        self.lives.append([time.time(), float("inf")])

    @property
    def up(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.up:
            assert self.popen is not None
            self.popen.send_signal(sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(20)
            if self.popen.poll() is None:
                self.popen.kill()
                self.popen.wait(10)
        if self.lives and self.lives[-1][1] == float("inf"):
            self.lives[-1][1] = time.time()

    def sample(self) -> None:
        if self.up:
            assert self.popen is not None
            with contextlib.suppress(OSError):
                for line in Path(f"/proc/{self.popen.pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        self.rss.append((time.time(), len(self.lives) - 1, int(line.split()[1]) / 1024))

    def up_during(self, start: float, end: float) -> bool:
        return any(a <= start and end <= b for a, b in self.lives)


@dataclass
class Plan:
    duration_s: float
    nodes: int
    kill_every_s: float
    relay_kills: int
    cut_every_s: float
    attack_every_s: float
    record_every_s: float
    archive_interval_s: float
    drain_s: float


def plan_for(quick: bool, duration_s: float | None, nodes: int) -> Plan:
    if quick:
        return Plan(duration_s or 25.0, nodes, 10.0, 1, 12.0, 0.5, 2.0, 2.0, 40.0)
    return Plan(duration_s or 300.0, nodes, 25.0, 2, 40.0, 3.0, 5.0, 10.0, 120.0)


def run_bench(
    quick: bool = False,
    duration_s: float | None = None,
    nodes: int = 8,
    seed: int = 1,
    keep: Path | None = None,
) -> dict[str, Any]:
    plan = plan_for(quick, duration_s, nodes)
    with tempfile.TemporaryDirectory(prefix="chaos-") as tmp:
        root = keep or Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        result = asyncio.run(Chaos(plan, root, random.Random(seed)).run())
    _table(result)
    return result


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _python(*args: str) -> list[str]:
    return [sys.executable, "-m", *args]


class Chaos:
    def __init__(self, plan: Plan, root: Path, rng: random.Random) -> None:
        self.plan, self.root, self.rng = plan, root, rng
        self.port = _free_port()
        self.bare = root / "archive.git"
        self.proxy = LinkProxy(self.port, Shape(), random.Random(rng.random()))
        self.relay = Proc(
            "relay",
            0,
            _python("pynode.cli", "relay", "--port", str(self.port), "--data-dir", str(root / "relay"))
            + ["--archive-remote", str(self.bare), "--archive-interval", str(plan.archive_interval_s)],
            root / "relay.log",
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self.nodes: list[Proc] = []
        self.byzantine: Proc | None = None
        self.faults: Counter[str] = Counter()
        self.relay_kills: list[float] = []
        self.relay_rejections: dict[int, dict[str, int]] = {}  # per relay process: its last counts seen
        self.relay_loro_peer = -1  # the relay's node writes records too (certificates, points)
        self.relay_back: list[float] = []  # when each restarted relay answered /healthz
        self.cuts: list[tuple[float, int]] = []
        self.chaos: tuple[float, float] = (0.0, 0.0)

    # ---- the run -------------------------------------------------------------------------------------

    async def run(self) -> dict[str, Any]:
        subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(self.bare)], check=True)
        sampler = asyncio.ensure_future(self._sample())
        try:
            await self._start()
            started = time.time()
            self.chaos = (started, started + self.plan.duration_s)
            await asyncio.gather(self._node_kills(), self._relay_kills(), self._link_cuts())
            await asyncio.sleep(max(0.0, self.chaos[1] - time.time()))
            if self.byzantine is not None:
                self.byzantine.kill(signal.SIGTERM)
            for n in self.nodes:  # restart whatever the last kill left down, then stop writing
                if not n.up:
                    n.start()
            await asyncio.sleep(GRACE_S)
            (self.root / QUIET).touch()  # the nodes stop publishing and writing; what they wrote must settle
            drained = await self._drain()
            return self._result(drained)
        finally:
            sampler.cancel()
            for p in [*self.nodes, self.relay] + ([self.byzantine] if self.byzantine else []):
                p.kill(signal.SIGTERM)
            await self.proxy.close()

    async def _start(self) -> None:
        self.relay.start()
        await self._relay_up()
        for i in range(self.plan.nodes):
            port = await self.proxy.listen(i)
            data = self.root / f"node{i}"
            cmd = _python(
                "bench.chaos_node", "--relay", f"ws://127.0.0.1:{port}/p2p", "--data-dir", str(data)
            )
            cmd += ["--index", str(i), "--direct-peers", "3" if i < self.plan.nodes // 2 else "0"]
            cmd += ["--record-every", str(self.plan.record_every_s), "--quiet-file", str(self.root / QUIET)]
            proc = Proc("node", i, cmd, self.root / f"node{i}.log")
            proc.start()
            self.nodes.append(proc)
        byz = _python("bench.chaos_byzantine", "--relay", f"ws://127.0.0.1:{self.port}/p2p")
        byz += ["--log", str(self.root / "attacks.jsonl"), "--every", str(self.plan.attack_every_s)]
        self.byzantine = Proc("byzantine", 0, byz, self.root / "byzantine.log")
        self.byzantine.start()  # it starts up meanwhile, then attacks whoever is there
        deadline = time.time() + LINK_UP_S
        while not all(self._status(n).get("peers", 0) >= self.plan.nodes - 1 for n in self.nodes):
            if time.time() > deadline:
                raise RuntimeError(f"the honest nodes did not link up within {LINK_UP_S:g} s")
            await asyncio.sleep(0.5)

    async def _relay_up(self) -> None:
        deadline = time.time() + 60
        async with httpx.AsyncClient(timeout=2) as http:
            while True:
                with contextlib.suppress(httpx.TransportError):
                    if (await http.get(f"http://127.0.0.1:{self.port}/healthz")).status_code == 200:
                        status = (await http.get(f"http://127.0.0.1:{self.port}/api/status")).json()
                        self.relay_loro_peer = loro_peer(parse_peer_id(status["relay"]))
                        return
                if not self.relay.up or time.time() > deadline:
                    raise RuntimeError(f"the relay did not start (see {self.relay.log})")
                await asyncio.sleep(0.1)

    def _status(self, n: Proc) -> dict[str, Any]:
        try:
            return json.loads((self.root / f"node{n.index}" / "status.json").read_text())
        except (OSError, ValueError):
            return {}

    async def _sample(self) -> None:
        """RSS every SAMPLE_S; the relay's refusals (/api/status) too, kept per relay process."""
        async with httpx.AsyncClient(timeout=2) as http:
            while True:
                for p in [self.relay, *self.nodes]:
                    p.sample()
                with contextlib.suppress(httpx.HTTPError, ValueError, KeyError):
                    status = (await http.get(f"http://127.0.0.1:{self.port}/api/status")).json()
                    self.relay_rejections[len(self.relay.lives)] = status["counts"]["rejections"]
                await asyncio.sleep(SAMPLE_S)

    # ---- faults --------------------------------------------------------------------------------------

    async def _node_kills(self) -> None:
        at = self.chaos[0] + self.plan.kill_every_s / 2
        while at < self.chaos[1] - GRACE_S:
            await asyncio.sleep(max(0.0, at - time.time()))
            victim = self.rng.choice([n for n in self.nodes if n.up])
            victim.kill()
            self.faults["node_kills"] += 1
            await asyncio.sleep(self.rng.uniform(2.0, 6.0))
            victim.start()
            self.faults["node_restarts"] += 1
            at += self.plan.kill_every_s

    async def _relay_kills(self) -> None:
        for k in range(self.plan.relay_kills):
            at = self.chaos[0] + self.plan.duration_s * (k + 1) / (self.plan.relay_kills + 1)
            await asyncio.sleep(max(0.0, at - time.time()))
            mid_archive = await self._wait_for_git()
            self.relay.kill()
            self.relay_kills.append(time.time())
            self.faults["relay_kills"] += 1
            self.faults["relay_kills_mid_archive"] += int(mid_archive)
            await asyncio.sleep(self.rng.uniform(1.0, 3.0))
            self.relay.start()
            self.faults["relay_restarts"] += 1
            await self._relay_up()
            self.relay_back.append(time.time())

    async def _wait_for_git(self) -> bool:
        """Until the relay has a git child running (the archiver mid-cycle); False if none came in time."""
        deadline = time.time() + ARCHIVE_WAIT_S
        while time.time() < deadline:
            if self.relay.popen is not None and _git_children(self.relay.popen.pid):
                return True
            await asyncio.sleep(0.01)
        return False

    async def _link_cuts(self) -> None:
        at = self.chaos[0] + self.plan.cut_every_s * 0.75
        while at < self.chaos[1] - GRACE_S:
            await asyncio.sleep(max(0.0, at - time.time()))
            index = self.rng.randrange(len(self.nodes))
            if self.proxy.cut(index):
                self.cuts.append((time.time(), index))
                self.faults["link_cuts"] += 1
            at += self.plan.cut_every_s

    # ---- the end -------------------------------------------------------------------------------------

    async def _drain(self) -> float:
        """Wait until every node has stopped writing (a write in flight when the quiet file appeared may
        return late) and every published record is on every replica and in the archive; seconds it took."""
        started = time.time()
        while time.time() - started < self.plan.drain_s and not all(map(self._quiet, self.nodes)):
            await asyncio.sleep(0.25)
        while time.time() - started < self.plan.drain_s:
            published = set(self._published_records())
            replicated = all(published <= set(self._status(n).get("records", ())) for n in self.nodes)
            if replicated and published <= _archived(self.bare):
                break
            await asyncio.sleep(1.0)
        return round(time.time() - started, 1)

    def _events(self, n: Proc) -> list[dict[str, Any]]:
        path = self.root / f"node{n.index}" / "events.jsonl"
        out = []
        for line in path.read_text().splitlines() if path.exists() else ():
            with contextlib.suppress(ValueError):
                out.append(json.loads(line))
        return out

    def _quiet(self, n: Proc) -> bool:
        """Whether the node's current process has logged that it writes no more."""
        kinds = [e["e"] for e in self._events(n) if e["e"] in ("start", "quiet")]
        return bool(kinds) and kinds[-1] == "quiet"

    def _published_records(self) -> list[str]:
        return [e["key"] for n in self.nodes for e in self._events(n) if e["e"] == "rec"]

    def _result(self, drained_s: float) -> dict[str, Any]:
        events = {n.index: self._events(n) for n in self.nodes}
        published = self._published_records()
        replicas = [set(self._status(n).get("records", ())) for n in self.nodes]
        archived = _archived(self.bare)
        everywhere = [k for k in published if all(k in r for r in replicas)]
        lost = [k for k in published if k not in archived and not any(k in r for r in replicas)]
        attacks = _attacks(self.root / "attacks.jsonl")
        return {
            "duration_s": self.plan.duration_s,
            "nodes": self.plan.nodes,
            "faults": {
                "kills": self.faults["node_kills"] + self.faults["relay_kills"],
                "restarts": self.faults["node_restarts"] + self.faults["relay_restarts"],
                "attacks": sum(attacks["carried_out"].values()),
                **dict(self.faults),
                "attacks_by_kind": attacks,
                "proxy_delayed_chunks": self.proxy.delayed_chunks,
            },
            "gossip_delivery": self._delivery(events),
            "records": {
                "published": len(published),
                "on_every_replica": len(everywhere),
                "in_archive": sum(1 for k in published if k in archived),
                "missing": {
                    "replicas": [k for k in published if k not in everywhere][:20],
                    "archive": [k for k in published if k not in archived][:20],
                },
            },
            "lost": len(lost),
            "honest_disconnects": (disconnects := self._disconnects(events))["count"],
            "disconnects": disconnects,
            "honest_faulty": self._honest_faulty(events),
            "max_rss_mib": round(
                max((s[2] for p in [self.relay, *self.nodes] for s in p.rss), default=0.0), 1
            ),
            "rss_mib": {"relay": _rss_summary(self.relay), "nodes": [_rss_summary(n) for n in self.nodes]},
            "relay_rejections": dict(sum((Counter(c) for c in self.relay_rejections.values()), Counter())),
            "link_cuts_at": [[round(t - self.chaos[0], 1), i] for t, i in self.cuts],
            "honest_nodes_running_at_end": sum(1 for n in self.nodes if n.up),
            "relay_outages_s": [
                [round(k - self.chaos[0], 1), round(b - self.chaos[0], 1)]
                for k, b in zip(self.relay_kills, self.relay_back, strict=False)
            ],
            "drain_s": drained_s,
            "settle_s": SETTLE_S,
            "grace_s": GRACE_S,
        }

    def _delivery(self, events: dict[int, list[dict[str, Any]]]) -> dict[str, Any]:
        got: dict[int, Counter[tuple[int, int, int]]] = {}
        once: dict[int, Counter[tuple[int, int, int]]] = {}  # deliveries beyond the first in one process
        first: dict[tuple[int, tuple[int, int, int]], float] = {}
        for s, evs in events.items():
            got[s], once[s], life = Counter(), Counter(), Counter[tuple[int, int, int]]()
            for e in evs:
                if e["e"] == "start":
                    life = Counter()  # a restarted node has a fresh seen cache: a replay may deliver again
                if e["e"] == "got":
                    key = (e["src"], e["boot"], e["n"])
                    got[s][key] += 1
                    life[key] += 1
                    once[s][key] = max(once[s][key], life[key] - 1)
                    first.setdefault((s, key), e["t"])
        outages = list(zip(self.relay_kills, self.relay_back, strict=False))
        pairs = Counter[str]()
        latencies: list[float] = []
        missed: list[dict[str, Any]] = []
        for p, evs in events.items():
            boot = 0
            for e in evs:
                if e["e"] == "start":
                    boot = e["boot"]
                if e["e"] != "pub" or not self.chaos[0] <= e["t"] <= self.chaos[1]:
                    continue
                t, key = e["t"], (p, boot, e["n"])
                if not self.nodes[p].up_during(t, t + PUBLISHER_UP_S):
                    pairs["publisher_killed"] += 1
                    continue
                when = _phase(t, outages)
                for s in events:
                    if s == p or not self.nodes[s].up_during(t - SETTLE_S, t + GRACE_S):
                        continue
                    pairs["expected"] += 1
                    pairs[f"expected_{when}"] += 1
                    if got[s][key]:
                        pairs["delivered"] += 1
                        pairs[f"delivered_{when}"] += 1
                        pairs["duplicates"] += once[s][key]
                        latencies.append(first[(s, key)] - t)
                    elif len(missed) < 10:
                        missed.append({"from": p, "to": s, "t": round(t - self.chaos[0], 1), "when": when})
        latencies.sort()
        return {
            "ratio": round(pairs["delivered"] / max(1, pairs["expected"]), 5),
            "delivered": pairs["delivered"],
            "expected": pairs["expected"],
            "by_phase": {
                when: {"delivered": pairs[f"delivered_{when}"], "expected": pairs[f"expected_{when}"]}
                for when in PHASES
            },
            "duplicates": pairs["duplicates"],
            "publisher_killed": pairs["publisher_killed"],
            "latency_s": {
                "p50": round(latencies[len(latencies) // 2], 3) if latencies else None,
                "p99": round(latencies[int(len(latencies) * 0.99)], 3) if latencies else None,
            },
            "missed_examples": missed,
        }

    def _disconnects(self, events: dict[int, list[dict[str, Any]]]) -> dict[str, Any]:
        explained: Counter[str] = Counter()
        counted: list[dict[str, Any]] = []
        back = self.relay_back + self.relay_kills[len(self.relay_back) :]  # a relay not back: its kill time
        outages = list(zip(self.relay_kills, back, strict=True))
        for i, evs in events.items():
            for e in evs:
                if e["e"] != "lost":
                    continue
                t = e["t"]
                if any(k <= t <= b + RELAY_KILL_S for k, b in outages):
                    explained["relay_killed"] += 1
                elif any(c <= t <= c + CUT_S and j == i for c, j in self.cuts):
                    explained["link_cut"] += 1
                else:
                    counted.append({"node": i, "t": round(t - self.chaos[0], 1), "why": e.get("why", "")})
        return {"count": len(counted), "explained": dict(explained), "counted": counted[:20]}

    def _honest_faulty(self, events: dict[int, list[dict[str, Any]]]) -> int:
        """Honest authors, the relay's node included, that any honest replica holds faulty."""
        honest = {e["loro_peer"] for evs in events.values() for e in evs if e["e"] == "start"}
        honest.add(self.relay_loro_peer)
        flagged = {f for n in self.nodes for f in self._status(n).get("faulty", ())}
        return len(honest & flagged)


def _phase(t: float, outages: list[tuple[float, float]]) -> str:
    """Where `t` falls: during a relay outage, in the RECOVERY_S after one, or neither."""
    if any(k <= t <= b for k, b in outages):
        return "relay_down"
    if any(b < t <= b + RECOVERY_S for _, b in outages):
        return "relay_recovery"
    return "steady"


def _archived(bare: Path) -> set[str]:
    """Record keys of the benchmark's results in the archive's pushed main branch."""
    out = subprocess.run(
        ["git", "--git-dir", str(bare), "ls-tree", "-r", "--name-only", "main", "results/ml/chaos/"],
        capture_output=True,
        text=True,
    )
    return {Path(p).stem for p in out.stdout.split()} if out.returncode == 0 else set()


def _git_children(pid: int) -> bool:
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            text = stat.read_text()
            name, rest = text[text.index("(") + 1 : text.rindex(")")], text[text.rindex(")") + 2 :].split()
            if name == "git" and int(rest[1]) == pid:
                return True
    return False


def _attacks(path: Path) -> dict[str, Any]:
    done: Counter[str] = Counter()
    failed: Counter[str] = Counter()
    errors: list[str] = []
    for line in path.read_text().splitlines() if path.exists() else ():
        with contextlib.suppress(ValueError, KeyError):
            a = json.loads(line)
            (done if a["ok"] else failed)[a["attack"]] += 1
            if not a["ok"] and len(errors) < 5:
                errors.append(f"{a['attack']}: {a['error']}")
    return {"carried_out": dict(done), "failed": dict(failed), "errors": errors}


def _rss_summary(p: Proc) -> dict[str, float]:
    if not p.rss:
        return {}
    longest = max(range(len(p.lives)), key=lambda i: min(p.lives[i][1], time.time()) - p.lives[i][0])
    mine = [mib for _, life, mib in p.rss if life == longest]
    if not mine:
        return {}
    return {
        "first": round(mine[0], 1),
        "last": round(mine[-1], 1),
        "max": round(max(p.rss, key=lambda s: s[2])[2], 1),
    }


def _table(r: dict[str, Any]) -> None:
    f, d, rec = r["faults"], r["gossip_delivery"], r["records"]
    relay_rss = r["rss_mib"]["relay"]
    node_last = max((n.get("last", 0.0) for n in r["rss_mib"]["nodes"]), default=0.0)
    lines = [
        f"chaos: {r['nodes']} honest nodes + relay + 1 Byzantine, {r['duration_s']:g} s of faults "
        f"(drained in {r['drain_s']} s)",
        f"  {'faults':<34}{f['kills']} kills ({f.get('node_kills', 0)} nodes, {f.get('relay_kills', 0)} relay, "
        f"{f.get('relay_kills_mid_archive', 0)} mid-archive), {f['restarts']} restarts, "
        f"{f.get('link_cuts', 0)} link cuts, {f['attacks']} attacks",
        f"  {'attacks carried out':<34}{', '.join(f'{k} {v}' for k, v in sorted(f['attacks_by_kind']['carried_out'].items()))}",
        f"  {'gossip delivery':<34}{d['ratio']:.4%}  ({d['delivered']}/{d['expected']} pairs; target ≥ 99.9%)",
        *(f"  {'  ' + PHASES[k]:<34}{v['delivered']}/{v['expected']}" for k, v in d["by_phase"].items()),
        f"  {'  latency p50 / p99':<34}{d['latency_s']['p50']} / {d['latency_s']['p99']} s; "
        f"{d['duplicates']} duplicates",
        f"  {'records published':<34}{rec['published']}",
        f"  {'  on every replica':<34}{rec['on_every_replica']}",
        f"  {'  in the archive':<34}{rec['in_archive']}",
        f"  {'  lost':<34}{r['lost']}  (target 0)",
        f"  {'honest disconnects by the relay':<34}{r['honest_disconnects']}  (target 0; "
        f"explained: {r['disconnects']['explained']})",
        f"  {'honest authors held faulty':<34}{r['honest_faulty']}",
        f"  {'max RSS':<34}{r['max_rss_mib']} MiB  (relay {relay_rss.get('first')} → {relay_rss.get('last')} MiB; "
        f"largest node now {node_last} MiB)",
    ]
    print("\n".join(lines), file=sys.stderr)
