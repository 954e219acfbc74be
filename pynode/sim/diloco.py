"""DiLoCo training rounds: k `Diloco` state machines on the kernel, each with its own model runner.

The protocol is the real one — the same messages, certificates, codecs and outer step as over the network —
on a full mesh of instant, lossless kernel links; the benchmark and the poisoning test use it, the network tests
drive the same core through the runtime's `DilocoPeer` instead. Virtual time: one inner-step job runs at a time
(jobs queue in the order the cores ask for them) and takes one virtual second; every message due is delivered
before the next job starts; when nothing is left to do, time jumps by the run's deadline and every core ticks.
Fetches (a delta part, a certified state) are answered at once by the peer asked.
"""

from __future__ import annotations

import hashlib
from array import array
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pynode.sim.kernel import Kernel
from pynode.sim.link import LinkModel
from pynode.train.data import load_dataset
from pynode.train.diloco import CertMessage, Diloco, FetchDelta, FetchState, Publish, RunSpec, Train
from pynode.train.rng import Stream, mix
from pynode.train.runner import Runner, TrainState, evaluate, open_runner

Tamper = Callable[[array, array], array]  # (θ_r, θ after the inner steps) → the θ the peer claims
Forgery = Callable[[CertMessage], CertMessage]  # a Byzantine aggregator's certificate → what it publishes

INSTANT = LinkModel(median_latency_s=0.0, loss=0.0)
JOB_S = 1.0  # virtual seconds one worker's inner steps take
STALLED_AFTER = 100  # deadlines in a row with no job to run and no round done: the run stalled


def scaled_attack(factor: float = -8.0) -> Tamper:
    """A Byzantine peer that sends `factor` × its honest pseudo-gradient (negative: uphill)."""

    def tamper(start: array, end: array) -> array:
        return array("f", [s - factor * (s - e) for s, e in zip(start, end, strict=False)])

    return tamper


def garbage_attack(seed: int = 666, scale: float = 1.0) -> Tamper:
    """A Byzantine peer that sends random values (finite: they pass decoding) of `scale` magnitude."""
    rng = Stream(mix(seed))

    def tamper(start: array, end: array) -> array:
        noise = rng.uniforms(len(start), scale)
        return array("f", [s - x for s, x in zip(start, noise, strict=False)])

    return tamper


@dataclass
class Worker:
    index: int  # the worker's node on the kernel
    core: Diloco
    runner: Runner
    tamper: Tamper | None = None
    last_loss: float = float("nan")


