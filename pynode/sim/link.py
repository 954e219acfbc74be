"""The link model: a fixed latency per link, drawn once from a log-normal distribution, and per-RPC loss."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass


@dataclass(frozen=True)
class LinkModel:
    median_latency_s: float = 0.040
    # spread of log(latency): 0.6 puts the 90th percentile near 2.2× the median, as on wide-area paths
    latency_sigma: float = 0.6
    loss: float = 0.0  # probability that one RPC is dropped

    def latency(self, rng: random.Random) -> float:
        return self.median_latency_s * math.exp(rng.gauss(0.0, self.latency_sigma))
