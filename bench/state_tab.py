"""A cold start of the replicated state in a browser tab: a snapshot of N records, validated and imported by
the Store the tab's node uses (Pyodide + loro-crdt + WebCrypto), while a ticker in the same worker measures
how long the event loop is held at a time.

The board is made here in CPython (real signed records from `authors` keys, one change per record, as agents
write them) and its snapshot served next to a small page and module worker written into a copy of web/dist.
The worker boots Pyodide and loro-crdt, then runs `cold_start` below: `pynode.browser.state.new_store` (the
tab's own Store, with the tab's slicing) receives the snapshot; the ticker (a setTimeout(0) chain, ~4 ms
apart when the loop is free) records the longest gap between two ticks. Then the tab saves what it checked
(IndexedDB, sealed: pynode/state/sealed.py) and a new Store loads it back as a reloaded tab does
(`restart_<N>_s`, `restart_max_block_ms`: restored from the seal, without checking the records again).
Each run also lists every stretch of Python between two turns of the tab's loop over 50 ms, with where it
started and ended (`slices_over_50ms`), and the cyclic collector's pauses over 5 ms (`gc_pauses_ms`); what ran in
the ticker's longest gap (`longest_gap`: the tab's turns and the signature answers, in ms from its start); and
the turns of the loop in which the ticker, due in each, did not run (`turns_without_a_tick`).
`profile=True` also times each phase of the check and counts the calls that cross into loro-crdt.
`against=DIST` measures another build too (an older commit's web/dist), a round of each in turn, so that both
see the same load: {"old": ..., "new": ...}.

    python -m bench.state_tab [--records N] [--profile] [--dist DIST] [--against OLD_DIST] [--whole]
        [--board FILE]
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import ROOT
from bench.tab_page import bench_page

PAGE = "state-bench.html"
WORKER = "state-bench-worker.js"
BOARD = "state-bench.loro"
DOC = "results.ml"
PAGE_HTML = f"""<!doctype html><meta charset="utf-8"><title>state bench</title>
<script type="module">
const worker = new Worker('{WORKER}', {{ type: 'module' }});
window.benchStep = (step, profile) => new Promise((resolve) => {{
  worker.onmessage = (e) => resolve(e.data);
  worker.postMessage({{ step, profile }});
}});
</script>"""
PY = """import asyncio, gc, inspect, json, sys, time
import js
from pynode.browser import state as tab_state
from pynode.browser.state import new_store
from pynode.identity import Identity
from pynode.platform import browser
from pynode.state import authorship, store as store_module
from pynode.platform import browser_loro

def _profiled():
    '''Wrap the phases of Store.receive and the loro-crdt calls: seconds, calls and the longest call per name.'''
    spent, calls, longest = {}, {}, {}
    def timed(owner, name):
        original = getattr(owner, name, None)
        if original is None:
            return
        def add(t0):
            took = time.perf_counter() - t0
            spent[name] = spent.get(name, 0.0) + took
            calls[name] = calls.get(name, 0) + 1
            longest[name] = max(longest.get(name, 0.0), took)
        if inspect.iscoroutinefunction(original):
            async def wrapper(*a, **k):
                t0 = time.perf_counter()
                try:
                    return await original(*a, **k)
                finally:
                    add(t0)
        else:
            def wrapper(*a, **k):
                t0 = time.perf_counter()
                try:
                    return original(*a, **k)
                finally:
                    add(t0)
        static = isinstance(inspect.getattr_static(owner, name), staticmethod)
        setattr(owner, name, staticmethod(wrapper) if static else wrapper)
    for name in ("_fork_with", "_check_changes", "_check_parts", "_admit", "_check_policy", "_verify", "_refusal"):
        timed(store_module.Store, name)
    for name in ("verify", "verify_later"):
        timed(store_module, name)
    for name in ("version", "get", "get_many", "changes", "import_", "fork"):
        timed(browser_loro.JsLoroDoc, name)
    timed(browser_loro, "blob_meta")
    if hasattr(browser_loro, "JsSplit"):  # a cold start's parts, as the splitter worker hands them over
        timed(browser_loro.JsSplit, "meta")
        timed(browser_loro.JsSplit, "next")
    # a reload's load: IndexedDB, the seal's check, the restore (its import is JsLoroDoc.import_ above)
    timed(browser, "load_blobs")
    timed(store_module, "open_sealed")
    timed(store_module.Store, "restore")
    timed(tab_state, "load_files")
    timed(store_module, "check_change")  # one change's structural check (decode, schema, payload)
    for name in ("decode_record", "change_payload", "decode_message"):  # its parts
        timed(authorship, name)
    timed(browser_loro, "change_from_json")  # Python's part of reading changes
    return spent, calls, longest

