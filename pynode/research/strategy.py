"""Hypothesis strategies: where the next config comes from.

`Bandit` (the built-in one) treats each mutation operator of the domain, crossover of two good configs, and a
fresh draw from the schema (a restart) as the arms of a bandit, chosen by Thompson sampling; an arm is rewarded
when its child beat its parent, so operators that work on this task get chosen more. Parents come from the
board — own results and peers' alike — by a tournament among the best. Each experiment, the arms fill a pool of
CANDIDATES untried configs and a surrogate of the board (pynode.research.surrogate: nearby results' quality
ranks, plus a bonus for novelty) picks the one to run: screening costs microseconds, an experiment seconds.
Measured on finance (budget 24, 4 agents, 10 repetitions, our side): a pool of 32 reached 0.386 against 0.371
with 12. Spending more of the pool or the score on exploration did worse: 8 fresh schema draws in every pool
0.331, novelty weighing up to 1.0 on a small board 0.367, a far candidate's predicted rank shrunk to the median
0.271 — the screen pays by picking the most promising child among many, not by leaving the region.
`RandomSearch` draws configs from the schema and ignores the board: the benchmark's baseline. Neither ever
proposes a config already on the board (dedupe by config hash).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from pynode.research.config import config_hash
from pynode.research.domain import Config, ConfigError, Domain, Mutation
from pynode.research.limits import MAX_PROPOSALS
from pynode.research.procedure import SOLO
from pynode.research.surrogate import predict

CROSSOVER = "crossover"
RESTART = "restart"  # an arm: a fresh draw from the schema, so the search can leave a poor basin
TOURNAMENT = 5  # parents are drawn among the best few results, so exploration follows several lines at once
CANDIDATES = 32  # candidates the surrogate screens per experiment: evaluating one costs seconds, screening µs
NOVELTY = 0.3  # how much distance from every tried config counts beside the predicted quality rank
NEUTRAL_REST = (
    2  # an arm whose children measured exactly as their parents this often since its last win rests
)


@dataclass(frozen=True)
class Prior:
    """A validated result on the board that can serve as a parent."""

    key: str
    author: str  # peer id text
    config: Config
    samples: tuple[float, ...]
    mean: float
    procedure: str = SOLO  # how its samples were trained (pynode.research.procedure): compared only alike


@dataclass(frozen=True)
class Proposal:
    config: Config
    operator: str  # the arm that made it ("random" for random search, "baseline", "llm")
    parent: Prior | None
    prediction: str  # the stated prediction, one sentence
    other: Prior | None = None  # crossover's second parent


class Strategy(Protocol):
    name: str

    def propose(self, domain: Domain, task: str, board: Sequence[Prior], tried: set[str]) -> Proposal | None:
        """A new config (never one whose hash is in `tried`), or None when nothing new can be found."""
        ...

    def feedback(self, proposal: Proposal, improved: bool, neutral: bool = False) -> None:
        """`improved`: the child beat its parent; `neutral`: it measured exactly as its parent did."""
        ...


def ranked(board: Sequence[Prior], direction: str) -> list[Prior]:
    return sorted(board, key=lambda p: (p.mean if direction == "min" else -p.mean, p.key))


@dataclass
class Bandit:
    rng: random.Random
    name: str = "bandit"
    pulls: dict[str, int] = field(default_factory=dict)
    wins: dict[str, float] = field(default_factory=dict)
    neutral: dict[str, int] = field(
        default_factory=dict
    )  # children equal to their parent since the arm's last win
    screen: bool = True  # rank candidates with the board's surrogate (False: the first candidate, unscreened)

    def choose_arm(self, arms: Sequence[str]) -> str:
        """Thompson sampling: each arm's success rate drawn from its Beta posterior, the highest draw wins.
        Unlike UCB's deterministic pick, successive draws spread over the arms that may be good, which is what
        filling a pool of candidates needs."""
        return max(
            arms,
            key=lambda a: (
                self.rng.betavariate(
                    1.0 + self.wins.get(a, 0.0), 1.0 + self.pulls.get(a, 0) - self.wins.get(a, 0.0)
                ),
                a,
            ),
        )

    def propose(self, domain: Domain, task: str, board: Sequence[Prior], tried: set[str]) -> Proposal | None:
        spec = domain.tasks[task]
        best = ranked(board, spec.direction)[:TOURNAMENT]
        if not best:
            return None
        mutations = {m.name: m for m in domain.mutations(task)}
        arms = [*mutations, RESTART] + ([CROSSOVER] if len(best) >= 2 else [])
        # An arm whose children keep measuring exactly like their parents changes nothing that matters here
        # (a skills program edit the search overrides): its near-copies of the best would win the screening
        # below and spend the budget on a plateau, so it sits out until the board moves.
        arms = [a for a in arms if self.neutral.get(a, 0) < NEUTRAL_REST] or arms
        pool: list[Proposal] = []
        seen = set(tried)
        for _ in range(CANDIDATES + MAX_PROPOSALS):  # up to MAX_PROPOSALS duplicates or junk beside the pool
            if len(pool) >= (CANDIDATES if self.screen else 1):
                break
            arm = self.choose_arm(arms)
            try:
                proposal = self._make(domain, task, arm, mutations, best)
            except ConfigError:
                self.feedback(Proposal({}, arm, None, ""), improved=False)  # an arm that yields junk loses
                continue
            h = config_hash(proposal.config)
            if h not in seen:
                seen.add(h)
                pool.append(proposal)
        if len(pool) < 2:
            return pool[0] if pool else None
        guesses = predict(
            [p.config for p in board], [p.mean for p in board], spec.direction, [p.config for p in pool]
        )
        pick = max(range(len(pool)), key=lambda k: (guesses[k][0] + NOVELTY * guesses[k][1], -k))
        return pool[pick]

    def _make(
        self, domain: Domain, task: str, arm: str, mutations: dict[str, Mutation], best: list[Prior]
    ) -> Proposal:
        """One candidate from `arm`: a mutation of a parent among the best, a crossover, or a fresh draw."""
        metric = domain.tasks[task].metric
        parent = best[0] if self.rng.random() < 0.5 else self.rng.choice(best)
        if arm == RESTART:
            child = domain.validate(task, domain.sample(task, self.rng))
            return Proposal(
                child, arm, best[0], f"a fresh configuration far from the explored ones improves {metric}"
            )
        if arm == CROSSOVER:
            other = self.rng.choice([p for p in best if p is not parent])
            child = domain.validate(task, domain.crossover(task, parent.config, other.config, self.rng))
            prediction = (
                f"combining the settings of {other.key[:12]} with {parent.key[:12]} keeps what made "
                f"each good and improves {metric}"
            )
            return Proposal(child, arm, parent, prediction, other)
        mutation = mutations[arm]
        child = domain.validate(task, mutation.apply(dict(parent.config), self.rng))
        prediction = (
            mutation.describe(parent.config, child) or f"{arm} on {parent.key[:12]} improves {metric}"
        )
        return Proposal(child, arm, parent, prediction)

    def feedback(self, proposal: Proposal, improved: bool, neutral: bool = False) -> None:
        arm = proposal.operator
        self.pulls[arm] = self.pulls.get(arm, 0) + 1
        self.wins[arm] = self.wins.get(arm, 0.0) + (1.0 if improved else 0.0)
        if improved:
            self.neutral.clear()  # the board moved: every arm may be useful again around the new best
        elif neutral:
            self.neutral[arm] = self.neutral.get(arm, 0) + 1


@dataclass
class RandomSearch:
    rng: random.Random
    name: str = "random"

    def propose(self, domain: Domain, task: str, board: Sequence[Prior], tried: set[str]) -> Proposal | None:
        spec = domain.tasks[task]
        for _ in range(MAX_PROPOSALS):
            try:
                config = domain.validate(task, domain.sample(task, self.rng))
            except ConfigError:
                continue
            if config_hash(config) not in tried:
                parent = ranked(board, spec.direction)[0] if board else None
                return Proposal(config, "random", parent, f"a random configuration improves {spec.metric}")
        return None

    def feedback(self, proposal: Proposal, improved: bool, neutral: bool = False) -> None:
        """Random search learns nothing."""
