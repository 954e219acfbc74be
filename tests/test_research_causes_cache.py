"""Causes domain caches: bounded, and a cached evaluation is exactly a fresh domain's (values and details)."""

from __future__ import annotations

from pynode.research.causes import NHEFS
from pynode.research.causes.domain import CausesDomain, Lru
from pynode.research.causes.limits import FITS_CACHE, RESAMPLES_CACHE
from pynode.research.causes.linalg import sigmoid, sigmoids

TERMS = ["age", "sex", "smokeintensity", "wt71"]
# Configs that share a propensity model (ps_terms, ps_ridge) and differ in what the caches do not key on.
SHARING = [
    {"estimator": "ipw", "ps_terms": TERMS},
    {"estimator": "ipw", "ps_terms": TERMS, "trim": 0.05},
    {"estimator": "aipw", "ps_terms": TERMS, "outcome_terms": TERMS},
    {"estimator": "matching", "ps_terms": TERMS, "k": 3, "caliper": 0.2},
    {"estimator": "regression", "outcome_terms": TERMS, "trim": 0.05, "ps_terms": TERMS},
]
OTHERS = [
    {"estimator": "ipw", "ps_terms": TERMS, "ps_ridge": 1.0},
    {"estimator": "ipw", "ps_terms": [*TERMS, "race"]},
    {"estimator": "naive"},
]


def test_lru_keeps_its_most_recently_used_entries():
    lru = Lru(2)
    lru.remember("a", 1)
    lru.remember("b", 2)
    assert lru.recall("a") == 1  # a is now the most recent: b goes first
    lru.remember("c", 3)
    assert list(lru) == ["a", "c"] and lru.recall("b") is None


def test_configs_that_keep_a_propensity_model_share_its_fits():
    d = CausesDomain()
    for config in SHARING:
        d.evaluate(NHEFS.id, config, 0)
    assert len(d._fits) == 2  # the model's fit on the whole sample (the warm start) and on resample 0
    d.evaluate(NHEFS.id, OTHERS[0], 0)  # another penalty is another model
    assert len(d._fits) == 4


def test_cached_evaluations_equal_a_fresh_domains_and_the_caches_stay_bounded():
    d = CausesDomain()
    assert (d._fits.limit, d._resamples.limit) == (FITS_CACHE, RESAMPLES_CACHE)
    d._fits.limit, d._resamples.limit = 3, 1  # small enough that this sequence evicts and recomputes both
    for seed in (0, 1):
        for config in [*SHARING, *OTHERS, *SHARING]:  # the second pass hits or recomputes
            cached = d.evaluate(NHEFS.id, config, seed)
            fresh = CausesDomain().evaluate(NHEFS.id, config, seed)
            assert repr(cached) == repr(fresh) and cached == fresh
            assert len(d._fits) <= 3 and len(d._resamples) <= 1


def test_sigmoids_is_sigmoid_of_each():
    eta = [0.0, -0.0, 1e-300, -1e-300, 0.3, -0.3, 36.0, -36.0, 709.0, -709.0, 800.0, -800.0]
    assert [p.hex() for p in sigmoids(eta)] == [sigmoid(e).hex() for e in eta]
