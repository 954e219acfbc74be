"""The DiLoCo runtime: drives a `train.diloco.Diloco` state machine over a Node, trains with a model runner.

Gossip carries announcements, deltas and certificates, each parsed once by its topic's validator (a bad one
is rejected before it is forwarded) and handed to the core as a value; point-to-point requests carry what a
certificate names but a node lacks: a delta (DELTA_PROTO) or a recent outer state (STATE_PROTO), in parts
that fit a frame. With a storage runtime, each node also shares its recent outer states as blobs (the state
hash a certificate names is the blob's SHA-256), so a late joiner fetches the state in verified chunks from
every node that has it, and falls back to asking the issuer. Inner training runs in a worker thread
(onnxruntime releases the GIL) and stops early when the round it works for is certified meanwhile.

A node may take part in several runs at once (a board task's run and its research agent's, or a research
experiment's seeds): each has a `RunDriver` — core, runner, topic, inner-step worker — and the announcement
topic and the fetch protocols are shared, requests routed by the run id they name.
"""

from __future__ import annotations

import asyncio
import logging
import time
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pynode.gossip.events import ValidationResult
from pynode.identity import short_id
from pynode.net.reqresp import RequestFailed
from pynode.node import Node
from pynode.runtime.limits import FETCH_TIMEOUT_S, SHARED_STATE_TTL_S, SHARED_STATES
from pynode.runtime.parsed import ParsedMessages
from pynode.train.chunks import StepChunks
from pynode.train.data import load_dataset
from pynode.train.diloco import (
    DELTA_PROTO,
    RUNS_TOPIC,
    STATE_PROTO,
    Diloco,
    FetchDelta,
    FetchState,
    Publish,
    RoundDone,
    RunMessage,
    RunSpec,
    Train,
    checkpoint_hash,
    run_topic,
)
from pynode.train.limits import PART_BYTES
from pynode.train.runner import Runner, TrainState, evaluate, open_runner, vector_hash
from pynode.wire import cbor
from pynode.wire.envelope import Envelope
from pynode.wire.errors import WireError
from pynode.wire.schema import expect_map, get_bytes, get_int

log = logging.getLogger(__name__)

ANNOUNCE_EVERY_S = 5.0  # the founder repeats the announcement so that late joiners hear of the run
TICK_S = 0.25


@dataclass
class RoundLog:
    round: int
    state_hash: str
    theta_hash: str
    contributors: int
    samples: int
    val_loss: float
    train_loss: float | None  # this node's last inner-step loss in the round
    bytes_sent: int
    bytes_received: int
    at: float = field(default_factory=time.time)


@dataclass
class RunDriver:
    """One run this node takes part in: its core, its model runner and data, its inner-step job and its log."""

    core: Diloco
    runner: Runner
    data: Any
    eval_batches: list[Any]
    topic: str
    log: list[RoundLog] = field(default_factory=list)
    round_done: asyncio.Event = field(default_factory=asyncio.Event)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    job: Train | None = None
    job_ready: asyncio.Event = field(default_factory=asyncio.Event)
    last_loss: float | None = None
    tasks: set[asyncio.Task[Any]] = field(default_factory=set)
    messages: ParsedMessages[RunMessage] = field(default_factory=ParsedMessages)