def _longest_slice():
    '''Wrap the tab's turns (browser.next_turn): the longest stretch of Python between two, in ms, how many
    turns, the lines the longest one started and ended at, and the seconds spent in turns (the loop's other
    work: WebCrypto's answers, timers).'''
    turn, longest, last, turns, where = browser.next_turn, [0.0], [time.perf_counter()], [0], ["start", ""]
    waited, over, timeline = [0.0], [], []
    def here():  # the 4 frames below the turn (traceback.extract_stack reads source lines: ms per turn)
        f, out = sys._getframe(2), []
        while f is not None and len(out) < 4:
            out.append(f"{f.f_code.co_name}:{f.f_lineno}")
            f = f.f_back
        return " < ".join(out)
    async def timed_turn():
        took = time.perf_counter() - last[0]
        if took > longest[0]:
            longest[0] = took
            where[1] = where[0] + " -> " + here()
        if took > BLOCK_S:
            over.append([round(took * 1000, 1), where[0] + " -> " + here()])
        turns[0] += 1
        t0 = time.perf_counter()
        entered = js.performance.now()
        await turn()
        timeline.append((entered, js.performance.now()))
        last[0] = time.perf_counter()
        waited[0] += last[0] - t0
        where[0] = here()
    browser.next_turn = timed_turn
    def result():
        took = time.perf_counter() - last[0]
        if took > longest[0]:
            longest[0] = took
            where[1] = where[0] + " -> end"
        if took > BLOCK_S:
            over.append([round(took * 1000, 1), where[0] + " -> end"])
        browser.next_turn = turn
        return round(longest[0] * 1000, 1), turns[0], where[1], round(waited[0], 3), over, timeline

    return result

def _answers_timed():
    '''When each batch of signature answers came back to Python (performance.now() ms).'''
    answers, at = browser._answers, []
    async def timed(started):
        out = await answers(started)
        at.append(js.performance.now())
        return out
    browser._answers = timed
    def result():
        browser._answers = answers
        return at
    return result

def _turns_without_a_tick(timeline, ticks):
    '''Turns of the tab's loop in which the ticker did not run though it was due: its last tick came 4 ms or
    more before the turn (a nested timer waits 4 ms; the check's awaits let it run between turns too).'''
    missed, i = 0, 0
    for entered, left in timeline:
        while i < len(ticks) and ticks[i] < entered:
            i += 1
        due = i > 0 and entered - ticks[i - 1] >= TICKER_DUE_MS
        missed += due and not (i < len(ticks) and ticks[i] <= left)
    return missed

TICKER_DUE_MS = 4.0

def _inside_gap(gap_ms, gap_from, timeline, answered):
    '''What ran in the ticker's longest gap, in ms from its start: the tab's turns (entered, left), so the
    stretches of Python between them, and the verification answers that reached Python.'''
    end = gap_from + gap_ms
    turns = [[round(a - gap_from, 1), round(b - gap_from, 1)] for a, b in timeline if b >= gap_from and a <= end]
    return {"ms": round(gap_ms, 1), "turns": turns,
            "answers": [round(t - gap_from, 1) for t in answered if gap_from <= t <= end]}

_S = {}
BLOCK_S = 0.05  # a stretch of Python between two turns longer than this is listed, with where it ran

def _gc_pauses():
    '''The cyclic collector's runs during a step: [ms, generation] of each one over 5 ms, and their total ms.'''
    started, out, total = [0.0], [], [0.0]
    def callback(phase, info):
        if phase == "start":
            started[0] = time.perf_counter()
            return
        took = time.perf_counter() - started[0]
        total[0] += took
        if took > 0.005:
            out.append([round(took * 1000, 1), info["generation"]])
    gc.callbacks.append(callback)
    def result():
        gc.callbacks.remove(callback)
        return out, round(total[0] * 1000, 1)
    return result

