"""The node inside a browser tab's worker: start, leave, join, publish; status and events for the page.

web/worker.js boots Pyodide, imports this module and hands every message from the page to `on_message`.
Messages to the page: {type: "status", status}, {type: "event", event}, and the WebRTC bridge's requests.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import sys
import time
from collections.abc import Callable
from typing import Any

from pynode.browser import research as browser_research
from pynode.browser.research import research
from pynode.browser.services import services
from pynode.browser.train import training
from pynode.identity import Identity, peer_id_text, short_id
from pynode.node import Node, NodeConfig
from pynode.pace import MIN_SHARE, CpuBudget
from pynode.platform import browser, browser_files
from pynode.wire.envelope import Envelope
from pynode.wire.errors import WireError

STATUS_INTERVAL_S = 1.0
RUNTIMES_WAIT_S = 30.0  # the runtimes start once the node joined, or after this long without a relay
KEY_NAME = "node-seed"  # IndexedDB entry of this profile's key seed (the old "identity" held a CryptoKey)
CONFORMANCE_KEY = "conformance-seed"  # the entry the conformance suite's key-storage check uses
PREVIEW_CHARS = 120
# What the tab loads once it joined, not before (the state replica's chain alone imports most of the node's
# modules: presence, ledger, review, research policy): the status shows each as it says when it is off until then
LATER = {
    "replica": (
        "pynode.browser.state",
        {"sync": "off", "records": 0, "by_doc": {}, "leaderboards": [], "lineage": {}},
    ),
    "presence": ("pynode.browser.presence", {"state": "off"}),
    "review": ("pynode.browser.review", {"state": "off"}),
}
# and what the services, training and the VRF import on first use (all of it goes into the boot snapshot)
LOADED_ON_USE = (
    "pynode.runtime.inference",
    "pynode.runtime.services",
    "pynode.runtime.storage",
    "pynode.runtime.memory",
    "pynode.runtime.diloco",
    "pynode.platform.pure_ed25519",
)
log = logging.getLogger(__name__)


def preload() -> None:
    """Import all the tab loads once it started: the boot snapshot (web/snapshot-worker.js) holds it, so a
    later visit has it at hand."""
    for module in [m for m, _ in LATER.values()] + list(LOADED_ON_USE):
        importlib.import_module(module)


def _loaded(section: str) -> Any | None:
    """The module behind a `LATER` section, once the tab loaded it."""
    return sys.modules.get(LATER[section][0])


def _later(section: str, status: Callable[[Any], dict[str, Any]]) -> dict[str, Any]:
    """A status section from its module once loaded, its `LATER` form before."""
    module = _loaded(section)
    return status(module) if module is not None else dict(LATER[section][1])


class BrowserApp:
    def __init__(self) -> None:
        self.config: dict[str, Any] = {}
        self.identity: Identity | None = None
        self.node: Node | None = None
        self.state = "booting"
        self.error = ""
        # Pyodide's own boot (or its restore from this profile's snapshot: web/boot-snapshot.js), then ours:
        # loading our wheels, starting the node, joining the relay
        self.boot: dict[str, Any] = {
            "pyodide_s": 0.0,
            "packages_s": 0.0,
            "node_s": 0.0,
            "join_s": 0.0,
            "snapshot": False,
        }
        # when each boot phase ended, epoch ms: the worker's (web/worker.js) and ours (`_mark`)
        self.boot["at"] = {}
        self._t_start = 0.0
        self.delivered = 0
        self.started = time.monotonic()
        self._known: dict[bytes, str] = {}
        self._status_task: asyncio.Task[None] | None = None
        self._runtimes: asyncio.Task[None] | None = None
        self.budget = CpuBudget()

    # ---- commands from the page --------------------------------------------------------------------

    def _mark(self, phase: str) -> None:
        self.boot["at"][phase] = time.time() * 1000

    async def start(
        self,
        config: dict[str, Any],
        pyodide_s: float,
        packages_s: float,
        marks: dict[str, float],
        snapshot: bool = False,
    ) -> None:
        # set here, not at import: a restored snapshot carries the clock readings of the tab that made it
        t0 = self._t_start = self.started = time.monotonic()
        self.boot["snapshot"] = snapshot
        self.boot["at"].update(marks)
        self._mark("start")
        self.config = config
        # long work in this tab (training steps, bulk validation) paces itself to the page's CPU share
        share = min(1.0, max(MIN_SHARE, float(config.get("cpuShare", 1.0))))
        self.budget = CpuBudget(share, sleep_blocking=browser.sleep_blocking)
        # research runs at the page's research share (the embed's data-cpu), on the domains it names
        research_share = min(1.0, max(MIN_SHARE, float(config.get("researchCpu", share))))
        domains = config.get("research")  # a list, or JS null (not None after to_py): the tab's default
        try:
            research.configure(
                [str(d) for d in domains] if isinstance(domains, list) else None, research_share
            )
        except ValueError as e:
            self.event("error", f"no research in this tab: {e}")
            research.configure((), research_share)
        self.boot["pyodide_s"] = round(pyodide_s, 3)
        self.boot["packages_s"] = round(packages_s, 3)
        try:
            self.identity = await Identity.load_or_create(KEY_NAME)
            self._mark("identity")
            await self._join()
        except Exception as e:
            log.exception("node failed to start")
            self._fail(f"the node could not start: {e}")
            return
        self.boot["node_s"] = round(time.monotonic() - t0, 3)
        self._status_task = asyncio.ensure_future(self._status_loop())

    async def _join(self) -> None:
        assert self.identity is not None
        caps = [str(c) for c in self.config.get("caps", ["browser"])]
        if research.domains and "validation" not in caps:  # the tab reviews the domains it researches
            caps.append("validation")
        node_config = NodeConfig(caps=caps, direct_peers=int(self.config.get("directPeers", 4)))
        node = Node(self.identity, browser.relay_link(str(self.config["relay"])), node_config)
        for topic in self.config.get("topics", []):
            node.subscribe(str(topic), self._on_message)
        self.node = node
        services.announce(node, self._serves_inference())  # their caps in the hello; they load after it
        self.state = "joining"
        await node.start()
        self._mark("node_start")
        if not self.boot["join_s"]:
            asyncio.ensure_future(self._time_first_join(node))
        self._runtimes = asyncio.ensure_future(self._start_runtimes(node, caps))
        self.event("info", f"joining {self.config['relay']} as {short_id(self.identity.peer_id)}")

    async def _start_runtimes(self, node: Node, caps: list[str]) -> None:
        """The state replica, training, services, research, presence and review, once the node is on the relay:
        importing and setting them up took the worker's event loop while the hello waited (the services' caps
        are in the hello: `services.announce`). The replica catches up by anti-entropy pulls, as after any join."""
        with contextlib.suppress(Exception):  # unreachable for now: start them anyway, they wait for peers
            await node.relay.wait_connected(RUNTIMES_WAIT_S)
        if self.node is not node or self.identity is None:
            return  # left meanwhile
        crdt = asyncio.ensure_future(browser.crdt_ready())  # loro-crdt's wasm, fetched while our wheels are
        try:
            await browser_files.written()  # our wheels' other files, which what loads now imports and reads
        except Exception as e:  # a wheel that fails its check: the node stays on, without what loads now
            self.event("error", f"loading the rest of pynode failed: {e}")
            return
        self._mark("files")
        from pynode.browser.presence import presence
        from pynode.browser.review import review
        from pynode.browser.state import state
        from pynode.runtime.memory import related_work

        self._mark("loaded")
        training.attach(node, pace=self.budget.pace_blocking)
        # the state's CRDT loaded: a phase of its own in the boot marks (attach awaits it too, and reports a failure)
        with contextlib.suppress(Exception):
            await crdt
        self._mark("crdt")
        await state.attach(node, self.event)
        self._mark("state")
        replica = state.replica
        services.attach(node, replica, self._serves_inference(), self.event)
        await services.start()
        await research.attach(replica, self.event)
        interval_s = float(self.config.get("presenceInterval", 90))
        await presence.attach(node, replica, caps, self.event, interval_s)
        if research.agent is not None and services.runtime is not None and replica is not None:
            # papers cite related work from a peer's memory service (a tab hosts no 86 MB model)
            research.agent.config.related = related_work(services.runtime, replica.store)
        await review.attach(replica, self.identity, research.domains, research.share, caps, self.event)
        for agent in (research.agent, review.agent):  # ml checkpoints go into and come from the tab's storage
            if agent is not None and services.storage is not None:
                agent.config.storage = services.storage
        self._mark("runtimes")

    def _serves_inference(self) -> bool:
        return self.config.get("inference", True) is not False

    async def _time_first_join(self, node: Node) -> None:
        try:
            await node.relay.wait_connected(120)
        except Exception:
            return  # the status shows why; there is no join time to report
        self.boot["join_s"] = round(time.monotonic() - self._t_start, 3)
        self._mark("joined")
        if self.node is node:  # tell the page now rather than at the next status tick
            self.state = "online"
            self.post_status()

    async def leave(self) -> None:
        if self.node is not None:
            node, self.node = self.node, None
            if self._runtimes is not None:  # still starting: stop there; what did start is detached below
                self._runtimes.cancel()
                await asyncio.gather(self._runtimes, return_exceptions=True)
            await research.detach()
            for section in ("presence", "review"):  # what never loaded has nothing to detach
                if (module := _loaded(section)) is not None:
                    await getattr(module, section).detach()
            await training.detach()
            await services.detach()
            if (module := _loaded("replica")) is not None:
                await module.state.detach()
            await node.stop()
            browser.close_all_rtc()
            self._known.clear()
            self.state = "left"
            self.event("info", "left the network: every channel closed")
            self.post_status()

    async def join(self) -> None:
        if self.node is None and self.identity is not None:
            await self._join()

    async def publish(self, topic: str, text: str) -> None:
        if self.node is None:
            self.event("error", "not connected: join first")
            return
        try:
            await self.node.publish(topic, text.encode())
        except (
            WireError,
            ValueError,
        ) as e:  # the page shows its own message at once; only failures come back
            self.event("error", f"could not publish: {e}", topic=topic)

    # ---- to the page --------------------------------------------------------------------------------

    def _on_message(self, env: Envelope) -> None:
        self.delivered += 1
        text = env.data.decode("utf-8", "replace")
        self.event("message", text[:PREVIEW_CHARS], topic=env.topic, sender=env.sender)

    def event(self, kind: str, text: str, topic: str | None = None, sender: bytes | None = None) -> None:
        event: dict[str, Any] = {"kind": kind, "ts": int(time.time() * 1000), "text": text}
        if topic is not None:
            event["topic"] = topic
        if sender is not None:
            event["from"] = peer_id_text(sender)
        browser.post({"type": "event", "event": event})

    def _fail(self, message: str) -> None:
        self.state, self.error = "error", message
        self.event("error", message)
        self.post_status()

    def status(self) -> dict[str, Any]:
        node = self.node
        status: dict[str, Any] = {
            "state": self.state,
            "peer": self.identity.text if self.identity else "",
            "caps": [str(c) for c in self.config.get("caps", [])],
            "relay": str(self.config.get("relay", "")),
            "relay_connected": False,
            "known_peers": 0,
            "peers": [],
            "mesh": {},
            "messages_per_s": 0.0,
            "delivered_total": self.delivered,
            "rejections": {},
            "boot": self.boot,
            "uptime_s": round(time.monotonic() - self.started, 1),
            "cpu_share": self.budget.share,
            "training": training.status(self.event),
            "replica": _later("replica", lambda m: m.state.status()),
            "research": research.status(),
            "presence": _later("presence", lambda m: m.presence.status()),
            "review": _later("review", lambda m: m.review.status()),
            "services": services.status(),
        }
        if self.error:
            status["error"] = self.error
        if node is not None:
            stats = node.stats()
            caps = node.relay.peers
            status.update(
                relay=node.relay.link.description,  # the relay it is on now: a fail-over moves it (§2.8)
                relay_connected=stats["relay_connected"],
                known_peers=stats["known_peers"],
                peers=[
                    {"peer": peer_id_text(p), "kind": kind, "caps": list(caps.get(p, []))}
                    for p, kind in sorted(node.connected_peers().items())
                ],
                mesh=stats["mesh"],
                messages_per_s=stats["messages_per_s"],
                # every message the router accepted, on any topic (training and state included)
                delivered_total=node.router.counters["msg_delivered"],
                rejections=stats["rejections"],
            )
        return status

    def post_status(self) -> None:
        browser.post({"type": "status", "status": self.status()})

    async def _status_loop(self) -> None:
        while True:
            node = self.node
            if node is not None:
                was = self.state
                self.state = (
                    "online" if node.relay.connected else ("reconnecting" if was == "online" else was)
                )
                self._announce_peer_changes(node)
            self.post_status()
            await asyncio.sleep(STATUS_INTERVAL_S)

    def _announce_peer_changes(self, node: Node) -> None:
        now = node.connected_peers()
        for peer, kind in now.items():
            if self._known.get(peer) != kind:
                self.event("peer", f"{short_id(peer)} connected ({kind})", sender=peer)
        for peer in set(self._known) - set(now):
            self.event("peer", f"{short_id(peer)} disconnected", sender=peer)
        self._known = dict(now)


app = BrowserApp()


def on_message(msg: Any) -> None:
    """Every message from the page, as a JsProxy."""
    if browser.on_page_message(msg):
        return
    kind = str(msg.type)
    if kind == "start":  # the start reads only files written before it (web/worker.js)
        config = msg.config.to_py()
        pyodide_s, packages_s = float(getattr(msg, "pyodide_s", 0.0)), float(getattr(msg, "packages_s", 0.0))
        marks = msg.marks.to_py() if getattr(msg, "marks", None) is not None else {}
        snapshot = bool(getattr(msg, "snapshot", False))
        asyncio.ensure_future(app.start(config, pyodide_s, packages_s, marks, snapshot))
    else:
        asyncio.ensure_future(_command(kind, msg.to_py()))


async def _command(kind: str, args: dict[str, Any]) -> None:
    """A command from the page, once our wheels' files are written (it may import or read any of them)."""
    try:
        await browser_files.written()
    except Exception as e:  # answered as a failed command (the page's `ask` waits for its type)
        app.event("error", f"{kind} failed: loading the rest of pynode failed: {e}")
        browser.post({"type": kind, "error": f"loading the rest of pynode failed: {e}"})
        return
    if kind == "leave":
        await app.leave()
    elif kind == "join":
        await app.join()
    elif kind == "publish":
        await app.publish(str(args["topic"]), str(args["text"]))
    elif kind == "conformance":
        await _conformance(args)
    elif kind == "bench":
        await _bench(args)
    elif kind in _TRAINING:
        await _training(kind, args)
    elif kind.startswith("state-"):  # the replica's commands: its module may not be loaded yet
        browser_state = importlib.import_module("pynode.browser.state")
        if kind in browser_state.COMMANDS:
            await browser_state.run_command(kind, args)
    elif kind in browser_research.COMMANDS:
        await browser_research.run_command(kind, args)


