"""NDCG@k with linear gains and the log2(rank + 1) discount (Järvelin & Kekäläinen 2002; trec_eval's ndcg_cut)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence


def dcg(gains: Sequence[float]) -> float:
    return math.fsum(g / math.log2(i + 2) for i, g in enumerate(gains))  # fsum: same bits on 3.11 and 3.14


def ndcg_at_k(ranking: Sequence[int], judged: Mapping[int, float], k: int) -> float:
    """`ranking`: docnos best first; `judged`: docno -> gain. A query with nothing relevant scores 0."""
    ideal = dcg(sorted((g for g in judged.values() if g > 0), reverse=True)[:k])
    if ideal == 0:
        return 0.0
    return dcg([judged.get(d, 0) for d in ranking[:k]]) / ideal
