"""Programs: terms of a problem's grammar, read from text (peers' data, checked against the grammar) and
written back in one canonical text, so equal programs have equal text (and configs equal hashes).

A term is a tuple: ("var", name) | ("const", value) | (operator, child, ...).
"""

from __future__ import annotations

from pynode.research.skills.limits import (
    MAX_LITERAL_CHARS,
    MAX_PROGRAM_CHARS,
    MAX_PROGRAM_NODES,
    MAX_SEXPR_DEPTH,
)
from pynode.research.skills.problem import Grammar
from pynode.research.skills.sexpr import Sexpr, SexprError, StrLit, Sym, parse_one

Term = tuple


class ProgramError(ValueError):
    """A program text that is malformed, too large, or not in the problem's grammar."""


def _nodes(x: Sexpr, limit: int) -> int:
    """Node count, refusing early past `limit` (iterative: the depth is already bounded, the width is not)."""
    count, todo = 0, [x]
    while todo:
        y = todo.pop()
        count += 1
        if count > limit:
            raise ProgramError(f"program has more than {limit} nodes")
        if isinstance(y, list):
            if not y or not isinstance(y[0], Sym):
                raise ProgramError("an application must start with an operator name")
            todo.extend(y[1:])
        elif isinstance(y, StrLit) and len(y) > MAX_LITERAL_CHARS:
            raise ProgramError(f"string literal over {MAX_LITERAL_CHARS} characters")
    return count


def _same_literal(x: Sexpr, value: object) -> bool:
    if isinstance(value, bool):
        return isinstance(x, Sym) and x == ("true" if value else "false")
    if isinstance(value, int):
        return isinstance(x, int) and x == value
    return isinstance(x, StrLit) and x == value


def _derive(x: Sexpr, nt: str, g: Grammar, units: frozenset[str]) -> Term | None:
    for p in g.rules[nt]:
        kind = p[0]
        if kind == "nt":
            if p[1] not in units:
                t = _derive(x, p[1], g, units | {nt})
                if t is not None:
                    return t
        elif kind == "var":
            if isinstance(x, Sym) and x == p[1]:
                return ("var", p[1])
        elif kind == "const":
            if _same_literal(x, p[1]):
                return ("const", p[1])
        elif isinstance(x, list) and x[0] == p[1] and len(x) == len(p[2]) + 1:
            kids = [_derive(c, a, g, frozenset()) for c, a in zip(x[1:], p[2], strict=True)]
            if all(k is not None for k in kids):
                return (p[1], *kids)
    return None


def parse_program(text: str, grammar: Grammar) -> Term:
    if not isinstance(text, str):
        raise ProgramError("a program is text")
    if len(text) > MAX_PROGRAM_CHARS:
        raise ProgramError(f"program over {MAX_PROGRAM_CHARS} characters")
    try:
        x = parse_one(text, MAX_SEXPR_DEPTH)
    except SexprError as e:
        raise ProgramError(f"program is not an s-expression: {e}") from None
    _nodes(x, MAX_PROGRAM_NODES)
    term = _derive(x, grammar.start, grammar, frozenset())
    if term is None:
        raise ProgramError("program is not in the problem's grammar")
    return term


def _quote(s: str) -> str:
    return '"' + s.replace('"', '""') + '"'


def show(t: Term) -> str:
    if t[0] == "var":
        return t[1]
    if t[0] == "const":
        v = t[1]
        return (
            ("true" if v else "false") if isinstance(v, bool) else str(v) if isinstance(v, int) else _quote(v)
        )
    return "(" + " ".join([t[0], *(show(c) for c in t[1:])]) + ")"


def size(t: Term) -> int:
    return 1 if t[0] in ("var", "const") else 1 + sum(size(c) for c in t[1:])


def subterms(t: Term) -> list[Term]:
    """Every subterm, children before parents."""
    if t[0] in ("var", "const"):
        return [t]
    return [s for c in t[1:] for s in subterms(c)] + [t]
