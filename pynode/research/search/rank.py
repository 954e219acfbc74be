"""BM25F ranking (two fields, per-field length normalisation) and RM3 pseudo-relevance feedback.

BM25F (Robertson, Zaragoza & Taylor 2004): a term's pseudo-frequency in a document is
    tf = w_title * tf_title / (1 - b_title + b_title * len_title / avg_title)
       + w_body  * tf_body  / (1 - b + b * len_body / avg_body)
and its score  qw * idf * tf * (k1 + 1) / (k1 + tf),  idf = ln(1 + (N - df + 0.5) / (df + 0.5))  (Lucene's idf,
never negative). With one field and weight 1 this is plain BM25.

RM3 (Lavrenko & Croft 2001; Abdul-Jaleel et al. 2004): the top `fb_docs` documents, weighted by their share of
the first-pass score, give a term distribution  P(w|R) = sum_d P(d|q) * tf(w, d) / |d|  (field-weighted counts);
its `fb_terms` heaviest terms, renormalised, are mixed with the original query:
    q'(w) = orig_weight * qtf(w) / |q| + (1 - orig_weight) * P(w|R).
Ties in any ranking break by document index, so a ranking is a pure function of the config.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass

from pynode.research.search.index import Index


@dataclass(frozen=True)
class Bm25Params:
    k1: float = 1.2
    b: float = 0.75
    title_b: float = 0.75
    title_weight: float = 1.0
    body_weight: float = 1.0


@dataclass(frozen=True)
class Rm3Params:
    fb_docs: int = 0  # 0: no feedback
    fb_terms: int = 10
    orig_weight: float = 0.5


def _inverse_norms(lengths: list[int], avg: float, b: float) -> list[float]:
    if avg == 0:
        return [1.0] * len(lengths)
    # with b = 1 an empty field's norm is 0; it holds no term, so its weight never counts: use 0
    return [1.0 / norm if (norm := 1.0 - b + b * n / avg) > 0 else 0.0 for n in lengths]


class Ranker:
    """Scores weighted queries against one index with one set of BM25F parameters."""

    def __init__(self, index: Index, p: Bm25Params) -> None:
        self.index, self.p = index, p
        self._title = [
            p.title_weight * x for x in _inverse_norms(index.title_len, index.avg_title_len, p.title_b)
        ]
        self._body = [p.body_weight * x for x in _inverse_norms(index.body_len, index.avg_body_len, p.b)]

    def scores(self, query: Mapping[str, float]) -> dict[int, float]:
        n, k1 = self.index.n_docs, self.p.k1
        title, body = self._title, self._body
        acc: dict[int, float] = {}
        for term, qw in query.items():
            post = self.index.postings.get(term)
            if post is None or qw == 0:
                continue
            df = len(post.docs)
            w = qw * math.log(1.0 + (n - df + 0.5) / (df + 0.5)) * (k1 + 1.0)
            for d, tt, bt in zip(post.docs, post.title_tf, post.body_tf, strict=True):
                tf = tt * title[d] + bt * body[d]
                if tf > 0:
                    acc[d] = acc.get(d, 0.0) + w * tf / (k1 + tf)
        return acc

    def rank(self, query: Mapping[str, float], k: int) -> list[tuple[int, float]]:
        """The k best (document index, score), best first; ties by document index."""
        return sorted(self.scores(query).items(), key=lambda x: (-x[1], x[0]))[:k]

    def feedback_query(self, terms: list[str], rm3: Rm3Params) -> dict[str, float]:
        """The query to run: raw term counts without feedback, the RM3 mixture with it."""
        counts = Counter(terms)
        if rm3.fb_docs == 0 or not counts:
            return {t: float(c) for t, c in counts.items()}
        top = [(d, s) for d, s in self.rank(counts, rm3.fb_docs) if s > 0]
        total = math.fsum(s for _, s in top)
        if total == 0:
            return {t: float(c) for t, c in counts.items()}
        wt, wb = self.p.title_weight, self.p.body_weight
        relevance: dict[str, float] = {}
        for d, s in top:
            weighted = [(t, wt * tt + wb * bt) for t, (tt, bt) in self.index.doc_terms[d].items()]
            length = math.fsum(c for _, c in weighted)
            if length == 0:
                continue
            share = s / total / length
            for t, c in weighted:
                if c:
                    relevance[t] = relevance.get(t, 0.0) + share * c
        best = sorted(relevance.items(), key=lambda x: (-x[1], x[0]))[: rm3.fb_terms]
        mass = math.fsum(v for _, v in best)
        n_terms = sum(counts.values())
        query = {t: rm3.orig_weight * c / n_terms for t, c in counts.items()}
        for t, v in best:
            query[t] = query.get(t, 0.0) + (1.0 - rm3.orig_weight) * v / mass
        return query
