"""The validator's runtime: drives `pynode.review.reviewer.Reviewer` on a running node's replica.

It publishes the node's `profile` with the `validation` capability (sortition counts validators from
profiles), then, every TICK_S, asks the core which new results this node is drawn for, re-executes each off the
event loop (a worker thread in CPython; in a tab the call runs between paced slices), paced to a CPU share like
research, and publishes the signed review. `run_once` is one such pass (`hyperspace review --once`); the view
(standings, breakthroughs, weights) is recomputed at most every VIEW_S with each VRF proof verified once.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from pynode.identity import Identity, short_id
from pynode.pace import CpuBudget
from pynode.platform import in_browser
from pynode.review import critique, sortition
from pynode.review.breakthroughs import Analysis, ProofCache, analyse
from pynode.review.reexecute import Artifacts, CannotJudge, Reexecution, record_artifacts, reexecute
from pynode.review.reviewer import Assignment, Reviewer, ReviewerConfig
from pynode.review.rubric import context_for
from pynode.review.summary import summary_json
from pynode.state.records import DOMAINS, Record
from pynode.state.store import Store

log = logging.getLogger(__name__)

TICK_S = 2.0  # how often the replica is checked for results this node is drawn for
VIEW_S = 5.0  # the standings are recomputed at most this often
RECENT = 20  # own reviews kept for the status card

CRITIQUE_MARGIN_MS = 5_000  # a critique must leave this long before the deadline for the review to spread
CHECKPOINT_FETCH_S = 30.0  # one checkpoint from storage (a few MB in 256 KiB chunks through a loaded relay)

ArtifactSource = Callable[[Record], Awaitable[Artifacts | None]]
Critic = Callable[[list[dict[str, str]]], Awaitable[str | None]]  # chat messages -> the model's reply


async def own_artifacts(result: Record) -> Artifacts | None:
    """The default source: what the result record carries (all five domains re-run from it)."""
    return record_artifacts(result)


@dataclass
class ReviewConfig:
    domains: Sequence[str] = DOMAINS  # domains this node re-executes; drawn for others, it declines
    cpu_share: float = 0.5  # share of one core re-execution may use
    caps: Sequence[str] = ("validation",)  # published in the node's profile (validation is always added)
    name: str = "validator"
    artifacts: ArtifactSource = own_artifacts
    on_review: Callable[[Record], None] | None = None
    runners: Any = None  # ml's model runner factory (default: the platform)
    critic: Critic | None = None  # an optional LLM whose critique joins the comment (never the score)
    storage: Any = None  # a StorageRuntime: ml results' named checkpoints are fetched through it
    retrain: bool = True  # False: an ml result whose checkpoints score its claim is not re-trained


class Replica(Protocol):
    store: Store

    async def publish(self, kind: str, body: dict[str, Any]) -> Record: ...


class ReviewAgent:
    def __init__(self, replica: Replica, identity: Identity, config: ReviewConfig | None = None) -> None:
        if identity.vrf is None:
            raise ValueError("validation needs the identity's VRF key (an identity made from its seed)")
        self.replica = replica
        self.identity = identity
        self.config = config or ReviewConfig()
        self.core = Reviewer(identity.peer_id, identity.vrf, ReviewerConfig(frozenset(self.config.domains)))
        self.budget = CpuBudget(self.config.cpu_share)
        self.recent: deque[dict[str, Any]] = deque(maxlen=RECENT)
        self.current: str | None = None  # the result being re-executed
        self.pending: list[Assignment] = []  # drawn and accepted, not yet re-executed (the current one first)
        self._proofs = ProofCache()
        self._view: tuple[float, Analysis] | None = None
        self._task: asyncio.Task[None] | None = None

    # ---- loop -------------------------------------------------------------------------------------

    async def start(self) -> None:
        await self.ensure_profile()
        self._task = asyncio.ensure_future(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _loop(self) -> None:
        while True:
            try:
                await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("review pass failed")
            await asyncio.sleep(TICK_S)

    async def ensure_profile(self) -> Record | None:
        """Publish our profile with `validation` unless our newest one already lists it."""
        mine = [r for r in self.replica.store.all_records("identities") if r.author == self.identity.peer_id]
        newest = max(mine, key=lambda r: (r.ts, r.key), default=None)
        if newest is not None and sortition.CAPABILITY in newest.body["caps"]:
            return None
        body = (
            dict(newest.body) if newest is not None else {"name": self.config.name[:64]}
        )  # keeps services, origin
        body["caps"] = sorted({*body.get("caps", []), *self.config.caps, sortition.CAPABILITY})
        return await self.replica.publish("profile", body)

    async def run_once(self) -> list[Record]:
        """Review every result this node is drawn for and whose turn has come; returns the published reviews."""
        published = []
        self.pending.extend(self.core.tick(_now_ms(), self.replica.store))
        while self.pending:
            try:
                review = await self._review(self.pending[0])
            finally:
                self.pending.pop(0)  # a failed re-execution is not retried (its draw is spent)
            if review is not None:
                published.append(review)
        return published

    async def _review(self, job: Assignment) -> Record | None:
        self.current = job.result.key
        try:
            artifacts = await self._with_checkpoints(job.result, await self.config.artifacts(job.result))
            rex = await self._reexecute(job, artifacts)
        except CannotJudge as e:
            log.info("declining %s: %s", job.result.key[:12], e)
            self.core.abandon(job)
            return None
        finally:
            self.current = None
        body = self.core.conclude(job, rex, _now_ms(), self.replica.store)
        if body is None:
            log.warning("re-executing %s took past its deadline; nothing published", job.result.key[:12])
            return None
        if self.config.critic is not None:
            body = await self._critique(job, body)
        review = await self.replica.publish("review", body)
        self.recent.appendleft(_summary(job, review))
        if self.config.on_review is not None:
            self.config.on_review(review)
        return review

    async def _critique(self, job: Assignment, body: dict[str, Any]) -> dict[str, Any]:
        """`body` with the critic's reply in its comment, if it answers in time; the numbers stay as computed."""
        assert self.config.critic is not None
        left_s = (sortition.deadline_ms(job.result) - _now_ms() - CRITIQUE_MARGIN_MS) / 1000
        if left_s <= 0:
            return body
        paper = context_for(job.result, (), self.replica.store.all_records("papers")).paper
        try:
            reply = await asyncio.wait_for(
                self.config.critic(critique.messages(job.result, body, paper)), left_s
            )
        except Exception as e:  # the model is optional: the review goes out without its prose
            log.warning("no critique of %s: %s", job.result.key[:12], e)
            return body
        return critique.with_critique(body, reply)

    async def _with_checkpoints(self, result: Record, artifacts: Artifacts | None) -> Artifacts | None:
        """`artifacts` with the checkpoints an ml result names, fetched through storage (none without it)."""
        names = result.body.get("checkpoints")
        if self.config.storage is None or result.body["domain"] != "ml" or not names:
            return artifacts
        from pynode.review.checkpoints import checkpoint_size  # ml's package loads the zoo: only when needed

        artifacts = artifacts or record_artifacts(result)
        size = checkpoint_size(result.body["task"], artifacts.config)
        if size is None:  # no config a task accepts: re-execution says so without fetching anything
            return artifacts
        return dataclasses.replace(
            artifacts, checkpoints=await fetch_checkpoints(self.config.storage, names, size)
        )

    async def _reexecute(self, job: Assignment, artifacts: Artifacts | None) -> Reexecution:
        args = (job.result, artifacts, job.ticket.beta, self.config.runners, job.parent, self.config.retrain)
        if in_browser():  # no threads in a tab: one re-execution, then the pause that keeps the share
            rex = reexecute(*args)
        else:
            rex = await asyncio.to_thread(reexecute, *args)
        await self.budget.pace()
        return rex

    # ---- the view and status ------------------------------------------------------------------------

    def analysis(self) -> Analysis:
        now = time.monotonic()
        if self._view is None or now - self._view[0] >= VIEW_S:
            store = self.replica.store
            results = [r for d in DOMAINS for r in store.all_records(f"results.{d}")]
            view = analyse(
                results,
                store.all_records("reviews"),
                store.all_records("identities"),
                _now_ms(),
                self._proofs,
            )
            self._view = (now, view)
        return self._view[1]

    def status(self) -> dict[str, Any]:
        c = self.core.counters
        return {
            "drawn": c.drawn,
            "reviewed": c.reviewed,
            "declined": c.declined,
            "late": c.late,
            "queue": self.core.queued,
            "current": self.current,
            "queued": [_queued(job) for job in self.pending],
            "recent": list(self.recent),
        }

    def board(self) -> dict[str, Any]:
        """The dashboard's review data: each result's reviews, the breakthroughs, weights, our queue."""
        return {**summary_json(self.analysis()), "me": short_id(self.identity.peer_id), **self.status()}


