"""`hyperspace` — run a relay, a node, the local demo, or a benchmark."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

from pynode import __version__
from pynode.topics import DEMO_PULSE as DEMO_TOPIC

DEFAULT_PORT = 8787
DEFAULT_DATA = Path(os.environ.get("HYPERSPACE_HOME", Path.home() / ".hyperspace"))


class CliError(Exception):
    """A problem the user can fix; printed as one line, no traceback."""


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return args.func(args) or 0
    except CliError as e:
        print(f"hyperspace: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="hyperspace",
        description="A peer-to-peer network of research agents. Run a relay, join it with nodes, "
        "open the relay's URL in a browser to join from a tab.",
    )
    p.add_argument("--version", action="version", version=f"hyperspace {__version__}")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    r = sub.add_parser(
        "relay",
        help="run a relay server (signaling, circuit relay, web app, status API)",
        description="Run a relay: WebSocket /p2p for nodes, the web app at /, /api/status, /metrics, "
        "/healthz. On a VPS use --host 0.0.0.0 with --ssl-certfile/--ssl-keyfile, or run behind a "
        "TLS proxy (browsers need HTTPS for WebCrypto).",
    )
    r.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    r.add_argument("--port", type=_port, default=DEFAULT_PORT, help=f"TCP port (default {DEFAULT_PORT})")
    r.add_argument(
        "--data-dir", type=Path, default=DEFAULT_DATA / "relay", help="keeps the relay's identity key"
    )
    r.add_argument("--ssl-certfile", type=Path, help="TLS certificate (PEM) to serve HTTPS/WSS")
    r.add_argument("--ssl-keyfile", type=Path, help="TLS private key (PEM)")
    r.add_argument("--max-conns-per-ip", type=_positive, default=64, help="WebSocket cap per client IP")
    _archive_args(r)
    r.set_defaults(func=cmd_relay)

    n = sub.add_parser(
        "node",
        help="run a node that joins a relay",
        description="Run a CPython node: it joins the relay, connects to peers (relayed circuits, "
        "upgraded to direct WebRTC where possible) and gossips.",
    )
    n.add_argument("--relay", required=True, help="relay WebSocket URL, e.g. ws://127.0.0.1:8787/p2p")
    n.add_argument(
        "--data-dir", type=Path, default=DEFAULT_DATA / "node", help="keeps the identity key (0600)"
    )
    n.add_argument("--caps", default="relay", help="comma-separated capabilities to advertise")
    n.add_argument("--topic", action="append", default=None, help=f"topic to join (default {DEMO_TOPIC})")
    n.add_argument("--direct-peers", type=_non_negative, default=4, help="peers to upgrade to WebRTC")
    n.add_argument("--ice-loopback", action="store_true", help="offer only 127.0.0.1 ICE candidates")
    n.add_argument(
        "--only-peers",
        type=_peer_ids,
        default=None,
        metavar="ID[,ID...]",
        help="talk only to these peers (base32 peer ids): a private network on a public relay",
    )
    n.add_argument("--pulse", type=float, default=0.0, help="publish a small message every N seconds")
    n.set_defaults(func=cmd_node)

    d = sub.add_parser(
        "demo",
        help="relay + a few nodes on this machine (what `make run` starts)",
        description="Start a relay and N CPython nodes on 127.0.0.1, print the URL to open in a browser, "
        "and show a live status line until Ctrl-C.",
    )
    d.add_argument("--port", type=_port, default=DEFAULT_PORT)
    d.add_argument("--nodes", type=_positive, default=3)
    d.add_argument(
        "--data-dir", type=Path, default=Path("data/demo"), help="identities of the relay and nodes"
    )
    d.add_argument("--pulse", type=float, default=1.0, help="each node publishes every N seconds")
    d.add_argument("--duration", type=float, default=0.0, help="stop after N seconds (0 = until Ctrl-C)")
    _archive_args(d)
    d.set_defaults(func=cmd_demo)

    b = sub.add_parser("bench", help="benchmarks that print JSON", description="Run a benchmark.")
    bsub = b.add_subparsers(dest="bench", required=True, metavar="BENCH")
    g = bsub.add_parser(
        "gossip",
        help="our GossipSub against py-libp2p's on the same topology and schedule",
        description="Real nodes on loopback, ours and py-libp2p's (in its own venv), same topology and "
        "message schedule; or, with --sim, the simulator at scale (10%% loss, 20%% churn).",
    )
    g.add_argument("--json", action="store_true", help="JSON on stdout (the table always goes to stderr)")
    g.add_argument("--sim", action="store_true", help="run the discrete-event simulator instead")
    g.add_argument("--nodes", type=_positive, default=None, help="nodes (default 10; --sim: 10000)")
    g.add_argument("--messages", type=_positive, default=None, help="messages (default 500; --sim: 100)")
    g.add_argument("--size", type=_positive, default=1024, help="payload bytes (default 1024)")
    g.add_argument("--seed", type=int, default=1)
    g.add_argument("--skip-libp2p", action="store_true", help="measure ours only")
    g.set_defaults(func=cmd_bench_gossip)
    br = bsub.add_parser(
        "browser",
        help="the browser node: boot, join, gossip latency, data-channel throughput",
        description="Fresh headless Chromium launches against a relay with two CPython nodes: Pyodide boot, "
        "our start-up on top of it, navigation to joined, gossip latency browser→py beside py→py, and "
        "request/response throughput over the direct data channel both ways.",
    )
    br.add_argument("--json", action="store_true", help="JSON on stdout (the table always goes to stderr)")
    br.add_argument("--launches", type=_positive, default=5, help="fresh browser launches (default 5)")
    br.set_defaults(func=cmd_bench_browser)
    s = bsub.add_parser(
        "state",
        help="replicated state: convergence, cold start, bytes per record, archive lag",
        description="Simulated transport with real Loro documents (100 nodes, 10%% loss, 20%% churn), a "
        "real cold start, and a real Git archiver pushing to a local bare repository every 5 s.",
    )
    s.add_argument("--json", action="store_true", help="JSON on stdout (the table always goes to stderr)")
    s.add_argument("--nodes", type=_positive, default=100)
    s.add_argument("--records", type=_positive, default=200)
    s.add_argument("--churn", type=float, default=0.2)
    s.add_argument("--loss", type=float, default=0.1)
    s.add_argument("--seed", type=int, default=1)
    s.add_argument("--archive-interval", type=float, default=5.0, help="seconds between archive pushes")
    s.set_defaults(func=cmd_bench_state)
    _add_training_commands(sub, bsub)
    return p


def _archive_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--archive-remote",
        help="Git remote the archive is pushed to (e.g. https://github.com/ORG/REPO.git); "
        "default: commit to a local repository under the data dir only",
    )
    p.add_argument("--archive-interval", type=float, default=300.0, help="seconds between archive cycles")
    p.add_argument(
        "--archive-token-env",
        default="HYPERSPACE_ARCHIVE_TOKEN",
        help="environment variable holding the remote's token (passed to git per call, never stored)",
    )
    p.add_argument("--no-archive", action="store_true", help="do not archive at all")


def _port(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError("a port is 1..65535 (0 picks a free one)")
    return value


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be ≥ 1")
    return value


def _non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be ≥ 0")
    return value


def _peer_ids(text: str) -> frozenset[bytes]:
    from pynode.identity import parse_peer_id

    try:
        return frozenset(parse_peer_id(p.strip()) for p in text.split(",") if p.strip())
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _run(coro: Any) -> Any:
    """Run a coroutine; Ctrl-C and SIGTERM cancel it cleanly."""

    async def wrapper() -> Any:
        task = asyncio.ensure_future(coro)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, task.cancel)
        try:
            return await task
        except asyncio.CancelledError:
            return 0

    return asyncio.run(wrapper())


# ---- relay ----------------------------------------------------------------------------------------


def cmd_relay(args: argparse.Namespace) -> int:
    from relay_server.app import RelayConfig

    if bool(args.ssl_certfile) != bool(args.ssl_keyfile):
        raise CliError("--ssl-certfile and --ssl-keyfile go together")
    for f in (args.ssl_certfile, args.ssl_keyfile):
        if f and not f.is_file():
            raise CliError(f"no such file: {f}")
    config = RelayConfig(
        host=args.host,
        port=args.port,
        data_dir=args.data_dir,
        ssl_certfile=str(args.ssl_certfile) if args.ssl_certfile else None,
        ssl_keyfile=str(args.ssl_keyfile) if args.ssl_keyfile else None,
        max_connections_per_ip=args.max_conns_per_ip,
        **_archive_config(args),
    )
    scheme = "https" if args.ssl_certfile else "http"
    print(f"relay on {scheme}://{_display_host(args.host)}:{args.port}/  (Ctrl-C to stop)", file=sys.stderr)
    _print_archive(config)
    return _run(_serve_relay(config))


async def _serve_relay(config: Any) -> int:
    from relay_server.server import start_relay

    try:
        relay = await start_relay(config)
    except (OSError, ValueError) as e:
        raise CliError(f"cannot start the relay on {config.host}:{config.port}: {e}") from None
    try:
        await relay.task
    finally:
        await relay.stop()
    return 0


def _archive_config(args: argparse.Namespace) -> dict[str, Any]:
    if args.archive_interval <= 0:
        raise CliError("--archive-interval must be positive")
    return {
        "archive": not args.no_archive,
        "archive_remote": args.archive_remote,
        "archive_interval_s": args.archive_interval,
        "archive_token_env": args.archive_token_env,
    }


def _print_archive(config: Any) -> None:
    if not config.archive:
        print("  archive: off", file=sys.stderr)
        return
    where = config.archive_path().resolve() / "repo"
    push = f", pushed to {config.archive_remote}" if config.archive_remote else " (no remote: local commits)"
    print(f"  archive: {where} every {config.archive_interval_s:g} s{push}", file=sys.stderr)


def _display_host(host: str) -> str:
    return "127.0.0.1" if host in ("0.0.0.0", "::") else host


# ---- node -----------------------------------------------------------------------------------------


def cmd_node(args: argparse.Namespace) -> int:
    if not args.relay.startswith(("ws://", "wss://")):
        raise CliError(f"--relay must be a ws:// or wss:// URL, got {args.relay!r}")
    caps = [c.strip() for c in args.caps.split(",") if c.strip()]
    return _run(_node_main(args, caps))


async def _node_main(args: argparse.Namespace, caps: list[str]) -> int:
    from pynode.identity import Identity
    from pynode.net.relay_client import RelayUnreachable
    from pynode.node import Node, NodeConfig
    from pynode.platform import current
    from pynode.runtime.replica import StateReplica

    try:
        identity = await Identity.load_or_create(args.data_dir)
    except (OSError, ValueError) as e:
        raise CliError(str(e)) from None
    config = NodeConfig(
        caps=caps,
        direct_peers=args.direct_peers,
        ice_addresses=["127.0.0.1"] if args.ice_loopback else None,
        allowed_peers=args.only_peers,
    )
    node = Node(identity, current().relay_link(args.relay), config)
    topics = args.topic or [DEMO_TOPIC]
    for t in topics:
        node.subscribe(t)
    replica = StateReplica(node)
    await node.start()
    await replica.start()
    try:
        await node.relay.wait_connected(timeout=5)
    except RelayUnreachable as e:
        await node.stop()
        raise CliError(str(e)) from None
    print(f"node {identity.text} joined {args.relay}", file=sys.stderr)
    try:
        await _status_loop([node], topics[0], args.pulse, replicas=[replica])
    finally:
        await replica.stop()
        await node.stop()
    return 0


async def _status_loop(
    nodes: list[Any], topic: str, pulse_s: float, duration: float = 0.0, replicas: list[Any] | None = None
) -> None:
    """Publish a pulse now and then and print one status line per second (rewritten in place on a tty)."""
    tty = sys.stderr.isatty()
    started = time.monotonic()
    next_pulse = started
    last_print = 0.0
    while not duration or time.monotonic() - started < duration:
        now = time.monotonic()
        if pulse_s > 0 and now >= next_pulse:
            next_pulse = now + pulse_s
            for node in nodes:
                await node.publish(topic, json.dumps({"pulse": time.time()}).encode())
        if tty or now - last_print >= 5:
            last_print = now
            line = _status_line([n.stats() for n in nodes], topic)
            if replicas:
                states = [r.status() for r in replicas]
                synced = sum(s["sync"] == "synced" for s in states)
                line += f" · state {max(s['records'] for s in states)} records, {synced}/{len(states)} synced"
            print(("\r\x1b[2K" + line) if tty else line, end="" if tty else "\n", file=sys.stderr, flush=True)
        await asyncio.sleep(1.0)
    if tty:
        print(file=sys.stderr)


def _status_line(stats: list[dict[str, Any]], topic: str) -> str:
    peers = sum(s["peers"] for s in stats)
    direct = sum(s["direct"] for s in stats)
    relayed = sum(s["relayed"] for s in stats)
    mesh = "/".join(str(s["mesh"].get(topic, 0)) for s in stats)
    rate = sum(s["messages_per_s"] for s in stats)
    up = all(s["relay_connected"] for s in stats)
    return (
        f"{len(stats)} node(s) {'online' if up else 'RECONNECTING'} · links {peers} "
        f"({direct} direct, {relayed} relayed) · mesh {mesh} · {rate:.1f} msg/s delivered"
    )


# ---- demo -----------------------------------------------------------------------------------------


def cmd_demo(args: argparse.Namespace) -> int:
    return _run(_demo_main(args))


async def _demo_main(args: argparse.Namespace) -> int:
    from pynode.identity import Identity
    from pynode.node import Node, NodeConfig
    from pynode.platform import current
    from pynode.runtime.replica import StateReplica
    from relay_server.config import RelayConfig
    from relay_server.server import start_relay

    relay_cfg = RelayConfig(
        host="127.0.0.1",
        port=args.port,
        data_dir=args.data_dir / "relay",
        log_level="warning",
        **_archive_config(args),
    )
    try:
        relay = await start_relay(relay_cfg)
    except OSError as e:
        raise CliError(f"cannot listen on 127.0.0.1:{args.port}: {e.strerror or e} (try --port)") from None
    url = f"http://127.0.0.1:{relay.port}/"
    nodes = []
    replicas = []
    try:
        for i in range(args.nodes):
            identity = await Identity.load_or_create(args.data_dir / f"node{i}")
            config = NodeConfig(caps=["relay", "research"], ice_addresses=["127.0.0.1"])
            node = Node(identity, current().relay_link(relay.url), config)
            node.subscribe(DEMO_TOPIC)
            replica = StateReplica(node)
            await node.start()
            await replica.start()
            nodes.append(node)
            replicas.append(replica)
        for node in nodes:
            await node.relay.wait_connected(timeout=10)
        print(
            f"Hyperspace demo: relay + {args.nodes} nodes. Open {url} to join from a browser.",
            file=sys.stderr,
        )
        print(f"  identities under {args.data_dir.resolve()}  ·  Ctrl-C to stop", file=sys.stderr)
        _print_archive(relay_cfg)
        await _status_loop(nodes, DEMO_TOPIC, args.pulse, args.duration, replicas=replicas)
    finally:
        for replica in replicas:
            await replica.stop()
        for node in nodes:
            await node.stop()
        await relay.stop()
    return 0


# ---- benchmarks -----------------------------------------------------------------------------------


def _report(args: argparse.Namespace, result: dict[str, Any]) -> int:
    """Benchmarks print their table on stderr themselves; `--json` adds the result on stdout."""
    if args.json:
        print(json.dumps(result))
    return 0


def cmd_bench_browser(args: argparse.Namespace) -> int:
    from bench.browser import run_bench

    result = run_bench(launches=args.launches)
    return _report(args, result)


def cmd_bench_gossip(args: argparse.Namespace) -> int:
    from bench.gossip import run_bench

    result = run_bench(
        sim=args.sim,
        nodes=args.nodes,
        messages=args.messages,
        size=args.size,
        seed=args.seed,
        with_libp2p=not args.skip_libp2p,
    )
    return _report(args, result)


def cmd_bench_state(args: argparse.Namespace) -> int:
    from bench.state import run_bench

    result = run_bench(
        nodes=args.nodes,
        records=args.records,
        churn=args.churn,
        loss=args.loss,
        seed=args.seed,
        archive_interval_s=args.archive_interval,
    )
    return _report(args, result)


# ---- training -------------------------------------------------------------------------------------


def _add_training_commands(sub: Any, bsub: Any) -> None:
    t = sub.add_parser(
        "train",
        help="train a model of the zoo alone, with committed checkpoints",
        description="Train a model (ONNX train-step graph in onnxruntime) with a progress bar. Every "
        "--checkpoint-every steps the full state is committed (θ hash, state hash, state file), so any step "
        "can be re-executed later: --replay RUN_DIR --step N does that and compares.",
    )
    t.add_argument("--task", default="digits-mlp", help="model (see --list)")
    t.add_argument("--steps", type=_positive, default=500)
    t.add_argument("--seed", type=_non_negative, default=0)
    t.add_argument("--checkpoint-every", type=_positive, default=50)
    t.add_argument("--out", type=Path, help="run directory (default ~/.hyperspace/runs/TASK-sSEED)")
    t.add_argument("--device", choices=("cpu", "cuda", "auto"), default="cpu")
    t.add_argument("--threads", type=_positive, default=1, help="runner threads (reproducible per count)")
    t.add_argument("--replay", type=Path, metavar="RUN_DIR", help="re-execute a step of a finished run")
    t.add_argument("--step", type=_positive, help="with --replay: the step to re-execute (1-based)")
    t.add_argument("--list", action="store_true", help="list the models and exit")
    t.set_defaults(func=cmd_train)

    d = sub.add_parser(
        "diloco",
        help="join (or start) a collaborative DiLoCo run on a relay",
        description="Join a node to a relay, wait --wait seconds for an announced run of --task and join "
        "it, or announce one. Prints one line per round: contributors, validation loss, bytes.",
    )
    d.add_argument("--task", default="charlm-tiny")
    d.add_argument("--relay", default=f"ws://127.0.0.1:{DEFAULT_PORT}/p2p", help="relay WebSocket URL")
    d.add_argument("--data-dir", type=Path, default=DEFAULT_DATA / "node", help="keeps the identity key")
    d.add_argument("--rounds", type=_non_negative, default=0, help="leave after N rounds (0 = never)")
    d.add_argument("--wait", type=float, default=6.0, help="seconds to listen for a run before founding one")
    d.add_argument("--inner-steps", type=_positive, help="this node's steps per round (default: the run's H)")
    d.add_argument("--H", type=_positive, default=50, help="founding: inner steps per round")
    d.add_argument("--codec", choices=("fp32", "int8", "topk"), default="int8", help="founding: deltas")
    d.add_argument("--aggregation", choices=("mean", "robust"), default="mean", help="founding")
    d.add_argument("--outer-lr", type=float, default=0.7, help="founding: outer Nesterov lr")
    d.add_argument("--momentum", type=float, default=0.9, help="founding: outer Nesterov momentum")
    d.add_argument("--deadline", type=float, default=120.0, help="founding: seconds per round at most")
    d.add_argument("--min-peers", type=_positive, default=1, help="founding: deltas to wait for per round")
    d.add_argument("--seed", type=_non_negative, default=0, help="founding: θ₀ and data seed")
    d.set_defaults(func=cmd_diloco)

    b = bsub.add_parser(
        "diloco",
        help="DiLoCo vs synchronous data-parallel at equal compute; runner speed vs torch",
        description="charlm-tiny, k=4 workers, equal inner steps: synchronous data-parallel (gradients "
        "averaged every step) against DiLoCo at H=50 and H=200 with fp32, int8 and top-k deltas, through "
        "the real protocol in memory; plus train steps/s of each model in onnxruntime, torch eager and "
        "onnxruntime-web (wasm, in a headless Chromium tab).",
    )
    b.add_argument("--json", action="store_true", help="JSON on stdout (the table always goes to stderr)")
    b.add_argument("--quick", action="store_true", help="a reduced run (under a minute)")
    b.add_argument("--steps", type=_positive, help="inner steps per worker (default 800; --quick 80)")
    b.add_argument("--workers", type=_positive, default=4)
    b.set_defaults(func=cmd_bench_diloco)


def cmd_train(args: argparse.Namespace) -> int:
    from pynode.train import solo
    from pynode.train.runner import open_runner
    from pynode.train.zoo import MODELS, get_model

    if args.list:
        for name, spec in MODELS.items():
            print(f"{name:20} {spec.n_params:>8} params  {spec.family} on {spec.dataset}")
        return 0
    if args.replay:
        if not args.step:
            raise CliError("--replay needs --step N")
        try:
            run = solo.SoloRun(args.replay)
            verdict = solo.verify_step(run, args.step, open_runner(run.spec, device=args.device, threads=args.threads))
        except (OSError, KeyError, ValueError, IndexError) as e:
            raise CliError(f"cannot replay {args.replay}: {e}") from None
        print(json.dumps(verdict.__dict__))
        return 0 if verdict.ok else 1
    try:
        spec = get_model(args.task)
        runner = open_runner(spec, device=args.device, threads=args.threads)
    except (KeyError, RuntimeError) as e:
        raise CliError(str(e).strip("'\"")) from None
    out = args.out or DEFAULT_DATA / "runs" / f"{args.task}-s{args.seed}"
    bar = solo.ProgressBar(args.steps)
    run = solo.train(
        spec, args.steps, out, args.seed, args.checkpoint_every, runner=runner, on_step=bar.update
    )
    rec = run.record
    print(
        f"{spec.name}: val loss {rec['final_val_loss']:.4f}, accuracy {rec['final_val_accuracy']:.3f} · "
        f"{len(rec['checkpoints'])} committed states in {out}",
        file=sys.stderr,
    )
    return 0


def cmd_diloco(args: argparse.Namespace) -> int:
    if not args.relay.startswith(("ws://", "wss://")):
        raise CliError(f"--relay must be a ws:// or wss:// URL, got {args.relay!r}")
    return _run(_diloco_main(args))


async def _diloco_main(args: argparse.Namespace) -> int:
    from pynode.identity import Identity
    from pynode.net.relay_client import RelayUnreachable
    from pynode.node import Node, NodeConfig
    from pynode.platform import current
    from pynode.runtime.diloco import DilocoPeer
    from pynode.train.diloco import RunSpec
    from pynode.train.zoo import MODELS

    if args.task not in MODELS:
        raise CliError(f"no model {args.task!r}; known: {', '.join(MODELS)}")
    identity = await Identity.load_or_create(args.data_dir)
    node = Node(identity, current().relay_link(args.relay), NodeConfig(caps=["relay", "research"]))
    peer = DilocoPeer(node, inner_steps=args.inner_steps)
    await node.start()
    try:
        await node.relay.wait_connected(timeout=5)
    except RelayUnreachable as e:
        await node.stop()
        raise CliError(str(e)) from None
    try:
        run_id = await peer.wait_for_run(args.task, args.wait)
        if run_id is not None:
            await peer.join(run_id)
            print(f"joined DiLoCo run {run_id.hex()} ({args.task})", file=sys.stderr)
        else:
            run = RunSpec(
                task=args.task, seed=args.seed, H=args.H, outer_lr=args.outer_lr, momentum=args.momentum,
                codec=args.codec, aggregation=args.aggregation, deadline_s=args.deadline,
                cert_timeout_s=max(5.0, args.deadline / 4), min_peers=args.min_peers,
                nonce=int.from_bytes(current().random_bytes(4), "big"),
            )  # fmt: skip
            run_id = await peer.found(run)
            print(
                f"started DiLoCo run {run_id.hex()} ({args.task}, H={args.H}, {args.codec})", file=sys.stderr
            )
        seen = 0
        while not args.rounds or seen < args.rounds:
            await peer.wait_round(seen + 1, timeout=10 * 24 * 3600)
            for e in peer.log[seen:]:
                print(
                    f"round {e.round:>4} · {e.contributors} deltas · {e.samples} samples · val loss "
                    f"{e.val_loss:.4f} · sent {e.bytes_sent / 1e6:.2f} MB · θ {e.theta_hash[:12]}",
                    file=sys.stderr,
                )
            seen = len(peer.log)
    finally:
        await peer.stop()
        await node.stop()
    return 0


def cmd_bench_diloco(args: argparse.Namespace) -> int:
    from bench.diloco import run_bench

    result = run_bench(quick=args.quick, steps=args.steps, workers=args.workers)
    return _report(args, result)


if __name__ == "__main__":
    sys.exit(main())
