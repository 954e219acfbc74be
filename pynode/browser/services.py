"""Capability services in a browser tab: the tab's node hosts inference (onnxruntime-web: the zoo's char-LM and
digits classifier) on the same `ServicesRuntime` as a CPython node, asks peers for what it lacks, and puts
`services` in the page's status (what it serves, requests served and refused, who served it).

app.py owns the node and browser/state.py the replica; `attach` must run before `node.start()` so the relay
hello names the capabilities. Other tab services host themselves on `services.runtime` the same way.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pynode.runtime.inference import InferenceHost
from pynode.runtime.services import ServicesRuntime
from pynode.runtime.storage import StorageRuntime
from pynode.services.storage.backend import MemoryBackend
from pynode.services.storage.limits import TAB_CAPACITY_BYTES

if TYPE_CHECKING:
    from pynode.node import Node
    from pynode.runtime.replica import StateReplica

log = logging.getLogger(__name__)
Event = Callable[..., None]


class BrowserServices:
    def __init__(self) -> None:
        self.runtime: ServicesRuntime | None = None
        self.inference: InferenceHost | None = None
        self.storage: StorageRuntime | None = None
        self.error = ""

    def attach(self, node: Node, replica: StateReplica | None, serve_inference: bool, event: Event) -> None:
        """Host the tab's services on `node` (before it starts)."""
        self.runtime = ServicesRuntime(node, replica, name="tab")
        # blobs in memory, bounded: a tab holds its share of the network's copies while it is open
        self.storage = StorageRuntime(node, self.runtime, MemoryBackend(), TAB_CAPACITY_BYTES)
        if serve_inference:
            try:
                # committed weights only: re-training the board's best here would take a tab a minute of CPU
                self.inference = InferenceHost(self.runtime, replica, follow_board=False)
            except Exception as e:
                log.exception("no inference in this tab")
                self.error = f"inference could not start: {e}"
                event("error", self.error)

    async def start(self) -> None:
        if self.runtime is not None:
            await self.runtime.start()
        if self.storage is not None:
            await self.storage.start()
        if self.inference is not None:
            await self.inference.start()

    async def detach(self) -> None:
        inference, runtime, storage = self.inference, self.runtime, self.storage
        self.inference = self.runtime = self.storage = None
        if storage is not None:
            await storage.stop()
        if inference is not None:
            await inference.stop()
        if runtime is not None:
            await runtime.stop()

    def status(self) -> dict[str, Any]:
        if self.runtime is None:
            return {"state": "off", "error": self.error} if self.error else {"state": "off"}
        out: dict[str, Any] = {"state": "on", **self.runtime.status()}
        if self.inference is not None:
            out["models"] = [m.describe() for m in self.inference.inference.models.values()]
            out["loading"] = not self.inference.ready.is_set()
            out["load_s"] = dict(self.inference.load_s)
        if self.storage is not None:
            out["storage"] = self.storage.status()
        if self.error:
            out["error"] = self.error
        return out


services = BrowserServices()
