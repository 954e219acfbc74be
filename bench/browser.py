"""`hyperspace bench browser`: the browser node's start-up, gossip latency and data-channel throughput.

Over N fresh Chromium launches against a relay with two CPython nodes: Pyodide's boot and our own start-up on
top of it, Pyodide's own boot (a page of the same origin, in a profile of its own, that boots only Pyodide
from the same files: the boot inside the app shares the machine with the app's other work), navigation →
joined (first visit, then a second visit of the same profile: its HTTP cache, Cache Storage with the boot
snapshot the first visit made, and key), when each boot phase ended, gossip latency browser → CPython beside
CPython → CPython (same run, same relay), and request/response throughput over the direct data channel in both
directions. Beside each visit's wall time, the CPU Chromium used from navigation to joined (every process, /proc):
on 2 busy cores a first visit keeps both saturated, so each CPU-second saved is about half a second of wall time,
and the CPU figure swings far less between launches than the wall time does.

With --against, another build (an older commit's web/dist) is launched in turn with this tree's, in the same run,
and `paired` compares them launch by launch: per figure, the median over launches of (this build − the other)
and in how many launches this build was the faster — a difference of medians over 5 launches cannot resolve a
change of a few tenths of a second here, a paired one over more launches can.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import ROOT
from bench.procs import browser_cpu_s, cpu_between
from pynode.stats import percentile
from relay_server.static import HEADERS

TOPIC = "hs/1/bench/latency"
MESSAGES = 40
CHUNK = 512 * 1024
CHUNKS = 8
BENCH_SOURCE = "hs/1/bench/source"
BENCH_SINK = "hs/1/bench/sink"
PAIRED = {  # the figures --against compares launch by launch: sample name → JSON name
    "joined": "navigation_to_joined_s",
    "ours_own": "joined_minus_own_boot_s",
    "cpu": "chromium_cpu_to_joined_s",
    "after": "joined_after_pyodide_s",
    "own_boot": "pyodide_own_boot_s",
    "repeat": "repeat_visit_joined_s",
}
OWN_BOOT_PAGE = "/bench-pyodide-boot.html"  # answered by the bench itself (Playwright route), never served
# A worker that boots Pyodide with the app's index and lock file and nothing else, timed as worker.js times its
# boot (from the worker's start, here also fetching pyodide.mjs, which the app's worker has imported by then).
OWN_BOOT_HTML = """<!doctype html><script>
window.ownBoot = new Promise((resolve, reject) => {
  const base = new URL('/', location.href).href;
  const code = `const t0 = performance.now();
    const { loadPyodide } = await import('${base}pyodide/pyodide.mjs');
    await loadPyodide({ indexURL: '${base}pyodide/', lockFileURL: '${base}py/pyodide-lock.json' });
    postMessage((performance.now() - t0) / 1000);`;
  const w = new Worker(URL.createObjectURL(new Blob([code], { type: 'text/javascript' })), { type: 'module' });
  w.onmessage = (e) => resolve(e.data);
  w.onerror = (e) => reject(new Error(e.message));
});
</script>"""


def run_bench(launches: int = 5, against: Path | None = None) -> dict[str, Any]:
    """`against`: another built web app (an older commit's), launched in turn with this tree's in the same run;
    its figures are under "against"."""
    return asyncio.run(_run(launches, against))


async def _run(launches: int, against: Path | None) -> dict[str, Any]:
    from tests.browser_util import Chromium
    from wasm_build.web import build

    with tempfile.TemporaryDirectory() as tmp:
        dist = Path(tmp) / "dist"
        _log("building the web app...")
        build(ROOT, dist)
        builds = {"new": dist} if against is None else {"old": against, "new": dist}
        runs = {label: _Samples() for label in builds}
        for i in range(launches):
            order = list(builds.items())
            for label, where in order if i % 2 == 0 else order[::-1]:  # neither always first
                run = runs[label]
                chromium = await Chromium().start()
                try:
                    await _one_launch(chromium, where, Path(tmp) / f"run{i}{label}", run)
                finally:
                    await chromium.close()
                cpu = run.samples["cpu"][-1] if run.samples["cpu"] else float("nan")
                _log(
                    f"launch {i + 1}/{launches} ({label}): joined in {run.samples['joined'][-1]:.2f} s "
                    f"(Pyodide {run.samples['pyodide'][-1]:.2f} s, alone {run.samples['own_boot'][-1]:.2f} s, "
                    f"Chromium CPU {cpu:.2f} s), second visit {run.samples['repeat'][-1]:.2f} s"
                )
    result = _result(launches, runs["new"])
    _table(result)
    if against is not None:
        result["against"] = {"dist": str(against), **_result(launches, runs["old"])}
        _log(f"against {against}:")
        _table(result["against"])
        result["paired"] = paired(runs["new"].samples, runs["old"].samples)
        _paired_table(result["paired"])
    return result


def paired(new: dict[str, list[float]], old: dict[str, list[float]]) -> dict[str, dict[str, Any]]:
    """Per figure in PAIRED, over the launches that measured it in both builds (launch i against launch i): the
    median of new − old, and in how many launches the new build took less."""
    out: dict[str, dict[str, Any]] = {}
    for sample, name in PAIRED.items():
        diffs = [a - b for a, b in zip(new[sample], old[sample], strict=False)]
        if diffs:
            out[name] = {
                "median_diff": round(percentile(diffs, 50, 0.0), 3),
                "new_less": f"{sum(d < 0 for d in diffs)}/{len(diffs)}",
            }
    return out


class _Samples:
    """One build's measurements over the launches."""

    def __init__(self) -> None:
        self.samples: dict[str, list[float]] = {
            k: []
            for k in (
                "pyodide",
                "own_boot",
                "cpu",
                "ours_own",
                "joined",
                "ours",
                "after",
                "node",
                "repeat",
                "b2p",
                "p2p",
                "b2p_mibs",
                "p2b_mibs",
            )
        }
        self.restored: list[bool] = []  # per second visit: did it restore the first visit's boot snapshot
        self.phases: dict[str, dict[str, list[float]]] = {"first": {}, "repeat": {}}


def _result(launches: int, run: _Samples) -> dict[str, Any]:
    samples, restored = run.samples, run.restored
    return {
        "launches": launches,
        "pyodide_boot_s": _p50_max(samples["pyodide"]),
        "boot_to_joined_s": _p50_max(samples["joined"]),
        # navigation → joined minus Pyodide's boot, per launch: all of the first visit's wait that is not the boot
        "joined_minus_pyodide_boot_s": _p50_max(samples["ours"]),
        # Pyodide booting alone, same launch, a profile of its own; navigation → joined minus that, per launch:
        # the above also counts, as ours, what the app's other work beside the boot slowed the boot by
        "pyodide_own_boot_s": _p50_max(samples["own_boot"]),
        "joined_minus_own_boot_s": _p50_max(samples["ours_own"]),
        # CPU seconds of every Chromium process from the first visit's navigation to joined (None without /proc)
        "chromium_cpu_to_joined_s": _p50_max(samples["cpu"]) if samples["cpu"] else None,
        # Pyodide ready (booted, or restored on a second visit) → joined: the part of the start that is ours
        "joined_after_pyodide_s": _p50_max(samples["after"]),
        "node_start_s": _p50_max(samples["node"]),
        "repeat_visit_joined_s": _p50_max(samples["repeat"]),
        "repeat_visit_restored": f"{sum(restored)}/{len(restored)}",  # second visits that restored the snapshot
        # p50 over launches of when each phase ended, seconds after navigation started
        "phases_s": {
            visit: dict(
                sorted(((k, round(percentile(v, 50, 0.0), 3)) for k, v in by.items()), key=lambda kv: kv[1])
            )
            for visit, by in run.phases.items()
        },
        "gossip_latency_ms": {
            "browser_to_py": _p50_p99(samples["b2p"]),
            "py_to_py": _p50_p99(samples["p2p"]),
        },
        "datachannel_mib_s": {
            "browser_to_py": round(percentile(samples["b2p_mibs"], 50, 0.0), 2),
            "py_to_browser": round(percentile(samples["p2b_mibs"], 50, 0.0), 2),
        },
    }


async def _visit(
    ctx: Any, port: int, phases: dict[str, list[float]], cpu: list[float] | None = None
) -> tuple[Any, dict[str, Any], float]:
    """Open the dashboard and wait until the tab joined; navigation → joined from the tab's own clocks, and the
    CPU Chromium used meanwhile appended to `cpu` (from the navigation to when the bench saw the join). The
    phases are read once the tab also loaded what it runs after the join (its last mark), so that every launch
    has them all."""
    from tests.browser_util import open_dashboard, wait_status

    before = browser_cpu_s()
    page = await open_dashboard(ctx, port, "research=off")  # a first visit makes the boot snapshot
    st = await wait_status(
        page, lambda s: s["state"] == "online" and s["peers"] and s["boot"]["join_s"], 180, "tab joined"
    )
    used = cpu_between(before, browser_cpu_s())
    if cpu is not None and used is not None:
        cpu.append(used)
    with contextlib.suppress(AssertionError):  # an older build (--against) may not have the mark
        st = await wait_status(page, lambda s: "runtimes" in s["boot"]["at"], 60, "the tab's runtimes loaded")
    nav = await page.evaluate("performance.timeOrigin")  # epoch ms of navigation start, as the marks are
    for phase, at in st["boot"]["at"].items():
        phases.setdefault(phase, []).append((at - nav) / 1000)
    return page, st, (st["boot"]["at"]["joined"] - nav) / 1000


async def _own_boot(chromium: Any, port: int) -> float:
    """Seconds Pyodide takes to boot in a worker of a page that does nothing else, in a profile of its own."""
    ctx = await chromium.context()
    try:
        headers = {**HEADERS, "Content-Type": "text/html"}  # as the relay serves the app's pages
        await ctx.route(
            f"**{OWN_BOOT_PAGE}", lambda route: route.fulfill(body=OWN_BOOT_HTML, headers=headers)
        )
        page = await ctx.new_page()
        await page.goto(f"http://127.0.0.1:{port}{OWN_BOOT_PAGE}")
        return float(await page.evaluate("window.ownBoot"))
    finally:
        await ctx.close()


async def _one_launch(chromium: Any, dist: Path, tmp: Path, run: _Samples) -> None:
    from tests.browser_util import wait_status
    from tests.netutil import eventually, node_on, relay_on

    samples, phases, restored = run.samples, run.phases, run.restored

    relay = await relay_on(tmp, static_dir=dist)
    a, b = await node_on(relay.url, direct_peers=4), await node_on(relay.url, direct_peers=4)
    latencies: list[float] = []
    a.subscribe(TOPIC, lambda env: latencies.append((time.time() - json.loads(env.data)["ts"]) * 1000))
    b.subscribe(TOPIC)

    async def sink(peer: bytes, data: bytes) -> bytes:
        return b""

    a.handle(BENCH_SINK, sink)
    try:
        own = await _own_boot(chromium, relay.port)  # before the app's visit, which has a fresh profile still
        ctx = await chromium.context()
        page, st, joined = await _visit(ctx, relay.port, phases["first"], samples["cpu"])
        samples["joined"].append(joined)
        samples["pyodide"].append(st["boot"]["pyodide_s"])
        samples["own_boot"].append(own)
        samples["ours_own"].append(joined - own)
        samples["ours"].append(joined - st["boot"]["pyodide_s"])
        samples["after"].append((st["boot"]["at"]["joined"] - st["boot"]["at"]["pyodide"]) / 1000)
        # ours on top of Pyodide: loading our wheels, then start → joined the relay
        samples["node"].append(st["boot"]["packages_s"] + st["boot"]["join_s"])
        # the boot snapshot for the second visit, made (by a second Pyodide) before the measurements below
        made = await page.evaluate("window.hyperspace.node.snapshot")
        if not made.get("ok"):
            _log(f"no boot snapshot: {made.get('error')}")
        await page.evaluate("window.hyperspace.node.ask({type: 'bench', op: 'serve'}, 'bench')")
        await wait_status(
            page,
            lambda s: any(p["peer"] == a.identity.text and p["kind"] == "direct" for p in s["peers"]),
            60,
            "a direct channel to the CPython node",
        )
        await page.evaluate(
            "(t) => window.hyperspace.node.ask({type: 'bench', op: 'subscribe', topic: t}, 'bench')", TOPIC
        )
        await eventually(lambda: len(a.router.mesh.get(TOPIC, ())) >= 1, 30, "mesh")
        await asyncio.sleep(1.0)

        # gossip latency: the tab publishes, then b publishes, a measures both (one clock)
        await page.evaluate(
            "([t, n]) => window.hyperspace.node.ask({type: 'bench', op: 'publish', topic: t, count: n, interval_s: 0.02}, 'bench')",
            [TOPIC, MESSAGES],
        )
        await eventually(lambda: len(latencies) >= MESSAGES, 30, "browser messages at a")
        samples["b2p"] += latencies[:MESSAGES]
        latencies.clear()
        for i in range(MESSAGES):
            await b.publish(TOPIC, json.dumps({"i": i, "ts": time.time()}).encode())
            await asyncio.sleep(0.02)
        await eventually(lambda: len(latencies) >= MESSAGES, 30, "python messages at a")
        samples["p2p"] += latencies[:MESSAGES]

        # throughput over the direct data channel, both ways, as request/response chunks
        reply = await page.evaluate(
            "([p, c, n]) => window.hyperspace.node.ask({type: 'bench', op: 'send', peer: p, chunk: c, count: n}, 'bench')",
            [a.identity.text, CHUNK, CHUNKS],
        )
        samples["b2p_mibs"].append(reply["bytes"] / reply["seconds"] / 2**20)
        tab = next(p for p, kind in a.connected_peers().items() if kind == "direct" and p != b.peer_id)
        t = time.perf_counter()
        for _ in range(CHUNKS):
            await a.request(tab, BENCH_SOURCE, CHUNK.to_bytes(4, "big"), timeout=60)
        samples["p2b_mibs"].append(CHUNK * CHUNKS / (time.perf_counter() - t) / 2**20)

        # a second visit of the same profile: the first tab closed, a new one opens
        await page.close()
        page, st, joined = await _visit(ctx, relay.port, phases["repeat"])
        samples["repeat"].append(joined)
        restored.append(bool(st["boot"].get("snapshot")))
        await page.close()
    finally:
        await a.stop()
        await b.stop()
        await relay.stop()


def _p50_max(values: list[float]) -> dict[str, float]:
    return {"p50": round(percentile(values, 50, 0.0), 3), "max": round(max(values), 3)}


def _p50_p99(values: list[float]) -> dict[str, float]:
    return {"p50": round(percentile(values, 50, 0.0), 2), "p99": round(percentile(values, 99, 0.0), 2)}


def _table(r: dict[str, Any]) -> None:
    cpu = r["chromium_cpu_to_joined_s"] or {"p50": float("nan"), "max": float("nan")}
    lines = [
        f"browser node over {r['launches']} fresh Chromium launches",
        f"  Pyodide boot (s)          p50 {r['pyodide_boot_s']['p50']:.2f}   max {r['pyodide_boot_s']['max']:.2f}",
        f"  ours on top: wheels + join (s)  p50 {r['node_start_s']['p50']:.3f}  max {r['node_start_s']['max']:.3f}",
        f"  navigation → joined (s)   p50 {r['boot_to_joined_s']['p50']:.2f}   max {r['boot_to_joined_s']['max']:.2f}",
        f"  … minus Pyodide boot (s)  p50 {r['joined_minus_pyodide_boot_s']['p50']:.2f}   max {r['joined_minus_pyodide_boot_s']['max']:.2f}",
        f"  Pyodide's own boot (s)    p50 {r['pyodide_own_boot_s']['p50']:.2f}   max {r['pyodide_own_boot_s']['max']:.2f}"
        "   (booting alone: same launch, a profile of its own)",
        f"  … navigation → joined minus that (s)  p50 {r['joined_minus_own_boot_s']['p50']:.2f}   max {r['joined_minus_own_boot_s']['max']:.2f}",
        f"  Chromium CPU, navigation → joined (s)  p50 {cpu['p50']:.2f}   max {cpu['max']:.2f}",
        f"  Pyodide ready → joined (s) p50 {r['joined_after_pyodide_s']['p50']:.2f}   max {r['joined_after_pyodide_s']['max']:.2f}",
        f"  second visit → joined (s) p50 {r['repeat_visit_joined_s']['p50']:.2f}   max {r['repeat_visit_joined_s']['max']:.2f}"
        f"   (restored the boot snapshot: {r['repeat_visit_restored']})",
        "  boot phases, p50 s after navigation (first visit / second visit):",
        *[
            f"    {k:<12} {v:7.3f}   {r['phases_s']['repeat'].get(k, float('nan')):7.3f}"
            for k, v in r["phases_s"]["first"].items()
        ],
        f"  gossip browser → py (ms)  p50 {r['gossip_latency_ms']['browser_to_py']['p50']}  p99 {r['gossip_latency_ms']['browser_to_py']['p99']}",
        f"  gossip py → py (ms)       p50 {r['gossip_latency_ms']['py_to_py']['p50']}  p99 {r['gossip_latency_ms']['py_to_py']['p99']}",
        f"  data channel (MiB/s)      browser → py {r['datachannel_mib_s']['browser_to_py']}   py → browser {r['datachannel_mib_s']['py_to_browser']}",
    ]
    _log("\n".join(lines))


def _paired_table(p: dict[str, dict[str, Any]]) -> None:
    _log("this build against the other, launch by launch: median of (this − other), launches it took less")
    for name, d in p.items():
        _log(f"  {name:<28} {d['median_diff']:+7.3f}   {d['new_less']}")


def _log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)
