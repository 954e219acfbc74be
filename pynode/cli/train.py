"""`hyperspace train` (one model alone, with committed checkpoints) and `hyperspace diloco` (a run with peers)."""

from __future__ import annotations

import argparse
import json
import sys
from array import array
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pynode.cli.common import DEFAULT_DATA, DEFAULT_PORT, CliError, non_negative, positive, relay_url, run

if TYPE_CHECKING:
    from pynode.runtime.diloco import DilocoPeer


def add_train(sub: Any) -> None:
    t = sub.add_parser(
        "train",
        help="train a model of the zoo alone, with committed checkpoints",
        description="Train a model (ONNX train-step graph in onnxruntime) with a progress bar. Every "
        "--checkpoint-every steps the full state is committed (θ hash, state hash, state file), so any step "
        "can be re-executed later: --replay RUN_DIR --step N does that and compares.",
    )
    t.add_argument("--task", default="digits-mlp", help="model (see --list)")
    t.add_argument("--steps", type=positive, default=500)
    t.add_argument("--seed", type=non_negative, default=0)
    t.add_argument("--checkpoint-every", type=positive, default=50)
    t.add_argument("--out", type=Path, help="run directory (default ~/.hyperspace/runs/TASK-sSEED)")
    t.add_argument("--device", choices=("cpu", "cuda", "auto"), default="cpu")
    t.add_argument("--threads", type=positive, default=1, help="runner threads (reproducible per count)")
    t.add_argument("--replay", type=Path, metavar="RUN_DIR", help="re-execute a step of a finished run")
    t.add_argument("--step", type=positive, help="with --replay: the step to re-execute (1-based)")
    t.add_argument("--list", action="store_true", help="list the models and exit")
    t.set_defaults(func=cmd_train)


def add_diloco(sub: Any) -> None:
    d = sub.add_parser(
        "diloco",
        help="join (or start) a collaborative DiLoCo run on a relay",
        description="Join a node to a relay, wait --wait seconds for an announced run of --task and join "
        "it, or announce one. Prints one line per round: contributors, validation loss, bytes.",
    )
    d.add_argument("--task", default="charlm-tiny")
    d.add_argument("--relay", default=f"ws://127.0.0.1:{DEFAULT_PORT}/p2p", help="relay WebSocket URL")
    d.add_argument("--data-dir", type=Path, default=DEFAULT_DATA / "node", help="keeps the identity key")
    d.add_argument("--rounds", type=non_negative, default=0, help="leave after N rounds (0 = never)")
    d.add_argument("--wait", type=float, default=6.0, help="seconds to listen for a run before founding one")
    d.add_argument("--inner-steps", type=positive, help="this node's steps per round (default: the run's H)")
    d.add_argument("--H", type=positive, default=50, help="founding: inner steps per round")
    d.add_argument(
        "--codec", choices=("fp32", "int8", "int4", "topk"), default="int8", help="founding: deltas"
    )
    d.add_argument("--aggregation", choices=("mean", "robust"), default="mean", help="founding")
    d.add_argument("--outer-lr", type=float, default=0.7, help="founding: outer Nesterov lr")
    d.add_argument("--momentum", type=float, default=0.9, help="founding: outer Nesterov momentum")
    d.add_argument("--deadline", type=float, default=120.0, help="founding: seconds per round at most")
    d.add_argument("--min-peers", type=positive, default=1, help="founding: deltas to wait for per round")
    d.add_argument("--seed", type=non_negative, default=0, help="founding: θ₀ and data seed")
    d.add_argument(
        "--init",
        type=Path,
        metavar="RUN_DIR",
        help="start from the last committed state of a `hyperspace train` run of the task (a warm start): "
        "founding, the run names it; joining, a run that names it is joined at round 0 (without it, after a round)",
    )
    d.add_argument(
        "--post-task",
        type=non_negative,
        default=0,
        metavar="SLOTS",
        help="founding: also post the run to the task board for SLOTS more nodes (they join when they take it)",
    )
    d.set_defaults(func=cmd_diloco)


def cmd_train(args: argparse.Namespace) -> int:
    from pynode.train import solo
    from pynode.train.runner import open_runner
    from pynode.train.zoo import MODELS, get_model

    if args.list:
        for name, spec in MODELS.items():
            print(f"{name:20} {spec.n_params:>8} params  {spec.family} on {spec.dataset}")
        return 0
    if args.replay:
        return _replay(args)
    try:
        spec = get_model(args.task)
        runner = open_runner(spec, device=args.device, threads=args.threads)
    except (KeyError, RuntimeError) as e:
        raise CliError(str(e).strip("'\"")) from None
    out = args.out or DEFAULT_DATA / "runs" / f"{args.task}-s{args.seed}"
    bar = solo.ProgressBar(args.steps)
    trained = solo.train(
        spec, args.steps, out, args.seed, args.checkpoint_every, runner=runner, on_step=bar.update
    )
    rec = trained.record
    print(
        f"{spec.name}: val loss {rec['final_val_loss']:.4f}, accuracy {rec['final_val_accuracy']:.3f} · "
        f"{len(rec['checkpoints'])} committed states in {out}",
        file=sys.stderr,
    )
    return 0


def _replay(args: argparse.Namespace) -> int:
    from pynode.train import solo
    from pynode.train.runner import open_runner

    if not args.step:
        raise CliError("--replay needs --step N")
    try:
        solo_run = solo.SoloRun(args.replay)
        runner = open_runner(solo_run.spec, device=args.device, threads=args.threads)
        verdict = solo.verify_step(solo_run, args.step, runner)
    except (OSError, KeyError, ValueError, IndexError) as e:
        raise CliError(f"cannot replay {args.replay}: {e}") from None
    print(json.dumps(verdict.__dict__))
    return 0 if verdict.ok else 1


