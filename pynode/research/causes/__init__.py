"""Causes domain: known causal effects (NSW training vs the experiment, NHEFS vs the textbook) estimated from
observational data by regression, weighting, matching and doubly robust estimators (pure Python)."""

from pynode.research.causes.domain import NHEFS, NSW, CausesDomain

DOMAIN = CausesDomain()

__all__ = ["DOMAIN", "NHEFS", "NSW", "CausesDomain"]
