"""pynode.research.stats against scipy's values over many random cases (scipy is a test-only dependency)."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
from scipy import special
from scipy import stats as sps

from pynode.research import stats


def _samples(rng: random.Random, n: int) -> list[float]:
    scale = 10 ** rng.uniform(-3, 3)
    return [rng.gauss(rng.uniform(-5, 5), scale) for _ in range(n)]


def test_mean_and_sd_match_numpy():
    rng = random.Random(1)
    for _ in range(200):
        xs = _samples(rng, rng.randint(2, 40))
        assert stats.mean(xs) == pytest.approx(np.mean(xs), rel=1e-12, abs=1e-12)
        assert stats.sd(xs) == pytest.approx(np.std(xs, ddof=1), rel=1e-10)


def test_sd_needs_two_values():
    with pytest.raises(ValueError):
        stats.sd([1.0])
    with pytest.raises(ValueError):
        stats.mean([])


def test_betainc_matches_scipy():
    rng = random.Random(2)
    for _ in range(2000):
        a, b, x = 10 ** rng.uniform(-1, 3), 10 ** rng.uniform(-1, 3), rng.random()
        assert stats.betainc(a, b, x) == pytest.approx(special.betainc(a, b, x), rel=1e-9, abs=1e-250)


@pytest.mark.parametrize("df", [1, 1.5, 2, 3, 4.7, 9, 30, 250, 1e5])
def test_t_cdf_and_sf_match_scipy(df):
    for t in [-1e3, -40, -6.5, -2, -0.3, 0, 0.01, 1, 2.2, 5, 12, 80, 1e4]:
        assert stats.t_cdf(t, df) == pytest.approx(sps.t.cdf(t, df), rel=1e-9, abs=1e-300)
        assert stats.t_sf(t, df) == pytest.approx(sps.t.sf(t, df), rel=1e-9, abs=1e-300)
    assert stats.t_cdf(math.inf, df) == 1.0 and stats.t_cdf(-math.inf, df) == 0.0


def test_t_ppf_matches_scipy():
    rng = random.Random(3)
    for _ in range(500):
        df, p = 10 ** rng.uniform(0, 3), rng.choice([rng.random(), 0.975, 0.995, 1e-6, 1 - 1e-9])
        assert stats.t_ppf(p, df) == pytest.approx(sps.t.ppf(p, df), rel=1e-9, abs=1e-12)
    assert stats.t_ppf(0.975, 1) == pytest.approx(12.706204736174707, rel=1e-12)
    with pytest.raises(ValueError):
        stats.t_ppf(1.0, 3)


def test_confidence_interval_matches_scipy():
    rng = random.Random(4)
    for _ in range(300):
        xs = _samples(rng, rng.randint(2, 30))
        s = stats.summarize(xs)
        lo, hi = sps.t.interval(0.95, len(xs) - 1, loc=np.mean(xs), scale=sps.sem(xs))
        assert (s.ci_low, s.ci_high) == pytest.approx((lo, hi), rel=1e-9, abs=1e-9 * s.sd)
        assert s.n == len(xs)


@pytest.mark.parametrize("sizes", [(2, 2), (2, 3), (3, 3), (3, 17), (5, 5), (10, 40), (60, 4)])
def test_welch_matches_scipy_including_tiny_and_unequal_samples(sizes):
    rng = random.Random(hash(sizes))
    for _ in range(100):
        a = [rng.gauss(0, 1) for _ in range(sizes[0])]
        b = [rng.gauss(rng.uniform(-2, 2), 10 ** rng.uniform(-2, 2)) for _ in range(sizes[1])]
        ours = stats.welch(a, b)
        ref = sps.ttest_ind(a, b, equal_var=False)
        assert ours.t == pytest.approx(ref.statistic, rel=1e-10)
        assert ours.df == pytest.approx(ref.df, rel=1e-10)
        assert ours.p_value == pytest.approx(ref.pvalue, rel=1e-8, abs=1e-300)


def test_welch_on_samples_without_spread_is_decided_not_nan():
    same = stats.welch([2.0, 2.0, 2.0], [2.0, 2.0, 2.0])
    assert (same.t, same.p_value) == (0.0, 1.0)
    apart = stats.welch([1.0, 1.0, 1.0], [2.0, 2.0, 2.0])
    assert apart.t == -math.inf and apart.p_value == 0.0
    one_sided = stats.welch([1.0, 1.0, 1.0], [1.0, 2.0, 3.0])  # one side has spread: an ordinary test
    t = -1.0 / math.sqrt(1.0 / 3.0)  # var(b)/n_b = 1/3, and the df is n_b - 1 = 2
    assert (one_sided.t, one_sided.df) == pytest.approx((t, 2.0))
    assert one_sided.p_value == pytest.approx(2 * sps.t.sf(abs(t), 2), rel=1e-10)


@pytest.mark.parametrize("n", [2, 3, 5, 20])
def test_paired_matches_scipy(n):
    rng = random.Random(n)
    for _ in range(100):
        a = [rng.gauss(0, 1) for _ in range(n)]
        b = [x + rng.gauss(rng.uniform(-1, 1), 10 ** rng.uniform(-2, 1)) for x in a]
        ours, ref = stats.paired(a, b), sps.ttest_rel(a, b)
        assert ours.t == pytest.approx(ref.statistic, rel=1e-10)
        assert ours.df == n - 1
        assert ours.p_value == pytest.approx(ref.pvalue, rel=1e-8, abs=1e-300)


def test_paired_sees_a_shared_resample_effect_that_welch_misses():
    luck = [0.9, -0.4, 0.3, -0.8, 0.5]  # each seed's resample luck, common to both configs
    a, b = [x + 0.1 for x in luck], [x + 0.0 for x in luck]
    a[0] += 0.01  # differences not exactly constant
    assert stats.paired(a, b).p_value < 0.001 < 0.5 < stats.welch(a, b).p_value
    assert stats.paired([1.0, 2.0], [1.0, 2.0]).p_value == 1.0
    assert stats.paired([2.0, 3.0], [1.0, 2.0]).p_value == 0.0
    with pytest.raises(ValueError):
        stats.paired([1.0, 2.0], [1.0, 2.0, 3.0])


def test_hedges_g_matches_the_textbook_formula():
    rng = random.Random(5)
    for _ in range(200):
        a, b = _samples(rng, rng.randint(2, 20)), _samples(rng, rng.randint(2, 20))
        na, nb = len(a), len(b)
        pooled = np.sqrt(((na - 1) * np.var(a, ddof=1) + (nb - 1) * np.var(b, ddof=1)) / (na + nb - 2))
        d = (np.mean(a) - np.mean(b)) / pooled
        assert stats.hedges_g(a, b) == pytest.approx(d * (1 - 3 / (4 * (na + nb) - 9)), rel=1e-9)
    assert stats.hedges_g([1.0, 1.0], [1.0, 1.0]) == 0.0
    assert stats.hedges_g([3.0, 3.0], [1.0, 1.0]) == math.inf


def test_noise_floor_is_the_baselines_seed_spread():
    assert stats.noise_floor([1.0, 2.0, 3.0]) == pytest.approx(1.0)
    assert stats.noise_floor([0.5, 0.5, 0.5]) == 0.0


def test_improves_needs_direction_significance_and_a_clear_interval():
    best = [1.0, 1.1, 0.9, 1.05, 0.95]
    assert stats.improves([2.0, 2.1, 1.9, 2.05, 1.95], best, "max")
    assert not stats.improves([2.0, 2.1, 1.9, 2.05, 1.95], best, "min")
    assert stats.improves([0.1, 0.2, 0.15], best, "min")
    assert not stats.improves([1.02, 1.0, 1.04], best, "max")  # within the noise
