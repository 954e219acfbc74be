"""The causes domain: estimating a known causal effect from observational data.

What `evaluate(task, config, seed)` returns: the absolute error of the config's estimate on stratified
bootstrap resample `seed` of the task's observational sample (treated and controls resampled separately; the
same resample for every config) against the task's reference value. The reference is fixed, not resampled.

- nsw-cps-att: the effect of NSW job training on 1978 earnings (ATT), estimated from the 185 trainees and
  15,992 CPS households. The reference is the randomised experiment's answer, $1,794.34 (trainees minus
  randomised controls): a true benchmark. The naive difference in means is off by about $10,300.
- nhefs-smoking-ate: the effect of quitting smoking on weight gain 1971-82 (ATE). There is no experiment: the
  reference, 3.44 kg, is Hernán & Robins's own IP-weighted estimate (What If, §12.2), so the task measures
  agreement with a careful textbook analysis, not with a truth.
"""

from __future__ import annotations

from array import array
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from pynode.research.causes import mutations as hypotheses
from pynode.research.causes.estimate import estimate
from pynode.research.causes.estimators import View, capped_logits, propensity_fit
from pynode.research.causes.limits import FITS_CACHE, RESAMPLES_CACHE
from pynode.research.causes.resample import Resample, everyone, stratified_bootstrap
from pynode.research.causes.samples import (
    NHEFS_VARIABLES,
    NSW_VARIABLES,
    Sample,
    experimental_estimate,
    nhefs,
    nsw_cps,
)
from pynode.research.causes.schema import Schema
from pynode.research.causes.terms import term_columns
from pynode.research.domain import Config, ConfigError, Evaluation, Mutation, Task

NSW = Task(
    domain="causes",
    id="nsw-cps-att",
    metric="abs-error",
    unit="usd",
    direction="min",
    title=(
        "NSW job training's effect on 1978 earnings estimated from CPS controls: absolute error (USD) "
        "against the randomised experiment's $1,794"
    ),
    seeds=5,
    budget_s=30.0,
    reference="experimental estimate $1,794 (LaLonde 1986; Dehejia & Wahba 1999: NSW trainees vs randomised controls)",
)
NHEFS = Task(
    domain="causes",
    id="nhefs-smoking-ate",
    metric="abs-error",
    unit="kg",
    direction="min",
    title=(
        "Quitting smoking's effect on weight gain (NHEFS): distance (kg) from the textbook's IP-weighted "
        "3.44 kg, a reference analysis rather than an experimental truth"
    ),
    seeds=5,
    budget_s=10.0,
    reference="3.4 kg, 95% CI 2.4-4.5 (Hernán & Robins, Causal Inference: What If, §12.2, IP weighting)",
)
NHEFS_REFERENCE = 3.44  # kg: Hernán & Robins §12.2 (their program prints 3.4405)
SCHEMAS = {
    NSW.id: Schema(NSW_VARIABLES, ("age", "black", "educ", "hisp", "marr", "nodegree", "re74", "re75")),
    NHEFS.id: Schema(
        NHEFS_VARIABLES,
        ("active", "age", "education", "exercise", "race", "sex", "smokeintensity", "smokeyrs", "wt71"),
    ),
}
TARGETS = {NSW.id: "the experimental $1,794", NHEFS.id: "the textbook's 3.44 kg"}  # for stated predictions


def task_sample(task: str) -> tuple[Sample, bool, float]:
    """(observational sample, whether the estimand is the ATT, reference value) of a task."""
    if task == NSW.id:
        return nsw_cps(), True, experimental_estimate()
    return nhefs(), False, NHEFS_REFERENCE


