"""Mutation operators on skills configs, each with its stated prediction (why the held-out share should rise)."""

from __future__ import annotations

from typing import Any

from pynode.research.domain import Config, Mutation
from pynode.research.skills.edits import mutate_program
from pynode.research.skills.problems import problem
from pynode.research.skills.program import parse_program, show
from pynode.research.skills.schema import BOOLS, INTS, MAX_OP_COST, OPERATORS, validate

_BOOL_REASONS = {
    "oe": (
        "observational equivalence drops terms that behave alike on the examples, so the budget reaches deeper programs",
        "keeping equivalent terms lets the search meet alternative programs that generalise differently",
    ),
    "cegis": (
        "searching on one example and adding counterexamples lets OE merge more terms, reaching deeper programs",
        "searching on all training examples at once avoids restarting the enumeration",
    ),
    "library": (
        "reusing subterms of programs known for other problems builds larger programs cheaply",
        "reused subterms crowd the bank, and plain enumeration reaches deeper",
    ),
}
_INT_REASONS = {
    "max_candidates": (
        "a larger budget reaches deeper programs, so more problems are solved",
        "a smaller budget stops before large programs that overfit the training examples",
    ),
    "max_cost": (
        "a higher cost bound lets the search reach larger programs",
        "a lower cost bound keeps to small programs, which generalise better",
    ),
}


def _cost_reason(op: str, old: int, new: int) -> str:
    if new == 0:
        return f"leaving {op} out prunes the search"
    if old == 0:
        return f"allowing {op} makes the programs that need it reachable"
    if new < old:
        return f"making {op} cheaper brings programs that use it within the budget"
    return f"making {op} dearer spends the budget on programs built from other operators"


def describe(parent: Config, child: Config) -> str:
    changes, reasons = [], []
    for k in (*INTS, *BOOLS):
        old, new = parent.get(k), child.get(k)
        if old != new:
            changes.append(f"{k} {old} → {new}")
            table = _INT_REASONS if k in INTS else _BOOL_REASONS
            reasons.append(table[k][0 if (new > old if k in INTS else new) else 1])
    pc, cc = parent.get("costs", {}), child.get("costs", {})
    for op in OPERATORS:
        if pc.get(op, 1) != cc.get(op, 1):
            changes.append(f"cost of {op} {pc.get(op, 1)} → {cc.get(op, 1)}")
            reasons.append(_cost_reason(op, pc.get(op, 1), cc.get(op, 1)))
    pp, cp = parent.get("programs", {}), child.get("programs", {})
    added = sorted(n for n in cp if n not in pp)
    if added:
        changes.append(
            f"programs carried for {len(added)} problems ({', '.join(added[:3])}{', …' if len(added) > 3 else ''})"
        )
        reasons.append("with solved problems carried, the search budget goes to the problems still unsolved")
    for name in sorted(n for n in cp if n in pp and cp[n] != pp[n]):
        changes.append(f"program for {name} edited")
        reasons.append(f"the edited program for {name} fits its training examples and generalises better")
    for name in sorted(n for n in pp if n not in cp):
        changes.append(f"program for {name} dropped")
        reasons.append(f"searching {name} afresh with this strategy finds a program that generalises better")
    if not changes:
        return "no change"
    return f"{'; '.join(changes)}: {'; '.join(reasons)}; the share of held-out examples solved rises."


def _int_step(name: str, parent: Config, rng: Any) -> Config:
    lo, hi, _ = INTS[name]
    old = parent[name]
    if name == "max_candidates":
        new = min(hi, old * 2) if (rng.random() < 0.5 or old == lo) and old < hi else max(lo, old // 2)
    else:
        new = min(hi, max(lo, old + rng.choice([-1, 1]) * rng.randint(1, 3)))
        if new == old:
            new = old - 1 if old == hi else old + 1
    return {**parent, name: new}


def cost_step(parent: Config, rng: Any) -> Config:
    """Move one operator's cost by one (the fallback of program edits when there is nothing to edit)."""
    op = rng.choice(OPERATORS)
    old = parent["costs"][op]
    new = rng.choice([c for c in range(MAX_OP_COST + 1) if c != old and abs(c - old) <= 1])
    return {**parent, "costs": {**parent["costs"], op: new}}


def _edit_program(parent: Config, rng: Any) -> Config:
    names = sorted(parent["programs"])
    rng.shuffle(names)
    for name in names:
        p = problem(name)
        term = parse_program(parent["programs"][name], p.grammar)
        child = mutate_program(term, p.grammar, dict(p.params), rng)
        if child is not None:
            return {**parent, "programs": {**parent["programs"], name: show(child)}}
    return cost_step(parent, rng)  # nothing to edit yet: change the strategy instead


def _drop_program(parent: Config, rng: Any) -> Config:
    if not parent["programs"]:
        return cost_step(parent, rng)
    name = rng.choice(sorted(parent["programs"]))
    return {**parent, "programs": {k: v for k, v in parent["programs"].items() if k != name}}


def mutations() -> list[Mutation]:
    """Strategy edits, and edits of the programs carried (falling back to a cost edit when there are none)."""
    ops = [Mutation(k, lambda c, rng, k=k: _int_step(k, validate(c), rng), describe) for k in INTS]
    ops += [Mutation(k, lambda c, rng, k=k: {**validate(c), k: not validate(c)[k]}, describe) for k in BOOLS]
    ops.append(Mutation("cost", lambda c, rng: cost_step(validate(c), rng), describe))
    ops.append(Mutation("program.edit", lambda c, rng: _edit_program(validate(c), rng), describe))
    ops.append(Mutation("program.drop", lambda c, rng: _drop_program(validate(c), rng), describe))
    return ops
