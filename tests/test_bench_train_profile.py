"""bench train --profile: its summing of a runtime profile (Chrome trace events, as onnxruntime and
onnxruntime-web write them) by operator, and a real run of both sides."""

from __future__ import annotations

import math

import pytest

from bench.train_profile import by_op, run_profile


def _run(durations: dict[str, tuple[str, int]], run_us: int) -> list[dict]:
    events = [
        {"cat": "Node", "name": f"{node}_kernel_time", "dur": us, "args": {"op_name": op}}
        for node, (op, us) in durations.items()
    ]
    events.append({"cat": "Node", "name": "mm_fence_before", "dur": 999_000, "args": {"op_name": "MatMul"}})
    return [*events, {"cat": "Session", "name": "model_run", "dur": run_us}]


def test_each_node_counts_its_median_over_the_measured_runs_summed_by_operator():
    slow_first = _run({"mm": ("MatMul", 90_000), "mm2": ("MatMul", 90_000), "erf": ("Erf", 90_000)}, 500_000)
    runs = [
        _run({"mm": ("MatMul", 1000), "mm2": ("MatMul", 3000), "erf": ("Erf", 500)}, 6000),
        _run({"mm": ("MatMul", 2000), "mm2": ("MatMul", 1000), "erf": ("Erf", 700)}, 5000),
        _run({"mm": ("MatMul", 1500), "mm2": ("MatMul", 2000), "erf": ("Erf", 600)}, 9000),
    ]
    profile = by_op([e for run in [slow_first, *runs] for e in run], skip_runs=1)
    assert profile["runs"] == 3 and profile["run_ms"] == 6.0
    assert profile["ops"] == {"MatMul": {"nodes": 2, "ms": 3.5}, "Erf": {"nodes": 1, "ms": 0.6}}
    assert list(profile["ops"]) == ["MatMul", "Erf"]  # largest first
    assert abs(profile["kernels_ms"] - 4.1) < 1e-9


@pytest.mark.slow
def test_both_sides_profile_the_step_and_time_it_without_the_profiler():
    """Each side's operators, and a run's time without the profiler beside the profiled median (the tab's
    profiler inflates some kernels: the unprofiled figure is what the profile is read against)."""
    r = run_profile(["digits-mlp"], seconds=0.3)
    sides = r["models"]["digits-mlp"]
    assert sides["tab"] is not None, "the tab was not profiled"
    for side in ("cpython", "tab"):
        p = sides[side]
        assert p["runs"] > 0 and p["ops"]
        assert math.isfinite(p["plain_run_ms"]) and p["plain_run_ms"] > 0
