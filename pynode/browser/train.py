"""Training in a browser tab: the worker commands `train`, `train-speed` and `diloco-join`, and the
`training` part of the status the dashboard shows (DiLoCo runs heard on gossip, the one this tab is in).

app.py owns the node and dispatches to `training`; everything here runs in the worker's event loop.
The model runner is platform/browser.py's (onnxruntime-web); its calls suspend through JSPI, so they run in
tasks, and the synchronous training code (solo.train, DilocoPeer's inner steps) runs through
`asyncio.to_thread`, which Pyodide's loop runs inline.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import math
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pynode.browser.limits import MAX_SOLO_STEPS
from pynode.identity import short_id

if TYPE_CHECKING:
    from array import array

    from pynode.node import Node
    from pynode.runtime.diloco import DilocoPeer
    from pynode.train.runner import Runner, TrainState
    from pynode.train.solo import SoloRun

log = logging.getLogger(__name__)

RUNS_DIR = Path("/tmp/hyperspace-runs")  # Pyodide's in-memory file system: gone with the tab
CURVE_POINTS = 60  # validation losses kept per run for the dashboard's sparkline


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _finite(x: float | None) -> float | None:
    return x if x is not None and math.isfinite(x) else None


class Training:
    def __init__(self) -> None:
        self.peer: DilocoPeer | None = None
        self._reported = 0  # rounds of peer.log already announced in the feed
        self._solo = 0

    # ---- the node's life --------------------------------------------------------------------------------

    def attach(self, node: Node, pace: Callable[[], None] | None = None) -> None:
        """Listen for DiLoCo runs on this node (the dashboard lists them; a click joins one)."""
        from pynode.runtime.diloco import DilocoPeer

        self.peer = DilocoPeer(node, pace=pace)
        self._reported = 0

    async def detach(self) -> None:
        peer, self.peer = self.peer, None
        if peer is not None:
            await peer.stop()

    # ---- status ---------------------------------------------------------------------------------------

    def status(self, event: Any) -> dict[str, Any]:
        """Runs heard and the joined run's rounds; `event(kind, text)` reports each new round in the feed."""
        peer = self.peer
        if peer is None:
            return {"runs": [], "joined": None}
        core = peer.core
        runs = []
        for run_id, (run, round_, founder) in sorted(peer.announced.items(), key=lambda kv: kv[1][0].task):
            runs.append({
                "id": run_id.hex(), "task": run.task, "round": round_, "H": run.H, "codec": run.codec,
                "aggregation": run.aggregation, "founder": short_id(founder),
                "joined": core is not None and core.run_id == run_id,
            })  # fmt: skip
        joined = None
        if core is not None:
            last = peer.log[-1] if peer.log else None
            joined = {
                "id": core.run_id.hex(),
                "task": core.run.task,
                "round": max(0, core.round),
                "syncing": core.state is None,  # a late joiner waits for a certificate and the state it names
                "participants": last.contributors if last else len(core.members),
                "members": len(core.members),
                "val_loss": [_finite(e.val_loss) for e in peer.log[-CURVE_POINTS:]],
                "train_loss": _finite(last.train_loss) if last else None,
                "bytes_sent": core.bytes_sent,
                "bytes_received": core.bytes_received,
            }
            for e in peer.log[self._reported :]:
                loss = f" · val loss {e.val_loss:.4f}" if math.isfinite(e.val_loss) else ""
                event("info", f"DiLoCo {core.run.task} round {e.round}: {e.contributors} deltas{loss}")
            self._reported = len(peer.log)
        return {"runs": runs, "joined": joined}

    # ---- commands -------------------------------------------------------------------------------------

    async def train(self, args: dict[str, Any]) -> dict[str, Any]:
        """A solo run: per-step losses, committed θ hashes; optionally one state handed out and steps
        re-executed from a state handed in (a validator's check, in either direction)."""
        from pynode.train import solo
        from pynode.train.runner import TrainState, open_runner, vector_hash
        from pynode.train.zoo import get_model

        spec = get_model(str(args["task"]))
        steps = int(args.get("steps", 20))
        if not 0 < steps <= MAX_SOLO_STEPS:
            raise ValueError(f"steps must be in 1..{MAX_SOLO_STEPS}")
        self._solo += 1
        shutil.rmtree(RUNS_DIR, ignore_errors=True)  # the reply carries what matters; memory does not grow
        out = RUNS_DIR / f"{spec.name}-{self._solo}"
        runner = await asyncio.to_thread(open_runner, spec)
        t0 = time.perf_counter()
        seed, every = int(args.get("seed", 0)), int(args.get("checkpoint_every", 10))
        run = await asyncio.to_thread(solo.train, spec, steps, out, seed, every, runner=runner)
        rec = run.record
        reply: dict[str, Any] = {
            "task": spec.name, "graph": rec["graph"], "data": rec["data"], "device": rec["device"],
            "seed": rec["seed"], "losses": rec["losses"], "checkpoints": rec["checkpoints"],
            "final_val_loss": rec["final_val_loss"], "final_val_accuracy": rec["final_val_accuracy"],
            "seconds": time.perf_counter() - t0,
        }  # fmt: skip
        if "share_step" in args:  # a committed state, for someone else to re-execute from
            state = run.load_state(int(args["share_step"]))
            reply["state"] = {"step": state.step, "digest": state.digest(), "b64": _b64(state.to_bytes())}
        replay = args.get("replay")
        if replay:
            state = TrainState.from_bytes(base64.b64decode(replay["state_b64"]))
            losses, theta = await asyncio.to_thread(
                self._replay, runner, run, state, int(replay.get("steps", 1))
            )
            reply["replay"] = {
                "from_step": state.step, "digest": state.digest(), "losses": losses,
                "theta_hash": vector_hash(theta), "theta_b64": _b64(theta.tobytes()),
            }  # fmt: skip
        return reply

    @staticmethod
    def _replay(runner: Runner, run: SoloRun, state: TrainState, steps: int) -> tuple[list[float], array]:
        # solo.reexecute, from a state given here rather than one of this run's files
        from pynode.train.data import load_dataset

        runner.set_state(state)
        data = load_dataset(run.spec.dataset)
        first = state.step
        losses = [
            runner.train_step(data.batch(run.spec, run.seed, s), run.hyper)
            for s in range(first, first + steps)
        ]
        return losses, runner.theta()

    async def speed(self, args: dict[str, Any]) -> dict[str, Any]:
        """Train steps per second on one fixed batch, measured as bench/train_speed.py measures CPython
        (pynode/train/speed.py): `steps_per_s` with k steps per graph call as training runs them; `rates`
        has all that train_rates measured."""
        from pynode.train.runner import open_runner
        from pynode.train.speed import train_rates
        from pynode.train.zoo import get_model

        spec = get_model(str(args["task"]))
        seconds = min(30.0, float(args.get("seconds", 1.0)))
        runner = await asyncio.to_thread(open_runner, spec)
        rates = await asyncio.to_thread(train_rates, runner, spec, seconds, time.perf_counter)
        return {"task": spec.name, "device": runner.device, "steps_per_s": rates["chunked"], "rates": rates}

    async def diloco_join(self, args: dict[str, Any]) -> dict[str, Any]:
        """Join an announced run (by id, or the first of a task) unless this tab is in it already; with
        `rounds`, reply once the tab holds S_rounds, with its round log and θ."""
        peer = self.peer
        if peer is None:
            raise RuntimeError("not joined to the network")
        timeout = float(args.get("timeout_s", 60))
        if args.get("run"):
            run_id = bytes.fromhex(str(args["run"]))
            deadline = time.monotonic() + timeout
            while run_id not in peer.announced:
                if time.monotonic() > deadline:
                    raise TimeoutError("no such run announced")
                await asyncio.sleep(0.1)
        else:
            found = await peer.wait_for_run(str(args["task"]), timeout)
            if found is None:
                raise TimeoutError(f"no {args['task']} run announced")
            run_id = found
        if peer.core is None or peer.core.run_id != run_id:  # already in it (the dashboard's button): report
            await peer.join(run_id)
        reply: dict[str, Any] = {"run": run_id.hex()}
        rounds = int(args.get("rounds", 0))
        if rounds:
            await peer.wait_round(rounds, float(args.get("rounds_timeout_s", 300)))
            assert peer.core is not None and peer.core.state is not None
            reply["log"] = [e.__dict__ for e in peer.log]
            reply["state_digest"] = peer.core.state.digest().hex()
            reply["theta_b64"] = _b64(peer.core.state.theta.tobytes())
            reply["rejected"] = dict(peer.core.rejected)
        return reply


training = Training()
