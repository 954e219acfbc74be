"""The five research domains by name, imported on first use (a tab loads only the domains it researches)."""

from __future__ import annotations

import importlib

from pynode.research.domain import Domain, Task

DOMAIN_MODULES = {
    "ml": "pynode.research.ml",
    "search": "pynode.research.search",
    "finance": "pynode.research.finance",
    "skills": "pynode.research.skills",
    "causes": "pynode.research.causes",
}
_loaded: dict[str, Domain] = {}


def domain(name: str) -> Domain:
    if name not in DOMAIN_MODULES:
        raise KeyError(f"no research domain {name!r} (known: {', '.join(DOMAIN_MODULES)})")
    if name not in _loaded:
        _loaded[name] = importlib.import_module(DOMAIN_MODULES[name]).DOMAIN
    return _loaded[name]


def find_task(task_id: str) -> tuple[Domain, Task]:
    for name in DOMAIN_MODULES:
        d = domain(name)
        if task_id in d.tasks:
            return d, d.tasks[task_id]
    raise KeyError(f"no research task {task_id!r}")
