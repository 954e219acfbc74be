"""`hyperspace tasks`: post a task to the network's task board, and list the board.

Both join a relay with a short-lived node and replica (the identity under --data-dir signs what is posted).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

from pynode.cli.common import DEFAULT_DATA, CliError, peer_ids, positive, relay_url, run
from pynode.cli.research import DEFAULT_RELAY

SETTLE_S = 3.0  # after posting, stay this long so gossip and the next anti-entropy carry the record


def add_tasks(sub: Any) -> None:
    t = sub.add_parser("tasks", help="post to and list the task board", description=__doc__)
    tsub = t.add_subparsers(dest="tasks_command", required=True, metavar="ACTION")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--relay", default=DEFAULT_RELAY, help=f"relay WebSocket URL (default {DEFAULT_RELAY})"
    )
    common.add_argument("--data-dir", type=Path, default=DEFAULT_DATA / "tasks", help="identity that signs")
    common.add_argument("--sync-timeout", type=float, default=10.0, help="seconds to wait for the state")
    post = tsub.add_parser("post", parents=[common], help="sign a task onto the board")
    post.add_argument("--kind", choices=("diloco", "research"), required=True)
    post.add_argument("--title", required=True, help="one line people read on the board")
    post.add_argument("--spec", required=True, help="the run's or campaign's spec as JSON (or @FILE)")
    post.add_argument("--caps", default="research", help="required capabilities, comma-separated")
    post.add_argument("--memory", type=int, default=512, metavar="MIB", help="memory a node needs")
    post.add_argument(
        "--compute", type=positive, default=600, metavar="S", help="expected CPU-seconds per node"
    )
    post.add_argument("--slots", type=positive, default=1, help="nodes wanted")
    post.add_argument("--hours", type=float, default=24.0, help="how long the task stands")
    post.add_argument(
        "--orchestrators",
        type=peer_ids,
        default=None,
        metavar="ID[,ID...]",
        help="only these orchestrators may assign the task (default: any)",
    )
    post.set_defaults(func=cmd_tasks)
    ls = tsub.add_parser("list", parents=[common], help="the board: tasks, assignments, answers")
    ls.add_argument("--json", action="store_true", help="JSON on stdout instead of the table")
    ls.set_defaults(func=cmd_tasks)


def cmd_tasks(args: argparse.Namespace) -> int:
    relay_url(args.relay)
    body = _task_body(args) if args.tasks_command == "post" else None
    return run(_main(args, body))


def _task_body(args: argparse.Namespace) -> dict[str, Any]:
    spec = args.spec
    if spec.startswith("@"):
        try:
            spec = Path(spec[1:]).read_text()
        except OSError as e:
            raise CliError(f"cannot read {spec[1:]}: {e}") from None
    try:
        json.loads(spec)
    except ValueError as e:
        raise CliError(f"--spec is not JSON: {e}") from None
    return {
        "kind": args.kind,
        "title": args.title,
        "spec": spec,
        "caps": [c.strip() for c in args.caps.split(",") if c.strip()],
        "memory_mb": args.memory,
        "compute_s": args.compute,
        "slots": args.slots,
        "expires": int((time.time() + args.hours * 3600) * 1000),
        **({"orchestrators": sorted(args.orchestrators)} if args.orchestrators else {}),
    }


async def _main(args: argparse.Namespace, body: dict[str, Any] | None) -> int:
    from pynode.cli.review import _synced
    from pynode.identity import Identity, peer_id_text
    from pynode.net.relay_client import RelayUnreachable
    from pynode.node import Node, NodeConfig
    from pynode.platform import current
    from pynode.runtime.replica import StateReplica
    from pynode.runtime.tasks import read_board
    from pynode.state.store import Store
    from pynode.wire.errors import WireError

    identity = await Identity.load_or_create(args.data_dir)
    node = Node(identity, current().relay_link(args.relay), NodeConfig(caps=["relay"]))
    replica = StateReplica(node, store=Store(identity.peer_id, current()))
    await node.start()
    await replica.start()
    try:
        await node.relay.wait_connected(timeout=5)
        await _synced(replica, args.sync_timeout)
        if body is not None:
            try:
                record = await replica.publish("task", body)
            except WireError as e:
                raise CliError(f"the task does not fit the schema: {e}") from None
            await asyncio.sleep(SETTLE_S)
            print(f"posted task {record.key}")
            return 0
        now_ms = int(time.time() * 1000)
        states = read_board(replica.store.all_records, now_ms)[0].values()
        rows = [
            {
                "task": s.key,
                "kind": s.body["kind"],
                "title": s.body["title"],
                "status": s.status(now_ms),
                "slots": s.body["slots"],
                "epoch": s.epoch,
                "assigned": [peer_id_text(n) for n in s.nodes],
                "accepted": [peer_id_text(n) for n in s.accepted()],
                "declined": {peer_id_text(n): s.replies[n].body.get("reason", "") for n in s.declined_by},
            }
            for s in sorted(states, key=lambda s: -s.task.ts)
        ]
    except RelayUnreachable as e:
        raise CliError(str(e)) from None
    finally:
        await replica.stop()
        await node.stop()
    if args.json:
        print(json.dumps(rows))
    elif not rows:
        print("the board is empty", file=sys.stderr)
    for r in rows if not args.json else []:
        print(
            f"{r['task'][:16]}  {r['kind']:<8} {r['status']:<8} {len(r['accepted'])}/{r['slots']}  {r['title']}"
        )
        for n, why in r["declined"].items():
            print(f"    declined by {n[:16]}: {why}")
    return 0
