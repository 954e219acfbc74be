"""Running one experiment: a validated config on seeds 0..n-1. Synchronous and CPU-bound by design; the
runtime decides where it runs (a worker thread in CPython, paced slices in a tab) and the seeds are fixed, so a
reviewer or `hyperspace reproduce` re-runs exactly the same computations."""

from __future__ import annotations

from collections.abc import Callable

from pynode.research.domain import Config, Domain, Evaluation

Progress = Callable[[int, int], None]  # (seeds done, seeds in all)


def run(
    domain: Domain, task: str, config: Config, seeds: int | None = None, progress: Progress | None = None
) -> list[Evaluation]:
    n = seeds if seeds is not None else domain.tasks[task].seeds
    out = []
    for seed in range(n):
        out.append(domain.evaluate(task, config, seed))
        if progress is not None:
            progress(seed + 1, n)
    return out


def agree(claimed: list[float], measured: list[float], tolerance: float) -> bool:
    """Whether re-measured per-seed values match the claimed ones within an absolute tolerance each."""
    return len(claimed) == len(measured) and all(
        abs(a - b) <= tolerance for a, b in zip(claimed, measured, strict=True)
    )
