"""Capability services in a browser tab: the tab's node hosts inference (onnxruntime-web: the zoo's char-LM and
digits classifier) on the same `ServicesRuntime` as a CPython node, asks peers for what it lacks, and puts
`services` in the page's status (what it serves, requests served and refused, who served it).

app.py owns the node and browser/state.py the replica. The services load once the node joined (importing them
took seconds of a first visit before its relay hello): `announce` runs before `node.start()`, so the hello names
their capabilities and a request for them waits until `attach` hosted them. Other tab services host themselves
on `services.runtime` the same way.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from pynode.net.reqresp import RequestFailed
from pynode.services.limits import SERVICE_PROTO_PREFIX

if TYPE_CHECKING:
    from pynode.node import Node
    from pynode.runtime.inference import InferenceHost
    from pynode.runtime.replica import StateReplica
    from pynode.runtime.services import ServicesRuntime
    from pynode.runtime.storage import StorageRuntime

log = logging.getLogger(__name__)
Event = Callable[..., None]
# The caps `attach` hosts (the storage and inference services' names), named in the hello before they load;
# tests/test_browser_services_caps.py holds them to what `attach` hosts
STORAGE_CAP = "storage"
INFERENCE_CAP = "inference"


class BrowserServices:
    def __init__(self) -> None:
        self.runtime: ServicesRuntime | None = None
        self.inference: InferenceHost | None = None
        self.storage: StorageRuntime | None = None
        self.error = ""
        self._hosted = asyncio.Event()  # set once `attach` ran (or `detach`): held requests go on then

    def announce(self, node: Node, serve_inference: bool) -> None:
        """Before `node.start()`: name the services' caps in the relay hello, and hold each request for them
        until `attach` hosted them."""
        self._hosted = asyncio.Event()
        for name in (STORAGE_CAP, INFERENCE_CAP) if serve_inference else (STORAGE_CAP,):
            if name not in node.relay.caps:
                node.relay.caps.append(name)
            node.handle(SERVICE_PROTO_PREFIX + name, self._held(name))

    def _held(self, name: str) -> Callable[[bytes, bytes], Awaitable[bytes]]:
        hosted = self._hosted

        async def serve(peer: bytes, data: bytes) -> bytes:
            await hosted.wait()
            runtime = self.runtime
            if runtime is None or name not in runtime.servers:  # the tab left, or the service failed to load
                raise RequestFailed(f"{name} is not served here")
            return await runtime.serve(name, peer, data)

        return serve

    def attach(self, node: Node, replica: StateReplica | None, serve_inference: bool, event: Event) -> None:
        """Host the tab's services on `node` (after `announce`, once the node joined: imported here, not with
        this module, for that)."""
        from pynode.runtime.inference import InferenceHost
        from pynode.runtime.services import ServicesRuntime
        from pynode.runtime.storage import StorageRuntime
        from pynode.services.storage.backend import MemoryBackend
        from pynode.services.storage.limits import TAB_CAPACITY_BYTES

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
        self._hosted.set()

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
        self._hosted.set()  # requests still held: refused
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
            out["warming"] = not self.inference.warm.is_set()
            out["warm_s"] = dict(self.inference.warm_s)
            out["phases"] = {m.id: _phases(m.runner) for m in self.inference.inference.models.values()}
        if self.storage is not None:
            out["storage"] = self.storage.status()
        if self.error:
            out["error"] = self.error
        return out


def _phases(runner: Any) -> dict[str, float]:
    """Seconds the runner spent in each phase of its onnxruntime-web calls (platform/browser.py WebOrtRunner)."""
    return {phase: round(s, 2) for phase, s in getattr(runner, "phases", {}).items()}


services = BrowserServices()
