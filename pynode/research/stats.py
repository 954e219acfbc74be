"""The statistics an agent needs to call a result an improvement, in pure Python (it runs in a tab).

Mean, sample standard deviation, a Student-t confidence interval, Welch's unequal-variance t-test, Hedges' g and a
task's noise floor. The t distribution is computed here, not imported: its CDF is the regularized incomplete beta
function (continued fraction, Numerical Recipes §6.4 / Lentz's method) and its quantile inverts the CDF.

Degenerate samples are handled instead of producing NaN: when both samples have zero spread, Welch's test says
p = 1 for equal means and p = 0 otherwise (the limit as the spread goes to zero), where scipy returns NaN.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

_EPS = 1e-15  # continued-fraction convergence: relative change below double precision
_TINY = 1e-300  # Lentz's guard against division by zero
_MAX_TERMS = 10_000  # the fraction converges in O(sqrt(max(a, b))) terms; this bounds pathological inputs
_QUANTILE_TOL = 1e-13  # absolute tolerance on t when inverting the CDF


def mean(xs: Sequence[float]) -> float:
    if not xs:
        raise ValueError("mean of no values")
    return math.fsum(xs) / len(xs)


def sd(xs: Sequence[float]) -> float:
    """Sample standard deviation (n - 1 in the denominator)."""
    if len(xs) < 2:
        raise ValueError("a sample standard deviation needs at least 2 values")
    m = mean(xs)
    return math.sqrt(math.fsum((x - m) ** 2 for x in xs) / (len(xs) - 1))


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (modified Lentz)."""
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > _TINY else _TINY)
    h = d
    for m in range(1, _MAX_TERMS):
        for num in (
            m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1)),
        ):
            d = 1.0 + num * d
            d = 1.0 / (d if abs(d) > _TINY else _TINY)
            c = 1.0 + num / c
            c = c if abs(c) > _TINY else _TINY
            h *= d * c
        if abs(d * c - 1.0) < _EPS:
            return h
    raise ArithmeticError(f"incomplete beta did not converge for a={a}, b={b}, x={x}")


def betainc(a: float, b: float, x: float) -> float:
    """Regularized incomplete beta I_x(a, b) for a, b > 0 and 0 <= x <= 1."""
    if not (a > 0 and b > 0 and 0.0 <= x <= 1.0):
        raise ValueError(f"betainc needs a, b > 0 and 0 <= x <= 1 (got {a}, {b}, {x})")
    if x in (0.0, 1.0):
        return x
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    # the fraction converges fast only on this side of the mean; use the symmetry I_x(a,b) = 1 - I_{1-x}(b,a)
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _betacf(a, b, x) / a
    return 1.0 - math.exp(log_front) * _betacf(b, a, 1.0 - x) / b


def t_sf(t: float, df: float) -> float:
    """P(T > t) for Student's t with `df` > 0 degrees of freedom (accurate far into the tails)."""
    if df <= 0:
        raise ValueError(f"degrees of freedom must be positive (got {df})")
    if math.isinf(t):
        return 0.0 if t > 0 else 1.0
    tail = 0.5 * betainc(df / 2.0, 0.5, df / (df + t * t))  # P(T > |t|)
    return tail if t >= 0 else 1.0 - tail


def t_cdf(t: float, df: float) -> float:
    return t_sf(-t, df)


def t_pdf(t: float, df: float) -> float:
    log_norm = math.lgamma((df + 1) / 2) - math.lgamma(df / 2) - 0.5 * math.log(df * math.pi)
    return math.exp(log_norm - (df + 1) / 2 * math.log1p(t * t / df))


def t_ppf(p: float, df: float) -> float:
    """The quantile: t with P(T <= t) = p. Solves P(T > t) = 1 - p on the upper half (1 - p is exact there, so
    quantiles near 1 keep their precision): bisection on a bracket, polished by Newton steps inside it."""
    if not 0.0 < p < 1.0:
        raise ValueError(f"quantile needs 0 < p < 1 (got {p})")
    if p == 0.5:
        return 0.0
    if p < 0.5:
        return -t_ppf(1.0 - p, df)
    q = 1.0 - p
    lo, hi = 0.0, 1.0
    while t_sf(hi, df) > q:  # t_sf is decreasing; widen until the bracket holds the quantile
        lo, hi = hi, hi * 2.0
    x = (lo + hi) / 2.0
    for _ in range(200):
        f = t_sf(x, df) - q
        if abs(f) <= 1e-15 * q or hi - lo < _QUANTILE_TOL * max(1.0, x):
            break
        if f > 0:
            lo = x
        else:
            hi = x
        step = x + f / t_pdf(x, df)
        x = step if lo <= step <= hi else (lo + hi) / 2.0  # Newton when it stays inside, else bisect
    return x