async def _check(blob, identity):
    store = new_store(identity.peer_id)
    slice_ms, gcs, answered = _longest_slice(), _gc_pauses(), _answers_timed()
    js.hsTicker.start()
    t0 = time.perf_counter()
    new = await store.receive("%DOC%", blob, int(time.time() * 1000), ("snapshot", "updates"))
    seconds = time.perf_counter() - t0
    max_gap, ticks, gap_from, tick_at = js.hsTicker.stop().to_py()
    slice_ms, gcs, answered = slice_ms(), gcs(), answered()
    _S["store"] = store
    return {"seconds": seconds, "records": len(new), "max_block_ms": max_gap, "ticks": ticks,
            "slice_units": store.slices.budget, "longest_slice_ms": slice_ms[0], "turns": slice_ms[1],
            "longest_slice_at": slice_ms[2], "in_turns_s": slice_ms[3], "slices_over_50ms": slice_ms[4],
            "gc_pauses_ms": gcs[0], "gc_total_ms": gcs[1], "gc_tracked": len(gc.get_objects()),
            "gc_frozen": gc.get_freeze_count(), "python": sys.version.split()[0],
            "longest_gap": _inside_gap(max_gap, gap_from, slice_ms[5], answered),
            "turns_without_a_tick": _turns_without_a_tick(slice_ms[5], tick_at)}

async def _step(blob_js, step, profile):
    '''One step, as the host asks (it reads Chromium's CPU time around each): "check" a cold start of the
    board, "seal" the tab saving it (IndexedDB, sealed), "restart" a reload of what it saved.'''
    if "identity" not in _S:
        _S["blob"] = blob_js.to_bytes()
        await browser.crdt_ready()
        _S["identity"] = await Identity.generate()
        _S["profile"] = _profiled() if profile else ({}, {}, {})
    spent, calls, longest = _S["profile"]
    spent.clear(); calls.clear(); longest.clear()
    if step == "check":
        out = await _check(_S["blob"], _S["identity"])
    elif step == "check-whole":  # the snapshot taken whole, as before it was checked in parts (store._split)
        split_min, store_module.SPLIT_MIN_BYTES = getattr(store_module, "SPLIT_MIN_BYTES", 0), 1 << 62
        try:
            out = await _check(_S["blob"], _S["identity"])
        finally:
            store_module.SPLIT_MIN_BYTES = split_min
    elif step == "seal":
        t0 = time.perf_counter()
        out = {"saved": await tab_state._Sealer(_S["store"]).checkpoint(["%DOC%"]), "seconds": time.perf_counter() - t0}
    else:
        out = await _restart(_S["store"], _S["identity"])
    out.update({"phases_s": {k: round(v, 4) for k, v in spent.items()}, "calls": dict(calls),
                "longest_call_ms": {k: round(v * 1000, 1) for k, v in longest.items()}})
    return json.dumps(out)

async def _restart(store, identity):
    '''A reload's Store loads what the tab saved (the tab's own path).'''
    fresh = new_store(identity.peer_id)
    slice_ms = _longest_slice()
    js.hsTicker.start()
    t0 = time.perf_counter()
    restored, checked = await tab_state._load_saved(fresh)
    seconds = time.perf_counter() - t0
    max_gap, ticks, _, _ = js.hsTicker.stop().to_py()
    slice_ms = slice_ms()
    same = fresh.version() == store.version() and fresh.records["%DOC%"].keys() == store.records["%DOC%"].keys()
    return {"seconds": seconds, "restored": restored, "checked": checked, "same_state": same, "max_block_ms": max_gap, "ticks": ticks,
            "longest_slice_ms": slice_ms[0], "turns": slice_ms[1], "longest_slice_at": slice_ms[2],
            "in_turns_s": slice_ms[3], "slices_over_50ms": slice_ms[4]}

def run(blob, step, profile):
    return asyncio.ensure_future(_step(blob, step, profile))

