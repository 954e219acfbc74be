"""The Cranfield test collection shipped in `pynode/research/data/cranfield.json.gz` (hash-checked).

Queries are numbered by position 1..225, as the qrels number them. The split is fixed for every node: odd
positions are tuning queries (113), even positions held-out queries (112), so both halves cover the whole
collection's topics in their original order.

Gain mapping for NDCG: a judged pair's gain is its level in the qrels (linear gain, as in trec_eval), and an
unjudged document gains 0. In this copy 1,611 pairs have level 1, one has level 3, and each query has one pair
judged at level 0 (non-relevant, gain 0).
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from functools import cache

from pynode.research.assets import read_asset

ASSET = "cranfield.json.gz"


@dataclass(frozen=True)
class Collection:
    docnos: tuple[int, ...]
    titles: tuple[str, ...]
    bodies: tuple[str, ...]
    queries: tuple[str, ...]  # index i holds query position i + 1
    qrels: tuple[dict[int, int], ...]  # per query index: docno -> gain (> 0 only)
    tune: tuple[int, ...]  # query indexes used for tuning (odd positions)
    heldout: tuple[int, ...]  # query indexes of the held-out split (even positions)


@cache
def cranfield() -> Collection:
    data = json.loads(gzip.decompress(read_asset(ASSET)))
    docs, queries = data["docs"], data["queries"]
    qrels: list[dict[int, int]] = [{} for _ in queries]
    for q, d, level in data["qrels"]:
        if level > 0:
            qrels[q - 1][d] = level
    positions = range(1, len(queries) + 1)
    return Collection(
        docnos=tuple(d[0] for d in docs),
        titles=tuple(d[1] for d in docs),
        bodies=tuple(d[2] for d in docs),
        queries=tuple(queries),
        qrels=tuple(qrels),
        tune=tuple(p - 1 for p in positions if p % 2 == 1),
        heldout=tuple(p - 1 for p in positions if p % 2 == 0),
    )
