"""How long one research seed takes, per task of a domain: in a tab, how long a seed holds the worker's
event loop (a seed is synchronous Python and a tab has no threads). The browser app runs it when
`bench/research_tab.py` asks; the benchmark runs it in CPython beside it."""

from __future__ import annotations

import random
import time
from typing import Any

from pynode.research.registry import domain as load_domain


def time_seeds(name: str, configs: int, seed: int = 0) -> dict[str, Any]:
    """Seconds each seed of `configs` configs (the baseline, then random ones) takes, per task of a domain: in a
    tab, how long one seed holds the worker's event loop. The first seed of a task loads its data too."""
    t0 = time.perf_counter()
    d = load_domain(name)
    out: dict[str, Any] = {"domain": name, "import_s": round(time.perf_counter() - t0, 3), "tasks": {}}
    for task_id, task in d.tasks.items():
        rng = random.Random(seed)
        todo = [d.validate(task_id, d.baseline(task_id))]
        todo += [d.validate(task_id, d.sample(task_id, rng)) for _ in range(configs - 1)]
        took = []
        for config in todo:
            for s in range(task.seeds):
                t = time.perf_counter()
                d.evaluate(task_id, config, s)
                took.append(round(time.perf_counter() - t, 4))
        out["tasks"][task_id] = {
            "configs": len(todo),
            "seeds": task.seeds,
            "first_s": took[0],
            "max_warm_s": max(took[1:], default=took[0]),
            "per_seed_s": took,
        }
    return out
