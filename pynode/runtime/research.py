"""The research agent's runtime: drives `pynode.research.agent.Agent` on a running node's replica.

One experiment at a time, round-robin over the node's tasks: read the board from the replica, plan, run the
seeds off the event loop (a worker thread in CPython; in a tab the same call runs between paced slices), then
publish the signed result (its `artifacts`: the run file the archive will write for it; for ml, with storage, its
`checkpoints`: each seed's trained θ put into the storage service; its `training`: solo, or the DiLoCo run of
each seed when an `MlTeam` trained it with the peers on the task) and its paper. A node
stopped mid-experiment publishes nothing partial: the plan is kept in `<data dir>/research.json` and re-run from
its first seed when the node starts again.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import random
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from pynode.identity import peer_id_text, short_id
from pynode.pace import CpuBudget
from pynode.platform import in_browser
from pynode.research import paper
from pynode.research.agent import Agent, Finding, priors, result_body
from pynode.research.artifacts import ArtifactError, next_run_path, read_run, run_config
from pynode.research.config import canonical, config_hash, parse
from pynode.research.domain import Config, ConfigError, Domain, Evaluation
from pynode.research.limits import MAX_RUN_FILE_BYTES
from pynode.research.ml import collab
from pynode.research.procedure import SOLO, procedure
from pynode.research.registry import domain as load_domain
from pynode.research.strategy import Bandit, Prior, Proposal, RandomSearch, Strategy
from pynode.services.storage.holdings import Refused
from pynode.state.records import Record
from pynode.state.store import Store

log = logging.getLogger(__name__)

IDLE_S = 5.0  # when no task has anything new to try, look at the board again after this long
RECENT = 20  # results kept for the status card
RELATED_TIMEOUT_S = 10.0  # a related-work lookup through a peer that takes longer is skipped
# how long checkpoints stay in storage: reviews end ~2 min after a result; hours leave room for late readers
# without filling holders (a node researching ml non-stop puts up to ~1 MB a minute)
CHECKPOINT_TTL_S = 6 * 3600


@dataclass
class Progress:
    task: str = ""
    hypothesis: str = ""
    operator: str = ""
    seeds_done: int = 0
    seeds: int = 0
    started: float = 0.0


@dataclass(frozen=True)
class Published:
    finding: Finding
    result: Record
    paper: Record


Proposer = Callable[[Domain, str, Sequence[Prior]], Awaitable[Proposal | None]]


@dataclass
class ResearchConfig:
    domains: Sequence[str] = ("search", "causes", "finance", "skills", "ml")
    tasks: Sequence[str] | None = None  # restrict to these task ids (default: every task of the domains)
    strategy: str = "bandit"  # or "random" (the benchmark's baseline)
    cpu_share: float = 0.5  # share of one core the experiments may use
    state_file: Path | None = None  # where an interrupted plan is kept
    seed: int | None = None  # the strategy's randomness (None: fresh)
    on_published: Callable[[Published], None] | None = None
    proposer: Proposer | None = None  # an LLM, asked first; the built-in strategy when it gives nothing
    refused: set[str] = field(default_factory=set)  # keys of peers' results refused (bad config)
    # earlier work near a text (the memory service, pynode/runtime/memory.related_work); cited in the paper
    related: Callable[[str, str], Awaitable[list[paper.Related]]] | None = None
    # a StorageRuntime: ml results put each seed's trained θ into it and name the blobs (`checkpoints`)
    storage: Any = None
    # an MlTeam (pynode/runtime/research_diloco.py): ml experiments train as DiLoCo runs when peers are on the task
    team: Any = None


class Replica(Protocol):
    """What the agent needs of a replica: the records, and publishing (StateReplica or LocalReplica)."""

    store: Store

    async def publish(self, kind: str, body: dict[str, Any]) -> Record: ...


class ResearchAgent:
    """Owns one Agent per task; `run_once` does one whole experiment, `start` loops forever."""

    def __init__(self, replica: Replica, config: ResearchConfig | None = None) -> None:
        self.replica = replica
        self.config = config or ResearchConfig()
        rng = random.Random(self.config.seed)
        self.agents: list[Agent] = []
        for name in self.config.domains:
            d = load_domain(name)
            for task in d.tasks:
                if self.config.tasks is None or task in self.config.tasks:
                    self.agents.append(Agent(d, task, _strategy(self.config.strategy, rng)))
        if not self.agents:
            raise ValueError("no research task matches the given domains and tasks")
        self.progress = Progress()
        self.recent: deque[dict[str, Any]] = deque(maxlen=RECENT)
        self.budget = CpuBudget(self.config.cpu_share)
        self.experiments = 0
        self.seed_s: dict[str, tuple[float, float]] = {}  # per domain: the last and the longest seed (s)
        self._next = 0
        self._task: asyncio.Task[None] | None = None

    # ---- loop -------------------------------------------------------------------------------------

    async def start(self) -> None:
        self._task = asyncio.ensure_future(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _loop(self) -> None:
        while True:
            try:
                done = await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("research experiment failed")
                done = None
            if done is None:
                await asyncio.sleep(IDLE_S)

    async def run_once(self) -> Published | None:
        """Plan, run and publish one experiment (an interrupted one first). None if nothing new to try."""
        planned = self._resume() or await self._plan()
        if planned is None:
            return None
        agent, proposal = planned
        self._save_plan(agent, proposal)
        evaluations = await self._run(agent, proposal)
        board = self.board(agent)
        trained = procedure(collab.training_body(evaluations)) if agent.task.domain == "ml" else SOLO
        finding = agent.conclude(proposal, evaluations, board, trained)
        related = await self._related(agent, proposal)
        # a stop while publishing lets the result's paper follow it: a result is never left without its paper
        published = await asyncio.shield(self._publish(agent, finding, related, evaluations))
        self._save_plan(None, None)
        self.experiments += 1
        self.recent.appendleft(_summary(published))
        if self.config.on_published is not None:
            self.config.on_published(published)
        return published

    def board(self, agent: Agent) -> list[Prior]:
        records = self.replica.store.all_records(f"results.{agent.task.domain}")
        board, refused = priors(agent.domain, agent.task, records)
        for r in refused:
            if r.key not in self.config.refused:
                self.config.refused.add(r.key)
                log.warning("result %s by %s has a config its domain refuses", r.key[:12], short_id(r.author))
        return board

    async def _plan(self) -> tuple[Agent, Proposal] | None:
        for _ in range(len(self.agents)):
            agent = self.agents[self._next % len(self.agents)]
            self._next += 1
            board = self.board(agent)
            proposal = None
            if self.config.proposer is not None and board:
                proposal = await self.config.proposer(agent.domain, agent.task.id, board)
                if proposal is not None and config_hash(proposal.config) in {
                    config_hash(p.config) for p in board
                }:
                    proposal = None
            proposal = proposal or agent.plan(board, set())
            if proposal is not None:
                return agent, proposal
        return None

    async def _run(self, agent: Agent, proposal: Proposal) -> list[Evaluation]:
        n = agent.task.seeds
        self.progress = Progress(agent.task.id, proposal.prediction, proposal.operator, 0, n, time.time())
        if self.config.team is not None and agent.task.domain == "ml":
            done = functools.partial(setattr, self.progress, "seeds_done")
            together = await self.config.team.evaluate(agent.task.id, proposal.config, n, done)
            if together is not None:
                return together
            self.progress.seeds_done = 0
        out = []
        for seed in range(n):
            t0 = time.perf_counter()
            if in_browser():  # no threads in a tab: one seed per slice, paced
                value = agent.domain.evaluate(agent.task.id, proposal.config, seed)
            else:
                value = await asyncio.to_thread(_evaluate, agent.domain, agent.task.id, proposal.config, seed)
            took = time.perf_counter() - t0  # in a tab: how long the seed held the event loop
            last_max = self.seed_s.get(agent.task.domain, (0.0, 0.0))[1]
            self.seed_s[agent.task.domain] = (took, max(took, last_max))
            out.append(value)
            self.progress.seeds_done = seed + 1
            await self.budget.pace()
        return out

    async def _related(self, agent: Agent, proposal: Proposal) -> list[paper.Related]:
        """Related work from the mesh's memory, when one is reachable (a paper without it is still a paper)."""
        if self.config.related is None:
            return []
        text = f"{agent.task.title}: {proposal.prediction}"
        try:
            return await asyncio.wait_for(self.config.related(text, agent.task.domain), RELATED_TIMEOUT_S)
        except Exception as e:  # ServiceError, TimeoutError, a peer leaving
            log.info("no related work for %s: %s", agent.task.id, e)
            return []

    async def _publish(
        self,
        agent: Agent,
        finding: Finding,
        related: list[paper.Related],
        evaluations: Sequence[Evaluation] = (),
    ) -> Published:
        store, domain = self.replica.store, agent.task.domain
        artifacts = next_run_path(store.author, domain, store.all_records(f"results.{domain}"))
        body = result_body(finding, artifacts)
        if domain == "ml" and evaluations:  # how it was trained: what a reviewer re-executes
            body["training"] = collab.training_body(evaluations)
        checkpoints = await self._store_checkpoints(evaluations)
        if checkpoints:
            body["checkpoints"] = checkpoints
        result = await self.replica.publish("result", body)
        author = peer_id_text(self.replica.store.author)
        title, markdown, figures = paper.write(finding, result.key, author, related)
        body = {
            "title": title,
            "domain": agent.task.domain,
            "task": agent.task.id,
            "results": [result.key],
            "markdown": markdown,
            "figures": figures,
        }
        return Published(finding, result, await self.replica.publish("paper", body))

    async def _store_checkpoints(self, evaluations: Sequence[Evaluation]) -> list[str] | None:
        """Put each seed's trained θ into storage (kept here, offered to its r holders) and return the blob
        ids to name, or None (no storage, a domain that trains nothing, or no room: reviewers re-train)."""
        storage = self.config.storage
        blobs = [e.checkpoint for e in evaluations]
        if storage is None or not blobs or any(b is None for b in blobs):
            return None
        try:
            return [(await storage.put(b, CHECKPOINT_TTL_S)).hex() for b in blobs if b is not None]
        except (Refused, ValueError) as e:
            log.warning("checkpoints not stored (%s): reviewers will re-train", e)
            return None

    # ---- an interrupted plan survives a restart -----------------------------------------------------

    def _save_plan(self, agent: Agent | None, proposal: Proposal | None) -> None:
        path = self.config.state_file
        if path is None:
            return
        if agent is None or proposal is None:
            path.unlink(missing_ok=True)
            return
        plan = {
            "task": agent.task.id,
            "config": canonical(proposal.config),
            "operator": proposal.operator,
            "prediction": proposal.prediction,
            "parent": proposal.parent.key if proposal.parent else None,
        }
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(plan))
        tmp.replace(path)

    def _resume(self) -> tuple[Agent, Proposal] | None:
        path = self.config.state_file
        if path is None or not path.is_file():
            return None
        try:
            plan = json.loads(path.read_text())
            agent = next(a for a in self.agents if a.task.id == plan["task"])
            config = agent.domain.validate(agent.task.id, parse(plan["config"]))
        except (ValueError, KeyError, StopIteration, ConfigError) as e:
            log.warning("dropping the saved research plan %s: %s", path, e)
            path.unlink(missing_ok=True)
            return None
        board = {p.key: p for p in self.board(agent)}
        if config_hash(config) in {config_hash(p.config) for p in board.values()}:
            path.unlink(missing_ok=True)  # published before the stop, after all
            return None
        parent = board.get(plan.get("parent") or "")
        log.info("resuming the interrupted experiment on %s", agent.task.id)
        return agent, Proposal(config, plan["operator"], parent, plan["prediction"])

    # ---- status -----------------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        p = self.progress
        return {
            "tasks": [a.task.id for a in self.agents],
            "experiments": self.experiments,
            "current": {
                "task": p.task,
                "hypothesis": p.hypothesis,
                "operator": p.operator,
                "seeds_done": p.seeds_done,
                "seeds": p.seeds,
            }
            if p.task
            else None,
            "recent": list(self.recent),
            "refused": len(self.config.refused),
            **({"diloco": self.config.team.status()} if self.config.team is not None else {}),
            "seed_s": {
                d: {"last": round(a, 3), "max": round(b, 3)} for d, (a, b) in sorted(self.seed_s.items())
            },
        }


