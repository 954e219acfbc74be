"""DiLoCo on one machine: k `Diloco` state machines wired together in memory, each with its own runner.

The protocol is the real one — the same messages, certificates, codecs and outer step as over the network —
with instant, lossless delivery and a virtual clock. The benchmark and the poisoning test use it; the
network tests drive the same core through `runtime.diloco.DilocoPeer` instead.
"""

from __future__ import annotations

import hashlib
from array import array
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pynode.train.data import load_dataset
from pynode.train.diloco import Diloco, FetchDelta, FetchState, Publish, RoundDone, RunSpec, Train
from pynode.train.rng import Stream, mix
from pynode.train.runner import Runner, TrainState, evaluate, open_runner

Tamper = Callable[[array, array], array]  # (θ_r, θ after the inner steps) → the θ the peer claims


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
    core: Diloco
    runner: Runner
    tamper: Tamper | None = None
    last_loss: float = float("nan")


class LocalRun:
    def __init__(
        self,
        run: RunSpec,
        k: int,
        inner_steps: list[int] | None = None,
        tampers: dict[int, Tamper] | None = None,
        runner_factory: Callable[[], Runner] | None = None,
    ) -> None:
        self.run = run
        self.spec = run.spec
        self.data = load_dataset(self.spec.dataset)
        self.now = 0.0
        factory = runner_factory or (lambda: open_runner(self.spec))
        self.workers = []
        peers = [hashlib.sha256(b"local-peer" + bytes([i])).digest() for i in range(k)]
        for i, peer in enumerate(peers):
            core = Diloco(peer, run, peers[0], inner_steps[i] if inner_steps else None)
            self.workers.append(Worker(core, factory(), (tampers or {}).get(i)))
        self.by_peer = {w.core.me: w for w in self.workers}
        self.silenced: set[bytes] = set()  # peers whose messages are lost (a crashed or cut-off node)
        self._messages: deque[tuple[bytes, Any]] = deque()
        self._jobs: deque[tuple[Worker, Train]] = deque()
        self.eval_batches = self.data.eval_batches(self.spec)

    def _outputs(self, w: Worker, outputs: list[Any]) -> None:
        for out in outputs:
            if isinstance(out, Publish):
                self._messages.append((w.core.me, out.data))
            elif isinstance(out, Train):
                self._jobs.append((w, out))
            elif isinstance(out, FetchDelta):
                payload = self.by_peer[out.peer].core.delta_payload(out.round, out.author, out.digest)
                if payload is not None:
                    self._outputs(w, w.core.delta_fetched(out.round, out.author, payload, out.peer, self.now))
            elif isinstance(out, FetchState):
                blob = self.by_peer[out.peer].core.state_blob(out.expect)
                self._outputs(w, w.core.state_fetched(blob, out.expect, self.now))
            elif isinstance(out, RoundDone):
                pass

    def _deliver(self) -> None:
        while self._messages:
            sender, data = self._messages.popleft()
            if sender in self.silenced:
                continue
            for w in self.workers:
                if w.core.me != sender:
                    self._outputs(w, w.core.receive(sender, data, self.now))

    def add_worker(self) -> Worker:
        """A late joiner: no state until a certificate names one, which it then fetches."""
        peer = hashlib.sha256(b"local-peer" + bytes([len(self.workers)])).digest()
        core = Diloco(peer, self.run, self.workers[0].core.founder, have_initial=False)
        w = Worker(core, open_runner(self.spec))
        self.workers.append(w)
        self.by_peer[peer] = w
        self._outputs(w, core.start(self.now))
        return w

    def _train(self, w: Worker, job: Train) -> None:
        if w.core.round != job.round:
            return
        state = w.runner.state()
        w.runner.set_state(TrainState(array("f", job.theta), state.m, state.v, state.step))
        for i in range(job.steps):
            batch = self.data.batch(self.spec, job.seed, i, job.shard, job.shards)
            w.last_loss = w.runner.train_step(batch, self.spec.hyper)
        end = w.runner.theta()
        if w.tamper is not None:
            end = w.tamper(job.theta, end)
        self.now += 1.0
        self._outputs(w, w.core.trained(job.round, end, job.steps, self.now))

    def rounds(self, n: int) -> None:
        """Run until every worker holds S_n."""
        if not any(w.core._started for w in self.workers):
            for w in self.workers:
                self._outputs(w, w.core.start(self.now))
        while min(w.core.round for w in self.workers if w.core.me not in self.silenced) < n:
            self._deliver()
            if not self._jobs:
                self.now += self.run.deadline_s  # nothing left to do: let deadlines fire
                for w in self.workers:
                    self._outputs(w, w.core.tick(self.now))
                continue
            self._train(*self._jobs.popleft())
            self._deliver()

    def val_loss(self, worker: int = 0) -> float:
        w = self.workers[worker]
        state = w.core.state
        assert state is not None
        kept = w.runner.state()
        w.runner.set_state(TrainState.fresh(state.theta))
        loss, _ = evaluate(w.runner, self.eval_batches)
        w.runner.set_state(kept)
        return loss

    @property
    def bytes_sent(self) -> int:
        return sum(w.core.bytes_sent for w in self.workers)
