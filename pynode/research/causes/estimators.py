"""Treatment-effect estimators over one (re)sample, with frequency weights.

All of them estimate the task's estimand: the average effect on the treated (ATT) or on everyone (ATE).
The propensity score is a ridge-penalised logistic regression; weights use its logit η directly
(odds e/(1-e) = exp(η)), which stays finite where e itself would round to 0 or 1.

- naive: the difference of the groups' mean outcomes.
- regression: "pooled" OLS of the outcome on treatment and covariates (the treatment's coefficient), or
  "separate" outcome models per group, averaged over the estimand's units (imputation).
- ipw: inverse-probability weighting, normalised within each group (Hájek).
- aipw: doubly robust: separate outcome models plus weighted residuals (normalised weights).
- matching: k nearest neighbours on the logit propensity score, with or without replacement, a caliper in
  standard deviations of the logit, optionally bias-adjusted by the outcome model (Abadie & Imbens 2011).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import repeat

from pynode.research.causes.limits import OLS_RIDGE
from pynode.research.causes.linalg import logistic, ols, predict, sigmoid
from pynode.research.causes.resample import Resample
from pynode.research.causes.samples import Sample

_ETA_CAP = 700.0  # exp(700) is finite in a double; a logit beyond it is a certainty either way


@dataclass(frozen=True)
class View:
    """One resample's rows: treatment, outcome, frequency weight, and the models' design columns."""

    t: list[int]
    y: list[float]
    w: list[float]
    ps: list[list[float]]  # propensity design (intercept first); empty if the config needs none
    out: list[list[float]]  # outcome design (intercept first); empty if the config needs none

    @staticmethod
    def of(
        sample: Sample, r: Resample, ps: Sequence[Sequence[float]], out: Sequence[Sequence[float]]
    ) -> View:
        rows = r.rows
        return View(
            t=[sample.treat[i] for i in rows],
            y=[sample.outcome[i] for i in rows],
            w=list(r.counts),
            ps=[[c[i] for i in rows] for c in ps],
            out=[[c[i] for i in rows] for c in out],
        )

    def take(self, keep: Sequence[int]) -> View:
        return View(
            t=[self.t[i] for i in keep],
            y=[self.y[i] for i in keep],
            w=[self.w[i] for i in keep],
            ps=[[c[i] for i in keep] for c in self.ps],
            out=[[c[i] for i in keep] for c in self.out],
        )

    def group(self, g: int) -> list[int]:
        return [i for i, t in enumerate(self.t) if t == g]


def wmean(values: Sequence[float], weights: Sequence[float]) -> float:
    return math.fsum(v * w for v, w in zip(values, weights, strict=True)) / math.fsum(weights)


def _group_mean(v: View, values: Sequence[float], g: int, weights: Sequence[float] | None = None) -> float:
    idx = v.group(g)
    weights = v.w if weights is None else weights
    return wmean([values[i] for i in idx], [weights[i] for i in idx])


def propensity_fit(v: View, ridge: float, start: Sequence[float] | None) -> list[float]:
    """The propensity model's coefficients on v's rows (`start` warm-starts the fit)."""
    return logistic(v.ps, list(map(float, v.t)), v.w, ridge, start)


def capped_logits(v: View, beta: Sequence[float]) -> list[float]:
    """Each of v's rows' propensity logit under coefficients beta, kept within ±_ETA_CAP."""
    return list(map(max, repeat(-_ETA_CAP), map(min, repeat(_ETA_CAP), predict(v.ps, beta))))


def propensity_logits(v: View, ridge: float, start: Sequence[float] | None) -> list[float]:
    return capped_logits(v, propensity_fit(v, ridge, start))


def trim(v: View, eta: list[float], bound: float) -> tuple[View, list[float]]:
    """Keep the units whose propensity lies in [bound, 1 - bound] (common support)."""
    keep = [i for i, e in enumerate(eta) if bound <= sigmoid(e) <= 1.0 - bound]
    return v.take(keep), [eta[i] for i in keep]


def outcome_model(v: View, g: int) -> list[float]:
    """Predictions for every unit of an OLS outcome model fitted on group g."""
    idx = v.group(g)
    beta = ols([[c[i] for i in idx] for c in v.out], [v.y[i] for i in idx], [v.w[i] for i in idx], OLS_RIDGE)
    return predict(v.out, beta)


def naive(v: View) -> float:
    return _group_mean(v, v.y, 1) - _group_mean(v, v.y, 0)


def regression(v: View, pooled: bool, att: bool) -> float:
    if pooled:
        cols = [v.out[0], [float(t) for t in v.t], *v.out[1:]]
        return ols(cols, v.y, v.w, OLS_RIDGE, free=frozenset({0, 1}))[1]
    m0 = outcome_model(v, 0)
    if att:
        return _group_mean(v, [y - m for y, m in zip(v.y, m0, strict=True)], 1)
    m1 = outcome_model(v, 1)
    return wmean([a - b for a, b in zip(m1, m0, strict=True)], v.w)


def _weights(v: View, eta: list[float], att: bool) -> list[float]:
    """ATT: treated 1, controls the odds e/(1-e). ATE: treated 1/e, controls 1/(1-e). Times frequency."""
    if att:
        return [w if t else w * math.exp(e) for w, t, e in zip(v.w, v.t, eta, strict=True)]
    return [w * (1.0 + math.exp(-e if t else e)) for w, t, e in zip(v.w, v.t, eta, strict=True)]


def ipw(v: View, eta: list[float], att: bool) -> float:
    weights = _weights(v, eta, att)
    return _group_mean(v, v.y, 1, weights) - _group_mean(v, v.y, 0, weights)


def aipw(v: View, eta: list[float], att: bool) -> float:
    weights = _weights(v, eta, att)
    m0 = outcome_model(v, 0)
    r0 = [y - m for y, m in zip(v.y, m0, strict=True)]
    if att:
        return _group_mean(v, r0, 1) - _group_mean(v, r0, 0, weights)
    m1 = outcome_model(v, 1)
    r1 = [y - m for y, m in zip(v.y, m1, strict=True)]
    imputed = wmean([a - b for a, b in zip(m1, m0, strict=True)], v.w)
    return imputed + _group_mean(v, r1, 1, weights) - _group_mean(v, r0, 0, weights)
