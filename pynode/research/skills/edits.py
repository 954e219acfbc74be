"""Random edits of programs (mutation of peers' skills): replace one subterm by a small random term of the
same sort, drawn from the problem's grammar. The result is checked against the grammar like any program."""

from __future__ import annotations

from typing import Any

from pynode.research.skills.problem import Grammar
from pynode.research.skills.program import Term
from pynode.research.skills.semantics import ITE, OPS
from pynode.research.skills.synth import derives

EDIT_DEPTH = 2  # a replacement subterm nests at most this deep: small, local edits


def _nonterminal(g: Grammar, sort: str) -> str | None:
    for nt, prods in g.rules.items():
        if g.sorts[nt] == sort and any(p[0] != "nt" for p in prods):
            return nt
    return None


def random_term(g: Grammar, nt: str, depth: int, rng: Any) -> Term:
    leaves = [p for p in g.rules[nt] if p[0] in ("var", "const")]
    ops = [p for p in g.rules[nt] if p[0] == "op"]
    if leaves and (depth <= 0 or not ops or rng.random() < 0.4):
        p = rng.choice(leaves)
        return (p[0], p[1])
    p = rng.choice(ops)
    return (p[1], *(random_term(g, a, depth - 1, rng) for a in p[2]))


def _paths(t: Term, path: tuple[int, ...] = ()) -> list[tuple[tuple[int, ...], Term]]:
    out = [(path, t)]
    if t[0] not in ("var", "const"):
        for i, c in enumerate(t[1:], start=1):
            out.extend(_paths(c, (*path, i)))
    return out


def _replace(t: Term, path: tuple[int, ...], new: Term) -> Term:
    if not path:
        return new
    i = path[0]
    return (*t[:i], _replace(t[i], path[1:], new), *t[i + 1 :])


def sort_of(t: Term, g: Grammar, params: dict[str, str]) -> str:
    if t[0] == "var":
        return params[t[1]]
    if t[0] == "const":
        v = t[1]
        return "Bool" if isinstance(v, bool) else "Int" if isinstance(v, int) else "String"
    if t[0] == ITE:
        return sort_of(t[2], g, params)
    return OPS[t[0]].sort


def mutate_program(t: Term, g: Grammar, params: dict[str, str], rng: Any, tries: int = 16) -> Term | None:
    """A different program of the grammar, one subterm replaced; None if no try gave one."""
    places = _paths(t)
    for _ in range(tries):
        path, old = rng.choice(places)
        nt = _nonterminal(g, sort_of(old, g, params))
        if nt is None:
            continue
        child = _replace(t, path, random_term(g, nt, EDIT_DEPTH, rng))
        if child != t and derives(child, g.start, g):
            return child
    return None
