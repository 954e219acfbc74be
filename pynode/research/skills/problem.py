"""A SyGuS-IF programming-by-example problem: the function's signature, its grammar and its examples.

Only what the PBE Strings track uses is accepted: one `synth-fun` with a grammar over the operators in
`semantics.OPS` and `ite`, and constraints of the form `(= (f in ...) out)`. Anything else (e.g. a declarative
spec like max3's) is refused with a ProblemError.
"""

from __future__ import annotations

from dataclasses import dataclass

from pynode.research.skills.limits import MAX_SEXPR_DEPTH, MAX_SL_CHARS
from pynode.research.skills.semantics import ITE, OPS, SORTS, Value
from pynode.research.skills.sexpr import Sexpr, SexprError, StrLit, Sym, parse_all

# A production: ("nt", name) | ("var", name) | ("const", value) | ("op", operator, argument nonterminals)
Production = tuple


class ProblemError(ValueError):
    """A .sl text this domain cannot use."""


@dataclass(frozen=True)
class Grammar:
    start: str
    sorts: dict[str, str]  # nonterminal -> sort
    rules: dict[str, tuple[Production, ...]]  # nonterminal -> productions, in the file's order

    def op_sorts(self, op: str) -> tuple[str, ...]:
        return (ITE,) if op == ITE else OPS[op].args


@dataclass(frozen=True)
class Problem:
    name: str
    params: tuple[tuple[str, str], ...]  # (name, sort) of f's arguments
    sort: str
    grammar: Grammar
    examples: tuple[tuple[tuple[Value, ...], Value], ...]  # (inputs, output), duplicates of an input dropped


def _sort(x: Sexpr) -> str:
    if not isinstance(x, Sym) or x not in SORTS:
        raise ProblemError(f"unsupported sort {x!r}")
    return str(x)


def _literal(x: Sexpr) -> Value:
    if isinstance(x, StrLit):
        return str(x)
    if isinstance(x, int):
        return x
    if x in ("true", "false"):
        return x == "true"
    raise ProblemError(f"not a literal: {x!r}")


def _production(p: Sexpr, nts: dict[str, str], params: dict[str, str], sort: str) -> Production:
    if isinstance(p, Sym) and p in nts:
        return ("nt", str(p))
    if isinstance(p, Sym) and p in params:
        return ("var", str(p))
    if not isinstance(p, list):
        return ("const", _literal(p))
    if not p or not isinstance(p[0], Sym) or (p[0] not in OPS and p[0] != ITE):
        raise ProblemError(f"unsupported operator in {p!r}")
    op, args = str(p[0]), p[1:]
    if not all(isinstance(a, Sym) and a in nts for a in args):
        raise ProblemError(f"{op}'s arguments must be nonterminals")
    arg_sorts = [nts[a] for a in args]
    want = ["Bool", sort, sort] if op == ITE else list(OPS[op].args)
    if arg_sorts != want or (op != ITE and OPS[op].sort != sort):
        raise ProblemError(f"{op} does not fit {sort} with arguments {arg_sorts}")
    return ("op", op, tuple(str(a) for a in args))


def _grammar(rules: Sexpr, params: dict[str, str]) -> Grammar:
    if not isinstance(rules, list) or not rules:
        raise ProblemError("synth-fun without a grammar")
    nts: dict[str, str] = {}
    for rule in rules:
        if not (
            isinstance(rule, list)
            and len(rule) == 3
            and isinstance(rule[0], Sym)
            and isinstance(rule[2], list)
        ):
            raise ProblemError(f"malformed grammar rule {rule!r}")
        nts[str(rule[0])] = _sort(rule[1])
    out = {str(r[0]): tuple(_production(p, nts, params, nts[str(r[0])]) for p in r[2]) for r in rules}
    for nt, prods in out.items():
        for p in prods:
            if p[0] == "var" and params[p[1]] != nts[nt]:
                raise ProblemError(f"variable {p[1]} is not a {nts[nt]}")
            if p[0] == "nt" and nts[p[1]] != nts[nt]:
                raise ProblemError(f"{nt} derives {p[1]} of another sort")
    return Grammar(str(rules[0][0]), nts, out)


def _example(c: Sexpr, fname: str, arity: int) -> tuple[tuple[Value, ...], Value]:
    ok = isinstance(c, list) and len(c) == 2 and c[0] == "constraint" and isinstance(c[1], list)
    eq = c[1] if ok else None
    if not (eq and len(eq) == 3 and eq[0] == "=" and isinstance(eq[1], list) and eq[1][:1] == [fname]):
        raise ProblemError("a constraint that is not an input/output example (= (f ...) out)")
    if len(eq[1]) != arity + 1:
        raise ProblemError("an example with the wrong number of inputs")
    return tuple(_literal(a) for a in eq[1][1:]), _literal(eq[2])


def parse_problem(name: str, text: str) -> Problem:
    if len(text) > MAX_SL_CHARS:
        raise ProblemError(f"problem text over {MAX_SL_CHARS} characters")
    try:
        forms = parse_all(text, MAX_SEXPR_DEPTH)
    except SexprError as e:
        raise ProblemError(str(e)) from None
    synth = [f for f in forms if isinstance(f, list) and f[:1] == ["synth-fun"]]
    if len(synth) != 1 or len(synth[0]) != 5 or not isinstance(synth[0][2], list):
        raise ProblemError("expected one synth-fun with a grammar")
    _, fname, raw_params, ret, rules = synth[0]
    params = tuple((str(p[0]), _sort(p[1])) for p in raw_params if isinstance(p, list) and len(p) == 2)
    if len(params) != len(raw_params):
        raise ProblemError("malformed parameter list")
    grammar = _grammar(rules, dict(params))
    if grammar.sorts[grammar.start] != _sort(ret):
        raise ProblemError("the start symbol's sort differs from f's")
    examples: dict[tuple[Value, ...], Value] = {}
    for c in forms:
        if isinstance(c, list) and c[:1] == ["constraint"]:
            inputs, out = _example(c, str(fname), len(params))
            if examples.setdefault(inputs, out) != out:
                raise ProblemError(f"contradictory examples for {inputs!r}")
    if not examples:
        raise ProblemError("no examples")
    return Problem(name, params, _sort(ret), grammar, tuple(examples.items()))
