"""Standings, reviewer weights and breakthroughs: a pure view over result, review and profile records.

Any node holding the same records computes the same lists (docs/REVIEW.md gives the rules in prose):

1. A review is *eligible* for its target when it carries a ticket (VRF proof and epoch) and a verdict, its
   author is not the result's, the epoch lies in the result's window and the review was stamped before the
   deadline, its author was a validator before the window opened, and its proof verifies and falls below the
   threshold for n (pynode.review.sortition). One review per reviewer per result: the first (epoch, ts, key).
2. Eligible reviews are *counted* epoch by epoch: all of the first epoch's; a later epoch's only while fewer
   than k are counted (a top-up after declines) or the counted verdicts disagree (a dispute grows the committee),
   and never more than MAX_COUNTED. Extra draws of a later epoch add nothing when the committee is whole.
3. *Reviewer weights* and the *reproduction consensus* are a joint fixed point: with everyone at weight 1, a
   result's consensus is the weighted majority of its counted verdicts (`reproduced` against `not_reproduced`
   or `unavailable`; a tie decides nothing); a reviewer agreeing with a consensus a times and contradicting one
   d times has weight (1 + a) / (1 + a + 2d) (exact fractions); repeat WEIGHT_ROUNDS times.
4. A result is a *breakthrough* when, among its counted reviews by reviewers of weight ≥ MIN_WEIGHT, there are
   ≥ QUORUM, the weighted lower median score is ≥ BREAKTHROUGH_SCORE, ≥ MIN_REPRODUCED say reproduced, the
   consensus is reproduced, it is no copy of an earlier result (same config and samples), and it beats the best
   earlier *established* result of its task (consensus reproduced, ≥ MIN_REPRODUCED reproducing reviews) with
   p < SIGNIFICANCE. It is *final* once its window has closed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from fractions import Fraction

from pynode.identity import vrf
from pynode.research import stats
from pynode.research.config import config_hash, parse
from pynode.research.domain import ConfigError
from pynode.review import sortition
from pynode.review.params import (
    BREAKTHROUGH_SCORE,
    COMMITTEE_K,
    MAX_COUNTED,
    MIN_REPRODUCED,
    MIN_WEIGHT,
    QUORUM,
    SIGNIFICANCE,
    WEIGHT_ROUNDS,
)
from pynode.review.reexecute import NOT_REPRODUCED, REPRODUCED, UNAVAILABLE
from pynode.review.rubric import compare
from pynode.state.records import Record

AGAINST = frozenset({NOT_REPRODUCED, UNAVAILABLE})  # verdicts that weigh against a claim in its consensus
# Verdicts a review may count with: `unavailable` is a verdict, not a decline — a claim whose artifacts the
# author withholds is judged on what was published (and fails), it does not wait for reviewers who can see them.
VERDICTS_COUNTED = frozenset({REPRODUCED, NOT_REPRODUCED, UNAVAILABLE})
PENDING, TIED = "pending", "tied"


@dataclass(frozen=True)
class ReviewRow:
    """One review of a result, as the view judged it."""

    record: Record
    eligible: bool
    reason: str  # why not eligible ("" when it is)
    counted: bool = False

    @property
    def reviewer(self) -> bytes:
        return self.record.author

    @property
    def verdict(self) -> str | None:
        return self.record.body.get("verdict")

    @property
    def score(self) -> int:
        return self.record.body["score"]

    @property
    def epoch(self) -> int | None:
        return self.record.body.get("epoch")


@dataclass
class Standing:
    result: Record
    rows: list[ReviewRow]
    consensus: str = PENDING
    standing: list[ReviewRow] = field(default_factory=list)  # counted, by reviewers of weight ≥ MIN_WEIGHT
    median: int | None = None
    reproduced: int = 0
    copy_of: str | None = None
    best: str | None = None  # the established result it was compared with
    p_vs_best: float | None = None
    breakthrough: bool = False
    final: bool = False

    @property
    def counted(self) -> list[ReviewRow]:
        return [r for r in self.rows if r.counted]

    @property
    def established(self) -> bool:
        return self.consensus == REPRODUCED and self.reproduced >= MIN_REPRODUCED


@dataclass
class Analysis:
    standings: dict[str, Standing]
    weights: dict[bytes, Fraction]

    def breakthroughs(self, final_only: bool = False) -> list[Standing]:
        out = [s for s in self.standings.values() if s.breakthrough and (s.final or not final_only)]
        return sorted(out, key=lambda s: (s.result.ts, s.result.key))


class ProofCache:
    """`vrf.verify` remembered per (key, proof, α): a view recomputed every few seconds verifies each proof once."""

    def __init__(self, verify: sortition.VrfVerify = vrf.verify, size: int = 65_536) -> None:
        self._verify = verify
        self._size = size
        self._memo: dict[tuple[bytes, bytes, bytes], bytes | None] = {}

    def __call__(self, public_key: bytes, proof: bytes, alpha: bytes) -> bytes | None:
        k = (public_key, proof, alpha)
        if k not in self._memo:
            if len(self._memo) >= self._size:
                self._memo.pop(next(iter(self._memo)))
            self._memo[k] = self._verify(public_key, proof, alpha)
        return self._memo[k]


def analyse(
    results: Iterable[Record],
    reviews: Iterable[Record],
    profiles: Iterable[Record],
    now_ms: int | None = None,
    verify: sortition.VrfVerify = vrf.verify,
) -> Analysis:
    by_key = {r.key: r for r in results if r.kind == "result"}
    rows = _eligibility(by_key, list(reviews), list(profiles), verify)
    standings = {k: Standing(r, _count(r, rows.get(k, []))) for k, r in by_key.items()}
    weights = _fixed_point(standings)
    for s in standings.values():
        _stand(s, weights)
        s.final = now_ms is not None and now_ms >= sortition.deadline_ms(s.result)
    _judge(standings)
    return Analysis(standings, weights)


@dataclass(frozen=True)
class _Committee:
    """What the eligibility rules need to know about a result's committee."""

    target: Record
    members: frozenset[bytes]  # validators before the window opened
    n: int
    verify: sortition.VrfVerify
    seen: set[bytes]  # reviewers already holding an eligible review of the target


