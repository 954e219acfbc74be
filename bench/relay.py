"""`hyperspace bench relay`: what one relay holds on this machine, against a plain WebSocket echo server.

Both servers run as real processes (`hyperspace relay` under uvicorn with its stock settings and its own node —
except its per-peer send budgets, raised so the circuits measure capacity, not the budget policy; the
echo server, bench/relay_echo.py, on the same uvicorn WebSocket stack), one after the other in the same run, under
the same load: `workers` client processes (bench/relay_load.py) each ramp up their share of light clients (real
signed hellos against the relay), hold them, then run circuit frames between pairs of them while all are held —
small frames at a modest rate for latency, then 64 KiB frames with a window in flight for throughput.

Measured: peers held (by the clients and by the relay's /api/status), hello → welcome p99 (of the `probes` last
clients, which join one by one per load process once the rest are held: what a newcomer meets at a full relay;
the ramp's own hello times, with RAMP_CONCURRENCY handshakes queued per load process, are reported beside it as
`ramp_hello_*`), circuit frame p99
(one way, both ends in one process) and MiB/s, and the server's RSS growth per 1,000 held peers. JSON on stdout
(with --json), the table on stderr. `profile_dir` runs the relay under cProfile and keeps its stats there.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from bench import ROOT
from pynode.stats import percentile

START_TIMEOUT_S = 60.0  # a server process must answer within this (the relay opens its node first)
RAMP_TIMEOUT_S = 900.0  # each load process reports its peers held within this (a busy machine is slow)
PHASE_TIMEOUT_S = 120.0  # …and its circuit phases within this
CAPACITY_FRAMES_PER_S = 1_000_000  # the relay's per-peer budgets, raised so circuits measure its capacity
CAPACITY_MIB_PER_S = 10_000
FULL = {
    "peers": 2000,
    "probes": 100,
    "workers": 2,
    "pairs": 16,
    "latency_s": 8.0,
    "throughput_s": 8.0,
    "fed_nodes": 6,
}
QUICK = {
    "peers": 300,
    "probes": 30,
    "workers": 1,
    "pairs": 8,
    "latency_s": 3.0,
    "throughput_s": 3.0,
    "fed_nodes": 3,
}
FED_MESSAGES = 60  # gossip messages in the federation part: a third before, during and after the kill


def run_bench(
    quick: bool = False,
    peers: int | None = None,
    workers: int | None = None,
    pairs: int | None = None,
    profile_dir: Path | None = None,
    skip_echo: bool = False,
    federation: bool = True,
) -> dict[str, Any]:
    plan = dict(QUICK if quick else FULL)
    for key, value in (("peers", peers), ("workers", workers), ("pairs", pairs)):
        if value is not None:
            plan[key] = value
    fd_note = raise_fd_limit()
    _log(
        f"plan: {plan['peers']} peers over {plan['workers']} load processes, {plan['pairs']} circuit pairs; {fd_note}"
    )
    with tempfile.TemporaryDirectory(prefix="bench-relay-") as tmp:
        _log("relay (hyperspace relay, real process)...")
        ours = measure("relay", plan, Path(tmp), profile_dir)
        result: dict[str, Any] = {
            "peers": plan["peers"],
            "fd_limit": fd_note,
            **{k: ours[k] for k in _KEYS},
            "relay": ours,
        }
        if not skip_echo:
            _log("echo ceiling (plain Starlette WebSocket echo under uvicorn)...")
            echo = measure("echo", plan, Path(tmp), None)
            result["echo"] = echo
            if echo["circuit_mib_s"]:
                result["circuit_vs_echo"] = round(ours["circuit_mib_s"] / echo["circuit_mib_s"], 3)
        if federation:
            from bench.relay_federation import run_federation

            _log(
                f"federation: three relay processes, {plan['fed_nodes']} nodes on each, relay B SIGKILLed..."
            )
            ports = [_free_port() for _ in range(3)]
            result["federation"] = run_federation(plan["fed_nodes"], FED_MESSAGES, Path(tmp), ports)
    _table(result)
    return result


_KEYS = ("peers_held", "hello_p99_ms", "circuit_p99_ms", "circuit_mib_s", "rss_mib_per_1k_peers")


def raise_fd_limit() -> str:
    """Every client socket is a descriptor here, in the load processes and in the server: take the hard limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            return f"fd limit raised {soft} -> {hard}"
        except (ValueError, OSError):
            return f"fd limit {soft} (could not raise to {hard})"
    return f"fd limit {soft}"


