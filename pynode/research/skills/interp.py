"""The interpreter: a term of a problem's grammar on one input, under step and size limits.

Programs are data: this walks the tuple term and applies `semantics.OPS`; nothing is compiled or executed
as Python. Depth and node count are bounded when a program is parsed; here each operator application counts a
step and every intermediate value is bounded (see semantics), so no program runs long or grows memory.
"""

from __future__ import annotations

from collections.abc import Mapping

from pynode.research.skills.limits import MAX_EVAL_DEPTH, MAX_STEPS
from pynode.research.skills.program import Term
from pynode.research.skills.semantics import ITE, OPS, Value


class EvalError(ValueError):
    """A program that exceeds a limit on an input (runaway string, huge integer, too many steps)."""


def run(term: Term, env: Mapping[str, Value]) -> Value:
    steps = [0]

    def ev(t: Term, depth: int) -> Value:
        op = t[0]
        if op == "var":
            return env[t[1]]
        if op == "const":
            return t[1]
        steps[0] += 1
        if steps[0] > MAX_STEPS:
            raise EvalError(f"more than {MAX_STEPS} steps")
        if depth > MAX_EVAL_DEPTH:
            raise EvalError(f"nested deeper than {MAX_EVAL_DEPTH}")
        if op == ITE:
            return ev(t[2], depth + 1) if ev(t[1], depth + 1) else ev(t[3], depth + 1)
        value = OPS[op].fn(*(ev(c, depth + 1) for c in t[1:]))
        if value is None:
            raise EvalError(f"{op} made a value over the size limits")
        return value

    return ev(term, 0)


def solves(term: Term, params: tuple[tuple[str, str], ...], example: tuple[tuple[Value, ...], Value]) -> bool:
    """Whether `term` maps the example's inputs to its output (a program over the limits does not)."""
    inputs, out = example
    try:
        return run(term, {name: v for (name, _), v in zip(params, inputs, strict=True)}) == out
    except EvalError:
        return False