def _has_ticket(r: Record, c: _Committee) -> str:
    b = r.body
    ok = "vrf" in b and b.get("verdict") in VERDICTS_COUNTED
    return "" if ok else "no committee ticket or no verdict"


def _not_the_author(r: Record, c: _Committee) -> str:
    return "authors never review their own work" if r.author == c.target.author else ""


def _in_window(r: Record, c: _Committee) -> str:
    on_time = sortition.in_window(c.target, r.body["epoch"]) and r.ts < sortition.deadline_ms(c.target)
    return "" if on_time else "outside the result's review window"


def _a_validator(r: Record, c: _Committee) -> str:
    return "" if r.author in c.members else "not a validator before the window opened"


def _drawn(r: Record, c: _Committee) -> str:
    beta = sortition.eligible_beta(
        r.author, r.body["vrf"], c.target.key, r.body["epoch"], c.n, verify=c.verify
    )
    return "" if beta is not None else "the proof does not verify or was not drawn"


def _first_of_reviewer(r: Record, c: _Committee) -> str:
    return "a repeat: one review per reviewer per result" if r.author in c.seen else ""


# The eligibility rules in order (point 1 of the module docstring); the first that objects names the reason.
RULES: tuple[Callable[[Record, _Committee], str], ...] = (
    _has_ticket,
    _not_the_author,
    _in_window,
    _a_validator,
    _drawn,
    _first_of_reviewer,
)


def _eligibility(
    results: dict[str, Record], reviews: list[Record], profiles: list[Record], verify: sortition.VrfVerify
) -> dict[str, list[ReviewRow]]:
    committees: dict[str, _Committee] = {}
    validator_sets: dict[int, frozenset[bytes]] = {}
    rows: dict[str, list[ReviewRow]] = defaultdict(list)
    for r in sorted(reviews, key=lambda r: (r.body.get("epoch", -1), r.ts, r.key)):
        target = results.get(r.body["target"])
        if r.kind != "review" or target is None:
            continue
        if target.key not in committees:
            e0 = sortition.first_epoch(target)
            if e0 not in validator_sets:
                validator_sets[e0] = sortition.validators(profiles, sortition.epoch_start(e0))
            members = validator_sets[e0]
            committees[target.key] = _Committee(
                target, members, sortition.committee_n(members), verify, set()
            )
        c = committees[target.key]
        reason = next((why for rule in RULES if (why := rule(r, c))), "")
        if not reason:
            c.seen.add(r.author)
        rows[target.key].append(ReviewRow(r, not reason, reason))
    return rows


def disputed(rows: Iterable[ReviewRow]) -> bool:
    verdicts = {r.verdict in AGAINST for r in rows}
    return len(verdicts) > 1


def _count(result: Record, rows: list[ReviewRow]) -> list[ReviewRow]:
    """Mark which eligible reviews count (the committee rule, point 2 of the module docstring)."""
    e0 = sortition.first_epoch(result)
    by_epoch: dict[int, list[int]] = defaultdict(list)
    for i, row in enumerate(rows):
        if row.eligible:
            by_epoch[row.epoch or 0].append(i)
    counted: list[ReviewRow] = []
    marked = list(rows)
    for epoch in sorted(by_epoch):
        if epoch != e0 and len(counted) >= COMMITTEE_K and not disputed(counted):
            continue
        for i in sorted(by_epoch[epoch], key=lambda i: rows[i].record.key):
            if len(counted) >= MAX_COUNTED:
                break
            marked[i] = ReviewRow(rows[i].record, True, "", counted=True)
            counted.append(marked[i])
    return marked


