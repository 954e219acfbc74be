"""What every research domain provides: tasks, a config schema, mutation operators and an evaluation.

A domain is pure Python over data shipped in the package (hash-checked), so the same config gives the same
number in CPython and in a tab. The agent loop (`pynode.research.agent`) only talks to this interface.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

Config = dict[
    str, Any
]  # JSON-like: str keys; values str, int, bool, float (as finite floats), lists of those


class ConfigError(ValueError):
    """A config that does not fit the task's schema (from a peer, an LLM or a bug): refused with a reason."""


@dataclass(frozen=True)
class Task:
    """One leaderboard: a task id with one metric, its unit and direction (never mixed with another)."""

    domain: str  # one of pynode.state.records.DOMAINS
    id: str  # slug, unique across domains, e.g. "cranfield-ndcg10"
    metric: str  # slug ([a-z0-9._-]), e.g. "ndcg10"
    unit: str  # e.g. "ndcg", "usd", "sharpe", "nats/char", "share"
    direction: Literal["min", "max"]
    title: str  # one line for people
    seeds: int = 3  # repetitions per experiment (seeds or bootstrap resamples), ≥ 3
    budget_s: float = 60.0  # rough CPU seconds one experiment (all seeds) may take on a 2-core machine
    reference: str = ""  # a published reference value and source, if one exists (for the benchmark's table)
    tolerance: float = (
        1e-9  # |claimed - re-measured| allowed per seed when reproducing (platform float drift)
    )


@dataclass(frozen=True)
class Mutation:
    """A named operator that turns a parent config into a child; `rng` is a random.Random seeded by the agent."""

    name: str
    apply: Callable[[Config, Any], Config]  # (parent, rng) -> child (validated afterwards by the domain)
    describe: Callable[[Config, Config], str] = field(
        default=lambda parent, child: ""
    )  # the stated prediction


@dataclass(frozen=True)
class Evaluation:
    """The metric for one seed (or resample) of one config, plus details for the paper (curves, counts).

    `value` is what agents select on. A domain with a split kept from selection (search's held-out queries,
    finance's test period) puts that metric in `details["heldout"]`: results carry it and boards show it, but
    no strategy ever reads it.
    """

    value: float
    details: Mapping[str, Any] = field(default_factory=dict)
    # a domain that trains (ml): the trained θ's bytes, which the result names by SHA-256 in `checkpoints` and
    # puts into the storage service for reviewers to evaluate; kept out of `details`, which papers render
    checkpoint: bytes | None = field(default=None, repr=False, compare=False)


class Domain(Protocol):
    name: str  # "ml" | "search" | "finance" | "skills" | "causes"
    tasks: Mapping[str, Task]  # task id -> Task

    def baseline(self, task: str) -> Config:
        """The task's baseline config (what a newcomer starts from)."""
        ...

    def validate(self, task: str, config: Mapping[str, Any]) -> Config:
        """The canonical form of `config` (defaults filled, types exact), or ConfigError. Hostile input."""
        ...

    def sample(self, task: str, rng: Any) -> Config:
        """A config drawn uniformly from the schema's ranges (the random-search baseline uses only this)."""
        ...

    def mutations(self, task: str) -> list[Mutation]:
        """Operators the built-in strategy may apply (a bandit chooses among them)."""
        ...

    def crossover(self, task: str, a: Config, b: Config, rng: Any) -> Config:
        """A child mixing two parents' settings (used with peers' best configs)."""
        ...

    def evaluate(self, task: str, config: Config, seed: int) -> Evaluation:
        """Run one seed (or bootstrap resample) of a validated config. Deterministic given (config, seed)."""
        ...
