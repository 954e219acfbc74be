"""`hyperspace bench …`: the benchmarks (bench/), each printing its table on stderr and, with --json, JSON."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from pynode.cli.common import CliError, add_json_flag, non_negative, positive, report


def add_bench(sub: Any) -> None:
    b = sub.add_parser(
        "bench",
        help="benchmarks that print a table (and JSON with --json)",
        description="Run a benchmark: gossip (ours vs py-libp2p, or the simulator at scale), browser, "
        "state, diloco, train, research, vrf, presence, chaos, services, relay.",
    )
    bsub = b.add_subparsers(dest="bench", required=True, metavar="BENCH")
    _add_gossip(bsub)
    _add_browser(bsub)
    _add_state(bsub)
    _add_diloco(bsub)
    _add_train(bsub)
    _add_review(bsub)
    _add_research(bsub)
    _add_vrf(bsub)
    _add_presence(bsub)
    _add_chaos(bsub)
    _add_services(bsub)
    _add_relay(bsub)


def _add_gossip(bsub: Any) -> None:
    g = bsub.add_parser(
        "gossip",
        help="our GossipSub against py-libp2p's on the same topology and schedule",
        description="Real nodes on loopback, ours and py-libp2p's (in its own venv), same topology and "
        "message schedule; or, with --sim, the simulator at scale (10%% loss, 20%% churn).",
    )
    add_json_flag(g)
    g.add_argument("--sim", action="store_true", help="run the discrete-event simulator instead")
    g.add_argument("--nodes", type=positive, default=None, help="nodes (default 10; --sim: 10000)")
    g.add_argument("--messages", type=positive, default=None, help="messages (default 500; --sim: 100)")
    g.add_argument("--size", type=positive, default=1024, help="payload bytes (default 1024)")
    g.add_argument("--seed", type=int, default=1)
    g.add_argument("--skip-libp2p", action="store_true", help="measure ours only")
    g.set_defaults(func=cmd_gossip)


def _add_browser(bsub: Any) -> None:
    br = bsub.add_parser(
        "browser",
        help="the browser node: boot, join, gossip latency, data-channel throughput",
        description="Fresh headless Chromium launches against a relay with two CPython nodes: Pyodide boot, "
        "our start-up on top of it, navigation to joined on a first and a second visit of one profile (and the "
        "CPU Chromium used until the first joined), when "
        "each boot phase ended, gossip latency browser→py beside py→py, and "
        "request/response throughput over the direct data channel both ways.",
    )
    add_json_flag(br)
    br.add_argument("--launches", type=positive, default=5, help="fresh browser launches (default 5)")
    br.add_argument(
        "--against",
        type=Path,
        default=None,
        help="another built web/dist (an older commit's), launched in turn with this tree's in the same run and "
        "compared launch by launch (the median difference, and how many launches each build won)",
    )
    br.set_defaults(func=cmd_browser)


def _add_state(bsub: Any) -> None:
    s = bsub.add_parser(
        "state",
        help="replicated state: convergence, cold start, bytes per record, archive lag, a tab's cold start",
        description="Simulated transport with real Loro documents (100 nodes, 10%% loss, 20%% churn), a "
        "real cold start, and a real Git archiver pushing to a local bare repository every 5 s.",
    )
    add_json_flag(s)
    s.add_argument("--nodes", type=positive, default=100)
    s.add_argument("--records", type=positive, default=200)
    s.add_argument("--churn", type=float, default=0.2)
    s.add_argument("--loss", type=float, default=0.1)
    s.add_argument("--seed", type=int, default=1)
    s.add_argument("--archive-interval", type=float, default=5.0, help="seconds between archive pushes")
    s.add_argument("--tab-records", type=int, default=5000,
                   help="records of the tab cold start (headless Chromium; 0 leaves it out)")  # fmt: skip
    s.set_defaults(func=cmd_state)


def _add_train(bsub: Any) -> None:
    from pynode.train.zoo import MODELS

    b = bsub.add_parser(
        "train",
        help="train steps/s of every zoo model in CPython and in a browser tab, and their ratio",
        description="onnxruntime (CPU, 1 thread) against onnxruntime-web (wasm, 1 thread, in a headless "
        "Chromium tab running the built web app), one step per graph call and k steps per call as training "
        "runs them; the target is tab / CPython >= 0.4 for every model.",
    )
    add_json_flag(b)
    b.add_argument("--quick", action="store_true", help="the two base models, shorter (about two minutes)")
    b.add_argument("--model", action="append", choices=list(MODELS), help="only these models (repeatable)")
    b.add_argument("--profile", action="store_true",
                   help="instead: one train step's time per operator in each runtime (default models: the "
                   "lowest ratio of each family)")  # fmt: skip
    b.add_argument("--against", type=Path, metavar="DIR",
                   help="instead: this build's train graphs against the ones in DIR (an older commit's "
                   "pynode/train/graphs), taking turns in each runtime; one step's time on each side (default "
                   "models: the GELU ones of each family)")  # fmt: skip
    b.add_argument("--threads", type=positive, default=1,
                   help="with --against: onnxruntime's intra-op threads on each side (default 1, as the runners "
                   "train: a run repeats bit for bit only at a fixed count)")  # fmt: skip
    b.set_defaults(func=cmd_train)


def cmd_train(args: argparse.Namespace) -> int:
    if args.against is not None:
        if args.profile:
            raise SystemExit("--against and --profile are two different runs: choose one")
        if not args.against.is_dir():
            raise SystemExit(f"--against {args.against}: not a folder")
        from bench.train_graphs import run_against

        quick = {"seconds": 1.0, "rounds": 2} if args.quick else {}
        return report(args, run_against(args.against, args.model, threads=args.threads, **quick))
    if args.threads != 1:
        raise SystemExit("--threads is for --against: training runs on one thread on each side")
    if args.profile:
        from bench.train_profile import run_profile

        return report(args, run_profile(args.model, seconds=1.0 if args.quick else 3.0))
    from bench.train_speed import run_bench

    return report(args, run_bench(quick=args.quick, models=args.model))


def _add_diloco(bsub: Any) -> None:
    b = bsub.add_parser(
        "diloco",
        help="DiLoCo vs synchronous data-parallel at equal compute; runner speed vs torch",
        description="charlm-tiny, k=4 workers, equal inner steps on a cosine lr schedule, both arms from one "
        "synchronously warm-started checkpoint: synchronous data-parallel (gradients averaged every step) "
        "against DiLoCo over a sweep of H, delta codec (fp32, int8, int4, top-k) and outer learning rate and "
        "momentum, through the real protocol on the simulation kernel, each scored by its mean loss over "
        "several seeds (with the 95% interval of its ratio to the baseline's), with the best configuration "
        "within 2% of the baseline's; plus train steps/s of each "
        "model in onnxruntime, torch eager and onnxruntime-web (wasm, in a headless Chromium tab). The full "
        "run takes about 45 minutes on 2 cores (measured: 44.7).",
    )
    add_json_flag(b)
    b.add_argument("--quick", action="store_true", help="a reduced run (about a minute)")
    b.add_argument("--steps", type=positive, help="inner steps per worker (default 800; --quick 80)")
    b.add_argument("--workers", type=positive, default=4)
    b.add_argument("--jobs", type=positive, help="configurations run at once (default: one per CPU core)")
    b.add_argument("--seed", type=int, default=5, help="the first seed (θ₀ and batches; default 5)")
    b.add_argument(
        "--seeds", type=positive, help="how many seeds in a row each arm is run on (default 5; --quick 1)"
    )
    b.add_argument(
        "--warm-start", type=non_negative, metavar="STEPS",
        help="synchronous steps from θ₀ to the checkpoint both arms start from (default 400; --quick 20; 0: θ₀)",
    )  # fmt: skip
    b.add_argument(
        "--dataset", metavar="NAME",
        help="the text both arms train and are scored on: charlm (the default, the model's own generated text) "
        "or cranfield (real abstracts, far from the model's loss floor at this run length)",
    )  # fmt: skip
    b.add_argument(
        "--lr", type=inner_lr, metavar="LR",
        help="both arms' peak inner learning rate (default: the model's, 3e-3, chosen at the default length and "
        "text; tune it on other seeds for another)",
    )  # fmt: skip
    b.add_argument(
        "--sync-lr", type=inner_lr, metavar="LR",
        help="the synchronous baseline's peak learning rate alone (default: --lr), to score DiLoCo against a "
        "baseline tuned on its own",
    )  # fmt: skip
    b.add_argument(
        "--config", type=diloco_config, action="append", dest="configs", metavar="H,CODEC,LR,MU",
        help="a DiLoCo configuration to run instead of the sweep (repeatable), e.g. 200,int8,1,0: inner steps "
        "per round, delta codec (fp32, int8, int4, topk), outer learning rate, outer momentum",
    )  # fmt: skip
    b.set_defaults(func=cmd_diloco)


def inner_lr(text: str) -> float:
    from pynode.train.schedule import MAX_INNER_LR

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 < value <= MAX_INNER_LR:
        raise argparse.ArgumentTypeError(f"{text!r}: want 0 < LR ≤ {MAX_INNER_LR:g}")
    return value


def diloco_config(text: str) -> tuple[int, str, float, float]:
    """One `--config H,CODEC,LR,MU` of `bench diloco`."""
    from pynode.train.compress import CODECS

    parts = text.split(",")
    if len(parts) != 4:
        raise argparse.ArgumentTypeError(f"{text!r}: want H,CODEC,LR,MU, e.g. 200,int8,1,0")
    H, codec, lr, mu = parts
    if codec not in CODECS:
        raise argparse.ArgumentTypeError(f"{text!r}: codec {codec!r} is none of {', '.join(CODECS)}")
    try:
        config = (positive(H), codec, float(lr), float(mu))
    except (ValueError, argparse.ArgumentTypeError):
        raise argparse.ArgumentTypeError(f"{text!r}: want a whole H ≥ 1 and numbers LR and MU") from None
    if not (0 < config[2] <= 10 and 0 <= config[3] < 1):
        raise argparse.ArgumentTypeError(f"{text!r}: want 0 < LR ≤ 10 and 0 ≤ MU < 1")
    return config


def _add_review(bsub: Any) -> None:
    r = bsub.add_parser(
        "review",
        help="peer review under attack: planted fabrications, colluding validators, true/false breakthroughs",
        description="A simulated network (the simulation kernel; real records, signatures, VRF sortition and "
        "re-execution) with planted fabrications among genuine improvements and colluders at a share of the "
        "validators: true and false breakthroughs, reviews per result, review latency.",
    )
    add_json_flag(r)
    r.add_argument("--quick", action="store_true", help="a reduced run (30 nodes, a few minutes)")
    r.add_argument("--nodes", type=positive, default=100)
    r.add_argument("--genuine", type=positive, default=150, help="honest experiments (default 150)")
    r.add_argument("--planted", type=positive, default=60, help="colluders' planted claims (default 60)")
    r.add_argument("--colluders", type=float, default=0.2, help="share of validators colluding (default 0.2)")
    r.add_argument("--seed", type=int, default=1)
    r.add_argument("--runs", type=positive, default=1, help="independent networks, pooled (default 1)")
    r.set_defaults(func=cmd_review)


def cmd_gossip(args: argparse.Namespace) -> int:
    from bench.gossip import run_bench

    result = run_bench(
        sim=args.sim,
        nodes=args.nodes,
        messages=args.messages,
        size=args.size,
        seed=args.seed,
        with_libp2p=not args.skip_libp2p,
    )
    return report(args, result)


def cmd_browser(args: argparse.Namespace) -> int:
    from bench.browser import run_bench

    return report(args, run_bench(launches=args.launches, against=args.against))


def cmd_state(args: argparse.Namespace) -> int:
    from bench.state import run_bench

    result = run_bench(
        nodes=args.nodes,
        records=args.records,
        churn=args.churn,
        loss=args.loss,
        seed=args.seed,
        archive_interval_s=args.archive_interval,
        tab_records=args.tab_records,
    )
    return report(args, result)


def cmd_diloco(args: argparse.Namespace) -> int:
    from bench.diloco import TASK, inner_steps, run_bench
    from pynode.train.diloco import DATASETS
    from pynode.train.zoo import get_model

    texts = DATASETS[get_model(TASK).family]
    if args.dataset is not None and args.dataset not in texts:
        raise CliError(f"no dataset {args.dataset!r} for {TASK}; one of {', '.join(texts)}")
    steps = inner_steps(args.quick, args.steps)
    for h, *_ in args.configs or ():
        if h > steps:
            raise CliError(
                f"--config H={h} is more than the {steps} inner steps a worker takes: no round ends"
            )

    result = run_bench(
        quick=args.quick, steps=args.steps, workers=args.workers, jobs=args.jobs, seed=args.seed,
        seeds=args.seeds, warm=args.warm_start, dataset=args.dataset, configs=args.configs, lr=args.lr,
        sync_lr=args.sync_lr,
    )  # fmt: skip
    return report(args, result)


def _add_research(bsub: Any) -> None:
    r = bsub.add_parser(
        "research",
        help="our research strategy against random search, per domain",
        description="For each domain's main task: 4 agents with the built-in strategy sharing results through "
        "real replicated state against 4 random-search agents sharing the same way, equal experiment budget, "
        "several repetitions; best metric reached (mean, CI), Welch p, experiments to reach random search's "
        "final best, baseline and reference.",
    )
    add_json_flag(r)
    r.add_argument("--quick", action="store_true", help="a short run (budget ≤ 10, 3 repetitions)")
    r.add_argument("--domain", action="append", default=None, help="only these domains (repeatable)")
    r.add_argument("--budget", type=positive, default=24, help="experiments per campaign (default 24)")
    r.add_argument("--repetitions", type=positive, default=10, help="independent repetitions (default 10)")
    r.add_argument("--agents", type=positive, default=4, help="agents per side (default 4)")
    r.set_defaults(func=cmd_research)


def cmd_research(args: argparse.Namespace) -> int:
    from bench.research import run_bench

    result = run_bench(args.domain, args.budget, args.repetitions, args.agents, quick=args.quick)
    return report(args, result)


def _add_vrf(bsub: Any) -> None:
    v = bsub.add_parser(
        "vrf",
        help="ECVRF prove/verify times: libsodium, pure Python, and (--browser) Pyodide",
        description="Time RFC 9381 ECVRF proofs and verifications on each Ed25519 group backend.",
    )
    add_json_flag(v)
    v.add_argument("--rounds", type=positive, default=50, help="proofs per CPython backend (default 50)")
    v.add_argument("--browser", action="store_true", help="also measure in Pyodide (headless Chromium)")
    v.add_argument("--browser-rounds", type=positive, default=20, help="proofs in the tab (default 20)")
    v.set_defaults(func=cmd_vrf)


def cmd_vrf(args: argparse.Namespace) -> int:
    from bench.vrf import run_bench

    return report(args, run_bench(args.rounds, args.browser, args.browser_rounds))


def cmd_review(args: argparse.Namespace) -> int:
    from bench.review import run_bench

    result = run_bench(
        nodes=args.nodes,
        genuine=args.genuine,
        planted=args.planted,
        colluder_share=args.colluders,
        seed=args.seed,
        runs=args.runs,
        quick=args.quick,
    )
    return report(args, result)


def _add_presence(bsub: Any) -> None:
    p = bsub.add_parser(
        "presence",
        help="pulse rounds at scale: certification, latency, failover, cheaters, Sybils, recomputed points",
        description="The presence scenario on the simulation kernel (real Ed25519 and ECVRF): 1,000 nodes, 90 s "
        "rounds, four cheaters, ten Sybils behind one address, the first leader crashed in one round; the "
        "points recomputed from the certificates against what the leaders published.",
    )
    add_json_flag(p)
    p.add_argument("--nodes", type=positive, default=1000)
    p.add_argument("--rounds", type=positive, default=5)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument(
        "--browser",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="time VRF proofs in a Pyodide tab too (headless Chromium; the default, --no-browser skips it)",
    )
    p.set_defaults(func=cmd_presence)


def cmd_presence(args: argparse.Namespace) -> int:
    from bench.presence import run_bench

    return report(args, run_bench(args.nodes, args.rounds, seed=args.seed, browser=args.browser))


def _add_chaos(bsub: Any) -> None:
    c = bsub.add_parser(
        "chaos",
        help="relay and nodes as real processes under kills, a lossy link and a Byzantine node: is anything lost?",
        description="A relay archiving to a local bare Git repository and honest CPython nodes, each its own "
        "process, for 5 minutes under scripted faults: nodes SIGKILLed and restarted, the relay SIGKILLed "
        "mid-archive and restarted, every node's relay link through a lossy, slow proxy, and a Byzantine "
        "node running a rotation of attacks; gossip delivery, records on every replica and in the archive, "
        "records lost, honest nodes the relay disconnected, memory.",
    )
    add_json_flag(c)
    c.add_argument("--quick", action="store_true", help="a short run (25 s of faults, about a minute)")
    c.add_argument("--duration", type=float, default=None, help="seconds of faults (default 300; --quick 25)")
    c.add_argument("--nodes", type=positive, default=8, help="honest nodes (default 8)")
    c.add_argument("--seed", type=int, default=1)
    c.add_argument("--keep", type=Path, default=None, help="keep logs and data in this folder")
    c.set_defaults(func=cmd_chaos)


def cmd_chaos(args: argparse.Namespace) -> int:
    from bench.chaos import run_bench

    result = run_bench(
        quick=args.quick, duration_s=args.duration, nodes=args.nodes, seed=args.seed, keep=args.keep
    )
    return report(args, result)


def _add_services(bsub: Any) -> None:
    s = bsub.add_parser(
        "services",
        help="the capability services: inference through a peer vs in-process, the OpenAI API, storage, ...",
        description="Inference: the char-LM's tokens per second in-process and streamed from a peer in the same "
        "run (ratio, p99 of short completions), the openai package against --api; with --browser, the backend "
        "a Chromium tab's inference ran on. Storage: fetch MiB/s and replicas after 30%% churn.",
    )
    add_json_flag(s)
    s.add_argument("--quick", action="store_true", help="fewer tokens, calls and blobs")
    s.add_argument(
        "--only", action="append", default=None, metavar="PART", help="run only this part (repeatable)"
    )
    s.add_argument("--browser", action="store_true", help="also measure inference in a headless Chromium tab")
    s.set_defaults(func=cmd_services)


def cmd_services(args: argparse.Namespace) -> int:
    from bench.services import PARTS, run_bench

    unknown = [p for p in args.only or [] if p not in PARTS]
    if unknown:
        raise CliError(f"--only: unknown part(s) {unknown}; parts: {', '.join(PARTS)}")
    return report(args, run_bench(quick=args.quick, parts=args.only, browser=args.browser))


def _add_relay(bsub: Any) -> None:
    r = bsub.add_parser(
        "relay",
        help="what one relay holds: peers, hello and circuit latency, circuit MiB/s, memory; echo ceiling",
        description="Light clients on loopback (real signed hellos, in separate load processes) against a real "
        "`hyperspace relay` process and, in the same run, a plain Starlette WebSocket echo server (the "
        "ceiling): peers held, hello → welcome p99, circuit frame p99 and MiB/s, RSS per 1,000 peers; then three "
        "federated relay processes with real nodes, one SIGKILLed: gossip delivery, fail-over p99, a cross-relay "
        "direct channel.",
    )
    add_json_flag(r)
    r.add_argument("--quick", action="store_true", help="300 peers, short phases (about a minute)")
    r.add_argument("--peers", type=positive, default=None, help="light clients (default 2000; --quick 300)")
    r.add_argument("--workers", type=positive, default=None, help="load processes (default 2; --quick 1)")
    r.add_argument("--pairs", type=positive, default=None, help="circuit pairs (default 16; --quick 8)")
    r.add_argument("--skip-echo", action="store_true", help="measure the relay only")
    r.add_argument(
        "--no-federation", action="store_true", help="skip the three-relay part (fail-over, delivery)"
    )
    r.add_argument("--profile", type=Path, default=None, metavar="DIR", help="run the relay under cProfile")
    r.set_defaults(func=cmd_relay)


def cmd_relay(args: argparse.Namespace) -> int:
    from bench.relay import run_bench

    result = run_bench(
        quick=args.quick,
        peers=args.peers,
        workers=args.workers,
        pairs=args.pairs,
        profile_dir=args.profile,
        skip_echo=args.skip_echo,
        federation=not args.no_federation,
    )
    return report(args, result)
