"""Presence in a browser tab: the tab's node takes part in pulse rounds and shows its points.

app.py owns the node and browser/state.py the replica; this module attaches a `PulseRuntime` to both (the VRF
runs on the pure-Python group, a proof in tens of milliseconds) and puts `presence` in the status the page
receives every second: points, rank, uptime factor, the last certified round and whether it counted us, and
the ledger's top nodes for the network page.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pynode.presence.params import Timing
from pynode.runtime.pulse import PulseConfig, PulseRuntime

if TYPE_CHECKING:
    from pynode.node import Node
    from pynode.runtime.replica import StateReplica

log = logging.getLogger(__name__)
TOP_SHOWN = 10  # nodes in the network page's list

Event = Callable[..., None]


class BrowserPresence:
    def __init__(self) -> None:
        self.runtime: PulseRuntime | None = None
        self.error = ""

    async def attach(
        self, node: Node, replica: StateReplica | None, caps: list[str], event: Event, interval_s: float = 90
    ) -> None:
        """Take part in rounds every `interval_s` (the network's: the page's `?rounds=`); call after
        `node.start()`. A tab without a replica or VRF key takes none."""
        if replica is None or node.identity.vrf is None:
            self.error = "no replicated state in this tab: no pulse rounds"
            return
        try:
            timing = Timing(interval_ms=int(interval_s * 1000))
            timing.check()
            self.runtime = PulseRuntime(node, replica, PulseConfig(timing, name="tab", caps=tuple(caps)))
            await self.runtime.start()
        except Exception as e:
            log.exception("no pulse rounds in this tab")
            self.error = f"pulse rounds could not start: {e}"
            self.runtime = None
            event("error", self.error)

    async def detach(self) -> None:
        if self.runtime is not None:
            runtime, self.runtime = self.runtime, None
            await runtime.stop()

    def status(self) -> dict[str, Any]:
        if self.runtime is None:
            return {"state": "off", "error": self.error} if self.error else {"state": "off"}
        return {"state": "on", **self.runtime.status(), "top": self.runtime.top(TOP_SHOWN)}


presence = BrowserPresence()
