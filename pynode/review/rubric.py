"""The published rubric (docs/REVIEW.md): a 1–10 score computed from measurements and records only.

Two honest reviewers agree exactly: the gate is the re-execution's verdict, and every other sub-score reads
only the result's claimed samples (which the gate has just checked), configs the reviewer re-ran itself on the
same seeds (the result's parent's and the task's baseline — deterministic measurements that trust nobody's
claimed numbers), earlier results on the task, and the result's paper — never the reviewer's float noise on the
result itself.

    not reproduced → 1        unavailable → 2        a copy of an earlier result → 1
    otherwise score = 1 + effect (0–2) + strength (0–3) + novelty (0 or 2) + completeness (0–2)

- effect: d = (mean − reference mean) in the task's direction ÷ the task's noise floor, the reference being the
  parent's config as re-run (the baseline's when the result names no parent of its task), the noise floor the
  sd of the baseline's re-run samples. d ≤ 0 → 0, d < 1 → 1, else 2.
- strength: one point each for n ≥ 3 seeds; p < 0.05 against the reference (paired t-test on equal seed counts
  — seed i is the same resample or initialisation for every config — else Welch) with the effect in the task's
  direction; the result's 95% CI excluding the reference's mean.
- novelty: 0 when an earlier result on the task has the same config (a re-run), else 2. The same config *and*
  the same samples as an earlier result make the result a copy (`copy_of`), scored 1.
- completeness: the result's paper (by the same author, citing it) has a hypothesis, a method section, a figure
  and the exact reproduction command: all four → 2, two or three → 1, else 0.

Whether a result improves on the task's best is not the rubric's question but the breakthrough view's, which
compares established results (pynode.review.breakthroughs).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from pynode.research import stats
from pynode.research.agent import decimal_text
from pynode.research.config import config_hash, parse
from pynode.research.domain import ConfigError
from pynode.review.params import SIGNIFICANCE
from pynode.review.reexecute import NOT_REPRODUCED, REPRODUCED, Reexecution
from pynode.state.records import Record

RUBRIC_ID = "hs-review-1"
SUBSCORES = ("reproduction", "effect", "strength", "novelty", "completeness")
NOVEL = 2  # a config no earlier result on the task ran: with a complete paper, significance then makes 8


@dataclass(frozen=True)
class Context:
    """The records a score reads besides the result: all precede it, so every reviewer holds the same ones."""

    earlier: Sequence[Record] = ()  # results on the same task published before this one
    paper: Record | None = None


@dataclass(frozen=True)
class Assessment:
    verdict: str
    score: int
    subscores: dict[str, int]
    copy_of: str | None = None
    notes: list[str] = field(default_factory=list)  # the measurements behind the sub-scores, for the comment


def precedes(a: Record, b: Record) -> bool:
    """`a` was published before `b` (by its timestamp; equal timestamps by key): a total order everyone shares."""
    return (a.ts, a.key) < (b.ts, b.key)


def context_for(result: Record, results: Iterable[Record], papers: Iterable[Record]) -> Context:
    """The context of `result` among all results and papers a replica holds."""
    b = result.body
    earlier = [
        r
        for r in results
        if r.kind == "result"
        and r.body["domain"] == b["domain"]
        and r.body["task"] == b["task"]
        and precedes(r, result)
    ]
    cited = [p for p in papers if p.author == result.author and result.key in p.body["results"]]
    return Context(earlier=earlier, paper=min(cited, key=lambda p: (p.ts, p.key)) if cited else None)


def assess(result: Record, reexecution: Reexecution, ctx: Context) -> Assessment:
    zero = dict.fromkeys(SUBSCORES, 0)
    if reexecution.verdict != REPRODUCED:
        score = 1 if reexecution.verdict == NOT_REPRODUCED else 2
        return Assessment(reexecution.verdict, score, zero, notes=[reexecution.reason])
    copy = find_copy(result, ctx.earlier)
    if copy is not None:
        return Assessment(REPRODUCED, 1, {**zero, "reproduction": 1}, copy.key, [f"copy of {copy.key[:16]}"])
    samples = _samples(result)
    ref = Reference(
        list(reexecution.reference or reexecution.baseline),
        list(reexecution.baseline),
        f"parent {reexecution.reference_key[:12]}" if reexecution.reference_key else "the baseline",
    )
    notes: list[str] = []
    effect = _effect(result, samples, ref, notes)
    strength = _strength(result, samples, ref, notes)
    novelty = _novelty(result, ctx.earlier, notes)
    completeness = _completeness(result, ctx.paper, notes)
    subscores = {
        "reproduction": 1,
        "effect": effect,
        "strength": strength,
        "novelty": novelty,
        "completeness": completeness,
    }
    return Assessment(REPRODUCED, sum(subscores.values()), subscores, None, notes)


def find_copy(result: Record, earlier: Iterable[Record]) -> Record | None:
    """The earliest result before `result` with the same config and the same samples, if any."""
    b = result.body
    if "config" not in b or "samples" not in b:
        return None
    mine = _config_id(b["config"])
    same = [
        r
        for r in earlier
        if r.body.get("samples") == b["samples"] and _config_id(r.body.get("config")) == mine
    ]
    return min(same, key=lambda r: (r.ts, r.key)) if same else None


def _config_id(text: str | None) -> str | None:
    if text is None:
        return None
    try:
        return config_hash(parse(text))
    except ConfigError:
        return text


def _samples(r: Record) -> list[float]:
    return [float(v) for v in r.body.get("samples", [r.body["value"]])]


def _sign(r: Record) -> float:
    return -1.0 if r.body["direction"] == "min" else 1.0


@dataclass(frozen=True)
class Reference:
    """What the effect is measured against: samples the reviewer re-ran itself, on the result's seeds."""

    samples: list[float]  # the parent's config (or the baseline's)
    baseline: list[float]  # the baseline's: its spread is the task's noise floor
    name: str


