"""`hyperspace bench train --profile`: where one train step's time goes, operator by operator, in CPython
(onnxruntime, CPU) and in a browser tab (onnxruntime-web, wasm, headless Chromium) — the profile behind issue 14
item 2's ratio (bench/train_speed.py). Same graph (the model's `train`, one step per call), same inputs, one
thread and the runners' session options on both sides, each runtime's own profiler on.

Each side runs the step for a warm-up (the tab's until its runs stop getting faster: V8 tiers the wasm up
meanwhile, late on a loaded machine), then for `seconds` more (at most MAX_RUNS runs); per graph node the
median of its kernel times over the measured runs, summed by operator type. "run_ms" is the median whole
run; what it holds beyond the kernels is the runtime's own work between them; "plain_run_ms" is a run without
the profiler (the fastest of a few windows), the figure to set the profile against. Profiling adds a little to
every node on both sides, and in the tab a lot to a few: onnxruntime-web 1.30's profiler keeps memory from every
run (on charlm-tiny-w96 the worker grew ~80 MB a second, ~5 MB a run, with ~30k page faults a second; neither
without the profiler), and the faults land in whichever kernels first write the fresh pages, ~0.5 ms each on
five of w96's AdamW update ops. Read the table's shares, not absolute times, and distrust a tab/CPy ratio on
one elementwise node far above its neighbours'.

The tab side runs onnxruntime-web from the npm package the build copies into web/dist/ort, in a worker of a
page served with the app's cross-origin isolation (bench/train_profile.js), not in the app itself.
Prints one JSON object (stdout with --json) and a table (stderr).
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from array import array
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from bench import ROOT
from bench.train_speed import THREADS, machine
from pynode.train.assets import graph_bytes
from pynode.train.data import load_dataset
from pynode.train.zoo import get_model, init_theta

ORT_DIST = ROOT / "node_modules" / "onnxruntime-web" / "dist"
ORT_WASM_FILES = ["ort.wasm.min.mjs", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm"]
DEFAULT_MODELS = ["digits-mlp-w128", "charlm-tiny"]  # the lowest ratio of each family in bench train
CPYTHON_WARMUP_S = 1.0  # onnxruntime runs at its speed from the first run on
TAB_MAX_WARMUP_S = 30.0  # the tab's warm-up ends when its runs stop getting faster, or after this
SKIP_RUNS = 3  # a profiled tab session's first runs, left out (first-run allocations)
MAX_RUNS = 300  # profiled runs at most: the tab prints its whole profile on the console
TOP_OPS = 12  # operators listed by name in the table; the rest summed as "other"
PROFILE_WAIT_S = 10.0  # for the tab's console to deliver the profile after the worker's reply
PLAIN = 3, 1.5  # a run without the profiler, on each side: the fastest of 3 windows in 1.5 s

Inputs = dict[str, tuple[str, list[int], bytes]]  # name → (dtype, shape, raw bytes)


def train_inputs(model: str) -> Inputs:
    """The `train` graph's inputs: θ₀ (seed 0), zero moments, step 1, the model's hyperparameters, batch 0."""
    spec = get_model(model)
    theta = init_theta(spec, 0).tobytes()
    batch = load_dataset(spec.dataset).batch(spec, 0, 0)
    inputs: Inputs = {name: ("float32", [spec.n_params], v) for name, v in
                      (("theta", theta), ("m", bytes(len(theta))), ("v", bytes(len(theta))))}  # fmt: skip
    h = spec.hyper
    scalars = {
        "step": 1.0,
        "lr": h.lr,
        "beta1": h.beta1,
        "beta2": h.beta2,
        "eps": h.eps,
        "weight_decay": h.weight_decay,
    }
    for name, x in scalars.items():
        inputs[name] = ("float32", [], array("f", [x]).tobytes())
    for name, t in (("x", batch.x), ("y", batch.y)):
        inputs[name] = (t.dtype, list(t.shape), t.data.tobytes())
    return inputs


def by_op(events: list[dict[str, Any]], skip_runs: int) -> dict[str, Any]:
    """A profile (Chrome trace events, as both runtimes write them) summed by operator: each node's median kernel
    time over the runs after the first `skip_runs`, and the median whole run."""
    kernels: dict[str, list[float]] = {}
    op_of: dict[str, str] = {}
    runs: list[float] = []
    for e in events:
        if e.get("cat") == "Node" and e.get("name", "").endswith("_kernel_time"):
            node = e["name"].removesuffix("_kernel_time")
            kernels.setdefault(node, []).append(e["dur"])
            op_of[node] = e.get("args", {}).get("op_name", "?")
        elif e.get("cat") == "Session" and e.get("name") == "model_run":
            runs.append(e["dur"])
    ops: dict[str, dict[str, float]] = {}
    for node, durations in kernels.items():
        measured = durations[skip_runs:] or durations
        op = ops.setdefault(op_of[node], {"nodes": 0, "ms": 0.0})
        op["nodes"] += 1
        op["ms"] += statistics.median(measured) / 1000
    measured_runs = runs[skip_runs:] or runs
    return {
        "runs": len(measured_runs),
        "run_ms": statistics.median(measured_runs) / 1000 if measured_runs else None,
        "kernels_ms": sum(o["ms"] for o in ops.values()),
        "ops": dict(sorted(ops.items(), key=lambda kv: -kv[1]["ms"])),
    }


def train_session(graph: bytes, profile_dir: str | None = None, threads: int = THREADS["cpython"]) -> Any:
    """An onnxruntime session with the runner's training-session options (on `threads` intra-op threads), the
    profiler on with `profile_dir`."""
    import onnxruntime as ort

    from pynode.platform.native_ort import training_options

    opts = training_options(threads)
    if profile_dir is not None:
        opts.enable_profiling = True
        opts.profile_file_prefix = str(Path(profile_dir) / "profile")
    return ort.InferenceSession(graph, opts, providers=["CPUExecutionProvider"])


def numpy_feeds(inputs: Inputs) -> dict[str, Any]:
    import numpy as np

    dtypes = {"float32": np.float32, "int64": np.int64}
    return {n: np.frombuffer(b, dtype=dtypes[d]).reshape(s) for n, (d, s, b) in inputs.items()}


def runs_for(session: Any, feeds: dict[str, Any], seconds: float, most: float = MAX_RUNS) -> int:
    runs, end = 0, time.perf_counter() + seconds
    while time.perf_counter() < end and runs < most:
        session.run(None, feeds)
        runs += 1
    return runs


def cpython_profile(model: str, inputs: Inputs, seconds: float) -> dict[str, Any]:
    feeds = numpy_feeds(inputs)
    graph = graph_bytes(model, "train")
    with tempfile.TemporaryDirectory() as tmp:
        session = train_session(graph, tmp)
        skipped = runs_for(session, feeds, CPYTHON_WARMUP_S)  # profiled too, left out
        runs_for(session, feeds, seconds)
        events = json.loads(Path(session.end_profiling()).read_text())
    return {**by_op(events, skipped), "plain_run_ms": fastest_window_ms(train_session(graph), feeds, *PLAIN)}


def fastest_window_ms(session: Any, feeds: dict[str, Any], windows: int, seconds: float) -> float:
    """A run's time in the fastest of `windows` windows that split `seconds`."""
    best = float("inf")
    for _ in range(windows):
        t0 = time.perf_counter()
        runs = runs_for(session, feeds, seconds / windows, most=float("inf"))
        best = min(best, 1000 * (time.perf_counter() - t0) / runs)
    return best


