"""Covariate terms: the vocabulary a config names its models in, and the design columns they expand to.

A term is a variable (`age`; a categorical one expands to indicators of all levels but the lowest), a power
of a continuous variable (`age^2`, `age^3`), or a product of two distinct non-categorical variables
(`educ*re74`). Design columns are standardised over the task's whole sample (a reparametrisation, so the ridge
penalties treat every term alike); a column without spread is dropped.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pynode.research.causes.limits import MAX_SHOWN_CHARS, MAX_TERM_CHARS, MAX_TERMS
from pynode.research.domain import ConfigError


@dataclass(frozen=True)
class Variables:
    continuous: tuple[str, ...]
    binary: tuple[str, ...]
    categorical: tuple[str, ...] = ()

    @property
    def all(self) -> tuple[str, ...]:
        return self.continuous + self.binary + self.categorical


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= MAX_SHOWN_CHARS else text[:MAX_SHOWN_CHARS] + "…"


def canonical_term(term: object, v: Variables) -> str:
    """The term's canonical spelling, or ConfigError."""
    if not isinstance(term, str) or len(term) > MAX_TERM_CHARS:
        raise ConfigError(f"a term is a short string, not {_show(term)}")
    if "*" in term:
        a, _, b = term.partition("*")
        numeric = v.continuous + v.binary
        if a not in numeric or b not in numeric or a == b:
            raise ConfigError(f"{_show(term)}: a product needs two distinct variables of {list(numeric)}")
        return "*".join(sorted((a, b)))
    if "^" in term:
        name, _, power = term.partition("^")
        if name not in v.continuous or power not in ("2", "3"):
            raise ConfigError(f"{_show(term)}: powers are ^2 or ^3 of one of {list(v.continuous)}")
        return term
    if term not in v.all:
        raise ConfigError(f"unknown variable {_show(term)}; known: {list(v.all)}")
    return term


def canonical_terms(terms: object, v: Variables, name: str) -> list[str]:
    if not isinstance(terms, list) or len(terms) > MAX_TERMS:
        raise ConfigError(f"{name} must be a list of at most {MAX_TERMS} terms")
    return sorted({canonical_term(t, v) for t in terms})


def raw_columns(term: str, data: Mapping[str, Sequence[float]], v: Variables) -> list[list[float]]:
    if "*" in term:
        a, _, b = term.partition("*")
        return [[x * y for x, y in zip(data[a], data[b], strict=True)]]
    if "^" in term:
        name, _, power = term.partition("^")
        return [[x ** int(power) for x in data[name]]]
    if term in v.categorical:
        levels = sorted(set(data[term]))
        return [[1.0 if x == level else 0.0 for x in data[term]] for level in levels[1:]]
    return [list(map(float, data[term]))]


def standardised(column: list[float]) -> list[float] | None:
    n = len(column)
    mean = math.fsum(column) / n
    sd = math.sqrt(math.fsum((x - mean) ** 2 for x in column) / n)
    return None if sd == 0.0 else [(x - mean) / sd for x in column]


def term_columns(term: str, data: Mapping[str, Sequence[float]], v: Variables) -> list[array]:
    """A term's standardised design columns over every row (compact doubles: a model caches them per term)."""
    out = []
    for raw in raw_columns(term, data, v):
        col = standardised(raw)
        if col is not None:
            out.append(array("d", col))
    return out


def design(terms: Sequence[str], data: Mapping[str, Sequence[float]], v: Variables) -> list[array]:
    """The intercept followed by the terms' standardised columns, over every row of the sample."""
    n = len(next(iter(data.values())))
    return [array("d", [1.0]) * n, *(c for term in terms for c in term_columns(term, data, v))]