class DilocoSimulation:
    def __init__(
        self,
        run: RunSpec,
        k: int,
        inner_steps: list[int] | None = None,
        tampers: dict[int, Tamper] | None = None,
        runner_factory: Callable[[], Runner] | None = None,
        theta0: array | None = None,
    ) -> None:
        self.run = run
        self.spec = run.spec
        self.data = load_dataset(run.data)
        self.kernel = Kernel(seed=0, link=INSTANT, degree=0, listener=self)
        self._runner_factory = runner_factory or (lambda: open_runner(self.spec))
        self.workers: list[Worker] = []
        self.by_peer: dict[bytes, Worker] = {}
        self.silenced: set[bytes] = set()  # peers whose messages are lost (a cut-off node: it still trains)
        self.crashed: set[bytes] = set()  # peers that stopped: no messages, no training
        self.forgers: dict[bytes, Forgery] = {}  # peers that publish their certificates forged
        self._jobs: deque[tuple[Worker, Train]] = deque()
        self._started: set[int] = set()  # workers whose core has been started
        self.eval_batches = self.data.eval_batches(self.spec)
        founder = _peer(0)
        for i in range(k):
            steps = inner_steps[i] if inner_steps else None
            core = Diloco(_peer(i), run, founder, steps, theta0=theta0)
            self._add(core, (tampers or {}).get(i))

    @property
    def now(self) -> float:
        return self.kernel.now

    def link_up(self, a: int, b: int) -> None:
        """Nothing to tell the cores: a DiLoCo core hears every worker; the certificate decides who counts."""

    def link_down(self, node: int, gone: int) -> None:
        """As link_up."""

    def _add(self, core: Diloco, tamper: Tamper | None = None) -> Worker:
        index = self.kernel.add()
        w = Worker(index, core, self._runner_factory(), tamper)
        self.workers.append(w)
        self.by_peer[core.me] = w
        self.kernel.join(index, dial=0)
        for other in self.workers[:-1]:
            self.kernel.connect(index, other.index)
        return w

    def add_worker(self) -> Worker:
        """A late joiner: no state until a certificate names one, which it then fetches."""
        peer = _peer(len(self.workers))
        w = self._add(Diloco(peer, self.run, self.workers[0].core.founder, have_initial=False))
        self._start(w)
        return w

    def _start(self, w: Worker) -> None:
        self._started.add(w.index)
        self._outputs(w, w.core.start(self.now))

    def _outputs(self, w: Worker, outputs: list[Any]) -> None:
        for out in outputs:
            if isinstance(out, Publish):
                if w.core.me in self.silenced | self.crashed:
                    continue
                data = out.data
                # (a forgery may crash its own peer: it sends, then stops)
                forge = self.forgers.get(w.core.me)
                if forge is not None and isinstance(msg := w.core.parse(data), CertMessage):
                    data = forge(msg).encode(w.core.run_id)
                for other in self.workers:
                    if other is not w:
                        self.kernel.send(w.index, other.index, self._receive, data)
            elif isinstance(out, Train):
                self._jobs.append((w, out))
            elif isinstance(out, FetchDelta):
                payload = self.by_peer[out.peer].core.delta_payload(out.round, out.author, out.digest)
                if payload is not None:
                    self._outputs(w, w.core.delta_fetched(out.round, out.author, payload, self.now))
            elif isinstance(out, FetchState):
                blob = self.by_peer[out.peer].core.state_blob(out.expect)
                self._outputs(w, w.core.state_fetched(blob, out.expect, self.now))

    def _receive(self, dst: int, src: int, data: bytes) -> None:
        w = self.workers[dst]
        self._outputs(w, w.core.receive(self.workers[src].core.me, data, self.now))

    def _train(self, w: Worker, job: Train) -> None:
        if w.core.round != job.round or w.core.me in self.crashed:
            return
        state = w.runner.state()
        w.runner.set_state(TrainState(array("f", job.theta), state.m, state.v, state.step))
        for i in range(job.steps):
            batch = self.data.batch(self.spec, job.seed, i, job.shard, job.shards)
            w.last_loss = w.runner.train_step(batch, self.run.hyper(job.offset + i))
        end = w.runner.theta()
        if w.tamper is not None:
            end = w.tamper(job.theta, end)
        self.kernel.run_until(self.now + JOB_S)
        self._outputs(w, w.core.trained(job.round, end, job.steps, self.now))

    def rounds(self, n: int) -> None:
        """Run until every worker neither silenced nor crashed holds S_n; RuntimeError if the run stalls."""
        kernel = self.kernel
        for w in self.workers:
            if w.index not in self._started:
                self._start(w)
        idle = 0
        while (
            least := min(w.core.round for w in self.workers if w.core.me not in self.silenced | self.crashed)
        ) < n:
            kernel.run_until(self.now)  # every message due
            if not self._jobs:
                idle += 1
                if idle > STALLED_AFTER:
                    raise RuntimeError(f"the run stalled in round {least} (virtual time {self.now:.0f} s)")
                kernel.run_until(self.now + self.run.deadline_s)  # nothing left to do: let deadlines fire
                for w in self.workers:
                    self._outputs(w, w.core.tick(self.now))
                continue
            idle = 0
            self._train(*self._jobs.popleft())
            kernel.run_until(self.now)

    def val_loss(self, worker: int = 0) -> float:
        w = self.workers[worker]
        state = w.core.state
        if state is None:
            raise ValueError(f"worker {worker} holds no state yet")
        kept = w.runner.state()
        w.runner.set_state(TrainState.fresh(state.theta))
        loss, _ = evaluate(w.runner, self.eval_batches)
        w.runner.set_state(kept)
        return loss

    @property
    def bytes_sent(self) -> int:
        return sum(w.core.bytes_sent for w in self.workers)


def _peer(i: int) -> bytes:
    return hashlib.sha256(b"local-peer" + bytes([i])).digest()