async def fetch_checkpoints(storage: Any, names: Sequence[str], size: int) -> list[bytes | None]:
    """Each named checkpoint (a blob id in hex) from any holder, at most `size` bytes (a θ of the result's
    variant) and CHECKPOINT_FETCH_S each; None where none delivers it. Storage checks every chunk and the
    whole blob."""

    async def one(name: str) -> bytes | None:
        try:
            return await asyncio.wait_for(storage.get(bytes.fromhex(name), limit=size), CHECKPOINT_FETCH_S)
        except TimeoutError:
            return None

    return list(await asyncio.gather(*(one(n) for n in names)))


def _now_ms() -> int:
    return int(time.time() * 1000)


def _queued(job: Assignment) -> dict[str, Any]:
    b = job.result.body
    return {
        "result": job.result.key,
        "task": b["task"],
        "claimed": b["value"],
        "epoch": job.ticket.epoch,
        "deadline_ms": sortition.deadline_ms(job.result),
    }


def _summary(job: Assignment, review: Record) -> dict[str, Any]:
    b = review.body
    return {
        "result": job.result.key,
        "task": job.result.body["task"],
        "claimed": job.result.body["value"],
        "measured": b.get("measured"),
        "verdict": b["verdict"],
        "score": b["score"],
        "epoch": b["epoch"],
        "review": review.key,
    }
