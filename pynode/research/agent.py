"""The research loop as a sans-IO core: inspiration → hypothesis → (experiment) → statistics → paper → result.

The agent never runs anything itself. `plan` reads the board and returns the next experiment; the runtime runs
it (`experiment.run`, on a worker thread in CPython, paced in a tab) and hands the per-seed values to
`conclude`, which does the statistics and writes the result body and the paper. So the same code drives a node,
a tab, the benchmark and the simulator.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from pynode.identity import peer_id_text
from pynode.research import stats
from pynode.research.config import canonical, config_hash, parse
from pynode.research.domain import ConfigError, Domain, Evaluation, Task
from pynode.research.procedure import SOLO, procedure
from pynode.research.strategy import Prior, Proposal, Strategy, ranked
from pynode.state.records import Record

ALPHA = 0.05  # significance level for "improvement"
SAMPLE_DIGITS = 10  # significant digits of the per-seed samples a result carries
SAMPLE_ROUNDING = 1e-9  # the relative error that rounding to SAMPLE_DIGITS can introduce, with margin


@dataclass(frozen=True)
class Comparison:
    """The new config's samples against another result's: a t-test and Hedges' g.

    Seed i means the same randomness for every config of a task (the same bootstrap resample, the same
    initialisation), so results run on the same seeds are compared with the paired t-test, in which that luck
    cancels; Welch's test (unequal variances) is the fallback when the seed counts differ.
    """

    key: str
    mean: float
    p_value: float
    test: str  # "paired" or "welch"
    effect: float  # signed so that > 0 means better in the task's direction


@dataclass(frozen=True)
class Finding:
    task: Task
    proposal: Proposal
    samples: tuple[float, ...]
    mean: float
    ci95: float  # half-width
    vs_parent: Comparison | None
    vs_best: Comparison | None
    noise_floor: float | None  # seed-to-seed sd of the task's baseline
    baseline_key: str | None
    details: tuple[dict[str, Any], ...]  # per-seed details from the domain (curves, counts)
    improvement: bool  # on the best: better mean, p < 0.05, and the CI excludes the best's mean
    heldout: float | None  # the metric on data never used for selection, where the domain keeps some

    @property
    def confirmed(self) -> bool:
        """The stated prediction held: better than the parent with p < 0.05."""
        parent = self.vs_parent
        return parent is not None and parent.effect > 0 and parent.p_value < ALPHA


def decimal_text(x: float, digits: int = 6) -> str:
    """A float as the decimal text records carry: `digits` significant digits, no exponent, ≤ 12 decimals.
    Records hold no infinities: ±inf (an effect size with zero spread) is clamped to ±1e15."""
    x = max(-1e15, min(1e15, x))
    text = format(Decimal(format(x, f".{digits}g")), "f")
    if "." in text:
        whole, fraction = text.split(".")
        fraction = fraction[:12].rstrip("0")
        text = f"{whole}.{fraction}" if fraction else whole
    return "0" if text in ("-0", "") else text


class Agent:
    def __init__(self, domain: Domain, task: str, strategy: Strategy) -> None:
        self.domain = domain
        self.task = domain.tasks[task]
        self.strategy = strategy

    def baseline_prior(self, board: Sequence[Prior]) -> Prior | None:
        target = config_hash(self.domain.validate(self.task.id, self.domain.baseline(self.task.id)))
        found = [p for p in board if config_hash(p.config) == target]
        return min(found, key=lambda p: p.key) if found else None

    def plan(self, board: Sequence[Prior], tried: set[str]) -> Proposal | None:
        """The next experiment: the baseline if nobody ran it yet, else the strategy's proposal."""
        if self.baseline_prior(board) is None:
            config = self.domain.validate(self.task.id, self.domain.baseline(self.task.id))
            if config_hash(config) not in tried:
                return Proposal(
                    config, "baseline", None, f"the baseline sets the noise floor of {self.task.id}"
                )
        seen = tried | {config_hash(p.config) for p in board}
        return self.strategy.propose(self.domain, self.task.id, board, seen)

    def conclude(
        self,
        proposal: Proposal,
        evaluations: Sequence[Evaluation],
        board: Sequence[Prior],
        trained: str = SOLO,
    ) -> Finding:
        """The statistics of an experiment whose samples were trained as `trained` says (a procedure label):
        the parent and the best count only if their samples were trained the same way."""
        # The statistics use the samples as the result publishes them: against a parent's published samples,
        # raw values would differ in the 11th digit and a child equal to its parent would test as "better".
        samples = tuple(float(decimal_text(e.value, SAMPLE_DIGITS)) for e in evaluations)
        summary = stats.summarize(samples)
        baseline = self.baseline_prior(board)
        alike = [p for p in board if p.procedure == trained]
        ranked_board = ranked(alike, self.task.direction)
        best = ranked_board[0] if ranked_board else None
        parent = proposal.parent if proposal.parent and proposal.parent.procedure == trained else None
        vs_best = self._compare(samples, best)
        better = vs_best is not None and self._beats(summary.mean, vs_best.mean)
        heldout = [e.details.get("heldout") for e in evaluations]
        finding = Finding(
            task=self.task,
            proposal=proposal,
            samples=samples,
            mean=summary.mean,
            ci95=summary.ci_high - summary.mean,
            vs_parent=self._compare(samples, parent),
            vs_best=vs_best,
            noise_floor=stats.noise_floor(baseline.samples)
            if baseline and len(baseline.samples) > 1
            else None,
            baseline_key=baseline.key if baseline else None,
            details=tuple(dict(e.details) for e in evaluations),
            improvement=vs_best is not None
            and better
            and vs_best.p_value < ALPHA
            and not summary.ci_low <= vs_best.mean <= summary.ci_high,
            heldout=stats.mean(heldout) if all(isinstance(h, int | float) for h in heldout) else None,
        )
        if parent is not None:  # an operator is judged only against a parent trained alike
            # Rewarded for a better mean, not only a confirmed one: on 3 seeds a step rarely reaches p < 0.05
            # against its parent (in traced search campaigns no arm won once), which left the bandit blind.
            gain = self._beats(summary.mean, parent.mean)
            self.strategy.feedback(proposal, gain, neutral=samples == parent.samples)
        return finding

    def _beats(self, mean: float, other: float) -> bool:
        """`mean` is better than `other` in the task's direction."""
        return mean < other if self.task.direction == "min" else mean > other

    def _compare(self, samples: Sequence[float], other: Prior | None) -> Comparison | None:
        if other is None or len(other.samples) < 2 or len(samples) < 2:
            return None
        sign = -1.0 if self.task.direction == "min" else 1.0
        if len(samples) == len(other.samples):
            test, p = "paired", stats.paired(samples, other.samples).p_value
        else:
            test, p = "welch", stats.welch(samples, other.samples).p_value
        g = sign * stats.hedges_g(samples, other.samples)
        return Comparison(other.key, other.mean, p, test, g)


