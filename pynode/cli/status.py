"""The live status line that `node` and `demo` print while they run, and the demo pulse they publish."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import TYPE_CHECKING, Any

from pynode.cli.points import presence_part
from pynode.cli.research import research_part
from pynode.cli.review import review_part

if TYPE_CHECKING:
    from pynode.node import Node
    from pynode.runtime.replica import StateReplica
    from pynode.runtime.research import ResearchAgent
    from pynode.runtime.review import ReviewAgent


async def status_loop(
    nodes: list[Node],
    topic: str,
    pulse_s: float,
    duration: float = 0.0,
    replicas: list[StateReplica] | None = None,
    agents: list[ResearchAgent | None] | None = None,
    reviewers: list[ReviewAgent | None] | None = None,
    pulses: list[Any] | None = None,
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
            line = status_line([n.stats() for n in nodes], topic) + _state_part(replicas or [])
            line += research_part(agents or []) + review_part(reviewers or []) + presence_part(pulses or [])
            print(("\r\x1b[2K" + line) if tty else line, end="" if tty else "\n", file=sys.stderr, flush=True)
        await asyncio.sleep(1.0)
    if tty:
        print(file=sys.stderr)


def status_line(stats: list[dict[str, Any]], topic: str) -> str:
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


def _state_part(replicas: list[StateReplica]) -> str:
    if not replicas:
        return ""
    states = [r.status() for r in replicas]
    synced = sum(s["sync"] == "synced" for s in states)
    return f" · state {max(s['records'] for s in states)} records, {synced}/{len(states)} synced"
