"""The search domain: ad-hoc retrieval on Cranfield, scored by NDCG@10 on the held-out queries.

The ranking is deterministic, so the n "seeds" of an experiment are bootstrap resamples of the 112 held-out
queries: seed s draws 112 queries with replacement from a counter-based PRNG keyed by s (the same resample for
every config, so two configs are compared on the same queries). The mean over all held-out queries and over the
tuning queries travel in the details; a careful strategy selects on `ndcg10_tune` and reports the held-out value.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from math import fsum  # float sums: sum() rounds differently from Python 3.12 on (Neumaier)
from typing import Any

from pynode.research.config import canonical
from pynode.research.domain import Config, ConfigError, Evaluation, Mutation, Task
from pynode.research.search import schema
from pynode.research.search.collection import cranfield
from pynode.research.search.index import cranfield_index
from pynode.research.search.limits import RESULTS_CACHE, K
from pynode.research.search.metrics import ndcg_at_k
from pynode.research.search.rank import Bm25Params, Ranker, Rm3Params
from pynode.research.search.text import analyzer
from pynode.train.rng import Stream, mix

TASK = Task(
    domain="search",
    id="cranfield-ndcg10",
    metric="ndcg10",
    unit="ndcg",
    direction="max",
    title=(
        "Cranfield ad-hoc retrieval (1,400 aeronautics abstracts): NDCG@10 on 113 tuning queries (selection); "
        "NDCG@10 on 112 held-out queries reported beside it"
    ),
    seeds=3,
    budget_s=30.0,
    reference="BM25 on Cranfield: NDCG@10 about 0.3-0.45 depending on tokenisation and stemming",
)
_RESAMPLE_KEY = 0x5EA7C4  # namespaces the bootstrap stream; with the seed it fixes which queries are drawn


def per_query_ndcg(config: Config, queries: tuple[int, ...]) -> list[float]:
    """NDCG@10 of each query (by index) under a validated config."""
    c = cranfield()
    index = cranfield_index(config["stemmer"], config["stopwords"])
    ranker = Ranker(
        index,
        Bm25Params(
            config["k1"], config["b"], config["title_b"], config["title_weight"], config["body_weight"]
        ),
    )
    rm3 = Rm3Params(config["fb_docs"], config["fb_terms"], config["fb_orig_weight"])
    out = []
    for q in queries:
        top = ranker.rank(ranker.feedback_query(index.queries[q], rm3), K)
        out.append(ndcg_at_k([c.docnos[d] for d, _ in top], c.qrels[q], K))
    return out


def bootstrap(values: list[float], seed: int) -> float:
    """The mean of len(values) draws with replacement, chosen by `seed` (identical on every platform)."""
    stream = Stream(mix(_RESAMPLE_KEY, seed))
    return fsum(values[stream.below(len(values))] for _ in values) / len(values)


class SearchDomain:
    name = "search"
    tasks: Mapping[str, Task] = {TASK.id: TASK}

    def __init__(self) -> None:
        self._cache: OrderedDict[str, tuple[list[float], list[float]]] = OrderedDict()

    def clear_caches(self) -> None:
        """Forget cached rankings and indexes (they are rebuilt on demand; a fresh process starts so)."""
        self._cache.clear()
        cranfield_index.cache_clear()
        analyzer.cache_clear()

    def _task(self, task: str) -> Task:
        if task not in self.tasks:
            raise ConfigError(f"unknown search task {task[:40]!r}")
        return self.tasks[task]

    def baseline(self, task: str) -> Config:
        self._task(task)
        return dict(schema.BASELINE)

    def validate(self, task: str, config: Mapping[str, Any]) -> Config:
        self._task(task)
        return schema.validate(config)

    def sample(self, task: str, rng: Any) -> Config:
        self._task(task)
        return schema.sample(rng)

    def mutations(self, task: str) -> list[Mutation]:
        self._task(task)
        return schema.mutations()

    def crossover(self, task: str, a: Config, b: Config, rng: Any) -> Config:
        self._task(task)
        return schema.crossover(a, b, rng)

    def scores(self, config: Config) -> tuple[list[float], list[float]]:
        """Per-query NDCG@10 on (tuning, held-out) queries, cached: the seeds of a config share one ranking."""
        key = canonical(config)
        hit = self._cache.get(key)
        if hit is None:
            c = cranfield()
            hit = (per_query_ndcg(config, c.tune), per_query_ndcg(config, c.heldout))
            self._cache[key] = hit
            if len(self._cache) > RESULTS_CACHE:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(key)
        return hit

    def evaluate(self, task: str, config: Config, seed: int) -> Evaluation:
        self._task(task)
        config = schema.validate(config)
        tune, heldout = self.scores(config)
        return Evaluation(
            bootstrap(tune, seed),  # agents select on the tuning queries; the held-out ones only report
            {
                "heldout": fsum(heldout) / len(heldout),
                "ndcg10_heldout": fsum(heldout) / len(heldout),
                "ndcg10_tune": fsum(tune) / len(tune),
                "queries": len(heldout),
                "per_query": [round(v, 4) for v in heldout],  # for a paired test over queries
                "resample": seed,
            },
        )
