"""Bottom-up enumerative synthesis with observational equivalence (Udupa et al. 2013; Alur et al. 2017).

Terms of a problem's grammar are built in order of cost (each operator application costs `costs[op]`, a leaf 1;
an operator with cost 0 is left out), every term evaluated on the examples at once. With `oe`, a term whose
outputs on the examples equal an earlier term's of the same nonterminal is dropped: it can never be needed.
The search stops at the first term of the start symbol that maps every example to its output, when the cost
bound is reached, or after `max_candidates` evaluated terms (a deterministic budget, the same on any machine).

With `cegis`, the search first looks at one example and adds each training example a found program gets wrong
(counterexample-guided): fewer examples make OE merge more terms, so deeper programs come within the budget.
Library terms (subterms of programs known for other problems) join the bank at cost LIBRARY_COST.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass
from itertools import product

from pynode.research.skills.interp import EvalError, run, solves
from pynode.research.skills.problem import Grammar, Problem
from pynode.research.skills.program import Term
from pynode.research.skills.semantics import ITE, OPS, Value

LIBRARY_COST = 2  # a reused subterm is cheaper than building it (its size) but dearer than a variable (1)
Example = tuple[tuple[Value, ...], Value]


@dataclass(frozen=True)
class SearchParams:
    max_cost: int
    max_candidates: int
    oe: bool = True
    cegis: bool = True
    costs: Mapping[str, int] | None = None  # operator -> cost (0: not used); operators not named cost 1


@dataclass(frozen=True)
class SearchResult:
    program: Term | None
    candidates: int  # terms evaluated, over all CEGIS rounds


class _Budget(Exception):
    pass


def compositions(total: int, parts: int) -> Iterator[tuple[int, ...]]:
    """Ordered ways to write `total` as `parts` positive integers."""
    if parts == 1:
        if total >= 1:
            yield (total,)
        return
    for first in range(1, total - parts + 2):
        for rest in compositions(total - first, parts - 1):
            yield (first, *rest)


def derives(t: Term, nt: str, g: Grammar, units: frozenset[str] = frozenset()) -> bool:
    """Whether term `t` is derivable from nonterminal `nt` of grammar `g`."""
    for p in g.rules[nt]:
        if p[0] == "nt":
            if p[1] not in units and derives(t, p[1], g, units | {nt}):
                return True
        elif p[0] in ("var", "const"):
            if t[0] == p[0] and t[1] == p[1] and type(t[1]) is type(p[1]):
                return True
        elif (
            t[0] == p[1]
            and len(t) == len(p[2]) + 1
            and all(derives(c, a, g) for c, a in zip(t[1:], p[2], strict=True))
        ):
            return True
    return False


class _Enumerator:
    def __init__(self, problem: Problem, examples: Sequence[Example], p: SearchParams, spent: int) -> None:
        self.g, self.p, self.spent = problem.grammar, p, spent
        self.envs = [dict(zip((n for n, _ in problem.params), inputs, strict=True)) for inputs, _ in examples]
        self.target = tuple(out for _, out in examples)
        costs = p.costs or {}
        self.cost = {op: costs.get(op, 1) for nt in self.g.rules for _, op, *_ in self._ops(nt)}
        self.bank: dict[str, dict[int, list[tuple[Term, tuple]]]] = {nt: {} for nt in self.g.rules}
        self.seen: dict[str, set[tuple]] = {nt: set() for nt in self.g.rules}
        self.aliases: dict[str, list[str]] = {nt: [] for nt in self.g.rules}  # M -> nonterminals with N ::= M
        for nt, prods in self.g.rules.items():
            for prod in prods:
                if prod[0] == "nt":
                    self.aliases[prod[1]].append(nt)
        self.found: Term | None = None

    def _ops(self, nt: str) -> list[tuple]:
        return [p for p in self.g.rules[nt] if p[0] == "op"]

    def _add(self, nt: str, cost: int, term: Term, vals: tuple, via: frozenset[str] = frozenset()) -> None:
        if self.p.oe:
            if vals in self.seen[nt]:
                return
            self.seen[nt].add(vals)
        self.bank[nt].setdefault(cost, []).append((term, vals))
        if nt == self.g.start and vals == self.target and self.found is None:
            self.found = term
        for parent in self.aliases[nt]:
            if parent not in via:
                self._add(parent, cost, term, vals, via | {nt})

    def _leaves(self, library: Sequence[Term]) -> None:
        for nt, prods in self.g.rules.items():
            for prod in prods:
                if prod[0] == "var":
                    self._add(nt, 1, prod, tuple(env[prod[1]] for env in self.envs))
                elif prod[0] == "const":
                    self._add(nt, 1, prod, (prod[1],) * len(self.envs))
        for t in library:
            for nt in self.g.rules:
                if any(p[0] != "nt" for p in self.g.rules[nt]) and derives(t, nt, self.g):
                    with suppress(EvalError):  # a library term over the limits on these inputs is skipped
                        self._add(nt, LIBRARY_COST, t, tuple(run(t, env) for env in self.envs))

    def _level(self, nt: str, cost: int) -> None:
        for prod in self._ops(nt):
            op, args = prod[1], prod[2]
            k = self.cost[op]
            if k <= 0 or cost - k < len(args):
                continue
            fn = None if op == ITE else OPS[op].fn
            for split in compositions(cost - k, len(args)):
                pools = [self.bank[a].get(c, ()) for a, c in zip(args, split, strict=True)]
                if not all(pools):
                    continue
                for combo in product(*pools):
                    self.spent += 1
                    if self.spent > self.p.max_candidates:
                        raise _Budget
                    cols = [v for _, v in combo]
                    if fn is None:
                        vals = tuple(a if c else b for c, a, b in zip(*cols, strict=True))
                    else:
                        vals = tuple(map(fn, *cols))
                        if None in vals:
                            continue
                    self._add(nt, cost, (op, *(t for t, _ in combo)), vals)
                    if self.found is not None:
                        return

    def run(self, library: Sequence[Term]) -> Term | None:
        self._leaves(library)
        cost = 1
        while self.found is None and cost < self.p.max_cost:
            cost += 1
            for nt in self.g.rules:
                if self.found is None:
                    self._level(nt, cost)
        return self.found


def synthesize(
    problem: Problem, examples: Sequence[Example], params: SearchParams, library: Sequence[Term] = ()
) -> SearchResult:
    """The cheapest program (in enumeration order) that solves every example, within the budget."""
    active = [examples[0]] if params.cegis else list(examples)
    spent = 0
    while True:
        e = _Enumerator(problem, active, params, spent)
        try:
            program = e.run(library)
        except _Budget:
            return SearchResult(None, params.max_candidates)
        spent = e.spent
        if program is None:
            return SearchResult(None, spent)
        wrong = [ex for ex in examples if not solves(program, problem.params, ex)]
        if not wrong:
            return SearchResult(program, spent)
        active.append(wrong[0])