class Lru(OrderedDict):
    """At most `limit` entries; the least recently used goes first."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    def recall(self, key: Any) -> Any:
        """The entry for key (now the most recent), or None."""
        if key not in self:
            return None
        self.move_to_end(key)
        return self[key]

    def remember(self, key: Any, value: Any) -> Any:
        self[key] = value
        if len(self) > self.limit:
            self.popitem(last=False)
        return value


class CausesDomain:
    name = "causes"
    tasks: Mapping[str, Task] = {NSW.id: NSW, NHEFS.id: NHEFS}

    def __init__(self) -> None:
        self._columns: dict[tuple[str, str], list[array]] = {}  # (task, term) -> its columns; bounded by the
        # vocabulary (~70 terms, 130 kB a column on the CPS sample), and shared by every model that names the term
        # Pure functions of part of a config, shared by the configs that agree on that part (a local mutation of
        # the estimator, trimming, matching or the outcome model keeps the propensity model):
        self._resamples = Lru(RESAMPLES_CACHE)  # (task, seed) -> its bootstrap resample
        self._fits = Lru(FITS_CACHE)  # (task, seed or None, ps terms, ridge) -> propensity coefficients

    def schema(self, task: str) -> Schema:
        if task not in SCHEMAS:
            raise ConfigError(f"unknown causes task {task[:40]!r}")
        return SCHEMAS[task]

    def baseline(self, task: str) -> Config:
        return self.schema(task).validate({"estimator": "naive"})

    def validate(self, task: str, config: Mapping[str, Any]) -> Config:
        return self.schema(task).validate(config)

    def sample(self, task: str, rng: Any) -> Config:
        return self.schema(task).sample(rng)

    def mutations(self, task: str) -> list[Mutation]:
        return hypotheses.mutations(self.schema(task), TARGETS[task])

    def crossover(self, task: str, a: Config, b: Config, rng: Any) -> Config:
        return hypotheses.crossover(self.schema(task), a, b, rng)

    def _design(self, task: str, terms: list[str] | None) -> list[array]:
        """The intercept and the terms' columns over the whole sample (none for a model the config lacks)."""
        if terms is None:
            return []
        sample = task_sample(task)[0]
        for term in terms:
            if (task, term) not in self._columns:
                self._columns[task, term] = term_columns(term, sample.data, sample.variables)
        return [array("d", [1.0]) * sample.size, *(c for term in terms for c in self._columns[task, term])]

    def _resample(self, task: str, seed: int | None) -> Resample:
        """Bootstrap resample `seed` of the task's sample; None: the sample itself."""
        if seed is None:
            return everyone(task_sample(task)[0])
        r = self._resamples.recall((task, seed))
        if r is None:
            r = self._resamples.remember((task, seed), stratified_bootstrap(task_sample(task)[0], seed))
        return r

    def _fit(self, task: str, seed: int | None, terms: tuple[str, ...], ridge: float) -> list[float]:
        """The propensity model's coefficients on resample `seed`, warm-started from its fit on the whole sample
        (seed None, fitted from scratch)."""
        key = (task, seed, terms, ridge)
        beta = self._fits.recall(key)
        if beta is None:
            start = None if seed is None else self._fit(task, None, terms, ridge)
            v = View.of(task_sample(task)[0], self._resample(task, seed), self._design(task, list(terms)), [])
            beta = self._fits.remember(key, propensity_fit(v, ridge, start))
        return beta

    def evaluate(self, task: str, config: Config, seed: int) -> Evaluation:
        config = self.validate(task, config)
        sample, att, reference = task_sample(task)
        ps_terms = config.get("ps_terms")
        view = View.of(
            sample,
            self._resample(task, seed),
            self._design(task, ps_terms),
            self._design(task, config.get("outcome_terms")),
        )
        logits = None
        if ps_terms is not None:
            logits = capped_logits(view, self._fit(task, seed, tuple(ps_terms), config["ps_ridge"]))
        value, info = estimate(config, view, logits, att)
        details = {"estimate": value, "reference": reference, "estimand": "ATT" if att else "ATE", **info}
        return Evaluation(abs(value - reference), {**details, "resample": seed})