class DilocoPeer:
    """One node's part in DiLoCo runs: hears announcements, founds or joins runs — several at once, each with
    its own core, runner and inner-step worker — and answers fetches for any of them."""

    def __init__(
        self,
        node: Node,
        runner: Runner | None = None,
        inner_steps: int | None = None,
        evaluate_rounds: bool = True,
        tamper: Callable[[array, array], array] | None = None,
        pace: Callable[[], None] | None = None,
        storage: Any = None,
    ) -> None:
        """`runner`: used by the first run joined (others open their own). `inner_steps`: this node's steps per
        round (fewer on a slow machine; its delta weighs less). `tamper(theta_start, theta_end)`: test hook that
        replaces the trained θ (a Byzantine peer). `pace()`: called after every graph call of inner steps, e.g.
        CpuBudget.pace_blocking to keep to a CPU share. `storage`: a StorageRuntime (pynode/runtime/storage.py)
        to share recent states through and fetch from."""
        self.node = node
        self._spare_runner = runner
        self.inner_steps = inner_steps
        self.evaluate_rounds = evaluate_rounds
        self.tamper = tamper
        self.pace = pace
        self.storage = storage
        self._shared: list[bytes] = []  # blob ids of the states we share, oldest first
        self.announced: dict[bytes, tuple[RunSpec, int, bytes]] = {}  # run id → (spec, round, announcer)
        self.heard: dict[bytes, float] = {}  # run id → when (monotonic) its last announcement arrived
        self.runs: dict[bytes, RunDriver] = {}  # the runs this node takes part in, oldest first
        self._tasks: set[asyncio.Task[Any]] = set()
        self._announcements: ParsedMessages[tuple[RunSpec, int]] = ParsedMessages()
        node.subscribe(RUNS_TOPIC, self._on_announce, self._validate_announce)
        node.handle(DELTA_PROTO, self._serve_delta)
        node.handle(STATE_PROTO, self._serve_state)

    # ---- public API -----------------------------------------------------------------------------------

    @property
    def current(self) -> RunDriver | None:
        """The run joined last (what a node in one run at a time, the CLI's and the tab's, reports)."""
        return next(reversed(self.runs.values()), None)

    @property
    def core(self) -> Diloco | None:
        return self.current.core if self.current else None

    @property
    def log(self) -> list[RoundLog]:
        return self.current.log if self.current else []

    @property
    def runner(self) -> Runner | None:
        return self.current.runner if self.current else self._spare_runner

    async def found(self, run: RunSpec, theta0: array | None = None) -> bytes:
        """Start a run: this node holds θ₀ (`theta0`: the checkpoint the run names, if it names one; ValueError
        when it is not), trains round 0 and keeps announcing the run."""
        driver = await self._join(run, self.node.peer_id, True, theta0)
        self._spawn(self._announce_loop(driver), "announce", driver)
        return run.run_id

    async def join(self, run_id: bytes, theta0: array | None = None) -> None:
        """Join an announced run: at round 0 with θ₀, later by fetching the state the next certificate names.
        A run that starts from a checkpoint is joined at round 0 only with it (`theta0`), else later."""
        run, round_, founder = self.announced[run_id]
        held = run.init is None or (theta0 is not None and checkpoint_hash(theta0) == run.init)
        await self._join(
            run, founder, round_ == 0 and held, theta0 if run.init is not None and held else None
        )

    async def leave(self, run_id: bytes) -> None:
        """Stop taking part in a run: no more training, messages or fetches for it (its log is dropped)."""
        driver = self.runs.pop(run_id, None)
        if driver is None:
            return
        self.node.unsubscribe(driver.topic)
        await _cancel(driver.tasks)

    async def wait_for_run(self, task: str, timeout: float) -> bytes | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for run_id, (run, _, _) in self.announced.items():
                if run.task == task:
                    return run_id
            await asyncio.sleep(0.1)
        return None

    async def wait_round(self, r: int, timeout: float, run_id: bytes | None = None) -> None:
        """Until this node holds S_r (r rounds applied) of `run_id` (default: the run joined last) and has
        logged every round it finished: the core applies a round before its log entry is made (after the
        round's evaluation), and callers read the log."""
        driver = self.runs.get(run_id) if run_id is not None else self.current
        if driver is None:
            raise RuntimeError("this node takes part in no such run")
        async with asyncio.timeout(timeout):
            while driver.core.round < r or len(driver.log) < len(driver.core.history):
                driver.round_done.clear()
                await driver.round_done.wait()

    async def stop(self) -> None:
        for driver in self.runs.values():
            await _cancel(driver.tasks)
        await _cancel(self._tasks)

    # ---- joining --------------------------------------------------------------------------------------

    async def _join(
        self, run: RunSpec, founder: bytes, have_initial: bool, theta0: array | None = None
    ) -> RunDriver:
        if run.run_id in self.runs:
            raise RuntimeError("this node already takes part in that run")
        # first, as it raises ValueError when θ₀ is not the run's
        core = Diloco(self.node.peer_id, run, founder, self.inner_steps, have_initial, theta0)
        runner, self._spare_runner = self._spare_runner, None
        if runner is None:
            runner = await asyncio.to_thread(open_runner, run.spec)
        data = await asyncio.to_thread(load_dataset, run.data)
        driver = RunDriver(core, runner, data, data.eval_batches(run.spec), run_topic(run.run_id))
        self.runs[run.run_id] = driver
        self.node.subscribe(
            driver.topic,
            lambda env: self._on_message(driver, env),
            lambda env: self._validate_message(driver, env),
        )
        self._spawn(self._trainer(driver), "diloco-train", driver)
        self._spawn(self._ticker(driver), "diloco-tick", driver)
        await self._call(driver, core.start)
        return driver

    async def _announce_loop(self, driver: RunDriver) -> None:
        run = driver.core.run
        while True:
            r = max(0, driver.core.round)
            await self.node.publish(
                RUNS_TOPIC, cbor.encode({"t": "announce", "run": run.to_wire(), "round": r})
            )
            await asyncio.sleep(ANNOUNCE_EVERY_S)

    def _parse_announce(self, data: bytes) -> tuple[RunSpec, int]:
        m = expect_map(cbor.decode(data), "announce", {"t", "run", "round"})
        if m["t"] != "announce":
            raise WireError("bad_type", "not an announcement")
        return RunSpec.from_wire(m["run"]), get_int(m, "round", 0, 2**40)

    def _validate_announce(self, env: Envelope) -> ValidationResult:
        try:
            self._announcements.keep(env.msg_id, self._parse_announce(env.data))
        except WireError as e:
            # a task or graph we do not ship is someone else's run, not misbehaviour
            if e.reason in ("unknown_task", "graph_mismatch"):
                return ValidationResult.IGNORE
            return ValidationResult.REJECT
        return ValidationResult.ACCEPT

    def _on_announce(self, env: Envelope) -> None:
        parsed = self._announcements.take(env.msg_id)
        if parsed is not None:
            run, r = parsed
            self.announced[run.run_id] = (run, r, env.sender)
            self.heard[run.run_id] = time.monotonic()

    # ---- the state machine's inputs and outputs -------------------------------------------------------

    async def _call(self, driver: RunDriver, fn: Callable[..., list[Any]], *args: Any) -> None:
        """Feed a run's core one input; it may aggregate (pure Python, ~0.1–1 s), so off the event loop."""
        async with driver.lock:
            outputs = await asyncio.to_thread(fn, *args, time.monotonic())
        for out in outputs:
            await self._carry_out(driver, out)

    async def _carry_out(self, driver: RunDriver, out: Any) -> None:
        if isinstance(out, Publish):
            await self.node.publish(driver.topic, out.data)
        elif isinstance(out, Train):
            driver.job = out  # a newer round replaces a job not yet started
            driver.job_ready.set()
        elif isinstance(out, FetchDelta):
            self._spawn(self._fetch_delta(driver, out), "diloco-fetch-delta", driver)
        elif isinstance(out, FetchState):
            self._spawn(self._fetch_state(driver, out), "diloco-fetch-state", driver)
        elif isinstance(out, RoundDone):
            await self._record(driver, out)

    def _validate_message(self, driver: RunDriver, env: Envelope) -> ValidationResult:
        try:
            driver.messages.keep(env.msg_id, driver.core.parse(env.data))
        except WireError:
            return ValidationResult.REJECT
        return ValidationResult.ACCEPT

    async def _on_message(self, driver: RunDriver, env: Envelope) -> None:
        msg = driver.messages.take(env.msg_id)
        if msg is not None:
            await self._call(driver, driver.core.on_message, env.sender, msg, len(env.data))

    async def _ticker(self, driver: RunDriver) -> None:
        while True:
            await asyncio.sleep(TICK_S)
            await self._call(driver, driver.core.tick)

    async def _record(self, driver: RunDriver, done: RoundDone) -> None:
        core = driver.core
        assert core.state is not None
        theta = core.state.theta
        val_loss = float("nan")
        if self.evaluate_rounds:
            val_loss = await asyncio.to_thread(self._evaluate, driver, theta)
        driver.log.append(
            RoundLog(
                done.round,
                done.state_hash.hex(),
                vector_hash(theta),
                len(done.contributors),
                sum(s for _, s in done.contributors),
                val_loss,
                driver.last_loss,
                core.bytes_sent,
                core.bytes_received,
            )
        )
        if self.storage is not None:
            self._share(core.state.to_bytes())
        driver.round_done.set()

    def _share(self, state: bytes) -> None:
        """Keep the newest SHARED_STATES outer states where late joiners can fetch them."""
        blob = self.storage.share(state, SHARED_STATE_TTL_S)
        if blob is not None and blob not in self._shared:
            self._shared.append(blob)
        while len(self._shared) > SHARED_STATES:
            self.storage.forget(self._shared.pop(0))

    def _evaluate(self, driver: RunDriver, theta: array) -> float:
        # a separate state so the inner optimizer's m and v survive
        runner = driver.runner
        kept = runner.state()
        runner.set_state(TrainState(array("f", theta), kept.m, kept.v, kept.step))
        loss, _ = evaluate(runner, driver.eval_batches)
        runner.set_state(kept)
        return loss

    # ---- inner training -------------------------------------------------------------------------------

    async def _trainer(self, driver: RunDriver) -> None:
        while True:
            await driver.job_ready.wait()
            driver.job_ready.clear()
            job, driver.job = driver.job, None
            if job is None:
                continue
            theta_end = await asyncio.to_thread(self._inner_steps, driver, job)
            if theta_end is not None:
                if self.tamper is not None:
                    theta_end = self.tamper(job.theta, theta_end)
                await self._call(driver, driver.core.trained, job.round, theta_end, job.steps)

    def _inner_steps(self, driver: RunDriver, job: Train) -> array | None:
        """H steps from θ_r; the inner AdamW state carries over between rounds, as in DiLoCo."""
        runner, core = driver.runner, driver.core
        state = runner.state()
        runner.set_state(TrainState(array("f", job.theta), state.m, state.v, state.step))
        spec, run = core.spec, core.run
        chunks, i = StepChunks(), 0
        while i < job.steps:  # k steps per graph call: the same θ as one by one, fewer crossings
            if core.round != job.round:
                return None  # certified without us: start on the next round instead
            # an inner schedule changes lr every step, and one graph call takes one lr
            k = chunks.next(job.steps - i) if run.inner is None else 1
            batches = [driver.data.batch(spec, job.seed, i + j, job.shard, job.shards) for j in range(k)]
            t0 = time.perf_counter()
            driver.last_loss = runner.train_steps(batches, run.hyper(job.offset + i))[-1]
            chunks.took(k, time.perf_counter() - t0)
            i += k
            if self.pace is not None:
                self.pace()
        return runner.theta()

    # ---- fetching what a certificate names ------------------------------------------------------------

    async def _fetch(self, peer: bytes, proto: str, request: dict[str, Any], limit: int) -> bytes | None:
        """Download a blob in parts of PART_BYTES; None if the peer fails us."""
        blob = bytearray()
        try:
            while True:
                reply = await self.node.request(
                    peer, proto, cbor.encode({**request, "offset": len(blob)}), FETCH_TIMEOUT_S
                )
                m = expect_map(cbor.decode(reply), "reply", {"total", "data"})
                total = get_int(m, "total", 1, limit)
                part = get_bytes(m, "data", max_len=PART_BYTES)
                if not part or len(blob) + len(part) > total:
                    raise WireError("bad_field", "reply parts do not add up")
                blob += part
                if len(blob) == total:
                    return bytes(blob)
        except (RequestFailed, TimeoutError, WireError) as e:
            log.info("fetch %s from %s failed: %s", proto, short_id(peer), e)
            return None

    async def _fetch_delta(self, driver: RunDriver, f: FetchDelta) -> None:
        core = driver.core
        req = {"run": core.run_id, "round": f.round, "author": f.author, "digest": f.digest}
        payload = await self._fetch(f.peer, DELTA_PROTO, req, core.codec.max_payload())
        if payload is not None:
            await self._call(driver, core.delta_fetched, f.round, f.author, payload)

    async def _fetch_state(self, driver: RunDriver, f: FetchState) -> None:
        core = driver.core
        blob = None
        if self.storage is not None:  # every node holding it serves chunks; each is checked on arrival
            blob = await self.storage.get(f.expect, hints=[f.peer], limit=8 + 8 * core.n)
        if blob is None:
            blob = await self._fetch(
                f.peer, STATE_PROTO, {"run": core.run_id, "digest": f.expect}, 8 + 8 * core.n
            )
        await self._call(driver, core.state_fetched, blob, f.expect)

    def _core_for(self, m: dict[str, Any]) -> Diloco:
        driver = self.runs.get(get_bytes(m, "run", size=16))
        if driver is None:
            raise RequestFailed("not in that run")
        return driver.core

    async def _serve_delta(self, peer: bytes, data: bytes) -> bytes:
        try:
            m = expect_map(cbor.decode(data), "delta request", {"run", "round", "author", "digest", "offset"})
            payload = self._core_for(m).delta_payload(
                get_int(m, "round"), get_bytes(m, "author", size=32), get_bytes(m, "digest", size=32)
            )
            offset = get_int(m, "offset")
        except WireError as e:
            raise RequestFailed(f"bad request: {e.reason}") from None
        if payload is None:
            raise RequestFailed("no such delta here")
        return cbor.encode({"total": len(payload), "data": payload[offset : offset + PART_BYTES]})

    async def _serve_state(self, peer: bytes, data: bytes) -> bytes:
        try:
            m = expect_map(cbor.decode(data), "state request", {"run", "digest", "offset"})
            blob = self._core_for(m).state_blob(get_bytes(m, "digest", size=32))
            offset = get_int(m, "offset")
        except WireError as e:
            raise RequestFailed(f"bad request: {e.reason}") from None
        if blob is None:
            raise RequestFailed("no such state here")
        return cbor.encode({"total": len(blob), "data": blob[offset : offset + PART_BYTES]})

    def _spawn(self, coro: Any, name: str, driver: RunDriver | None = None) -> None:
        """A task of this node (announcements) or of one run (`driver`: cancelled when it is left)."""
        task = asyncio.ensure_future(coro)
        task.set_name(name)
        tasks = driver.tasks if driver is not None else self._tasks
        tasks.add(task)
        task.add_done_callback(lambda t: _done(tasks, t))


def _done(tasks: set[asyncio.Task[Any]], task: asyncio.Task[Any]) -> None:
    tasks.discard(task)
    if not task.cancelled() and task.exception() is not None:
        log.error("task %s failed", task.get_name(), exc_info=task.exception())


async def _cancel(tasks: set[asyncio.Task[Any]]) -> None:
    for t in list(tasks):
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    tasks.clear()