def _consensus(rows: Iterable[ReviewRow], weights: dict[bytes, Fraction], floor: Fraction) -> str:
    pro = against = Fraction(0)
    seen = False
    for row in rows:
        w = weights.get(row.reviewer, Fraction(1))
        if w < floor:
            continue
        seen = True
        if row.verdict == REPRODUCED:
            pro += w
        elif row.verdict in AGAINST:
            against += w
    if not seen:
        return PENDING
    return REPRODUCED if pro > against else NOT_REPRODUCED if against > pro else TIED


def _fixed_point(standings: dict[str, Standing]) -> dict[bytes, Fraction]:
    weights: dict[bytes, Fraction] = {}
    for _ in range(WEIGHT_ROUNDS):
        agree: dict[bytes, int] = defaultdict(int)
        disagree: dict[bytes, int] = defaultdict(int)
        for s in standings.values():
            consensus = _consensus(s.counted, weights, MIN_WEIGHT)
            if consensus not in (REPRODUCED, NOT_REPRODUCED):
                continue
            for row in s.counted:
                if row.verdict == UNAVAILABLE and consensus == REPRODUCED:
                    continue  # could not check: neither right nor wrong
                same = (row.verdict == REPRODUCED) == (consensus == REPRODUCED)
                (agree if same else disagree)[row.reviewer] += 1
        reviewers = {row.reviewer for s in standings.values() for row in s.counted}
        new = {p: Fraction(1 + agree[p], 1 + agree[p] + 2 * disagree[p]) for p in sorted(reviewers)}
        if new == weights:
            break
        weights = new
    return weights


def weighted_median(scores: list[tuple[int, Fraction]]) -> int | None:
    """The lower weighted median: the smallest score whose cumulative weight reaches half of the total."""
    total = sum((w for _, w in scores), Fraction(0))
    if not scores or total == 0:
        return None
    running = Fraction(0)
    for score, w in sorted(scores):
        running += w
        if 2 * running >= total:
            return score
    return None


def _stand(s: Standing, weights: dict[bytes, Fraction]) -> None:
    s.standing = [r for r in s.counted if weights.get(r.reviewer, Fraction(1)) >= MIN_WEIGHT]
    s.consensus = _consensus(s.standing, weights, MIN_WEIGHT)
    s.reproduced = sum(r.verdict == REPRODUCED for r in s.standing)
    s.median = weighted_median([(r.score, weights.get(r.reviewer, Fraction(1))) for r in s.standing])


def _config_id(r: Record) -> str | None:
    text = r.body.get("config")
    if text is None:
        return None
    try:
        return config_hash(parse(text))
    except ConfigError:
        return text


def _judge(standings: dict[str, Standing]) -> None:
    """Copies, the comparison with the best established earlier result, and the verdict, task by task."""
    tasks: dict[tuple[str, ...], list[Standing]] = defaultdict(list)
    for s in standings.values():
        b = s.result.body
        tasks[(b["domain"], b["task"], b["metric"], b["unit"], b["direction"])].append(s)
    for group in tasks.values():
        group.sort(key=lambda s: (s.result.ts, s.result.key))
        first_seen: dict[tuple[str, tuple[str, ...]], str] = {}
        best: Standing | None = None
        for s in group:
            s.copy_of = copy_of(s.result, first_seen)
            _verdict(s, best)
            if (
                s.established
                and "samples" in s.result.body
                and (best is None or _better(s.result, best.result))
            ):
                best = s


def copy_of(result: Record, first_seen: dict[tuple[str, tuple[str, ...]], str]) -> str | None:
    """The earlier result (in `first_seen`, fed in publication order) with the same config and samples."""
    config, samples = _config_id(result), tuple(result.body.get("samples", ()))
    if config is None or not samples:
        return None
    original = first_seen.setdefault((config, samples), result.key)
    return None if original == result.key else original


def _samples(r: Record) -> list[float]:
    return [float(v) for v in r.body["samples"]]


def _better(a: Record, b: Record) -> bool:
    ma, mb = stats.mean(_samples(a)), stats.mean(_samples(b))
    return ma < mb if a.body["direction"] == "min" else ma > mb


def _verdict(s: Standing, best: Standing | None) -> None:
    if best is not None and "samples" in s.result.body:
        s.best = best.result.key
        s.p_vs_best = compare(_samples(s.result), _samples(best.result))
    s.breakthrough = (
        len(s.standing) >= QUORUM
        and s.median is not None
        and s.median >= BREAKTHROUGH_SCORE
        and s.reproduced >= MIN_REPRODUCED
        and s.consensus == REPRODUCED
        and s.copy_of is None
        and best is not None
        and s.p_vs_best is not None
        and s.p_vs_best < SIGNIFICANCE
        and _better(s.result, best.result)
    )
