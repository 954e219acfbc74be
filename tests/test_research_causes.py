"""Causes domain: estimators recover a simulated effect, the published NSW and NHEFS numbers, hostile configs."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from pynode.research.causes import DOMAIN, NHEFS, NSW
from pynode.research.causes.estimate import estimate
from pynode.research.causes.estimators import View
from pynode.research.causes.linalg import logistic, ols, predict, sigmoid
from pynode.research.causes.resample import everyone, stratified_bootstrap
from pynode.research.causes.samples import (
    Sample,
    difference_in_means,
    experimental_estimate,
    nhefs,
    nsw_cps,
    nsw_experiment,
)
from pynode.research.causes.schema import ESTIMATORS, Schema
from pynode.research.causes.terms import Variables, design
from pynode.research.domain import ConfigError

EFFECT = 2000.0
SIM = Variables(continuous=("x1", "x3"), binary=("x2",))


def simulated(n: int = 4000, seed: int = 1, strength: float = 1.0, base: float = -0.5) -> Sample:
    """Confounded data with a constant effect: x1 and x2 raise both the chance of treatment and the outcome,
    so the treated would earn more even untreated. ATT = ATE = EFFECT."""
    rng = random.Random(seed)
    x1 = [rng.gauss(0, 1) for _ in range(n)]
    x2 = [float(rng.random() < 0.4) for _ in range(n)]
    x3 = [rng.gauss(0, 1) for _ in range(n)]  # unrelated to treatment and outcome
    treat = [
        int(rng.random() < sigmoid(strength * (base + 1.0 * a + 0.8 * b)))
        for a, b in zip(x1, x2, strict=True)
    ]
    y = [
        1000 + 800 * a + 100 * a * a + 600 * b + EFFECT * t + rng.gauss(0, 500)
        for a, b, t in zip(x1, x2, treat, strict=True)
    ]
    return Sample(tuple(treat), tuple(y), {"x1": tuple(x1), "x2": tuple(x2), "x3": tuple(x3)}, SIM)


SIM_SCHEMA = Schema(SIM, ("x1", "x1^2", "x2"))
SIM_CONFIGS = [
    {"estimator": "regression", "outcome_model": "pooled"},
    {"estimator": "regression", "outcome_model": "separate"},
    {"estimator": "ipw"},
    {"estimator": "ipw", "trim": 0.02},
    {"estimator": "aipw"},
    {"estimator": "matching", "k": 5, "bias_adjust": True},
    {"estimator": "matching", "k": 1, "caliper": 0.2},
]


def _run(config: dict, sample: Sample, att: bool) -> tuple[float, dict]:
    c = SIM_SCHEMA.validate(config)
    v = View.of(
        sample,
        everyone(sample),
        design(c.get("ps_terms", []), sample.data, SIM),
        design(c.get("outcome_terms", []), sample.data, SIM) if "outcome_terms" in c else [],
    )
    return estimate(c, v, None, att)


@pytest.mark.parametrize("config", SIM_CONFIGS, ids=lambda c: "-".join(str(v) for v in c.values()))
@pytest.mark.parametrize("att", [True, False], ids=["att", "ate"])
def test_each_estimator_recovers_a_simulated_effect(config, att):
    sample = simulated()
    naive, _ = _run({"estimator": "naive"}, sample, att)
    assert abs(naive - EFFECT) > 500  # the confounding is real: no adjustment, no answer
    value, info = _run(config, sample, att)
    assert "fallback" not in info
    assert value == pytest.approx(EFFECT, abs=150), value


def test_matching_without_replacement_recovers_the_att_when_controls_abound():
    sample = simulated(base=-2.5)  # about one unit in eight treated, as in the NSW-CPS sample (1 in 87)
    value, info = _run({"estimator": "matching", "k": 1, "replacement": False}, sample, True)
    assert "fallback" not in info and value == pytest.approx(EFFECT, abs=150)


def test_ols_matches_numpy_least_squares():
    rng = random.Random(3)
    n, p = 200, 5
    cols = [[1.0] * n] + [[rng.gauss(0, 1) for _ in range(n)] for _ in range(p - 1)]
    y = [rng.gauss(0, 1) + 2 * cols[1][i] for i in range(n)]
    w = [float(rng.randint(1, 3)) for _ in range(n)]
    X, W = np.array(cols).T, np.array(w)
    want = np.linalg.solve(X.T @ (W[:, None] * X), X.T @ (W * np.array(y)))
    assert ols(cols, y, w, ridge=0.0) == pytest.approx(list(want), rel=1e-9, abs=1e-12)


def test_logistic_fit_zeroes_the_penalised_gradient():
    sample = simulated(n=1500)
    cols = design(["x1", "x2", "x3"], sample.data, SIM)
    y, w = [float(t) for t in sample.treat], [1.0] * sample.size
    for ridge in (0.001, 1.0, 50.0):
        beta = logistic(cols, y, w, ridge)
        p = [sigmoid(e) for e in predict(cols, beta)]
        grad = [
            math.fsum(c[i] * (y[i] - p[i]) for i in range(sample.size)) - (ridge * beta[j] if j else 0.0)
            for j, c in enumerate(cols)
        ]
        assert max(abs(g) for g in grad) < 1e-6
        assert abs(beta[3]) < 0.2  # x3 does not drive treatment


def test_a_separable_design_still_gets_a_finite_fit():
    y = [0.0] * 50 + [1.0] * 50
    cols = [[1.0] * 100, [float(i) / 50 - 1 for i in range(100)]]  # x > 0 exactly when treated
    beta = logistic(cols, y, [1.0] * 100, ridge=0.001)
    assert all(math.isfinite(b) for b in beta) and beta[1] > 10


def test_the_published_nsw_numbers():
    assert nsw_experiment().size == 445 and sum(nsw_experiment().treat) == 185
    assert experimental_estimate() == pytest.approx(1794.34, abs=0.01)  # Dehejia & Wahba 1999, Table 1
    obs = nsw_cps()
    assert obs.size == 185 + 15_992 and sum(obs.treat) == 185
    assert difference_in_means(obs) == pytest.approx(-8497.52, abs=0.01)  # the naive CPS comparison


def test_nhefs_ip_weighting_reproduces_the_textbook():
    # Hernán & Robins, What If, Program 12.2: IP weights from this model give 3.4405 kg
    model = ["active", "age", "age^2", "education", "exercise", "race", "sex", "smokeintensity",
             "smokeintensity^2", "smokeyrs", "smokeyrs^2", "wt71", "wt71^2"]  # fmt: skip
    sample = nhefs()
    assert sample.size == 1566 and sum(sample.treat) == 403
    config = DOMAIN.validate(NHEFS.id, {"estimator": "ipw", "ps_terms": model, "ps_ridge": 0.001})
    v = View.of(sample, everyone(sample), design(config["ps_terms"], sample.data, sample.variables), [])
    value, _ = estimate(config, v, None, att=False)
    assert value == pytest.approx(3.4405, abs=0.001)


def test_stratified_bootstrap_keeps_group_sizes_and_is_shared():
    sample = simulated(n=500)
    a, b = stratified_bootstrap(sample, 7), stratified_bootstrap(sample, 7)
    assert a == b and a != stratified_bootstrap(sample, 8)
    treated = sum(c for r, c in zip(a.rows, a.counts, strict=True) if sample.treat[r])
    assert treated == sum(sample.treat) and sum(a.counts) == sample.size
    assert list(a.rows) == sorted(set(a.rows))


def test_a_config_that_trims_everyone_falls_back_to_the_naive_difference():
    # treated and controls far apart on x1: the propensity is ~0 or ~1 for everybody, so trimming keeps no one
    x1 = tuple([-3.0 + 0.01 * i for i in range(20)] + [3.0 + 0.01 * i for i in range(20)])
    sample = Sample(
        (0,) * 20 + (1,) * 20,
        tuple(float(i % 7) + 5.0 * (i >= 20) for i in range(40)),
        {"x1": x1, "x2": (0.0,) * 40, "x3": x1},
        SIM,
    )
    value, info = _run({"estimator": "ipw", "trim": 0.2, "ps_terms": ["x1"]}, sample, True)
    assert info["fallback"] and info["trimmed"] == 40
    assert value == _run({"estimator": "naive"}, sample, True)[0]
    matched, info = _run({"estimator": "matching", "caliper": 0.01, "ps_terms": ["x1"]}, sample, True)
    assert info["fallback"] and matched == value  # no treated unit has a control within the caliper


def test_evaluate_is_the_absolute_error_of_a_resample():
    config = DOMAIN.validate(
        NSW.id, {"estimator": "regression", "outcome_terms": ["age", "educ", "re74", "re75"]}
    )
    a, b = DOMAIN.evaluate(NSW.id, config, 0), DOMAIN.evaluate(NSW.id, config, 0)
    assert a == b
    assert a.value == pytest.approx(abs(a.details["estimate"] - experimental_estimate()))
    assert a.details["estimand"] == "ATT" and a.details["treated"] == 185
    assert DOMAIN.evaluate(NSW.id, config, 1).value != a.value
    naive = DOMAIN.evaluate(NSW.id, DOMAIN.baseline(NSW.id), 0)
    assert naive.value > 5 * a.value  # adjusting for earnings history beats the raw comparison


@pytest.mark.parametrize(
    ("config", "words"),
    [
        ("ipw", "JSON object"),
        ({"estimator": "oracle"}, "estimator must be one of"),
        ({"estimator": "ipw", "ps_terms": "age"}, "list of at most"),
        ({"estimator": "ipw", "ps_terms": ["age"] * 31}, "list of at most"),
        ({"estimator": "ipw", "ps_terms": ["a" * 1000]}, "short string"),
        ({"estimator": "ipw", "ps_terms": [["age"]]}, "short string"),
        ({"estimator": "ipw", "ps_terms": ["income"]}, "unknown variable"),
        ({"estimator": "ipw", "ps_terms": ["black^2"]}, "powers are"),
        ({"estimator": "ipw", "ps_terms": ["age^7"]}, "powers are"),
        ({"estimator": "ipw", "ps_terms": ["age*age"]}, "two distinct"),
        ({"estimator": "ipw", "ps_terms": ["age*re78"]}, "two distinct"),
        ({"estimator": "matching", "k": 0}, "must lie in"),
        ({"estimator": "matching", "k": 1.5}, "whole number"),
        ({"estimator": "matching", "caliper": True}, "finite number"),
        ({"estimator": "ipw", "trim": float("nan")}, "finite number"),
        ({"estimator": "ipw", "trim": 0.5}, "must lie in"),
        ({"estimator": "ipw", "ps_ridge": 0}, "must lie in"),
        ({"estimator": "naive", "replacement": "yes"}, "true or false"),
        ({"estimator": "naive", "experimental_controls": True}, "unknown causes setting"),
        ({f"k{i}": 1 for i in range(40)}, "at most"),
    ],
)
def test_hostile_configs_are_refused_with_a_reason(config, words):
    with pytest.raises(ConfigError, match=words):
        DOMAIN.validate(NSW.id, config)


def test_nhefs_categoricals_do_not_multiply():
    with pytest.raises(ConfigError, match="two distinct"):
        DOMAIN.validate(NHEFS.id, {"estimator": "ipw", "ps_terms": ["age*education"]})
    with pytest.raises(ConfigError):
        DOMAIN.validate("lalonde-moon", {})


def test_canonical_form():
    a = DOMAIN.validate(NSW.id, {"estimator": "ipw", "ps_terms": ["re74*age", "age", "age"], "k": 3})
    assert a == {"estimator": "ipw", "ps_terms": ["age", "age*re74"], "ps_ridge": 0.001, "trim": 0.0}
    assert DOMAIN.validate(NSW.id, {"estimator": "naive", "ps_terms": ["age"]}) == {"estimator": "naive"}
    trimmed = DOMAIN.validate(NSW.id, {"estimator": "regression", "trim": 0.05})
    assert "ps_terms" in trimmed and "ps_terms" not in DOMAIN.validate(NSW.id, {"estimator": "regression"})
    assert DOMAIN.validate(NSW.id, {"estimator": "ipw", "ps_ridge": 0.012345})["ps_ridge"] == 0.0123


@pytest.mark.parametrize("task", [NSW.id, NHEFS.id])
def test_sample_mutations_and_crossover_give_valid_new_configs(task):
    rng = random.Random(4)
    configs = [DOMAIN.sample(task, rng) for _ in range(100)]
    assert {c["estimator"] for c in configs} == set(ESTIMATORS)
    for parent in configs[:40]:
        for op in DOMAIN.mutations(task):
            child = DOMAIN.validate(task, op.apply(dict(parent), rng))
            assert child != parent, (op.name, parent)
            assert "closer to" in op.describe(parent, child)
        mixed = DOMAIN.crossover(task, parent, configs[-1], rng)
        assert DOMAIN.validate(task, mixed) == mixed


def test_adding_a_term_to_a_full_model_swaps_one():
    full = sorted(DOMAIN.schema(NSW.id).vocabulary())[:30]
    parent = DOMAIN.validate(NSW.id, {"estimator": "ipw", "ps_terms": full})
    add = next(op for op in DOMAIN.mutations(NSW.id) if op.name == "add_ps_terms")
    child = DOMAIN.validate(NSW.id, add.apply(dict(parent), random.Random(2)))
    assert len(child["ps_terms"]) == 30 and child["ps_terms"] != parent["ps_terms"]
