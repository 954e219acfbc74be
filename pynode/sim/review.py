"""Peer review at network scale: research results, planted fabrications and colluding validators on the kernel.

Every node has a real GossipSub router (sim/mesh.py) and an index of the records it received: each record is
published as a signed gossip message, and a receiver decodes it and verifies its author's signature before
keeping it (the state tier carries records the same way, inside Loro updates; `bench state` measures that
part, with the CRDT, which would dominate this run's cost without changing what review decides). Above that,
every node runs the real review core (`pynode.review.reviewer.Reviewer`) on its own records, and results come
from the real research core.

- Honest researchers run `research.agent.Agent` (the bandit strategy) on the board they hold; each experiment
  is really evaluated (causes: NHEFS and NSW; finance: S&P 500 Sharpe; search: Cranfield NDCG@10; ml: the
  digits MLP trained in onnxruntime) and published with its paper.
- Colluders (a share of the validators) publish planted claims: fabricated metrics (a mutation of the best
  config with samples made up to beat it, self-consistent and with a complete paper), copies of a genuine result
  under their own name, and results without their config. They vote 10/reproduced on each other's claims in
  the first epoch they are drawn for, spam reviews with undrawn tickets, and review honest work honestly.
- Re-execution is real: each result is re-run once (`review.reexecute`; every honest reviewer on this platform
  would measure the same numbers) and each reviewer is charged, ÷ its CPU share, one re-execution at a time
  per node in virtual time, the measured CPU time (process time, so other load on the machine does not
  inflate it) of what a reviewer really runs: the result's config, and when it reproduced, its parent's config
  and the task's baseline unless this node ran them before (a reviewer caches those, `review.reexecute`).
  Those durations are measured, so two runs agree on decisions but not to the millisecond.

At the end three nodes' records go through the breakthrough view (`review.breakthroughs.analyse`); the
ground truth for "genuine significant improvement" is issue 9's improvement: an honest result better than the
best earlier honest result of its task with p < 0.05 and a 95% CI clear of its mean, on true samples.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import Any

from pynode.gossip.events import Validate, ValidationResult
from pynode.gossip.params import GossipParams
from pynode.identity import Identity, peer_id_text
from pynode.research import paper, stats
from pynode.research.agent import Agent, Finding, priors, result_body
from pynode.research.config import canonical, config_hash, parse
from pynode.research.domain import ConfigError, Domain, Evaluation
from pynode.research.registry import find_task
from pynode.research.strategy import Bandit, Proposal, ranked
from pynode.review import sortition
from pynode.review.breakthroughs import Analysis, analyse
from pynode.review.params import SETTLE_MS, SIGNIFICANCE
from pynode.review.reexecute import REPRODUCED, Reexecution, reexecute
from pynode.review.reviewer import Assignment, Reviewer
from pynode.review.rubric import RUBRIC_ID, compare
from pynode.sim.link import LinkModel
from pynode.sim.mesh import Mesh
from pynode.state.records import DOCS, DOMAINS, Record, decode_record, doc_for, make_record, verify_record
from pynode.state.sync import run_sync
from pynode.stats import percentile
from pynode.wire.envelope import sign_envelope
from pynode.wire.errors import WireError

CLOCK_ZERO_MS = 1_700_000_000_000  # virtual time 0 on the records' wall clock
TOPIC = "hs/1/sim/records"  # every record travels as one signed gossip message
DEGREE = 8  # connections each joining node opens

TICK_S = 2.0  # a validator looks at its replica this often
FULL_MARKS = {"reproduction": "1", "effect": "2", "strength": "3", "novelty": "2", "completeness": "2"}
SPAM_SHARE = 0.25  # of undrawn colluders, those who vote anyway (their tickets are not below the threshold)
PLANTED_KINDS = (("fabricated", 0.7), ("copy", 0.15), ("missing", 0.15))


@dataclass(frozen=True)
class ReviewScenario:
    nodes: int = 100
    colluder_share: float = 0.2
    # one task per domain that re-runs in seconds (skills' synthesis takes longer)
    tasks: tuple[str, ...] = (
        "nhefs-smoking-ate",
        "sp500-sharpe",
        "cranfield-ndcg10",
        "digits-mlp",
        "nsw-cps-att",
    )
    genuine: int = 150  # honest experiments
    planted: int = 60  # colluders' claims
    research_s: float = 600.0  # virtual seconds over which results are published
    cpu_share: float = 0.5  # of one core, for re-execution
    seed: int = 1
    loss: float = 0.0
    median_latency_ms: float = 40.0


class RecordIndex:
    """A node's validated records by document: what the review core and the view read (a Store without its
    CRDT: the records arrive here already decoded and their signatures verified)."""

    def __init__(self) -> None:
        self.records: dict[str, dict[str, Record]] = {name: {} for name in DOCS}

    def add(self, r: Record) -> bool:
        doc = self.records[doc_for(r.kind, r.body)]
        if r.key in doc:
            return False
        doc[r.key] = r
        return True

    def all_records(self, name: str) -> list[Record]:
        return list(self.records[name].values())


@dataclass(eq=False)
class Member:
    index: int
    identity: Identity
    colluder: bool
    reviewer: Reviewer
    agents: dict[str, Agent]
    records: RecordIndex = field(default_factory=RecordIndex)
    seqno: int = 0
    busy_until: float = 0.0
    ran: set[tuple[str, str | None]] = field(default_factory=set)  # parent/baseline configs this node re-ran
    voted: set[str] = field(default_factory=set)  # colluder votes cast (result keys)
    drawn: set[tuple[str, int]] = field(default_factory=set)  # colluder draws evaluated (result, epoch)
    open: dict[str, Record] = field(default_factory=dict)  # accomplices' claims a colluder may still vote on


class ReviewSimulation:
    def __init__(self, scenario: ReviewScenario) -> None:
        self.sc = scenario
        link = LinkModel(scenario.median_latency_ms / 1000, loss=scenario.loss)
        self.mesh = Mesh(scenario.seed, link, DEGREE, GossipParams(), self._validate)
        self.kernel = self.mesh.kernel
        self.rng = random.Random(scenario.seed)
        self.members: list[Member] = []
        self.colluders: set[bytes] = set()
        self.planted: dict[str, str] = {}  # result key -> kind
        self.genuine: set[str] = set()
        self.published_at: dict[str, float] = {}  # review key -> virtual time written
        # result published → re-execution done and review written, every re-execution (a late one included:
        # it publishes nothing, so counting only published reviews would hide it)
        self.reexecuted_after: list[float] = []
        self._evals: dict[tuple[str, str | None], list[Evaluation]] = {}
        # CPU seconds one run of a config took, the first time it ran
        self._cost: dict[tuple[str, str | None], float] = {}
        self._rex: dict[str, Reexecution] = {}
        self.cpu_s = 0.0  # real seconds spent evaluating and re-executing

    # ---- clocks and membership ------------------------------------------------------------------------

    def now_ms(self, t: float | None = None) -> int:
        return CLOCK_ZERO_MS + int((self.kernel.now if t is None else t) * 1000)

    def join(self, colluder: bool) -> None:
        kernel = self.kernel
        identity = run_sync(Identity.from_seed(kernel.rng.randbytes(32)))
        assert identity.vrf is not None
        index = self.mesh.add(identity.peer_id)
        agents = {}
        for task in self.sc.tasks:
            domain, _ = find_task(task)
            agents[task] = Agent(domain, task, Bandit(random.Random(self.rng.random())))
        member = Member(index, identity, colluder, Reviewer(identity.peer_id, identity.vrf), agents)
        self.members.append(member)
        if colluder:
            self.colluders.add(identity.peer_id)
        self.mesh.apply(index, self.mesh.routers[index].subscribe(TOPIC, kernel.now))
        kernel.join(index)
        kernel.at(
            kernel.now + self.rng.random() * self.mesh.params.heartbeat_interval, self._heartbeat, index
        )
        kernel.at(kernel.now + self.rng.random() * TICK_S, self._tick, member)
        self._write(member, "profile", {"name": "validator", "caps": ["research", "validation"]})

    def _heartbeat(self, index: int) -> None:
        if self.kernel.alive[index]:
            self.mesh.tick(index)
            self.kernel.at(self.mesh.routers[index].next_deadline(), self._heartbeat, index)

    def _write(self, m: Member, kind: str, body: dict[str, Any]) -> Record:
        """Sign a record, keep it, and gossip it as one signed message."""
        record = run_sync(make_record(m.identity.signer, kind, body, self.now_ms()))
        self._keep(m, record)
        m.seqno += 1
        env = run_sync(sign_envelope(m.identity.signer, TOPIC, m.seqno, self.now_ms(), record.encoded))
        self.mesh.apply(m.index, self.mesh.routers[m.index].publish(env, self.kernel.now))
        return record

    def _validate(self, index: int, out: Validate, src: int | None) -> ValidationResult:
        """A receiver's checks: the record decodes and its author's signature verifies."""
        try:
            record = decode_record(out.envelope.data)
        except WireError:
            return ValidationResult.REJECT
        if not run_sync(verify_record(record)):
            return ValidationResult.REJECT
        self._keep(self.members[index], record)
        return ValidationResult.ACCEPT

    def _keep(self, m: Member, r: Record) -> None:
        fresh = m.records.add(r)
        if (
            fresh
            and m.colluder
            and r.kind == "result"
            and r.author in self.colluders
            and r.author != m.identity.peer_id
        ):
            m.open[r.key] = r

    # ---- real work, measured once -------------------------------------------------------------------

    def _evaluate(self, domain: Domain, task: str, proposal: Proposal) -> list[Evaluation]:
        key = (task, canonical(proposal.config))
        if key not in self._evals:
            started = time.process_time()
            evals = [domain.evaluate(task, proposal.config, s) for s in range(domain.tasks[task].seeds)]
            self._evals[key] = evals
            self._cost[key] = time.process_time() - started
            self.cpu_s += self._cost[key]
        return self._evals[key]

    def _reexecute(self, m: Member, job: Assignment) -> tuple[Reexecution, float]:
        """The real re-execution, once per result, and the CPU time reviewer `m` is charged for it: running the
        result's config, and when it reproduced, the parent's config and the baseline unless `m` ran them for
        an earlier review (each cost measured where that config first ran, whatever caches did since)."""
        result = job.result
        if result.key not in self._rex:
            started = time.process_time()
            self._rex[result.key] = reexecute(result, None, parent=job.parent)
            spent = time.process_time() - started
            self.cpu_s += spent
            self._cost.setdefault(_config_key(result), spent)
        rex = self._rex[result.key]
        cost = self._cost[_config_key(result)]
        if rex.verdict == REPRODUCED:
            extra = {_baseline_key(result)} | ({_config_key(job.parent)} if rex.reference_key else set())
            for key in extra - m.ran:
                cost += self._config_cost(key, len(rex.measured))
            m.ran |= extra
        return rex, cost

    def _config_cost(self, key: tuple[str, str | None], seeds: int) -> float:
        """CPU seconds of one run of a config on `seeds` seeds: measured by running it when nobody has yet."""
        if key not in self._cost:
            task, config = key
            domain = find_task(task)[0]
            started = time.process_time()
            c = domain.validate(task, parse(config or ""))
            for seed in range(seeds):
                domain.evaluate(task, c, seed)
            self._cost[key] = time.process_time() - started
            self.cpu_s += self._cost[key]
        return self._cost[key]

    # ---- research: genuine and planted -------------------------------------------------------------------

    def research(self, i: int) -> None:
        honest = [m for m in self.members if not m.colluder and self.kernel.alive[m.index]]
        m = self.rng.choice(honest)
        agent = m.agents[self.sc.tasks[i % len(self.sc.tasks)]]
        board = self._board(m, agent)
        proposal = agent.plan(board, set())
        if proposal is None:
            return
        evaluations = self._evaluate(agent.domain, agent.task.id, proposal)
        result = self._publish(m, agent.conclude(proposal, evaluations, board))
        self.genuine.add(result.key)

    def _board(self, m: Member, agent: Agent) -> list:
        return priors(agent.domain, agent.task, m.records.all_records(f"results.{agent.task.domain}"))[0]

    def _publish(self, m: Member, finding: Finding, drop: tuple[str, ...] = ()) -> Record:
        body = {k: v for k, v in result_body(finding).items() if k not in drop}
        result = self._write(m, "result", body)
        title, markdown, figures = paper.write(finding, result.key, peer_id_text(m.identity.peer_id))
        t = finding.task
        self._write(
            m,
            "paper",
            {
                "title": title,
                "domain": t.domain,
                "task": t.id,
                "results": [result.key],
                "markdown": markdown,
                "figures": figures,
            },
        )
        return result

    def plant(self, i: int) -> None:
        m = self.rng.choice([x for x in self.members if x.colluder])
        kind = self.rng.choices([k for k, _ in PLANTED_KINDS], [w for _, w in PLANTED_KINDS])[0]
        if kind == "copy":
            result = self._copy(m)
        else:
            result = self._fabricate(
                m, self.sc.tasks[i % len(self.sc.tasks)], drop=("config",) if kind == "missing" else ()
            )
        if result is not None:
            self.planted[result.key] = kind

    def _copy(self, m: Member) -> Record | None:
        store = m.records
        genuine = [r for d in DOMAINS for r in store.all_records(f"results.{d}") if r.key in self.genuine]
        if not genuine:
            return None
        return self._write(m, "result", dict(max(genuine, key=lambda r: (r.ts, r.key)).body))

    def _fabricate(self, m: Member, task: str, drop: tuple[str, ...]) -> Record | None:
        agent = m.agents[task]
        board = self._board(m, agent)
        if len(board) < 2:
            return None
        best = ranked(board, agent.task.direction)[0]
        proposal = self._mutant(agent, best, {config_hash(p.config) for p in board})
        if proposal is None:
            return None
        sd = stats.sd(best.samples) if len(best.samples) > 1 else 0.0
        delta = 3 * sd if sd > 0 else abs(best.mean) * 0.01  # a claim three spreads better than the best
        if agent.task.direction == "min":
            claimed = [max(v - delta, v / 2) for v in best.samples]
        else:
            claimed = [v + delta for v in best.samples]
        finding = agent.conclude(proposal, [Evaluation(v) for v in claimed], board)
        return self._publish(m, finding, drop)

    def _mutant(self, agent: Agent, best: Any, seen: set[str]) -> Proposal | None:
        ops = agent.domain.mutations(agent.task.id)
        for _ in range(20):
            op = self.rng.choice(ops)
            try:
                child = agent.domain.validate(agent.task.id, op.apply(dict(best.config), self.rng))
            except ConfigError:
                continue
            if config_hash(child) not in seen:
                return Proposal(
                    child, op.name, best, op.describe(best.config, child) or f"{op.name} improves it"
                )
        return None

    # ---- reviewing ----------------------------------------------------------------------------------

    def _tick(self, m: Member) -> None:
        if not self.kernel.alive[m.index]:
            return
        store = m.records
        for job in m.reviewer.tick(self.now_ms(), store):
            if m.colluder and job.result.author in self.colluders:
                m.reviewer.abandon(job)  # no re-execution: the vote below is cast instead
            else:
                self._start(m, job)
        if m.colluder:
            self._collude(m)
        self.kernel.at(self.kernel.now + TICK_S, self._tick, m)

    def _start(self, m: Member, job: Assignment) -> None:
        rex, cost = self._reexecute(m, job)
        start = max(self.kernel.now, m.busy_until)
        m.busy_until = start + cost / self.sc.cpu_share
        self.kernel.at(m.busy_until, self._finish, m, job, rex)

    def _finish(self, m: Member, job: Assignment, rex: Reexecution) -> None:
        if not self.kernel.alive[m.index]:
            return
        self.reexecuted_after.append(self.kernel.now - (job.result.ts - CLOCK_ZERO_MS) / 1000)
        body = m.reviewer.conclude(job, rex, self.now_ms(), m.records)
        if body is not None:
            self.published_at[self._write(m, "review", body).key] = self.kernel.now

    def _collude(self, m: Member) -> None:
        """Vote 10 on every accomplice's claim in the first epoch we are drawn for; some vote undrawn anyway."""
        now = self.now_ms()
        for key, r in list(m.open.items()):
            if key in m.voted or now >= sortition.deadline_ms(r):
                del m.open[key]
            elif now >= r.ts + SETTLE_MS:
                e0 = sortition.first_epoch(r)
                members = sortition.validators(m.records.all_records("identities"), sortition.epoch_start(e0))
                self._vote(m, r, sortition.committee_n(members), sortition.epoch_of(now))

    def _vote(self, m: Member, r: Record, n: int, epoch: int) -> None:
        if (r.key, epoch) in m.drawn:
            return
        key = m.identity.vrf
        assert key is not None
        m.drawn.add((r.key, epoch))
        ticket = sortition.draw(key, r.key, epoch, n)
        spam = epoch == sortition.first_epoch(r) and self.rng.random() < SPAM_SHARE
        if ticket is None and not spam:
            return
        proof = ticket.proof if ticket is not None else key.prove(sortition.alpha(r.key, epoch))
        body = {
            "target": r.key,
            "score": 10,
            "rubric": RUBRIC_ID,
            "vrf": proof,
            "epoch": epoch,
            "verdict": REPRODUCED,
            "measured": r.body["value"],
            "tolerance": "0.000000001",
            "subscores": dict(FULL_MARKS),
        }
        m.voted.add(r.key)
        self.published_at[self._write(m, "review", body).key] = self.kernel.now

    # ---- measuring ----------------------------------------------------------------------------------

    def analysis(self, member: Member) -> Analysis:
        store = member.records
        results = [r for d in DOMAINS for r in store.all_records(f"results.{d}")]
        return analyse(results, store.all_records("reviews"), store.all_records("identities"), self.now_ms())

    def significant(self, results: list[Record], strict: bool = True) -> set[str]:
        """Genuine results that improve on the best earlier genuine result of their task: p < 0.05 and (strict,
        issue 9's definition of an improvement) a 95% CI that excludes the best's mean."""
        out: set[str] = set()
        best: dict[str, Record] = {}
        for r in sorted((r for r in results if r.key in self.genuine), key=lambda r: (r.ts, r.key)):
            task, mine = r.body["task"], [float(v) for v in r.body["samples"]]
            top = best.get(task)
            if top is not None and _improves(r, mine, [float(v) for v in top.body["samples"]], strict):
                out.add(r.key)
            if top is None or _better(r, top):
                best[task] = r
        return out


