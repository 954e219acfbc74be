"""The skills config: a search strategy plus, optionally, programs already known for some problems.

    {"max_cost": 16, "max_candidates": 50000, "oe": true, "cegis": true, "library": false,
     "costs": {"str.++": 1, ..., "ite": 1}, "programs": {"firstname-long": "(str.substr name 0 ...)"}}

`costs` holds every operator (0 leaves it out of the search); `programs` maps task problems to program text in
the problem's grammar, stored canonically. A known program that fits a problem's training examples is used
as is; otherwise the strategy searches, and with `library` it reuses the subterms of all known programs.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from pynode.research.domain import Config, ConfigError
from pynode.research.limits import MAX_CONFIG_BYTES
from pynode.research.skills.limits import (
    MAX_CANDIDATES,
    MAX_CHOICE_CHARS,
    MAX_COST,
    MAX_SHOWN_CHARS,
)
from pynode.research.skills.problems import problem, task_problems
from pynode.research.skills.program import ProgramError, parse_program, show
from pynode.research.skills.semantics import ITE, OPS

OPERATORS = (*OPS, ITE)
MAX_OP_COST = 4
INTS: dict[str, tuple[int, int, int]] = {  # name -> (low, high, default)
    "max_cost": (2, MAX_COST, 16),
    "max_candidates": (1000, MAX_CANDIDATES, 50_000),
}
BOOLS: dict[str, bool] = {"oe": True, "cegis": True, "library": False}
KEYS = (*INTS, *BOOLS, "costs", "programs")
BASELINE: Config = {
    **{k: v[2] for k, v in INTS.items()},
    **BOOLS,
    "costs": dict.fromkeys(OPERATORS, 1),
    "programs": {},
}


def _show(value: Any) -> str:
    """A refused value, quoted briefly: never the whole of a huge string, number or container."""
    if isinstance(value, str):
        return repr(value[:MAX_SHOWN_CHARS]) + ("…" if len(value) > MAX_SHOWN_CHARS else "")
    if isinstance(value, int) and value.bit_length() > 64:
        return "a huge number"
    if value is None or isinstance(value, int | float):
        return repr(value)
    return f"a {type(value).__name__}"


def _int(name: str, value: Any, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{name} must be a whole number, not {_show(value)}")
    if isinstance(value, float) and (not math.isfinite(value) or value != int(value)):
        raise ConfigError(f"{name} must be a whole number, not {_show(value)}")
    if not lo <= value <= hi:
        raise ConfigError(f"{name} must lie in [{lo}, {hi}], not {_show(value)}")
    return int(value)


def _costs(value: Any) -> dict[str, int]:
    if not isinstance(value, Mapping) or len(value) > len(OPERATORS):
        raise ConfigError(f"costs must map operators ({', '.join(OPERATORS)}) to 0..{MAX_OP_COST}")
    for op in value:
        if not isinstance(op, str) or len(op) > MAX_CHOICE_CHARS or op not in OPERATORS:
            raise ConfigError(f"costs names an unknown operator {_show(op)}")
    return {op: _int(f"costs[{op}]", value.get(op, 1), 0, MAX_OP_COST) for op in OPERATORS}


def _programs(value: Any) -> dict[str, str]:
    names = task_problems()
    if not isinstance(value, Mapping) or len(value) > len(names):
        raise ConfigError("programs must map task problems to program text")
    for name in value:
        if not isinstance(name, str) or len(name) > MAX_CHOICE_CHARS or name not in names:
            raise ConfigError(f"programs names an unknown problem {_show(name)}")
    out = {}
    for name in sorted(value):
        try:
            out[name] = show(parse_program(value[name], problem(name).grammar))
        except ProgramError as e:
            raise ConfigError(f"program for {name}: {e}") from None
    return out


def validate(config: Mapping[str, Any]) -> Config:
    if not isinstance(config, Mapping):
        raise ConfigError(f"a skills config is a JSON object, not {type(config).__name__}")
    if len(config) > len(KEYS):
        raise ConfigError(f"a skills config has at most {len(KEYS)} keys")
    for key in config:
        if key not in KEYS:
            raise ConfigError(f"unknown skills setting {_show(key)}; known: {list(KEYS)}")
    out: Config = {k: _int(k, config.get(k, d), lo, hi) for k, (lo, hi, d) in INTS.items()}
    for k, d in BOOLS.items():
        v = config.get(k, d)
        if not isinstance(v, bool):
            raise ConfigError(f"{k} must be true or false, not {_show(v)}")
        out[k] = v
    out["costs"] = _costs(config.get("costs", {}))
    out["programs"] = _programs(config.get("programs", {}))
    if len(json.dumps(out, separators=(",", ":"))) > MAX_CONFIG_BYTES:
        raise ConfigError(f"config over {MAX_CONFIG_BYTES} bytes")
    return out


def sample(rng: Any) -> Config:
    """A random strategy (no programs: random search starts from nothing, as a newcomer does)."""
    return validate(
        {
            **{k: rng.randint(lo, hi) for k, (lo, hi, _) in INTS.items()},
            **{k: rng.random() < 0.5 for k in BOOLS},
            "costs": {op: rng.randint(0, MAX_OP_COST) for op in OPERATORS},
        }
    )


def crossover(a: Config, b: Config, rng: Any) -> Config:
    """Budget and switches come from either parent, each operator's cost from either; programs are pooled."""
    a, b = validate(a), validate(b)
    pick = lambda key: (a if rng.random() < 0.5 else b)[key]  # noqa: E731
    child: Config = {k: pick(k) for k in (*INTS, *BOOLS)}
    child["costs"] = {op: (a if rng.random() < 0.5 else b)["costs"][op] for op in OPERATORS}
    programs = dict(b["programs"])
    for name, text in a["programs"].items():
        if name not in programs or rng.random() < 0.5:
            programs[name] = text
    child["programs"] = dict(sorted(programs.items()))
    try:
        return validate(child)
    except ConfigError:  # pooled programs over the size limit: keep one parent's
        return validate({**child, "programs": a["programs"]})


def with_programs(config: Config, found: Mapping[str, str]) -> Config:
    """`config` with the programs an evaluation used (each fits its training examples: a carried one that did not
    is replaced by the one the search found), as many as the size limit allows, shortest first."""
    out = validate(config)
    merged = dict(out["programs"])
    for name in sorted(found, key=lambda n: (len(found[n]), n)):
        trial = {**out, "programs": {**merged, name: found[name]}}
        if len(json.dumps(trial, separators=(",", ":"))) <= MAX_CONFIG_BYTES:
            merged[name] = found[name]
    return validate({**out, "programs": merged})