DILOCO_STORAGE_BYTES = (
    64 * 1024 * 1024
)  # a diloco node's blobs: its shared states and a few peers' (in memory)


def cmd_diloco(args: argparse.Namespace) -> int:
    from pynode.train.zoo import MODELS

    relay_url(args.relay)
    if args.task not in MODELS:
        raise CliError(f"no model {args.task!r}; known: {', '.join(MODELS)}")
    return run(_diloco_main(args, _checkpoint(args.init, args.task)))


def _checkpoint(directory: Path | None, task: str) -> array | None:
    """θ of the last committed state of a `hyperspace train` run directory (`--init`), its hash checked."""
    from pynode.train import solo

    if directory is None:
        return None
    try:
        trained = solo.SoloRun(directory)
        state = trained.load_state(trained.checkpoints[-1].step)
    except (OSError, KeyError, ValueError, IndexError) as e:
        raise CliError(f"cannot start from {directory}: {e or 'no committed state'}") from None
    if trained.spec.name != task:
        raise CliError(f"{directory} trained {trained.spec.name}, not {task}")
    return state.theta


async def _diloco_main(args: argparse.Namespace, theta0: array | None) -> int:
    from pynode.identity import Identity
    from pynode.net.relay_client import RelayUnreachable
    from pynode.node import Node, NodeConfig
    from pynode.platform import current
    from pynode.runtime.diloco import DilocoPeer
    from pynode.runtime.services import ServicesRuntime
    from pynode.runtime.storage import StorageRuntime
    from pynode.services.storage.backend import MemoryBackend

    identity = await Identity.load_or_create(args.data_dir)
    node = Node(identity, current().relay_link(args.relay), NodeConfig(caps=["relay", "research"]))
    # recent outer states are shared as blobs: late joiners fetch them from every participant (in memory)
    services = ServicesRuntime(node, None)
    storage = StorageRuntime(node, services, MemoryBackend(), DILOCO_STORAGE_BYTES)
    peer = DilocoPeer(node, inner_steps=args.inner_steps, storage=storage)
    await node.start()
    try:
        await node.relay.wait_connected(timeout=5)
    except RelayUnreachable as e:
        await node.stop()
        raise CliError(str(e)) from None
    await services.start()
    await storage.start()
    replica = None
    try:
        founded = await _join_or_found(args, peer, theta0)
        if founded is not None and args.post_task:
            replica = await _post_task(node, founded, args.post_task)
        await _print_rounds(args, peer)
    finally:
        if replica is not None:
            await replica.stop()
        await peer.stop()
        await storage.stop()
        await services.stop()
        await node.stop()
    return 0


async def _join_or_found(args: argparse.Namespace, peer: DilocoPeer, theta0: array | None) -> Any:
    """Join an announced run of the task, or found one; returns the RunSpec when this node founded it."""
    from pynode.platform import current
    from pynode.train.diloco import RunSpec, checkpoint_hash

    run_id = await peer.wait_for_run(args.task, args.wait)
    if run_id is not None:
        await peer.join(run_id, theta0)
        init = peer.announced[run_id][0].init
        late = init is not None and (theta0 is None or checkpoint_hash(theta0) != init)
        how = f", from checkpoint {init.hex()[:12]}: not ours, so after its next round" if late else ""
        print(f"joined DiLoCo run {run_id.hex()} ({args.task}{how})", file=sys.stderr)
        return None
    spec = RunSpec(
        task=args.task, seed=args.seed, H=args.H, outer_lr=args.outer_lr, momentum=args.momentum,
        codec=args.codec, aggregation=args.aggregation, deadline_s=args.deadline,
        cert_timeout_s=max(5.0, args.deadline / 4), min_peers=args.min_peers,
        nonce=int.from_bytes(current().random_bytes(4), "big"),
        init=None if theta0 is None else checkpoint_hash(theta0),
    )  # fmt: skip
    run_id = await peer.found(spec, theta0)
    start = f", from checkpoint {spec.init.hex()[:12]}" if spec.init else ""
    print(
        f"started DiLoCo run {run_id.hex()} ({args.task}, H={args.H}, {args.codec}{start})", file=sys.stderr
    )
    return spec


async def _post_task(node: Any, run: Any, slots: int) -> Any:
    """Sign the run onto the task board (a replica of our own carries it); returns the replica to stop."""
    import time

    from pynode.platform import current
    from pynode.runtime.replica import StateReplica
    from pynode.state.store import Store

    replica = StateReplica(node, store=Store(node.peer_id, current()))
    await replica.start()
    body = {
        "kind": "diloco",
        "title": f"DiLoCo {run.task}, H={run.H}, {run.codec}",
        "spec": json.dumps({"run": run.run_id.hex(), "task": run.task}),
        "caps": ["research"],
        "memory_mb": 512,
        "compute_s": 600,
        "slots": slots,
        "expires": int((time.time() + 24 * 3600) * 1000),
    }
    record = await replica.publish("task", body)
    print(f"posted the run to the task board: task {record.key}", file=sys.stderr)
    return replica


async def _print_rounds(args: argparse.Namespace, peer: DilocoPeer) -> None:
    """One line per certified round until `--rounds` (or forever)."""
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
