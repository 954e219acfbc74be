"""An inverted index with two fields (title, body) for one analyzer, built once and cached per analyzer."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from functools import cache

from pynode.research.search.collection import Collection, cranfield
from pynode.research.search.text import analyzer


@dataclass(frozen=True)
class Posting:
    docs: list[int]  # document indexes holding the term (in either field), ascending
    title_tf: list[int]
    body_tf: list[int]


@dataclass(frozen=True)
class Index:
    n_docs: int
    postings: dict[str, Posting]
    title_len: list[int]
    body_len: list[int]
    doc_terms: list[dict[str, tuple[int, int]]]  # per document: term -> (title tf, body tf), for feedback
    queries: list[list[str]]  # analysed query text, per query index

    @property
    def avg_title_len(self) -> float:
        return sum(self.title_len) / self.n_docs

    @property
    def avg_body_len(self) -> float:
        return sum(self.body_len) / self.n_docs


def build_index(docs: list[tuple[str, str]], queries: list[str], stemmer: str, stopwords: str) -> Index:
    analyze = analyzer(stemmer, stopwords)
    postings: dict[str, Posting] = {}
    title_len, body_len, doc_terms = [], [], []
    for i, (title, body) in enumerate(docs):
        t, b = analyze(title), analyze(body)
        title_len.append(len(t))
        body_len.append(len(b))
        tc, bc = Counter(t), Counter(b)
        terms = {
            term: (tc[term], bc[term]) for term in dict.fromkeys(t + b)
        }  # first-seen order: deterministic
        doc_terms.append(terms)
        for term, (tt, bt) in terms.items():
            p = postings.get(term)
            if p is None:
                p = postings[term] = Posting([], [], [])
            p.docs.append(i)
            p.title_tf.append(tt)
            p.body_tf.append(bt)
    return Index(len(docs), postings, title_len, body_len, doc_terms, [analyze(q) for q in queries])


@cache
def cranfield_index(stemmer: str, stopwords: str) -> Index:
    c: Collection = cranfield()
    return build_index(list(zip(c.titles, c.bodies, strict=True)), list(c.queries), stemmer, stopwords)
