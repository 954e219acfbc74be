"""`hyperspace peers`: who offers a capability — signed profiles from the network's state, and the caps nodes
announced to the relay (online now)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

from pynode.cli.common import DEFAULT_DATA, CliError, relay_url, run
from pynode.cli.research import DEFAULT_RELAY


def add_peers(sub: Any) -> None:
    p = sub.add_parser(
        "peers",
        help="list the nodes that offer a capability",
        description="Join the relay, sync the signed profiles and list the nodes offering --cap (with the "
        "limits their profile advertises) and whether each is online at the relay now (as the relay announces "
        "peers: every connected node while it holds at most 64, a random 64 of them beyond that).",
    )
    p.add_argument("--relay", default=DEFAULT_RELAY, help=f"relay WebSocket URL (default {DEFAULT_RELAY})")
    p.add_argument("--cap", default=None, help="capability, e.g. inference (default: every node)")
    p.add_argument("--data-dir", type=Path, default=DEFAULT_DATA / "peers", help="identity used to join")
    p.add_argument("--sync-timeout", type=float, default=10.0, help="seconds to wait for the state")
    p.add_argument("--json", action="store_true", help="JSON on stdout instead of the table")
    p.set_defaults(func=cmd_peers)


def cmd_peers(args: argparse.Namespace) -> int:
    relay_url(args.relay)
    rows = run_rows(args)
    if args.json:
        print(json.dumps(rows))
        return 0
    if not rows:
        print(f"no node offers {args.cap}" if args.cap else "no node known", file=sys.stderr)
        return 0
    print(f"{'peer':<54} {'name':<16} {'online':<6} limits / facts")
    for r in rows:
        facts = " ".join(f"{k}={v}" for k, v in r["service"].items()) if args.cap else ",".join(r["caps"])
        print(f"{r['peer']:<54} {r['name'][:16]:<16} {'yes' if r['online'] else 'no':<6} {facts}")
    return 0


def run_rows(args: argparse.Namespace) -> list[dict[str, Any]]:
    holder: list[list[dict[str, Any]]] = []

    async def main() -> int:
        holder.append(await _rows(args))
        return 0

    run(main())
    return holder[0] if holder else []


async def _rows(args: argparse.Namespace) -> list[dict[str, Any]]:
    from pynode.cli.review import _synced
    from pynode.identity import Identity, peer_id_text
    from pynode.net.relay_client import RelayUnreachable
    from pynode.node import Node, NodeConfig
    from pynode.platform import current
    from pynode.runtime.replica import StateReplica
    from pynode.services.profile import newest_profiles, offers
    from pynode.state.store import Store

    identity = await Identity.load_or_create(args.data_dir)
    node = Node(identity, current().relay_link(args.relay), NodeConfig(caps=["relay"], direct_peers=0))
    replica = StateReplica(node, store=Store(identity.peer_id, current()))
    await node.start()
    await replica.start()
    try:
        await node.relay.wait_connected(timeout=5)
        deadline = time.monotonic() + args.sync_timeout
        await _synced(replica, args.sync_timeout)
        await asyncio.sleep(min(1.0, max(0.0, deadline - time.monotonic())))  # profiles gossiped meanwhile
        online = dict(node.relay.peers)
        records = replica.store.all_records("identities")
    except RelayUnreachable as e:
        raise CliError(str(e)) from None
    finally:
        await replica.stop()
        await node.stop()
    rows = []
    if args.cap:
        listed = {o.peer: o for o in offers(records, args.cap)}
        for peer, caps in online.items():  # online nodes that announced it but whose profile we lack
            if args.cap in caps and peer not in listed:
                rows.append(
                    {"peer": peer_id_text(peer), "name": "", "online": True, "caps": caps, "service": {}}
                )
        for o in listed.values():
            caps = newest_profiles(records)[o.peer].body["caps"]
            row = {"peer": peer_id_text(o.peer), "name": o.name, "online": o.peer in online, "caps": caps}
            rows.append({**row, "service": dict(o.entry)})
    else:
        for peer, r in newest_profiles(records).items():
            caps = r.body["caps"]
            row = {"peer": peer_id_text(peer), "name": r.body["name"], "online": peer in online, "caps": caps}
            rows.append({**row, "service": {}})
    return sorted(rows, key=lambda r: (not r["online"], r["peer"]))