def _effect(result: Record, samples: list[float], ref: Reference, notes: list[str]) -> int:
    if not ref.samples:
        notes.append("nothing measured to compare with")
        return 0
    gain = _sign(result) * (stats.mean(samples) - stats.mean(ref.samples))
    floor = stats.sd(ref.baseline) if len(ref.baseline) > 1 else 0.0
    d = gain / floor if floor > 0 else (math.inf if gain > 0 else 0.0)
    notes.append(
        f"effect {decimal_text(d, 3)} noise floors over {ref.name} ({decimal_text(stats.mean(ref.samples))})"
    )
    return 0 if d <= 0 else 1 if d < 1 else 2


def compare(a: Sequence[float], b: Sequence[float]) -> float:
    """Two-sided p of mean(a) vs mean(b): paired on equal seed counts (seed i is the same resample or
    initialisation for every config of a task), Welch otherwise; 1 when either has fewer than 2 samples."""
    if len(a) < 2 or len(b) < 2:
        return 1.0
    return stats.paired(a, b).p_value if len(a) == len(b) else stats.welch(a, b).p_value


def _strength(result: Record, samples: list[float], ref: Reference, notes: list[str]) -> int:
    points = 1 if len(samples) >= 3 else 0
    if len(ref.samples) < 2 or len(samples) < 2:
        return points
    p = compare(samples, ref.samples)
    mean = stats.mean(ref.samples)
    better = _sign(result) * (stats.mean(samples) - mean) > 0
    points += 1 if better and p < SIGNIFICANCE else 0
    s = stats.summarize(samples)
    points += 1 if (s.ci_low > mean if _sign(result) > 0 else s.ci_high < mean) else 0
    notes.append(
        f"n {len(samples)}, p {decimal_text(p, 3)} vs {ref.name}, 95% CI [{decimal_text(s.ci_low)}, "
        f"{decimal_text(s.ci_high)}]"
    )
    return points


def config_distance(a: str, b: str) -> float:
    """Share of top-level settings (the union of both configs' keys) whose values differ: 0 = same config."""
    try:
        ca, cb = parse(a), parse(b)
    except ConfigError:
        return 0.0 if a == b else 1.0
    keys = set(ca) | set(cb)
    return sum(ca.get(k) != cb.get(k) for k in keys) / len(keys) if keys else 0.0


def _novelty(result: Record, earlier: Sequence[Record], notes: list[str]) -> int:
    mine = result.body.get("config")
    others = [r for r in earlier if "config" in r.body]
    if mine is None or not others:
        return NOVEL
    nearest = min(others, key=lambda r: (config_distance(mine, r.body["config"]), r.ts, r.key))
    distance = config_distance(mine, nearest.body["config"])
    notes.append(f"config distance {decimal_text(distance, 3)} to {nearest.key[:12]}")
    return 0 if distance == 0 else NOVEL


def _completeness(result: Record, paper: Record | None, notes: list[str]) -> int:
    if paper is None:
        notes.append("no paper")
        return 0
    md = paper.body["markdown"]
    present = [
        "hypothesis" in result.body or "## Hypothesis" in md,
        "## Method" in md,
        bool(paper.body.get("figures")) and "![" in md,
        f"hyperspace reproduce {result.key}" in md,
    ]
    notes.append(f"paper {sum(present)}/4")
    return 2 if all(present) else 1 if sum(present) >= 2 else 0
