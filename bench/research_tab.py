"""How long one research seed holds a browser tab's event loop, per domain, beside the same seeds in CPython.

A seed's evaluation is synchronous Python, and a tab has no threads: while a seed runs, the tab's node does no
gossip and posts no status. This measures `pynode.runtime.seed_timing.time_seeds` (the baseline and random
configs of every task, every seed) in Pyodide inside headless Chromium and in this CPython, and says which
domains stay under TAB_LIMIT_S per seed: those are what a tab researches by default.

    python -m bench.research_tab [--configs N] [--domains search,causes,...] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import ROOT

DOMAINS = ("search", "causes", "finance", "skills", "ml")
TAB_LIMIT_S = 2.0  # a seed that holds the tab longer than this stalls its gossip and dashboard noticeably


def run_bench(domains: tuple[str, ...] = DOMAINS, configs: int = 3) -> dict[str, Any]:
    return asyncio.run(_run(domains, configs))


async def _run(domains: tuple[str, ...], configs: int) -> dict[str, Any]:
    from pynode.runtime.seed_timing import time_seeds
    from tests.browser_util import Chromium, wait_status
    from tests.netutil import relay_on
    from wasm_build.web import build

    t0 = time.monotonic()
    out: dict[str, Any] = {"configs": configs, "tab_limit_s": TAB_LIMIT_S, "domains": {}}
    with tempfile.TemporaryDirectory() as tmp:
        dist = Path(tmp) / "dist"
        build(ROOT, dist)
        relay = await relay_on(Path(tmp), static_dir=dist)
        chromium = await Chromium().start()
        try:
            page = await (await chromium.context()).new_page()
            await page.goto(f"http://127.0.0.1:{relay.port}/?research=off")
            await wait_status(page, lambda s: s["state"] == "online", 90, "tab online")
            for name in domains:
                n = 1 if name == "ml" else configs  # ml seeds are whole training runs
                _log(f"{name}: {n} config(s) in the tab…")
                tab = await page.evaluate(
                    "([d, n]) => window.hyperspace.node.ask("
                    "{type: 'bench', op: 'research-seeds', domain: d, configs: n}, 'bench')",
                    [name, n],
                )
                _log(f"{name}: the same in CPython…")
                py = await asyncio.to_thread(time_seeds, name, n)
                out["domains"][name] = _summary(tab, py)
        finally:
            await chromium.close()
            await relay.stop()
    out["tab_default"] = [d for d, r in out["domains"].items() if r.get("tab_ok")]
    out["wall_s"] = round(time.monotonic() - t0, 1)
    _table(out)
    return out


def _summary(tab: dict[str, Any], py: dict[str, Any]) -> dict[str, Any]:
    if "error" in tab:
        return {"error": tab["error"], "tab_ok": False}
    tasks = {}
    for task, t in tab["tasks"].items():
        p = py["tasks"][task]
        tasks[task] = {
            "seeds": t["seeds"],
            "configs": t["configs"],
            "tab": {"first_s": t["first_s"], "max_warm_s": t["max_warm_s"]},
            "cpython": {"first_s": p["first_s"], "max_warm_s": p["max_warm_s"]},
            "slowdown": round(sum(t["per_seed_s"]) / max(1e-9, sum(p["per_seed_s"])), 2),
        }
    worst = max(t["tab"]["max_warm_s"] for t in tasks.values())
    return {"tasks": tasks, "tab_max_warm_s": worst, "tab_ok": worst <= TAB_LIMIT_S}


def _table(r: dict[str, Any]) -> None:
    lines = [
        f"one research seed, tab (Pyodide) vs CPython; {r['configs']} configs per task (ml: 1); seconds",
        f"  {'task':26} {'tab first':>10} {'tab max':>8} {'py first':>9} {'py max':>7} {'×':>6}",
    ]
    for name, d in r["domains"].items():
        if "error" in d:
            lines.append(f"  {name:26} failed in the tab: {d['error'][:80]}")
            continue
        for task, t in d["tasks"].items():
            lines.append(
                f"  {task:26} {t['tab']['first_s']:10.3f} {t['tab']['max_warm_s']:8.3f} "
                f"{t['cpython']['first_s']:9.3f} {t['cpython']['max_warm_s']:7.3f} {t['slowdown']:6.2f}"
            )
    lines.append(f"  under {r['tab_limit_s']} s per seed in the tab: {', '.join(r['tab_default']) or 'none'}")
    _log("\n".join(lines))


def _log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--configs", type=int, default=3, help="configs per task: the baseline, then random ones")
    p.add_argument("--domains", default=",".join(DOMAINS), help="comma-separated domains")
    p.add_argument("--json", action="store_true", help="print the report as JSON on stdout")
    args = p.parse_args()
    report = run_bench(tuple(d for d in args.domains.split(",") if d), args.configs)
    if args.json:
        print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
