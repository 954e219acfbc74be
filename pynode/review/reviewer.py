"""A validator's side of review, as a sans-IO core: which results to re-execute, and the review to publish.

`tick(now_ms, store)` reads new results and reviews from the replica's store and returns `Assignment`s: results
this node is drawn for (pynode.review.sortition) whose turn has come. The driver (runtime or simulator) runs
`reexecute` for each, off its event loop, and hands the outcome to `conclude`, which scores it on the rubric and
returns the review body to sign and publish — or None when the deadline passed meanwhile.

The rules a drawn validator follows (the view, pynode.review.breakthroughs, counts reviews the same way):
- never its own results; one review per result (its own earlier reviews, e.g. before a restart, count);
- drawn in the result's first epoch: review, starting SETTLE_MS after the result (its paper arrives first);
- drawn only in a later epoch of the window: review when, at that epoch's start, the result has fewer than k
  eligible reviews from earlier epochs (the committee was short: declines, nodes gone) or their verdicts
  disagree (a dispute grows the committee); tickets are verified for this, so undrawn spam does not count;
- decline (publish nothing) when its queue is full or the domain is not one it reviews: a later epoch tops up.
"""

from __future__ import annotations

from collections import OrderedDict, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from pynode.identity.vrf import VrfKey
from pynode.research.agent import decimal_text
from pynode.review import sortition
from pynode.review.limits import MAX_COMMENT, MAX_COMMITTEES, MAX_PENDING, MAX_QUEUE, MAX_VERIFIED
from pynode.review.params import COMMITTEE_K, SETTLE_MS
from pynode.review.reexecute import REPRODUCED, Reexecution
from pynode.review.rubric import RUBRIC_ID, Assessment, assess, context_for
from pynode.state.records import DOMAINS, Record


class Store(Protocol):
    """What the core reads of a replica: its validated records by document (a `pynode.state.store.Store`)."""

    records: Mapping[str, Mapping[str, Record]]

    def all_records(self, name: str) -> Iterable[Record]: ...


@dataclass(frozen=True)
class Assignment:
    result: Record
    ticket: sortition.Ticket
    parent: Record | None = None  # the result it names as its parent, if we hold it: its config is re-run too


@dataclass
class ReviewerConfig:
    domains: frozenset[str] = frozenset(DOMAINS)  # domains this node re-executes; others it declines
    max_queue: int = MAX_QUEUE


@dataclass
class Counters:
    drawn: int = 0
    declined: int = 0
    reviewed: int = 0
    late: int = 0  # re-executions that finished after the deadline (nothing published)


@dataclass
class _Watch:
    result: Record
    tickets: dict[int, sortition.Ticket | None] = field(default_factory=dict)  # epoch -> our draw


