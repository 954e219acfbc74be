"""How far a delta's claimed inner steps can have moved θ: AdamW's per-step displacement bound.

A DiLoCo delta says how many inner steps it was trained with, and weighs by them. The claim is checked against
what that many AdamW steps can do to any coordinate, whatever the gradients were: the Adam direction
m̂/(√v̂+ε) is bounded per coordinate (Cauchy–Schwarz over the two moving averages, Kingma & Ba 2015 §2.1 for
the first step), so s steps move a coordinate by at most s·lr·C plus what weight decay takes. A delta further
from θ than its claimed steps allow is no honest delta of that claim; an honest one is always inside.
"""

from __future__ import annotations

import math
from functools import lru_cache

from pynode.platform.model import Hyper

SLACK = 1.01  # float32 rounding in the graphs and int8 quantisation (≤ 1/254 of a chunk's largest value)
HORIZON = 100_000  # steps over which the bias-corrected bound is maximised (it is flat long before)


@lru_cache(maxsize=32)
def adam_direction_bound(beta1: float, beta2: float) -> float:
    """sup |m̂_t / √v̂_t| per coordinate over every gradient sequence and step count t ≥ 1; inf if unbounded.

    With c_k = (1-β1)β1^k/(1-β1^t) and d_k = (1-β2)β2^k/(1-β2^t), |Σ c_k g_k| ≤ √(Σ c_k²/d_k) · √(Σ d_k g_k²),
    and Σ_{k<t} c_k²/d_k has the closed form used below (γ = β1²/β2)."""
    gamma = beta1 * beta1 / beta2
    if not (0.0 <= beta1 < 1.0 and 0.0 < beta2 < 1.0) or gamma >= 1.0:
        return math.inf
    base = (1.0 - beta1) / math.sqrt(1.0 - beta2)
    best = 0.0
    for t in range(1, HORIZON + 1):
        ratio = math.sqrt((1.0 - beta2**t) * (1.0 - gamma**t) / (1.0 - gamma)) / (1.0 - beta1**t)
        best = max(best, ratio)
        if beta1**t < 1e-12 and beta2**t < 1e-12:
            break  # every term has reached its limit
    return base * best


def max_displacement(hyper: Hyper, steps: int, theta_abs_max: float) -> float:
    """The furthest `steps` AdamW steps can move any coordinate that starts within ±theta_abs_max."""
    adam = steps * hyper.lr * adam_direction_bound(hyper.beta1, hyper.beta2)
    decay = 1.0 - (1.0 - hyper.lr * hyper.weight_decay) ** steps  # share of θ weight decay can remove
    return SLACK * (adam + decay * (theta_abs_max + adam)) + 1e-7