@dataclass(frozen=True)
class Summary:
    """A sample's mean with its Student-t confidence interval."""

    n: int
    mean: float
    sd: float
    ci_low: float
    ci_high: float


def summarize(xs: Sequence[float], level: float = 0.95) -> Summary:
    """Mean ± t_{(1+level)/2, n-1} · sd / sqrt(n). Zero spread gives a zero-width interval."""
    m, s = mean(xs), sd(xs)
    half = t_ppf((1.0 + level) / 2.0, len(xs) - 1) * s / math.sqrt(len(xs))
    return Summary(n=len(xs), mean=m, sd=s, ci_low=m - half, ci_high=m + half)


@dataclass(frozen=True)
class TTest:
    """A t-test of mean(a) - mean(b): statistic, degrees of freedom, two-sided p-value."""

    t: float
    df: float
    p_value: float


Welch = TTest  # what `welch` returns (df from Welch–Satterthwaite)


def welch(a: Sequence[float], b: Sequence[float]) -> TTest:
    """Welch's unequal-variance t-test (two-sided), scipy's `ttest_ind(a, b, equal_var=False)`."""
    va, vb = sd(a) ** 2 / len(a), sd(b) ** 2 / len(b)
    diff = mean(a) - mean(b)
    if va + vb == 0.0:
        # no spread on either side: the means differ exactly or not at all
        t = 0.0 if diff == 0.0 else math.copysign(math.inf, diff)
        return TTest(t=t, df=float(len(a) + len(b) - 2), p_value=1.0 if diff == 0.0 else 0.0)
    t = diff / math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    return TTest(t=t, df=df, p_value=min(1.0, 2.0 * t_sf(abs(t), df)))


def paired(a: Sequence[float], b: Sequence[float]) -> TTest:
    """Paired t-test (two-sided) on a[i] - b[i], scipy's `ttest_rel(a, b)`. The right test when seed i of both
    configs is the same bootstrap resample (the domains that resample a fixed evaluation set do that): the
    resample's own luck cancels in the difference. Constant differences are decided: p = 1 if 0, else p = 0."""
    if len(a) != len(b):
        raise ValueError(f"a paired test needs samples of one length (got {len(a)} and {len(b)})")
    diffs = [x - y for x, y in zip(a, b, strict=True)]
    m, s = mean(diffs), sd(diffs)
    if s == 0.0:
        return TTest(
            t=0.0 if m == 0.0 else math.copysign(math.inf, m),
            df=float(len(diffs) - 1),
            p_value=float(m == 0.0),
        )
    t = m / (s / math.sqrt(len(diffs)))
    return TTest(t=t, df=float(len(diffs) - 1), p_value=min(1.0, 2.0 * t_sf(abs(t), len(diffs) - 1)))


def hedges_g(a: Sequence[float], b: Sequence[float]) -> float:
    """Standardized mean difference (a - b) / pooled sd with Hedges' small-sample correction
    J = 1 - 3 / (4(n_a + n_b) - 9). With no spread at all: 0 for equal means, else ±inf."""
    na, nb = len(a), len(b)
    pooled = math.sqrt(((na - 1) * sd(a) ** 2 + (nb - 1) * sd(b) ** 2) / (na + nb - 2))
    diff = mean(a) - mean(b)
    if pooled == 0.0:
        return 0.0 if diff == 0.0 else math.copysign(math.inf, diff)
    return diff / pooled * (1.0 - 3.0 / (4.0 * (na + nb) - 9.0))


def noise_floor(baseline: Sequence[float]) -> float:
    """A task's noise floor: the seed-to-seed sample sd of its baseline's metric. Differences smaller than this
    are what re-running the same config produces."""
    return sd(baseline)


def improves(
    candidate: Sequence[float],
    best: Sequence[float],
    direction: Literal["min", "max"],
    alpha: float = 0.05,
) -> bool:
    """An improvement on `best`: better mean in the task's direction, Welch p < alpha, and the candidate's
    (1 - alpha) confidence interval excludes the best's mean."""
    c, b = summarize(candidate, 1.0 - alpha), mean(best)
    better = c.ci_high < b if direction == "min" else c.ci_low > b
    return better and welch(candidate, best).p_value < alpha