class Reviewer:
    def __init__(self, peer_id: bytes, key: VrfKey, config: ReviewerConfig | None = None) -> None:
        if key.public_key != peer_id:
            raise ValueError("the VRF key must be the identity's own")
        self.peer_id = peer_id
        self.key = key
        self.config = config or ReviewerConfig()
        self.counters = Counters()
        self._watch: OrderedDict[str, _Watch] = OrderedDict()
        self._done: set[str] = set()  # results reviewed, queued or declined: never drawn again
        self._queued: set[str] = set()
        self._reviews_of: dict[str, list[Record]] = defaultdict(list)
        self._seen: dict[str, int] = {}  # document -> records already read
        self._committees: dict[tuple[int, int], tuple[frozenset[bytes], int]] = {}
        self._verified: dict[str, bool] = {}  # review key -> its ticket is eligible (checked once)

    # ---- inputs -------------------------------------------------------------------------------------

    def tick(self, now_ms: int, store: Store) -> list[Assignment]:
        self._ingest(now_ms, store)
        out = []
        for key in list(self._watch):
            w = self._watch[key]
            if key in self._done or now_ms >= sortition.deadline_ms(w.result):
                del self._watch[key]
                self._reviews_of.pop(key, None)
                continue
            if now_ms < w.result.ts + SETTLE_MS:
                continue
            ticket = self._turn(w, now_ms, store)
            if ticket is not None:
                out.extend(self._take(w, ticket, store))
        return out

    def conclude(self, job: Assignment, rex: Reexecution, now_ms: int, store: Store) -> dict | None:
        """The review body for a finished re-execution, or None when it finished after the deadline."""
        self._queued.discard(job.result.key)
        if now_ms >= sortition.deadline_ms(job.result):
            self.counters.late += 1
            return None
        domain = job.result.body["domain"]
        ctx = context_for(job.result, store.all_records(f"results.{domain}"), store.all_records("papers"))
        self.counters.reviewed += 1
        return review_body(job, rex, assess(job.result, rex, ctx))

    def abandon(self, job: Assignment) -> None:
        """The driver could not judge it (an unknown task): counted as a decline."""
        self._queued.discard(job.result.key)
        self.counters.declined += 1

    @property
    def queued(self) -> int:
        return len(self._queued)

    # ---- internals ----------------------------------------------------------------------------------

    def _ingest(self, now_ms: int, store: Store) -> None:
        for r in self._new(store, "reviews"):
            if r.author == self.peer_id:
                self._done.add(r.body["target"])
            self._reviews_of[r.body["target"]].append(r)
        for doc in (f"results.{d}" for d in DOMAINS):
            for r in self._new(store, doc):
                if r.author == self.peer_id or now_ms >= sortition.deadline_ms(r) or r.key in self._done:
                    continue
                self._watch[r.key] = _Watch(r)
                while len(self._watch) > MAX_PENDING:
                    self._watch.popitem(last=False)

    def _new(self, store: Store, doc: str) -> list[Record]:
        records = store.records[doc]
        seen = self._seen.get(doc, 0)
        self._seen[doc] = len(records)
        return list(records.values())[seen:] if len(records) > seen else []

    def _committee(self, result: Record, store: Store) -> tuple[frozenset[bytes], int]:
        e0 = sortition.first_epoch(result)
        version = len(store.records["identities"])  # profiles may still arrive: recount when they do
        if (e0, version) not in self._committees:
            if len(self._committees) >= MAX_COMMITTEES:
                self._committees.clear()
            members = sortition.validators(store.all_records("identities"), sortition.epoch_start(e0))
            self._committees[(e0, version)] = (members, sortition.committee_n(members))
        return self._committees[(e0, version)]

    def _turn(self, w: _Watch, now_ms: int, store: Store) -> sortition.Ticket | None:
        """Our ticket when it is our turn to review `w.result` now, else None."""
        members, n = self._committee(w.result, store)
        if self.peer_id not in members:
            return None
        e0 = sortition.first_epoch(w.result)
        for epoch in sortition.window(w.result):
            if sortition.epoch_start(epoch) > now_ms:
                break
            if epoch not in w.tickets:
                w.tickets[epoch] = sortition.draw(self.key, w.result.key, epoch, n)
            ticket = w.tickets[epoch]
            if ticket is not None and (epoch == e0 or self._short_or_disputed(w.result, epoch, members, n)):
                return ticket
        return None

    def _short_or_disputed(self, result: Record, epoch: int, members: frozenset[bytes], n: int) -> bool:
        """At `epoch`'s start, does `result` have fewer than k eligible reviews from earlier epochs, or do their
        verdicts disagree? Only eligible tickets count, as in the view: spam with undrawn tickets must not make
        a committee look whole."""
        eligible = [
            r for r in self._reviews_of.get(result.key, ()) if self._eligible(r, result, epoch, members, n)
        ]
        reviewers = {r.author for r in eligible}
        verdicts = {r.body.get("verdict") == REPRODUCED for r in eligible}
        return len(reviewers) < COMMITTEE_K or len(verdicts) > 1

    def _eligible(self, r: Record, result: Record, before: int, members: frozenset[bytes], n: int) -> bool:
        b = r.body
        if "vrf" not in b or not sortition.in_window(result, b["epoch"]) or b["epoch"] >= before:
            return False
        if r.author == result.author or r.author not in members:
            return False
        if r.key not in self._verified:
            if len(self._verified) >= MAX_VERIFIED:
                self._verified.clear()
            self._verified[r.key] = (
                sortition.eligible_beta(r.author, b["vrf"], result.key, b["epoch"], n) is not None
            )
        return self._verified[r.key]

    def _take(self, w: _Watch, ticket: sortition.Ticket, store: Store) -> list[Assignment]:
        key = w.result.key
        self._done.add(key)
        self.counters.drawn += 1
        if len(self._queued) >= self.config.max_queue or w.result.body["domain"] not in self.config.domains:
            self.counters.declined += 1
            return []
        self._queued.add(key)
        b = w.result.body
        parent = store.records[f"results.{b['domain']}"].get(b.get("inspired_by", ""))
        return [Assignment(w.result, ticket, parent)]


def review_body(job: Assignment, rex: Reexecution, a: Assessment) -> dict:
    """The `review` record body (pynode.state.records): decimal text only, no floats on the wire."""
    body: dict = {
        "target": job.result.key,
        "score": a.score,
        "rubric": RUBRIC_ID,
        "vrf": job.ticket.proof,
        "epoch": job.ticket.epoch,
        "verdict": a.verdict,
        "tolerance": decimal_text(rex.tolerance),
        "subscores": {name: str(points) for name, points in a.subscores.items()},
    }
    if rex.measured_text is not None:
        body["measured"] = rex.measured_text
    if a.copy_of is not None:
        body["copy_of"] = a.copy_of
    comment = "; ".join(n for n in a.notes if n)
    if comment:
        body["comment"] = _printable(comment)[:MAX_COMMENT]
    return body


def _printable(text: str) -> str:
    return "".join(c if c.isprintable() else " " for c in text)
