"""bench train --profile's summing of a runtime profile (Chrome trace events, as onnxruntime and onnxruntime-web
write them) by operator."""

from __future__ import annotations

from bench.train_profile import by_op


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
