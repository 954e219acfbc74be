"""Hypothesis strategies: where the next config comes from.

`Bandit` (the built-in one) treats each mutation operator of the domain, plus crossover of two good configs, as an
arm of a UCB1 bandit (Auer et al. 2002): an arm is rewarded when its child beat its parent, so operators that work
on this task get chosen more. Parents come from the board — own results and peers' alike — by a tournament
among the best. `RandomSearch` draws configs from the schema and ignores the board: the benchmark's baseline.
Neither ever proposes a config already on the board (dedupe by config hash).
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from pynode.research.config import config_hash
from pynode.research.domain import Config, ConfigError, Domain
from pynode.research.limits import MAX_PROPOSALS

CROSSOVER = "crossover"
TOURNAMENT = 5  # parents are drawn among the best few results, so exploration follows several lines at once


@dataclass(frozen=True)
class Prior:
    """A validated result on the board that can serve as a parent."""

    key: str
    author: str  # peer id text
    config: Config
    samples: tuple[float, ...]
    mean: float


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

    def feedback(self, proposal: Proposal, improved: bool) -> None: ...


def ranked(board: Sequence[Prior], direction: str) -> list[Prior]:
    return sorted(board, key=lambda p: (p.mean if direction == "min" else -p.mean, p.key))


@dataclass
class Bandit:
    rng: random.Random
    name: str = "bandit"
    pulls: dict[str, int] = field(default_factory=dict)
    wins: dict[str, float] = field(default_factory=dict)

    def choose_arm(self, arms: Sequence[str]) -> str:
        untried = [a for a in arms if not self.pulls.get(a)]
        if untried:
            return self.rng.choice(untried)
        total = sum(self.pulls[a] for a in arms)

        def ucb(a: str) -> float:
            n = self.pulls[a]
            return self.wins.get(a, 0.0) / n + math.sqrt(2 * math.log(total) / n)

        return max(arms, key=lambda a: (ucb(a), a))

    def propose(self, domain: Domain, task: str, board: Sequence[Prior], tried: set[str]) -> Proposal | None:
        spec = domain.tasks[task]
        best = ranked(board, spec.direction)[:TOURNAMENT]
        if not best:
            return None
        mutations = {m.name: m for m in domain.mutations(task)}
        arms = list(mutations) + ([CROSSOVER] if len(best) >= 2 else [])
        for _ in range(MAX_PROPOSALS):
            arm = self.choose_arm(arms)
            parent = best[0] if self.rng.random() < 0.5 else self.rng.choice(best)
            try:
                if arm == CROSSOVER:
                    other = self.rng.choice([p for p in best if p is not parent])
                    child = domain.validate(
                        task, domain.crossover(task, parent.config, other.config, self.rng)
                    )
                    prediction = (
                        f"combining the settings of {other.key[:12]} with {parent.key[:12]} keeps what made "
                        f"each good and improves {spec.metric}"
                    )
                    proposal = Proposal(child, arm, parent, prediction, other)
                else:
                    mutation = mutations[arm]
                    child = domain.validate(task, mutation.apply(dict(parent.config), self.rng))
                    prediction = mutation.describe(parent.config, child) or (
                        f"{arm} on {parent.key[:12]} improves {spec.metric}"
                    )
                    proposal = Proposal(child, arm, parent, prediction)
            except ConfigError:
                self.feedback(Proposal({}, arm, None, ""), improved=False)  # an arm that yields junk loses
                continue
            if config_hash(child) not in tried:
                return proposal
        return None

    def feedback(self, proposal: Proposal, improved: bool) -> None:
        arm = proposal.operator
        self.pulls[arm] = self.pulls.get(arm, 0) + 1
        self.wins[arm] = self.wins.get(arm, 0.0) + (1.0 if improved else 0.0)


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

    def feedback(self, proposal: Proposal, improved: bool) -> None:
        """Random search learns nothing."""
