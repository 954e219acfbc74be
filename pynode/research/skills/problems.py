"""The shipped SyGuS PBE Strings problems and the task's fixed train/held-out split.

The task uses the 27 `-long` problems (20-100 distinct examples each; the `-long-repeat` files repeat the same
inputs, and the short ones leave nothing to hold out). For each problem, TRAIN_EXAMPLES examples — those whose
inputs hash lowest (sha256 of the JSON inputs, so the choice is fixed and blind to the outputs) — are what a
search may look at; every other example is held out and only scores the program found.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from dataclasses import dataclass
from functools import cache

from pynode.research.assets import read_asset
from pynode.research.skills.problem import Problem, parse_problem
from pynode.research.skills.synth import Example

ASSET = "sygus-pbe-strings.json.gz"
TRAIN_EXAMPLES = 6  # as many as the track's base problems give (4-7): enough to pin most programs down


@dataclass(frozen=True)
class Split:
    problem: Problem
    train: tuple[Example, ...]
    heldout: tuple[Example, ...]


@cache
def texts() -> dict[str, str]:
    return json.loads(gzip.decompress(read_asset(ASSET)))


@cache
def problem(name: str) -> Problem:
    return parse_problem(name, texts()[name])


def _key(example: Example) -> str:
    return hashlib.sha256(json.dumps(list(example[0])).encode()).hexdigest()


@cache
def split(name: str) -> Split:
    p = problem(name)
    chosen = set(sorted(range(len(p.examples)), key=lambda i: _key(p.examples[i]))[:TRAIN_EXAMPLES])
    train = tuple(e for i, e in enumerate(p.examples) if i in chosen)
    return Split(p, train, tuple(e for i, e in enumerate(p.examples) if i not in chosen))


@cache
def task_problems() -> tuple[str, ...]:
    return tuple(sorted(n for n in texts() if n.endswith("-long")))