run
"""
WORKER_JS = """import { loadPyodide } from './pyodide/pyodide.mjs';
import './store.js'; // IndexedDB as the app's worker offers it to pynode/platform/browser.py (self.hsStore)
const loroLoading = import('./loro/index.js').then(async (loro) => {
  await loro.default({ module_or_path: new URL('./loro/loro_wasm_bg.wasm', import.meta.url) });
  self.loro = loro;
  return loro;
});
self.hsLoadLoro = () => loroLoading;
// the longest time the event loop went without running this ticker
const ticker = { on: false, last: 0, max: 0, maxFrom: 0, ticks: 0, at: [] };
const tick = () => {
  const t = performance.now();
  if (t - ticker.last > ticker.max) [ticker.max, ticker.maxFrom] = [t - ticker.last, ticker.last];
  ticker.last = t;
  ticker.ticks += 1;
  ticker.at.push(t);
  if (ticker.on) setTimeout(tick, 0);
};
self.hsTicker = {
  start: () => { Object.assign(ticker, { on: true, last: performance.now(), max: 0, ticks: 0, at: [] }); setTimeout(tick, 0); },
  stop: () => { tick(); ticker.on = false; return [ticker.max, ticker.ticks, ticker.maxFrom, ticker.at]; },
};
const PY = `
%PY%`;
const boot = async () => {
  const pyodide = await loadPyodide({
    indexURL: new URL('./pyodide/', import.meta.url).href,
    lockFileURL: new URL('./py/pyodide-lock.json', import.meta.url).href,
  });
  const errors = [];
  await pyodide.loadPackage(['pynode'], { messageCallback: () => {}, errorCallback: (m) => errors.push(m) });
  if (errors.length) throw new Error(errors.join('; '));
  await loroLoading;
  const blob = new Uint8Array(await (await fetch('%BOARD%')).arrayBuffer());
  const run = pyodide.runPython(PY);
  return (step, profile) => run(blob, step, profile);
};
let booted = null;
self.onmessage = async (e) => {
  try {
    const run = await (booted ||= boot());
    self.postMessage({ ok: true, run: JSON.parse(await run(e.data.step, e.data.profile)) });
  } catch (err) {
    self.postMessage({ ok: false, error: String((err && err.stack) || err) });
  }
};
""".replace("%BOARD%", BOARD).replace("%PY%", PY.replace("%DOC%", DOC))


def make_board(records: int = 5000, authors: int = 50, seed: int = 1) -> bytes:
    """A snapshot of `DOC` holding `records` signed results from `authors` keys, one change per record."""
    from pynode.identity import Identity
    from pynode.platform import native
    from pynode.state.records import make_record
    from pynode.state.store import Store
    from pynode.state.sync import run_sync

    board = native.crdt_doc()
    start_ms = int(time.time() * 1000) - 2 * 86_400_000
    per = -(-records // authors)
    made = 0
    for a in range(authors):
        identity = run_sync(Identity.from_seed(bytes([seed % 256, a % 256, a // 256]) + bytes(29)))
        store = Store(identity.peer_id, native)
        for i in range(min(per, records - made)):
            body = {
                "domain": "ml",
                "task": f"task-{i % 7}",
                "metric": "val_loss",
                "unit": "nats",
                "direction": "min",
                "value": f"{(a * 7919 + i * 104729) % 100000 / 1000:.3f}",
                "seeds": 3,
            }
            # a second apart: well within AUTHOR_RATE records a minute
            record = run_sync(make_record(identity.signer, "result", body, start_ms + i * 1000))
            run_sync(store.write(identity.signer, [record]))
            made += 1
        board.import_(store.export_since(DOC, {}))
    return board.export_snapshot()


async def tab_cold_start(
    records: int = 5000,
    rounds: int = 3,
    profile: bool = False,
    dist: Path | None = None,
    board: Path | None = None,
    against: Path | None = None,
    whole: bool = False,
) -> dict[str, Any]:
    """{"cold_start_<records>_s", "max_block_ms", "records", "runs"} from a headless Chromium tab (p50 and
    worst over `rounds` cold starts after a first, discarded one), or {"error"}. `against`: another built
    web/dist (an older commit's), measured in the same run, a round of each in turn (the load drifts):
    {"new": ..., "old": ...}. `whole`: the same tab also checks the snapshot taken whole (not in parts) just
    before each cold start: {"whole": ..., "parts": ...}."""
    with tempfile.TemporaryDirectory() as tmp:
        if dist is None:
            dist = Path(tmp) / "dist"
            _log("state tab: building the web app…")
            from wasm_build.web import build

            build(ROOT, dist)
        _log(f"state tab: signing a board of {records} records…")
        if board is not None and board.is_file():
            blob = board.read_bytes()
        else:
            blob = make_board(records)
            if board is not None:
                board.write_bytes(blob)
        native = _cpython_cold_start(blob)
        if against is None:
            runs = await _tab_runs(dist, blob, rounds, profile, Path(tmp), whole)
            if isinstance(runs, dict):
                return runs
            if whole:
                taken_whole = [{**r["whole"], "seal": r["seal"], "restart": r["restart"]} for r in runs]
                return {
                    "whole": _summary(records, blob, taken_whole, native),
                    "parts": _summary(records, blob, runs, native),
                }
            return _summary(records, blob, runs, native)
        both: dict[str, list[dict[str, Any]]] = {"old": [], "new": []}
        for _ in range(rounds):
            for label, where in (("old", against), ("new", dist)):
                got = await _tab_runs(where, blob, 1, profile, Path(tmp))
                if isinstance(got, dict):
                    return {label: got}
                both[label] += got
        return {label: _summary(records, blob, runs, native) for label, runs in both.items()}


async def _tab_runs(
    dist: Path, blob: bytes, rounds: int, profile: bool, tmp: Path, whole: bool = False
) -> list[dict[str, Any]] | dict[str, Any]:
    """`rounds` cold starts, seals and reloads in one tab of a Chromium serving `dist`, after a first one that
    imports and warms up the modules they use; {"error"} when the tab failed. `whole`: each round also checks
    the snapshot taken whole rather than in parts, just before (run["whole"])."""
    (dist / BOARD).write_bytes(blob)
    try:
        async with bench_page(dist, tmp, PAGE, {PAGE: PAGE_HTML, WORKER: WORKER_JS}) as page:
            _log(f"state tab: {rounds + 1} cold starts and reloads in the tab ({dist})…")
            runs = []
            for i in range(rounds + 1):
                taken_whole = await _tab_step(page, "check-whole", profile) if whole else None
                run = await _tab_step(page, "check", profile)
                if taken_whole is not None:
                    run["whole"] = taken_whole
                run["seal"] = await _tab_step(page, "seal", profile)
                run["restart"] = await _tab_step(page, "restart", profile)
                if i:
                    runs.append(run)
            return runs
    except _TabError as e:
        return {"error": str(e)[:2000]}


def _summary(
    records: int, blob: bytes, runs: list[dict[str, Any]], native: tuple[float, float]
) -> dict[str, Any]:
    seconds = sorted(r["seconds"] for r in runs)
    restarts = sorted(r["restart"]["seconds"] for r in runs)
    native_s, native_cpu_s = native
    p50 = seconds[len(seconds) // 2]
    cpu = sorted(r["cpu_s"] for r in runs)
    busiest = sorted(r["busiest_thread_cpu_s"] for r in runs)
    restart_cpu = sorted(r["restart"]["cpu_s"] for r in runs)
    return {
        "records": records,
        "snapshot_bytes": len(blob),
        f"cold_start_{records}_s": round(p50, 3),
        "cold_start_max_s": round(seconds[-1], 3),
        "max_block_ms": round(max(r["max_block_ms"] for r in runs), 1),
        # the longest stretch of Python between two turns of the loop, worst run, and how many were over 50 ms
        "longest_slice_ms": max(r["longest_slice_ms"] for r in runs),
        "slices_over_50ms": max(len(r["slices_over_50ms"]) for r in runs),
        # turns of the loop that did not let a due timer run (the ticker's), worst run: then the loop was held
        # across two stretches of Python
        "turns_without_a_tick": max(r["turns_without_a_tick"] for r in runs),
        # CPU seconds of Chromium's processes during the cold start (p50): about its time on an idle machine
        "cold_start_cpu_s": cpu[len(cpu) // 2],
        # the CPU seconds of Chromium's busiest thread during the cold start (p50): on an idle machine the cold
        # start takes at least this long; the tab's loop ran on it, or verifications did (the larger)
        "cold_start_busiest_thread_cpu_s": busiest[len(busiest) // 2],
        # a reload of the tab: what it saved of the board after checking it, sealed (pynode/state/sealed.py),
        # loaded from IndexedDB by the tab's own path (pynode/browser/state.py _load_saved)
        f"restart_{records}_s": round(restarts[len(restarts) // 2], 3),
        "restart_max_s": round(restarts[-1], 3),
        "restart_max_block_ms": round(max(r["restart"]["max_block_ms"] for r in runs), 1),
        "restart_cpu_s": restart_cpu[len(restart_cpu) // 2],
        "restart_restored_all": all(
            r["seal"]["saved"] and r["restart"]["restored"] == records and r["restart"]["same_state"]
            for r in runs
        ),
        # the same check in this CPython, same run: how much of the tab's time is the machine's load
        "cpython_cold_start_s": round(native_s, 3),
        "cpython_cold_start_cpu_s": round(native_cpu_s, 3),
        "tab_over_cpython": round(p50 / native_s, 2),
        "load": [round(x, 2) for x in os.getloadavg()],
        "runs": runs,
    }


class _TabError(Exception):
    pass


async def _tab_step(page: Any, step: str, profile: bool) -> dict[str, Any]:
    """One step in the tab, with the CPU seconds Chromium's processes used meanwhile (the tab's thread, WebCrypto's,
    IndexedDB's...): on a loaded machine the wall clock mostly measures the load; on an idle one it is about this."""
    cpu, threads = _chromium_cpu_s(), _chromium_threads_cpu_s()
    answer = await page.evaluate("([s, p]) => window.benchStep(s, p)", [step, profile])
    if not answer.get("ok"):
        raise _TabError(answer.get("error", "no answer"))
    # the busiest thread's CPU: the wall time's floor on an idle machine (the tab's worker runs Python, a worker
    # of its own verifies signatures: pynode/platform/browser.py), whatever the machine's load
    now = _chromium_threads_cpu_s()
    spent = sorted(((s - threads.get(t, (n, 0.0))[1], n) for t, (n, s) in now.items()), reverse=True)
    return {
        **answer["run"],
        "cpu_s": round(_chromium_cpu_s() - cpu, 3),
        "busiest_thread_cpu_s": round(spent[0][0], 3) if spent else 0.0,
        "busiest_threads": [[name, round(seconds, 3)] for seconds, name in spent[:3]],
    }


def _chromium_pids() -> dict[int, tuple[int, str, float]]:
    """pid -> (parent, name, CPU seconds) of the Chromium processes this process started (Linux /proc)."""
    procs: dict[int, tuple[int, str, float]] = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        got = _stat(f"/proc/{pid}/stat")
        if got is not None:
            procs[int(pid)] = got
    mine, out = {os.getpid()}, {}
    for pid in sorted(procs, key=lambda p: _depth(procs, p)):
        if procs[pid][0] in mine:
            mine.add(pid)
            if procs[pid][1].startswith("chrom"):
                out[pid] = procs[pid]
    return out


def _stat(path: str) -> tuple[int, str, float] | None:
    """(parent, name, user + system CPU seconds) of a /proc stat file; None when gone meanwhile."""
    try:
        stat = Path(path).read_text()
    except OSError:
        return None
    name, fields = stat[stat.index("(") + 1 : stat.rindex(")")], stat[stat.rindex(")") + 2 :].split()
    return int(fields[1]), name, (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _chromium_cpu_s() -> float:
    """CPU seconds (user + system) used so far by the Chromium processes this process started."""
    return sum(seconds for _, _, seconds in _chromium_pids().values())


def _chromium_threads_cpu_s() -> dict[tuple[int, int], tuple[str, float]]:
    """(pid, thread id) -> (thread name, CPU seconds so far) of every thread of those processes."""
    out = {}
    for pid in _chromium_pids():
        try:
            tids = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in tids:
            got = _stat(f"/proc/{pid}/task/{tid}/stat")
            if got is not None:
                out[(pid, int(tid))] = (got[1], got[2])
    return out


def _depth(procs: dict[int, tuple[int, str, float]], pid: int) -> int:
    depth = 0
    while pid in procs and depth < 64:
        pid, depth = procs[pid][0], depth + 1
    return depth


def _cpython_cold_start(blob: bytes) -> tuple[float, float]:
    """Seconds for a CPython Store (PyNaCl, loro) to check and import `blob`, and the CPU seconds it took: the
    best of two."""
    from pynode.identity import Identity
    from pynode.platform import native
    from pynode.research.policy import check_result
    from pynode.state.store import Store
    from pynode.state.sync import run_sync

    me = run_sync(Identity.generate())
    best = (float("inf"), float("inf"))
    for _ in range(2):
        store = Store(me.peer_id, native, policy=check_result)
        t0, cpu = time.perf_counter(), time.process_time()
        run_sync(store.receive(DOC, blob, int(time.time() * 1000), ("snapshot", "updates")))
        best = min(best, (time.perf_counter() - t0, time.process_time() - cpu))
    return best


def _log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def main() -> int:
    import argparse

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--records", type=int, default=5000)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--profile", action="store_true", help="time each phase and count loro-crdt calls")
    p.add_argument("--dist", type=Path, help="a built web/dist to use (default: build one)")
    p.add_argument("--board", type=Path, help="the board's snapshot: read if there, else made and kept")
    p.add_argument(
        "--against", type=Path, help="another built web/dist (an older commit's), measured in turn"
    )
    p.add_argument(
        "--whole", action="store_true", help="also check the snapshot taken whole, in the same tab"
    )
    args = p.parse_args()
    out = asyncio.run(
        tab_cold_start(
            args.records, args.rounds, args.profile, args.dist, args.board, args.against, args.whole
        )
    )
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
