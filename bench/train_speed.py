"""`hyperspace bench train`: train steps/s of every zoo model in CPython (onnxruntime, CPU, 1 thread) and in a
browser tab (onnxruntime-web, wasm, 1 thread, in a headless Chromium running the built web app), and their
ratio — issue 14's target is tab / CPython ≥ 0.4 for every model.

Both sides run pynode/train/speed.py's `train_rates` on the same graphs: one fixed batch, a warm-up until the
rate stops rising, then calls alternating between one step per graph call and k steps per call as training
runs them (the `train_loop` graph, k from pynode/train/chunks.py); a rate is the fastest call's, the median
call's beside it. The target ratio is taken on the fastest k-step calls.
Prints one JSON object (stdout with --json) and a table (stderr).
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from pynode.train.runner import open_runner
from pynode.train.speed import train_rates
from pynode.train.zoo import MODELS, get_model

TARGET = 0.4  # tab / CPython train steps/s, every model (issue 14)
QUICK_MODELS = ["digits-mlp", "charlm-tiny"]


def cpython_rates(model: str, seconds: float) -> dict[str, float]:
    spec = get_model(model)
    return train_rates(open_runner(spec), spec, seconds, time.perf_counter)


def browser_rates(models: list[str], seconds: float) -> dict[str, dict[str, Any] | None]:
    """The tab's `train-speed` reply per model; None for each when Chromium, Playwright or the built app is
    missing (the CPython numbers still stand)."""
    try:
        return asyncio.run(_browser_rates(models, seconds))
    except Exception as e:
        print(f"browser wasm speed not measured: {type(e).__name__}: {e}", file=sys.stderr)
        return dict.fromkeys(models)


async def _browser_rates(models: list[str], seconds: float) -> dict[str, dict[str, Any] | None]:
    root = Path(__file__).resolve().parent.parent
    sys.path.insert(0, str(root))  # the browser tests' helpers start the relay and Chromium the same way
    from tests.browser_util import Chromium, open_dashboard, wait_status
    from tests.netutil import relay_on
    from wasm_build.web import build

    with tempfile.TemporaryDirectory() as tmp:
        build(root, Path(tmp) / "dist")
        relay = await relay_on(Path(tmp), static_dir=Path(tmp) / "dist")
        chromium = await Chromium().start()
        try:
            page = await open_dashboard(await chromium.context(), relay.port)
            await wait_status(page, lambda s: s["state"] == "online", 120, "tab online")
            rates: dict[str, dict[str, Any] | None] = {}
            for m in models:
                reply = await page.evaluate(
                    "([m, s]) => window.hyperspace.node.ask({type: 'train-speed', task: m, seconds: s}, 'train-speed')",
                    [m, seconds],
                )
                if "error" in reply:
                    raise RuntimeError(reply["error"])
                rates[m] = reply
            return rates
        finally:
            await chromium.close()
            await relay.stop()


def run_bench(quick: bool = False, models: list[str] | None = None) -> dict[str, Any]:
    models = models or (QUICK_MODELS if quick else list(MODELS))
    seconds = 0.6 if quick else 2.0
    t0 = time.monotonic()
    native = {m: cpython_rates(m, seconds) for m in models}
    tab = browser_rates(models, seconds)
    rows: dict[str, dict[str, Any]] = {}
    for m in models:
        n, reply = native[m], tab[m]
        b = reply["rates"] if reply else None
        rows[m] = {
            "cpython": n,
            "tab": b,
            "tab_backend": reply["device"] if reply else None,
            # tab / CPython, k steps per call as training runs them: the issue's target
            "ratio": b["chunked"] / n["chunked"] if b else None,
            "ratio_median": b["chunked_median"] / n["chunked_median"] if b else None,
            "ratio_per_step_call": b["per_step_call"] / n["per_step_call"] if b else None,
        }
    ratios = [r["ratio"] for r in rows.values()]
    result = {
        "quick": quick,
        "seconds_per_window_set": seconds,
        "models": rows,
        "target_ratio": TARGET,
        "min_ratio": min(ratios) if None not in ratios else None,
        "target_met": None not in ratios and min(ratios) >= TARGET,
        "wall_s": round(time.monotonic() - t0, 1),
    }
    _table(result)
    return result


def _table(r: dict[str, Any]) -> None:
    out = sys.stderr

    def f(x: float | None, fmt: str) -> str:
        return format(x, fmt) if x is not None else "n/a"

    print(f"\n{'train steps/s, k per call':26} {'CPython':>8} {'tab':>8} {'ratio':>6} {'median':>6} {'k':>6}   "
          f"{'1 per call: CPython':>19} {'tab':>7} {'ratio':>6}", file=out)  # fmt: skip
    for m, x in r["models"].items():
        n, b = x["cpython"], x["tab"] or {}
        k = f"{n['steps_per_call']:.0f}/{f(b.get('steps_per_call'), '.0f')}"
        print(f"{m:26} {n['chunked']:8.1f} {f(b.get('chunked'), '8.1f'):>8} {f(x['ratio'], '6.2f'):>6} "
              f"{f(x['ratio_median'], '6.2f'):>6} {k:>6}   {n['per_step_call']:19.1f} "
              f"{f(b.get('per_step_call'), '7.1f'):>7} {f(x['ratio_per_step_call'], '6.2f'):>6}", file=out)  # fmt: skip
    print(f"steps/s of the fastest call; median: the ratio of the median calls' rates. Lowest ratio "
          f"{f(r['min_ratio'], '.2f')} (target ≥ {r['target_ratio']}): {'met' if r['target_met'] else 'not met'}",
          file=out)  # fmt: skip