def _improves(r: Record, mine: list[float], theirs: list[float], strict: bool) -> bool:
    sign = -1.0 if r.body["direction"] == "min" else 1.0
    if sign * (stats.mean(mine) - stats.mean(theirs)) <= 0 or compare(mine, theirs) >= SIGNIFICANCE:
        return False
    ci = stats.summarize(mine)
    return not strict or not ci.ci_low <= stats.mean(theirs) <= ci.ci_high


def _better(a: Record, b: Record) -> bool:
    ma, mb = float(a.body["value"]), float(b.body["value"])
    return ma < mb if a.body["direction"] == "min" else ma > mb


def run_review_simulation(scenario: ReviewScenario, warmup_s: float = 10.0) -> dict[str, Any]:
    """Nodes join and announce themselves; from the next sortition epoch on, genuine and planted results are
    published at random moments over `research_s`; the run ends once every window has closed and the last
    reviews have spread. Returns the measurements (see `measure`)."""
    started = time.perf_counter()
    sim = ReviewSimulation(scenario)
    kernel = sim.kernel
    colluders = round(scenario.colluder_share * scenario.nodes)
    for i in range(scenario.nodes):
        kernel.at(warmup_s * i / scenario.nodes, sim.join, i < colluders)
    # validators count for results whose window opens after their profile: start at the next epoch
    first = sortition.epoch_of(sim.now_ms(warmup_s)) + 1
    begin = (sortition.epoch_start(first) - CLOCK_ZERO_MS) / 1000 + 1.0
    for i in range(scenario.genuine):
        kernel.at(begin + scenario.research_s * i / scenario.genuine, sim.research, i)
    for i in range(scenario.planted):
        kernel.at(begin + kernel.rng.random() * scenario.research_s, sim.plant, i)
    kernel.run_until(begin + scenario.research_s + 150.0)  # past the last deadline (≤ 120 s), and spread
    return {**measure(sim), "wall_s": round(time.perf_counter() - started, 1)}


