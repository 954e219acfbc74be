"""`hyperspace demo`: a relay and a few CPython nodes on this machine, with a live status line."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from pynode.cli.common import DEFAULT_PORT, CliError, port, positive, run
from pynode.cli.points import add_presence_options, pulse_runtime
from pynode.cli.relay import add_archive_args, archive_config, print_archive
from pynode.cli.research import add_research_options, ml_team, research_agent
from pynode.cli.review import add_review_options, node_store, review_agent
from pynode.cli.services import add_service_options, serve_extra, serve_knowledge
from pynode.cli.storage import add_storage_options, hosted_services, share_storage
from pynode.topics import DEMO_PULSE as DEMO_TOPIC


def add_demo(sub: Any) -> None:
    d = sub.add_parser(
        "demo",
        help="relay + a few nodes on this machine (what `make run` starts)",
        description="Start a relay and N CPython nodes on 127.0.0.1, print the URL to open in a browser, "
        "and show a live status line until Ctrl-C.",
    )
    d.add_argument("--port", type=port, default=DEFAULT_PORT, help=f"relay TCP port (default {DEFAULT_PORT})")
    d.add_argument("--nodes", type=positive, default=3, help="CPython nodes to start (default 3)")
    d.add_argument(
        "--data-dir", type=Path, default=Path("data/demo"), help="identities of the relay and nodes"
    )
    d.add_argument("--pulse", type=float, default=1.0, help="each node publishes every N seconds (default 1)")
    d.add_argument("--duration", type=float, default=0.0, help="stop after N seconds (0 = until Ctrl-C)")
    add_archive_args(d)
    # three nodes at 0.15 of a core each keep a 2-core machine responsive for the relay and a browser
    add_research_options(d, cpu_default=0.15)
    add_review_options(d, cpu_default=0.15)
    add_presence_options(d)
    add_storage_options(d, quota_mib=256)
    add_service_options(d, api=False)
    d.set_defaults(func=cmd_demo)


def cmd_demo(args: argparse.Namespace) -> int:
    return run(_demo_main(args))


async def _demo_main(args: argparse.Namespace) -> int:
    from pynode.cli.status import status_loop
    from relay_server.config import RelayConfig
    from relay_server.server import start_relay

    relay_cfg = RelayConfig(
        host="127.0.0.1",
        port=args.port,
        data_dir=args.data_dir / "relay",
        log_level="warning",
        presence_interval_s=args.presence_interval,
        **archive_config(args),
    )
    try:
        relay = await start_relay(relay_cfg)
    except OSError as e:
        raise CliError(f"cannot listen on 127.0.0.1:{args.port}: {e.strerror or e} (try --port)") from None
    url = f"http://127.0.0.1:{relay.port}/"
    nodes: list[Any] = []
    replicas: list[Any] = []
    agents: list[Any] = []
    reviewers: list[Any] = []
    pulses: list[Any] = []
    hosted: list[Any] = []
    try:
        await _start_nodes(args, relay.url, nodes, replicas, agents, reviewers, pulses, hosted)
        print(
            f"Hyperspace demo: relay + {args.nodes} nodes. Open {url} to join from a browser.",
            file=sys.stderr,
        )
        print(f"  identities under {args.data_dir.resolve()}  ·  Ctrl-C to stop", file=sys.stderr)
        print_archive(relay_cfg)
        if agents:
            print(
                f"  research: {', '.join(args.research)} at {args.research_cpu:g} CPU per node",
                file=sys.stderr,
            )
        await status_loop(
            nodes,
            DEMO_TOPIC,
            args.pulse,
            args.duration,
            replicas=replicas,
            agents=agents,
            reviewers=reviewers,
            pulses=pulses,
        )
    finally:
        for agent in [*hosted, *agents, *reviewers, *pulses]:
            await agent.stop()
        for replica in replicas:
            await replica.stop()
        for node in nodes:
            await node.stop()
        await relay.stop()
    return 0


async def _start_nodes(
    args: argparse.Namespace,
    url: str,
    nodes: list[Any],
    replicas: list[Any],
    agents: list[Any],
    reviewers: list[Any],
    pulses: list[Any],
    hosted: list[Any],
) -> None:
    """Start `args.nodes` nodes on `url`, appending each as it starts (so a failure stops those begun)."""
    from pynode.identity import Identity
    from pynode.node import Node, NodeConfig
    from pynode.platform import current
    from pynode.runtime.memory import related_work
    from pynode.runtime.replica import StateReplica, load_store
    from pynode.runtime.sent import SentLog

    for i in range(args.nodes):
        identity = await Identity.load_or_create(args.data_dir / f"node{i}")
        caps = [
            "relay",
            *([] if args.no_research else ["research"]),
            *([] if args.no_review else ["validation"]),
        ]
        node = Node(identity, current().relay_link(url), NodeConfig(caps=caps, ice_addresses=["127.0.0.1"]))
        await SentLog(node, args.data_dir / f"node{i}" / "sent").open()
        node.subscribe(DEMO_TOPIC)
        store = node_store(identity.peer_id)
        await load_store(store, args.data_dir / f"node{i}" / "state")  # as `hyperspace node` does
        replica = StateReplica(node, store=store, save_to=args.data_dir / f"node{i}" / "state")
        own = hosted_services(node, replica, args, args.data_dir / f"node{i}", args.research_cpu)
        hosted.append(own)
        services = own.services
        hosted.append(serve_extra(services, replica, args))  # inference (and a proxy if asked)
        # embedding and memory on the first node only: each copy of the model holds ~200 MB
        knowledge = await serve_knowledge(services, replica, args, None) if i == 0 else None
        if knowledge is not None:
            hosted.append(knowledge)
        await node.start()
        await replica.start()
        nodes.append(node)
        replicas.append(replica)
        agent = research_agent(replica, args, args.data_dir / f"node{i}", seed=i)
        if agent is not None:
            agent.config.related = related_work(services, replica.store)  # the first node's memory
            agents.append(agent)
        reviewer = review_agent(replica, identity, args, caps)
        share_storage(own, agent, reviewer)
        team = ml_team(node, agent, own)  # ml experiments train as DiLoCo runs with the other demo nodes
        if team is not None:
            hosted.append(team)
        if reviewer is not None:
            reviewers.append(reviewer)
        pulse = await pulse_runtime(node, replica, args, caps)
        if pulse is not None:
            pulses.append(pulse)
    for node in nodes:
        await node.relay.wait_connected(timeout=10)
    for agent in [*hosted, *agents, *reviewers, *pulses]:
        await agent.start()
