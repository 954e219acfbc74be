"""Search domain: BM25F + RM3 over the Cranfield collection, NDCG@10 on held-out queries (pure Python)."""

from pynode.research.search.domain import TASK, SearchDomain

DOMAIN = SearchDomain()

__all__ = ["DOMAIN", "TASK", "SearchDomain"]