def measure(sim: ReviewSimulation) -> dict[str, Any]:
    views = [sim.analysis(m) for m in sim.members[:3]]
    view = views[0]
    results = [s.result for s in view.standings.values()]
    significant = sim.significant(results)
    p05 = sim.significant(results, strict=False)
    broke = {s.result.key for s in view.breakthroughs(final_only=True)}
    counted = [row for s in view.standings.values() for row in s.counted]
    latency = sim.reexecuted_after
    genuine = [k for k in view.standings if k in sim.genuine]
    planted = [k for k in view.standings if k in sim.planted]
    kinds: dict[str, int] = {}
    for k in planted:
        kinds[sim.planted[k]] = kinds.get(sim.planted[k], 0) + 1
    return {
        "nodes": sim.sc.nodes,
        "colluders": len(sim.colluders),
        "colluder_share": sim.sc.colluder_share,
        "genuine": len(genuine),
        "genuine_significant": len(significant),
        "planted": len(planted),
        "planted_kinds": kinds,
        "true_breakthroughs": len(broke & significant),
        "false_breakthroughs": len(broke & set(planted)),
        "other_breakthroughs": len(broke - significant - set(planted)),
        "recall": round(len(broke & significant) / len(significant), 3) if significant else None,
        "genuine_p05": len(p05),  # improvements by p < 0.05 alone (the view's own test), CI not required
        "true_breakthroughs_p05": len(broke & p05),
        "reviews_per_result": round(len(counted) / len(view.standings), 2) if view.standings else 0.0,
        "reviews_published": len(sim.published_at),
        "review_latency_s": {
            "p50": round(percentile(latency, 50, 0.0), 1),
            "p99": round(percentile(latency, 99, 0.0), 1),
        },
        "latencies": latency,  # every re-execution's, for pooling runs
        "declined": sum(m.reviewer.counters.declined for m in sim.members if not m.colluder),
        "late": sum(m.reviewer.counters.late for m in sim.members),
        "same_view": len({tuple(s.result.key for s in v.breakthroughs()) for v in views}) == 1,
        "cpu_s": round(sim.cpu_s, 1),
    }


def _baseline_key(result: Record) -> tuple[str, str | None]:
    task = result.body["task"]
    domain = find_task(task)[0]
    return task, canonical(domain.validate(task, domain.baseline(task)))


def _config_key(result: Record) -> tuple[str, str | None]:
    """(task, canonical config) of a result; the config as published when it does not parse."""
    b = result.body
    try:
        return b["task"], canonical(find_task(b["task"])[0].validate(b["task"], parse(b["config"])))
    except (KeyError, ConfigError):
        return b["task"], b.get("config")
