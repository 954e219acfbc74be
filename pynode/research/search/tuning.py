"""The tuned-BM25 reference: plain BM25 (no field weights, no feedback) with k1, b, stemmer and stopword list
chosen by grid search on the tuning queries, reported on the held-out queries. The research target is to beat
this number, so it is computed, never assumed."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from math import fsum

from pynode.research.domain import Config
from pynode.research.search.domain import SearchDomain
from pynode.research.search.schema import BASELINE, validate

GRID = {
    "stemmer": ("porter", "english"),
    "stopwords": ("lucene", "snowball"),
    "k1": (0.6, 0.9, 1.2, 1.5, 2.0),
    "b": (0.3, 0.5, 0.75, 0.9),
}


@dataclass(frozen=True)
class Tuned:
    config: Config
    ndcg10_tune: float  # what the grid search selected on
    ndcg10_heldout: float  # the reference value
    configs_tried: int


def tune_bm25(domain: SearchDomain) -> Tuned:
    tried = []
    combos = list(itertools.product(*GRID.values()))
    for stemmer, stopwords, k1, b in combos:
        config = validate(
            {**BASELINE, "stemmer": stemmer, "stopwords": stopwords, "k1": k1, "b": b, "title_b": b}
        )
        tune, heldout = domain.scores(config)
        tried.append(Tuned(config, fsum(tune) / len(tune), fsum(heldout) / len(heldout), len(combos)))
    return max(tried, key=lambda t: t.ndcg10_tune)  # the first of equals: the grid's order breaks ties