class _Handler(SimpleHTTPRequestHandler):
    """Static files with the app's cross-origin isolation (onnxruntime-web's threaded build asks for it)."""

    extensions_map = {
        **SimpleHTTPRequestHandler.extensions_map,
        ".mjs": "text/javascript",
        ".wasm": "application/wasm",
    }

    def end_headers(self) -> None:
        self.send_header("Cross-Origin-Opener-Policy", "same-origin")
        self.send_header("Cross-Origin-Embedder-Policy", "require-corp")
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@contextmanager
def _site() -> Iterator[tuple[Path, int]]:
    """A served folder with the worker, onnxruntime-web's wasm build and a page that starts the worker."""
    with tempfile.TemporaryDirectory() as tmp:
        site = Path(tmp)
        (site / "ort").mkdir()
        for name in ORT_WASM_FILES:
            shutil.copyfile(ORT_DIST / name, site / "ort" / name)
        shutil.copyfile(Path(__file__).with_name("train_profile.js"), site / "worker.mjs")
        (site / "index.html").write_text(
            "<!doctype html><script>window.profile = (cfg) => new Promise((resolve) => {"
            "const w = new Worker('./worker.mjs', {type: 'module'});"
            "w.onmessage = (e) => { w.terminate(); resolve(e.data); };"
            "w.onerror = (e) => { w.terminate(); resolve({error: String(e.message)}); };"
            "w.postMessage(cfg); });</script>"
        )
        (site / "input").mkdir()
        server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Handler, directory=str(site)))
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            yield site, server.server_address[1]
        finally:
            server.shutdown()
            server.server_close()


def stage(site: Path, graph: bytes, inputs: Inputs) -> None:
    """The graph and its inputs where the worker fetches them."""
    (site / "input" / "graph.onnx").write_bytes(graph)
    for name, (_, _, raw) in inputs.items():
        (site / "input" / f"{name}.bin").write_bytes(raw)
    (site / "input" / "feeds.json").write_text(json.dumps({n: [d, s] for n, (d, s, _) in inputs.items()}))