def measure(mode: str, plan: dict[str, Any], tmp: Path, profile_dir: Path | None) -> dict[str, Any]:
    port = _free_port()
    server = _start_server(mode, port, tmp, profile_dir)
    loads: list[subprocess.Popen[str]] = []
    try:
        time.sleep(1.0)
        rss0 = _rss_mib(server.pid)
        cpu0 = _cpu_s(server.pid)
        url = f"ws://127.0.0.1:{port}/p2p"
        share = _split(plan["peers"], plan["workers"])
        pair_share = _split(plan["pairs"], plan["workers"])
        probe_share = _split(min(plan["probes"], plan["peers"]), plan["workers"])
        for w, (n, k, q) in enumerate(zip(share, pair_share, probe_share, strict=True)):
            cmd = [
                sys.executable,
                "-m",
                "bench.relay_load",
                f"--url={url}",
                f"--mode={mode}",
                f"--worker={w}",
                f"--peers={n}",
                f"--pairs={k}",
                f"--probes={min(q, n)}",
                f"--latency-s={plan['latency_s']}",
                f"--throughput-s={plan['throughput_s']}",
            ]
            loads.append(
                subprocess.Popen(cmd, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            )
        held = [_read_line(p, RAMP_TIMEOUT_S) for p in loads]
        time.sleep(1.0)
        rss1 = _rss_mib(server.pid)
        cpu1 = _cpu_s(server.pid)
        counts = _relay_counts(port) if mode == "relay" else None
        for p in loads:
            assert p.stdin is not None
            p.stdin.write("go\n")
            p.stdin.flush()
        done = [_read_line(p, PHASE_TIMEOUT_S) for p in loads]
        cpu2 = _cpu_s(server.pid)
        for p in loads:
            p.wait(timeout=30)
    finally:
        for p in loads:
            if p.poll() is None:
                p.kill()
                p.wait()
        _stop(server)
    peers_held = sum(h["held"] for h in held)
    hello = [m for h in held for m in h["hello_ms"]]
    probe = [m for h in held for m in h["probe_ms"]]
    circuit = [m for d in done for m in d["circuit_ms"]]
    moved = sum(d["throughput_bytes"] for d in done)
    seconds = max(d["throughput_s"] for d in done)
    out: dict[str, Any] = {
        "peers_held": peers_held,
        "peers_held_at_end": sum(d["held_end"] for d in done),
        "peers_failed": sum(h["failed"] for h in held),
        "ramp_s": round(max(h["ramp_s"] for h in held), 2),
        "fanout_drain_s": round(max(h["drain_s"] for h in held), 2),  # the clients reading the last joins
        "hello_p50_ms": _round(percentile(probe, 50)) if probe and mode == "relay" else None,
        "hello_p99_ms": _round(percentile(probe, 99)) if probe and mode == "relay" else None,
        "hello_probes": len(probe),
        "ramp_hello_p50_ms": _round(percentile(hello, 50)) if hello and mode == "relay" else None,
        "ramp_hello_p99_ms": _round(percentile(hello, 99)) if hello and mode == "relay" else None,
        "circuit_p50_ms": _round(percentile(circuit, 50)) if circuit else None,
        "circuit_p99_ms": _round(percentile(circuit, 99)) if circuit else None,
        "circuit_delivery": _ratio(
            sum(d["latency_received"] for d in done), sum(d["latency_sent"] for d in done)
        ),
        "circuit_mib_s": round(moved / seconds / 2**20, 2) if seconds else 0.0,
        "throughput_delivery": _ratio(
            sum(d["throughput_received"] for d in done), sum(d["throughput_sent"] for d in done)
        ),
        "frames_to_clients": sum(d["frames_in"] for d in done),  # joins, circuits, the relay node's signals
        # The server's own CPU seconds: what the load cost it, whatever else the machine was doing.
        "server_cpu_ramp_s": round(cpu1 - cpu0, 2),
        "server_cpu_circuits_s": round(cpu2 - cpu1, 2),
        "clients_cpu_ramp_s": round(sum(h["cpu_s"] for h in held), 2),  # the light clients', all together
        "rss_base_mib": round(rss0, 1),
        "rss_held_mib": round(rss1, 1),
        "rss_mib_per_1k_peers": round((rss1 - rss0) / peers_held * 1000, 2) if peers_held else None,
    }
    if counts is not None:
        out["peers_held_by_relay"] = counts["peers"]  # the relay's own count (its node is one more peer)
        out["relay_refusals"] = counts["rejections"]  # by reason (a starved client's hello_timeout, ...)
    return out


def _start_server(mode: str, port: int, tmp: Path, profile_dir: Path | None) -> subprocess.Popen[bytes]:
    log = open(tmp / f"{mode}.log", "wb")  # noqa: SIM115 - the child owns it for its life
    if mode == "echo":
        cmd = [sys.executable, "-m", "bench.relay_echo", f"--port={port}"]
    else:
        profile = ["-m", "cProfile", "-o", str(profile_dir / "relay.prof")] if profile_dir else []
        if profile_dir:
            profile_dir.mkdir(parents=True, exist_ok=True)
        cmd = [
            sys.executable,
            *profile,
            "-m",
            "pynode.cli",
            "relay",
            f"--port={port}",
            f"--data-dir={tmp / 'relay'}",
            "--no-archive",
            # capacity, not policy: the stock per-peer budget (200 frames/s) would disconnect a sender that goes
            # as fast as its window allows, and the echo ceiling has none
            f"--peer-frames-per-s={CAPACITY_FRAMES_PER_S}",
            f"--peer-mib-per-s={CAPACITY_MIB_PER_S}",
        ]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the {mode} server exited with {proc.returncode}; see {tmp / f'{mode}.log'}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return proc
        except OSError:
            time.sleep(0.2)
    _stop(proc)
    raise RuntimeError(f"the {mode} server did not listen within {START_TIMEOUT_S} s")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGINT first (the relay shuts down cleanly, and cProfile writes its stats), then SIGKILL."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _read_line(proc: subprocess.Popen[str], timeout: float) -> dict[str, Any]:
    assert proc.stdout is not None
    import selectors

    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        if not sel.select(timeout):
            raise RuntimeError(f"a load process did not report within {timeout} s")
    line = proc.stdout.readline()
    if not line:
        raise RuntimeError(f"a load process exited with {proc.wait()} before reporting")
    return json.loads(line)


def _relay_counts(port: int) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status", timeout=30) as r:
        return json.load(r)["counts"]


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far (/proc/PID/stat fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _split(total: int, parts: int) -> list[int]:
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


def _ratio(a: int, b: int) -> float | None:
    return round(a / b, 4) if b else None


def _round(x: float) -> float:
    return round(x, 2)


def _table(r: dict[str, Any]) -> None:
    ours, echo = r["relay"], r.get("echo", {})
    rows = [
        (f"peers held (of {r['peers']})", "peers_held"),
        ("  still held after circuits", "peers_held_at_end"),
        ("ramp (s)", "ramp_s"),
        ("  then reading the last joins (s)", "fanout_drain_s"),
        ("hello → welcome p50 (ms), held", "hello_p50_ms"),
        ("hello → welcome p99 (ms), held", "hello_p99_ms"),
        ("  during the ramp, p50 (ms)", "ramp_hello_p50_ms"),
        ("  during the ramp, p99 (ms)", "ramp_hello_p99_ms"),
        ("circuit frame p50 (ms)", "circuit_p50_ms"),
        ("circuit frame p99 (ms)", "circuit_p99_ms"),
        ("circuit delivery", "circuit_delivery"),
        ("circuit throughput (MiB/s)", "circuit_mib_s"),
        ("server CPU, ramp (s)", "server_cpu_ramp_s"),
        ("server CPU, circuits (s)", "server_cpu_circuits_s"),
        ("load processes' CPU, ramp (s)", "clients_cpu_ramp_s"),
        ("RSS base (MiB)", "rss_base_mib"),
        ("RSS per 1k peers (MiB)", "rss_mib_per_1k_peers"),
    ]
    _log(f"{'':32} {'relay':>12} {'echo ceiling':>14}")
    for label, key in rows:
        _log(f"{label:32} {_fmt(ours.get(key)):>12} {_fmt(echo.get(key)):>14}")
    if "circuit_vs_echo" in r:
        _log(f"circuit throughput, relay / echo: {r['circuit_vs_echo']}")
    for key, value in r.get("federation", {}).items():
        _log(f"federation {key:30} {_fmt(value)}")
    _log(r["fd_limit"])


def _fmt(v: Any) -> str:
    return "-" if v is None else str(v)


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)
