"""`hyperspace node`: a CPython node that joins a relay, gossips and keeps a replica of the state."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from pynode.cli.common import DEFAULT_DATA, CliError, non_negative, peer_ids, relay_url, run
from pynode.cli.points import add_presence_options, pulse_runtime
from pynode.cli.research import add_research_options, ml_team, research_agent
from pynode.cli.review import add_review_options, node_store, review_agent
from pynode.cli.services import add_service_options, serve_extra, serve_knowledge
from pynode.cli.storage import add_storage_options, hosted_services, share_storage
from pynode.topics import DEMO_PULSE as DEMO_TOPIC


def add_node(sub: Any) -> None:
    n = sub.add_parser(
        "node",
        help="run a node that joins a relay",
        description="Run a CPython node: it joins the relay, connects to peers (relayed circuits, "
        "upgraded to direct WebRTC where possible) and gossips.",
    )
    n.add_argument(
        "--relay",
        action="append",
        required=True,
        help="relay WebSocket URL, e.g. ws://127.0.0.1:8787/p2p; repeat it to name relays to fail over to "
        "(the relay's welcome adds the rest of its federation)",
    )
    n.add_argument(
        "--data-dir", type=Path, default=DEFAULT_DATA / "node", help="keeps the identity key (0600)"
    )
    n.add_argument(
        "--caps",
        default="relay",
        help="comma-separated capabilities to advertise (research and validation are added while on)",
    )
    n.add_argument("--topic", action="append", default=None, help=f"topic to join (default {DEMO_TOPIC})")
    n.add_argument("--direct-peers", type=non_negative, default=4, help="peers to upgrade to WebRTC")
    n.add_argument("--ice-loopback", action="store_true", help="offer only 127.0.0.1 ICE candidates")
    n.add_argument(
        "--only-peers",
        type=peer_ids,
        default=None,
        metavar="ID[,ID...]",
        help="talk only to these peers (base32 peer ids): a private network on a public relay",
    )
    n.add_argument(
        "--pulse", type=float, default=0.0, help="publish a small message every N seconds (default 0: never)"
    )
    add_research_options(n, cpu_default=0.5)
    add_review_options(n, cpu_default=0.5)
    add_presence_options(n)
    add_storage_options(n, quota_mib=2048)
    add_service_options(n, api=True)
    n.set_defaults(func=cmd_node)


def cmd_node(args: argparse.Namespace) -> int:
    for url in args.relay:
        relay_url(url)
    caps = [c.strip() for c in args.caps.split(",") if c.strip()]
    if not args.no_research and "research" not in caps:
        caps.append("research")
    if not args.no_review and "validation" not in caps:
        caps.append("validation")
    return run(_node_main(args, caps))


async def _node_main(args: argparse.Namespace, caps: list[str]) -> int:
    from pynode.cli.status import status_loop
    from pynode.identity import Identity
    from pynode.net.relay_client import RelayUnreachable
    from pynode.node import Node, NodeConfig
    from pynode.platform import current
    from pynode.runtime.replica import StateReplica, load_store
    from pynode.runtime.sent import SentLog

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
    node = Node(identity, [current().relay_link(url) for url in args.relay], config)
    await SentLog(
        node, args.data_dir / "sent"
    ).open()  # what we published before a crash gets a second chance
    topics = args.topic or [DEMO_TOPIC]
    for t in topics:
        node.subscribe(t)
    store = node_store(identity.peer_id)
    # what we held before (and results `hyperspace research` made offline); our own writes are saved before
    # they are gossiped, so a crash never makes us sign a change id twice (peers would hold us faulty)
    await load_store(store, args.data_dir / "state")
    replica = StateReplica(node, store=store, save_to=args.data_dir / "state")
    agent = research_agent(replica, args, args.data_dir)
    reviewer = review_agent(replica, identity, args, caps)
    pulse = await pulse_runtime(node, replica, args, caps)
    hosted = hosted_services(node, replica, args, args.data_dir, args.research_cpu)
    share_storage(hosted, agent, reviewer)
    team = ml_team(node, agent, hosted)
    served = serve_extra(hosted.services, replica, args)
    knowledge = await serve_knowledge(hosted.services, replica, args, agent)
    await node.start()
    await replica.start()
    try:
        await node.relay.wait_connected(timeout=5 * len(args.relay))
    except RelayUnreachable as e:
        await node.stop()
        raise CliError(str(e)) from None
    print(f"node {identity.text} joined {node.relay.link.description}", file=sys.stderr)
    await hosted.start()
    print(f"  serving {hosted.describe() or 'no storage, no tasks'}", file=sys.stderr)
    await served.start()
    if served.describe():
        print(f"  serving {served.describe()}", file=sys.stderr)
    if knowledge is not None:
        await knowledge.start()
        print(
            f"  serving {knowledge.describe() or 'no embedding model (make web builds it)'}", file=sys.stderr
        )
    if agent is not None:
        await agent.start()
        print(f"  researching {', '.join(a.task.id for a in agent.agents)}", file=sys.stderr)
    if team is not None:
        await team.start()
        print(
            f"  training ml experiments as DiLoCo runs with peers on {', '.join(team.tasks)}", file=sys.stderr
        )
    if reviewer is not None:
        await reviewer.start()
        print("  validating: reviewing the results this node is drawn for", file=sys.stderr)
    if pulse is not None:
        await pulse.start()
        print(f"  presence: pulse rounds every {args.presence_interval} s", file=sys.stderr)
    try:
        await status_loop(
            [node],
            topics[0],
            args.pulse,
            replicas=[replica],
            agents=[agent],
            reviewers=[reviewer],
            pulses=[pulse],
        )
    finally:
        await served.stop()
        if knowledge is not None:
            await knowledge.stop()
        await hosted.stop()
        if agent is not None:
            await agent.stop()
        if team is not None:
            await team.stop()
        if reviewer is not None:
            await reviewer.stop()
        if pulse is not None:
            await pulse.stop()
        await replica.stop()
        await node.stop()
    return 0