@asynccontextmanager
async def tab_worker() -> AsyncIterator[tuple[Path, Any, list[str]]]:
    """The served site, a headless Chromium page that starts the worker on `window.profile(cfg)`, and the
    page's console lines."""
    from tests.browser_util import Chromium

    with _site() as (site, port):
        chromium = await Chromium().start()
        try:
            page = await (await chromium.context()).new_page()
            console: list[str] = []
            page.on("console", lambda message: console.append(message.text))
            await page.goto(f"http://127.0.0.1:{port}/index.html")
            yield site, page, console
        finally:
            await chromium.close()


async def ask_worker(page: Any, cfg: dict[str, Any]) -> dict[str, Any]:
    reply = await page.evaluate("(cfg) => window.profile(cfg)", {"max_warmup_s": TAB_MAX_WARMUP_S, **cfg})
    if "error" in reply:
        raise RuntimeError(reply["error"])
    return reply


async def _tab_profiles(models: list[str], seconds: float) -> dict[str, dict[str, Any]]:
    results: dict[str, dict[str, Any]] = {}
    async with tab_worker() as (site, page, console):
        for model in models:
            stage(site, graph_bytes(model, "train"), train_inputs(model))
            console.clear()
            reply = await ask_worker(
                page, {"seconds": seconds, "skip": SKIP_RUNS, "most": MAX_RUNS, "plain": PLAIN}
            )
            end = time.monotonic() + PROFILE_WAIT_S
            while not any(t.rstrip().endswith("]") for t in console) and time.monotonic() < end:
                await asyncio.sleep(0.1)
            events = [json.loads(line.strip().rstrip(","))
                      for text in console for line in text.splitlines() if line.strip().startswith('{"cat"')]  # fmt: skip
            results[model] = {**by_op(events, reply["skipped_runs"]), "plain_run_ms": reply["plain_ms"]}
    return results


def run_profile(models: list[str] | None = None, seconds: float = 3.0) -> dict[str, Any]:
    models = models or DEFAULT_MODELS
    t0, load_before = time.monotonic(), os.getloadavg()
    native = {m: cpython_profile(m, train_inputs(m), seconds) for m in models}
    try:
        tab: dict[str, dict[str, Any] | None] = dict(asyncio.run(_tab_profiles(models, seconds)))
    except Exception as e:  # no Chromium, Playwright or npm package: the CPython profile still stands
        print(f"tab profile not measured: {type(e).__name__}: {e}", file=sys.stderr)
        tab = dict.fromkeys(models)
    result = {
        "graph": "train (one step per call)",
        "threads": THREADS,
        "seconds": seconds,
        "models": {m: {"cpython": native[m], "tab": tab[m]} for m in models},
        **machine(t0, load_before),
    }
    _table(result)
    return result


def _table(r: dict[str, Any]) -> None:
    out = sys.stderr
    for model, sides in r["models"].items():
        n = sides["cpython"]
        t = sides["tab"] or {"ops": {}, "run_ms": None, "plain_run_ms": None, "kernels_ms": 0.0, "runs": 0}
        print(f"\n{model}: one train step, ms (median run: CPython {n['run_ms']:.2f}, tab {_ms(t['run_ms'])}; "
              f"without the profiler {n['plain_run_ms']:.2f} and {_ms(t['plain_run_ms'])}; kernels "
              f"{n['kernels_ms']:.2f} and {t['kernels_ms']:.2f}; {n['runs']} and {t['runs']} runs)", file=out)  # fmt: skip
        print(
            f"{'operator':20} {'nodes':>5} {'CPython':>8} {'tab':>8} {'tab/CPy':>8} {'% CPy':>6} {'% tab':>6}",
            file=out,
        )
        names = list(t["ops"] or n["ops"])
        rows = names[:TOP_OPS] + (["other"] if len(names) > TOP_OPS else [])
        for op in rows:
            group = [op] if op != "other" else names[TOP_OPS:]
            c = sum(n["ops"].get(o, {}).get("ms", 0.0) for o in group)
            b = sum(t["ops"].get(o, {}).get("ms", 0.0) for o in group)
            nodes = sum(n["ops"].get(o, {}).get("nodes", 0) for o in group)
            ratio = f"{b / c:8.1f}" if c and b else f"{'n/a':>8}"
            print(f"{op:20} {nodes:5d} {c:8.2f} {b:8.2f} {ratio} {100 * c / max(n['kernels_ms'], 1e-9):6.1f} "
                  f"{100 * b / max(t['kernels_ms'], 1e-9):6.1f}", file=out)  # fmt: skip
    print(f"onnxruntime threads: 1 on each side; {r['seconds']} s measured after a warm-up. Load average "
          f"{r['load_before'][0]:.1f} → {r['load_after'][0]:.1f} on {r['cpus']} CPUs", file=out)  # fmt: skip


def _ms(ms: float | None) -> str:
    return "n/a" if ms is None else f"{ms:.2f}"