# ---- artifacts from an archive checkout ------------------------------------------------------------------


def archive_artifacts(root: Path) -> Callable[[Record], Awaitable[Any]]:
    """A reviewer's artifact source reading the run file each result names as its `artifacts` from a checkout
    of the Git archive (pynode.research.artifacts). A run file that holds another record is ignored with a
    warning; one not archived yet leaves what the record itself carries."""
    from pynode.review.reexecute import Artifacts, record_artifacts

    async def source(result: Record) -> Any:
        path = result.body.get("artifacts")
        if not path:
            return record_artifacts(result)
        try:
            data = await asyncio.to_thread(read_capped, root / path)
            run = read_run(data, result.key)
        except OSError:
            return record_artifacts(result)
        except ArtifactError as e:
            log.warning("artifacts %s of %s: %s", path, result.key[:12], e)
            return record_artifacts(result)
        return Artifacts(config=result.body.get("config") or run_config(run))

    return source


def read_capped(path: Path) -> bytes:
    """An archive file, read no further than a run file may be long."""
    with path.open("rb") as f:
        return f.read(MAX_RUN_FILE_BYTES + 1)  # one byte over tells read_run the file is too big


# Domains cache indexes and hold stemmers that are not thread-safe, and several agents share a process (the
# demo runs three nodes): one evaluation at a time. Pure-Python evaluations hold the GIL anyway.
_EVALUATING = threading.Lock()


def _evaluate(domain: Domain, task: str, config: Config, seed: int) -> Evaluation:
    with _EVALUATING:
        return domain.evaluate(task, config, seed)


def _strategy(name: str, rng: random.Random) -> Strategy:
    seeded = random.Random(rng.random())
    if name == "bandit":
        return Bandit(seeded)
    if name == "random":
        return RandomSearch(seeded)
    raise ValueError(f"unknown strategy {name!r} (bandit or random)")


def _summary(p: Published) -> dict[str, Any]:
    f = p.finding
    return {
        "task": f.task.id,
        "metric": f.task.metric,
        "unit": f.task.unit,
        "mean": f.mean,
        "ci95": f.ci95,
        "n": len(f.samples),
        "p_value": f.vs_parent.p_value if f.vs_parent else None,
        "improvement": f.improvement,
        "hypothesis": f.proposal.prediction,
        "result": p.result.key,
        "paper": p.paper.key,
    }
