"""One config's estimate on one (re)sample: propensity, trimming, then the estimator.

When trimming or a caliper leaves one group empty there is nothing to compare, and the estimate falls back to
the naive difference in means of the untrimmed resample (details["fallback"] says why): a config that
discards everything scores like having done no adjustment.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from pynode.research.causes.estimators import View, aipw, ipw, naive, propensity_logits, regression, trim
from pynode.research.causes.matching import Matching, matching
from pynode.research.domain import Config


def _both_groups(v: View) -> bool:
    return 0 < sum(v.t) < len(v.t)


def _estimate(config: Config, v: View, eta: list[float], att: bool) -> float | None:
    name = config["estimator"]
    if name == "regression":
        return regression(v, config["outcome_model"] == "pooled", att)
    if name == "ipw":
        return ipw(v, eta, att)
    if name == "aipw":
        return aipw(v, eta, att)
    if name == "matching":
        m = Matching(config["k"], config["replacement"], config["caliper"], config["bias_adjust"])
        return matching(v, eta, m, att)
    return naive(v)


def estimate(
    config: Config, v: View, logits: Sequence[float] | None, att: bool
) -> tuple[float, dict[str, Any]]:
    """The estimate and what the paper should know (units kept, fallback). `logits`: the propensity model's
    (capped) logit of each of v's rows where the caller already has them (the domain keeps its fits cached);
    None fits the model on v from scratch."""
    info: dict[str, Any] = {"treated": math.fsum(w for w, t in zip(v.w, v.t, strict=True) if t)}
    info["controls"] = math.fsum(v.w) - info["treated"]
    eta: list[float] = []
    used = v
    if "ps_terms" in config:
        eta = propensity_logits(v, config["ps_ridge"], None) if logits is None else list(logits)
        if config.get("trim", 0.0) > 0.0:
            used, eta = trim(v, eta, config["trim"])
            info["trimmed"] = math.fsum(v.w) - math.fsum(used.w)
    value = _estimate(config, used, eta, att) if _both_groups(used) else None
    if value is None:
        info["fallback"] = "no comparable units left: naive difference in means"
        return naive(v), info
    return value, info