def result_body(finding: Finding, artifacts: str | None = None) -> dict[str, Any]:
    """The signed result's body (the `result` schema in pynode.state.records)."""
    t, p = finding.task, finding.proposal
    samples = [decimal_text(v, SAMPLE_DIGITS) for v in finding.samples]
    body: dict[str, Any] = {
        "domain": t.domain,
        "task": t.id,
        "metric": t.metric,
        "unit": t.unit,
        "direction": t.direction,
        "value": decimal_text(stats.mean([float(v) for v in samples])),  # what anyone recomputes from them
        "seeds": len(finding.samples),
        "ci95": decimal_text(finding.ci95),
        "samples": samples,
        "config": canonical(p.config),
        "hypothesis": p.prediction[:1000],
    }
    if finding.vs_parent is not None:
        body["p_value"] = decimal_text(finding.vs_parent.p_value)
    if p.parent is not None:
        body["inspired_by"] = p.parent.key
    if finding.baseline_key is not None:
        body["baseline"] = finding.baseline_key
    if finding.noise_floor is not None:
        body["noise_floor"] = decimal_text(finding.noise_floor)
    if finding.heldout is not None:
        body["heldout"] = decimal_text(finding.heldout)
    if artifacts:
        body["artifacts"] = artifacts
    return body


def priors(domain: Domain, task: Task, records: Iterable[Record]) -> tuple[list[Prior], list[Record]]:
    """The task's board as parents, and the records refused because their config fails the domain's schema.

    Results from before the research tier (no config or samples) are not parents but are not refused either.
    """
    board, refused = [], []
    for r in records:
        b = r.body
        if r.kind != "result" or (b["domain"], b["task"], b["metric"], b["unit"], b["direction"]) != (
            task.domain,
            task.id,
            task.metric,
            task.unit,
            task.direction,
        ):
            continue
        if "config" not in b or "samples" not in b:
            continue
        try:
            config = domain.validate(task.id, parse(b["config"]))
        except ConfigError:
            refused.append(r)
            continue
        samples = tuple(float(v) for v in b["samples"])
        trained = procedure(b.get("training"))
        board.append(Prior(r.key, peer_id_text(r.author), config, samples, stats.mean(samples), trained))
    return board, refused


def new_rng(seed: int | str) -> random.Random:
    return random.Random(str(seed))