_TRAINING = {"train": training.train, "train-speed": training.speed, "diloco-join": training.diloco_join}


async def _training(kind: str, args: dict[str, Any]) -> None:
    """Run a training command; the reply has the command's type, with `error` when it failed."""
    try:
        reply = await _TRAINING[kind](args)
    except Exception as e:
        log.exception("%s failed", kind)
        reply = {"error": f"{type(e).__name__}: {e}"}
        app.event("error", f"{kind} failed: {e}")
    browser.post({"type": kind, **reply})


async def _conformance(args: dict[str, Any]) -> None:
    """The platform's conformance suite and identity's and the model runner's checks on top of it, in this tab."""
    from pynode.identity import conformance as identity_checks
    from pynode.platform import conformance
    from pynode.train import conformance as train_checks

    checks = conformance.CHECKS + identity_checks.CHECKS + train_checks.CHECKS
    results = await conformance.run_all(browser, args.get("relay"), CONFORMANCE_KEY, checks)
    browser.post({"type": "conformance", "results": results})


BENCH_SOURCE = "hs/1/bench/source"  # answers with as many bytes as asked (py → browser throughput)
BENCH_SINK = "hs/1/bench/sink"  # swallows what it is sent (browser → py throughput)


async def _bench(args: dict[str, Any]) -> None:
    """Measurements `hyperspace bench browser` asks of the tab; the reply is {type: "bench", ...}."""
    node = app.node
    reply: dict[str, Any] = {"type": "bench", "op": args["op"]}
    if args["op"] == "vrf":  # no network needed: ECVRF speed on this platform's group (bench/vrf.py)
        from pynode.identity.vrf_timing import measure

        reply.update(measure(browser.ed25519_group(), browser.ed25519_group(), int(args["rounds"])))
    elif args["op"] == "research-seeds":  # how long one seed holds this tab's event loop, per task
        from pynode.runtime.seed_timing import time_seeds

        try:
            reply.update(time_seeds(str(args["domain"]), int(args.get("configs", 3))))
        except Exception as e:
            reply["error"] = f"{type(e).__name__}: {e}"
    elif node is None:
        reply["error"] = "not joined"
    elif args["op"] == "serve":

        async def source(peer: bytes, data: bytes) -> bytes:
            return bytes(int.from_bytes(data, "big"))

        node.handle(BENCH_SOURCE, source)
    elif args["op"] == "subscribe":
        node.subscribe(str(args["topic"]))
    elif args["op"] == "publish":
        for i in range(int(args["count"])):
            payload = f'{{"i": {i}, "ts": {time.time()!r}}}'.encode()
            await node.publish(str(args["topic"]), payload)
            await asyncio.sleep(float(args["interval_s"]))
    elif args["op"] == "send":
        from pynode.identity import parse_peer_id

        peer, chunk, count = parse_peer_id(str(args["peer"])), bytes(int(args["chunk"])), int(args["count"])
        t0 = time.perf_counter()
        for _ in range(count):
            await node.request(peer, BENCH_SINK, chunk, timeout=60)
        reply["seconds"] = time.perf_counter() - t0
        reply["bytes"] = len(chunk) * count
    browser.post(reply)


logging.basicConfig(level=logging.WARNING)
