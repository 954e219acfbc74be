"""`hyperspace bench train --against DIR`: the train graphs of this build against another set (an older commit's
pynode/train/graphs, say), in CPython (onnxruntime, CPU) and in a browser tab (onnxruntime-web, wasm, headless
Chromium), in the same run — what a change to how a graph is written does to each runtime's step time.

Per model and round, both sets take turns on each side: the same inputs as `bench train --profile`, one step per
call, one thread and the runners' session options, no profiler; a warm-up (the tab's until its runs stop getting
faster), then `seconds` split into windows, and the fastest window's time per run. Each set keeps its best
round: on a shared machine the load drifts by the minute, and taking turns puts that drift on both sets alike.

    mkdir /tmp/old && git archive HEAD~1 pynode/train/graphs | tar -x -C /tmp/old
    hyperspace bench train --against /tmp/old/pynode/train/graphs --model charlm-tiny

Prints one JSON object (stdout with --json) and a table (stderr).
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path
from typing import Any

from bench.train_profile import (
    ask_worker,
    fastest_window_ms,
    numpy_feeds,
    runs_for,
    stage,
    tab_worker,
    train_inputs,
    train_session,
)
from bench.train_speed import THREADS, machine
from pynode.train.assets import graph_bytes

DEFAULT_MODELS = ["digits-mlp-gelu", "charlm-tiny"]
ROUNDS = 3  # turns each set takes per model and side
WINDOWS = 6  # the measured seconds split into this many windows; the fastest counts
CPYTHON_WARMUP_RUNS = 20  # onnxruntime runs at its speed from the first runs on


def cpython_ms(graph: bytes, inputs: Any, seconds: float, threads: int = THREADS["cpython"]) -> float:
    session, feeds = train_session(graph, threads=threads), numpy_feeds(inputs)
    runs_for(session, feeds, float("inf"), CPYTHON_WARMUP_RUNS)
    return fastest_window_ms(session, feeds, WINDOWS, seconds)


async def _measure(
    graphs: dict[str, dict[str, bytes]], seconds: float, rounds: int, threads: int
) -> dict[str, Any]:
    """{model: {set: {"cpython_ms": [...], "tab_ms": [...]}}}, one entry per round."""
    out: dict[str, Any] = {}
    async with tab_worker() as (site, page, _):
        for r in range(rounds):
            for model, sets in graphs.items():
                inputs = train_inputs(model)
                for name, graph in sets.items():
                    times = out.setdefault(model, {}).setdefault(name, {"cpython_ms": [], "tab_ms": []})
                    times["cpython_ms"].append(cpython_ms(graph, inputs, seconds, threads))
                    stage(site, graph, inputs)
                    reply = await ask_worker(
                        page, {"seconds": seconds, "windows": WINDOWS, "threads": threads}
                    )
                    if reply["threads"] != threads:
                        raise RuntimeError(
                            f"the tab ran on {reply['threads']} thread(s), not {threads} (not cross-origin isolated?)"
                        )
                    times["tab_ms"].append(reply["best_ms"])
                    print(f"  round {r + 1}/{rounds} {model} {name}: CPython {times['cpython_ms'][-1]:.3f} ms, "
                          f"tab {times['tab_ms'][-1]:.3f} ms", file=sys.stderr)  # fmt: skip
    return out


def run_against(against: Path, models: list[str] | None = None, seconds: float = 3.0,
                rounds: int = ROUNDS, threads: int = 1) -> dict[str, Any]:  # fmt: skip
    """`threads`: onnxruntime's intra-op threads on each side (the runners train on one: a run repeats bit for
    bit only at a fixed count; more is here to see what threads would buy in each runtime)."""
    models = models or DEFAULT_MODELS
    missing = [m for m in models if not (against / f"{m}.train.onnx").is_file()]
    if missing:
        raise SystemExit(
            f"{against} has no train graph for {', '.join(missing)} (expected <model>.train.onnx)"
        )
    graphs = {m: {"ours": graph_bytes(m, "train"), "against": (against / f"{m}.train.onnx").read_bytes()}
              for m in models}  # fmt: skip
    t0, load_before = time.monotonic(), os.getloadavg()
    times = asyncio.run(_measure(graphs, seconds, rounds, threads))
    result: dict[str, Any] = {"graph": "train (one step per call)", "against": str(against),
                              "threads": {"cpython": threads, "tab": threads},
                              "rounds": rounds, "seconds": seconds, "models": {}}  # fmt: skip
    for model, sets in times.items():
        best = {name: {side: min(v) for side, v in t.items()} for name, t in sets.items()}
        result["models"][model] = {
            **{name: {**best[name], "by_round": sets[name]} for name in sets},
            "tab_ours_over_against": best["ours"]["tab_ms"] / best["against"]["tab_ms"],
            "cpython_ours_over_against": best["ours"]["cpython_ms"] / best["against"]["cpython_ms"],
            "ratio": {name: best[name]["cpython_ms"] / best[name]["tab_ms"] for name in sets},
        }
    result.update(machine(t0, load_before))
    _table(result)
    return result


def _table(r: dict[str, Any]) -> None:
    out = sys.stderr
    print(f"\none train step, best of {r['rounds']} rounds (ms); ours against {r['against']}", file=out)
    print(f"{'model':18} {'CPython':>9} {'against':>9} {'ours/ag':>8} {'tab':>9} {'against':>9} {'ours/ag':>8} "
          f"{'tab/CPython ratio: ours':>24} {'against':>8}", file=out)  # fmt: skip
    for model, m in r["models"].items():
        o, a = m["ours"], m["against"]
        print(f"{model:18} {o['cpython_ms']:9.3f} {a['cpython_ms']:9.3f} {m['cpython_ours_over_against']:8.3f} "
              f"{o['tab_ms']:9.3f} {a['tab_ms']:9.3f} {m['tab_ours_over_against']:8.3f} "
              f"{m['ratio']['ours']:24.3f} {m['ratio']['against']:8.3f}", file=out)  # fmt: skip
    print(f"onnxruntime threads: {r['threads']['tab']} on each side. Load average {r['load_before'][0]:.1f} → {r['load_after'][0]:.1f} "
          f"on {r['cpus']} CPUs", file=out)  # fmt: skip
