"""The skills domain: programming by example on the SyGuS-Comp 2018 PBE Strings track.

An experiment runs the config's strategy on each of the 27 task problems, looking only at the problem's
training examples (a known program from the config is used instead when it fits them), and scores each program
on the problem's held-out examples. The search is deterministic (a candidate budget, not a clock), so the n
"seeds" are bootstrap resamples of the problems: seed s draws 27 problems with replacement from a counter-based
PRNG keyed by s, the same draw for every config. The value is the mean held-out share over the drawn problems.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from math import fsum  # float sums: sum() rounds differently from Python 3.12 on (Neumaier)
from typing import Any

from pynode.research.config import canonical
from pynode.research.domain import Config, ConfigError, Evaluation, Mutation, Task
from pynode.research.skills import schema
from pynode.research.skills.interp import solves
from pynode.research.skills.limits import RESULTS_CACHE
from pynode.research.skills.mutations import cost_step, describe, mutations
from pynode.research.skills.problems import TRAIN_EXAMPLES, split, task_problems
from pynode.research.skills.program import Term, parse_program, show, subterms
from pynode.research.skills.synth import SearchParams, synthesize
from pynode.train.rng import Stream, mix

TASK = Task(
    domain="skills",
    id="sygus-strings",
    metric="heldout-share",
    unit="share",
    direction="max",
    title=f"SyGuS-Comp 2018 PBE Strings: share of held-out examples solved, 27 problems, {TRAIN_EXAMPLES} seen each",
    seeds=3,
    budget_s=60.0,
    reference="SyGuS-Comp 2018 enumerative solvers (EUPHONY) solved most of the track in minutes per problem",
)
_RESAMPLE_KEY = 0x5C111  # namespaces the bootstrap stream of problems


@dataclass(frozen=True)
class Outcome:
    """One problem under one config."""

    program: str | None  # canonical text of the program used (fits the training examples), or None
    reused: bool  # the program came from the config
    candidates: int  # terms the search evaluated
    heldout_solved: int
    heldout_total: int

    @property
    def share(self) -> float:
        return self.heldout_solved / self.heldout_total


def _library(config: Config) -> list[Term]:
    """Subterms (of size > 1) of every program the config carries, each once, in a fixed order."""
    seen: dict[str, Term] = {}
    for name, text in config["programs"].items():
        for t in subterms(parse_program(text, split(name).problem.grammar)):
            if t[0] not in ("var", "const"):
                seen.setdefault(show(t), t)
    return [seen[k] for k in sorted(seen)]


def solve(name: str, config: Config, library: list[Term]) -> Outcome:
    s = split(name)
    p = s.problem
    known = config["programs"].get(name)
    if known is not None:
        term = parse_program(known, p.grammar)
        if all(solves(term, p.params, e) for e in s.train):
            return Outcome(known, True, 0, sum(solves(term, p.params, e) for e in s.heldout), len(s.heldout))
    params = SearchParams(
        config["max_cost"], config["max_candidates"], config["oe"], config["cegis"], config["costs"]
    )
    found = synthesize(p, s.train, params, library if config["library"] else ())
    if found.program is None:
        return Outcome(None, False, found.candidates, 0, len(s.heldout))
    solved = sum(solves(found.program, p.params, e) for e in s.heldout)
    return Outcome(show(found.program), False, found.candidates, solved, len(s.heldout))


def bootstrap(values: list[float], seed: int) -> float:
    stream = Stream(mix(_RESAMPLE_KEY, seed))
    return fsum(values[stream.below(len(values))] for _ in values) / len(values)


class SkillsDomain:
    name = "skills"
    tasks: Mapping[str, Task] = {TASK.id: TASK}

    def __init__(self) -> None:
        self._cache: OrderedDict[str, list[Outcome]] = OrderedDict()

    def _task(self, task: str) -> Task:
        if task not in self.tasks:
            raise ConfigError(f"unknown skills task {task[:40]!r}")
        return self.tasks[task]

    def baseline(self, task: str) -> Config:
        self._task(task)
        return schema.validate(schema.BASELINE)

    def validate(self, task: str, config: Mapping[str, Any]) -> Config:
        self._task(task)
        return schema.validate(config)

    def sample(self, task: str, rng: Any) -> Config:
        self._task(task)
        return schema.sample(rng)

    def mutations(self, task: str) -> list[Mutation]:
        self._task(task)
        return [*mutations(), Mutation("program.adopt", self._adopt, describe)]

    def _adopt(self, parent: Config, rng: Any) -> Config:
        """The parent plus the programs its own strategy finds (from the cache when the parent was run here,
        else by running its search once): solved problems are carried, so later experiments search the rest."""
        parent = schema.validate(parent)
        found = {
            n: o.program for n, o in zip(task_problems(), self.outcomes(parent), strict=True) if o.program
        }
        child = schema.with_programs(parent, found)
        return child if child != parent else cost_step(parent, rng)

    def crossover(self, task: str, a: Config, b: Config, rng: Any) -> Config:
        self._task(task)
        return schema.crossover(a, b, rng)

    def with_programs(self, task: str, config: Config, evaluation: Evaluation) -> Config:
        """The config plus the programs its evaluation found: the skills a next experiment starts from."""
        self._task(task)
        return schema.with_programs(config, evaluation.details.get("programs", {}))

    def outcomes(self, config: Config) -> list[Outcome]:
        """Per-problem outcomes, cached: the seeds of a config share one search."""
        key = canonical(config)
        hit = self._cache.get(key)
        if hit is None:
            library = _library(config) if config["library"] else []
            hit = [solve(name, config, library) for name in task_problems()]
            self._cache[key] = hit
            if len(self._cache) > RESULTS_CACHE:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(key)
        return hit

    def evaluate(self, task: str, config: Config, seed: int) -> Evaluation:
        self._task(task)
        config = schema.validate(config)
        out = self.outcomes(config)
        shares = [o.share for o in out]
        return Evaluation(
            bootstrap(shares, seed),
            {
                "heldout_share": fsum(shares) / len(shares),
                "examples_share": sum(o.heldout_solved for o in out) / sum(o.heldout_total for o in out),
                "problems_solved": sum(o.heldout_solved == o.heldout_total for o in out),
                "train_solved": sum(o.program is not None for o in out),
                "problems": len(out),
                "candidates": sum(o.candidates for o in out),
                "per_problem": {n: round(o.share, 4) for n, o in zip(task_problems(), out, strict=True)},
                "programs": {n: o.program for n, o in zip(task_problems(), out, strict=True) if o.program},
                "resample": seed,
            },
        )
