"""Re-executing a DiLoCo run with an end (`RunSpec.rounds`) in one process, from what its certificates named.

A run's outcome is a function of its spec and, per round, which peers' deltas were certified with how many inner
steps: each peer's batches are a hash of (run, round, peer) on its shard (`batch_seed`, `shard_of`), its inner
AdamW state carries over between the rounds it trains, its delta goes through the run's codec (with its own
error-feedback residual), and the outer step is plain Python (`outer_step`). So a reviewer holding the spec and
the per-round contributors recomputes the final θ — bit for bit on the author's platform, within float drift on
another — at the cost of every contributor's steps.

It holds for a run in which every contributor trained exactly the rounds it is named in, from its first named
round on (a research run's peers join at round 0 and every round waits for all of them, `pynode.runtime.
research_diloco`); a peer that trained a round whose certificate left it out has a state this replay cannot
know, and the replayed θ then differs — the claim fails rather than passes.
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence

from pynode.train import aggregate as agg
from pynode.train.compress import Codec
from pynode.train.data import load_dataset
from pynode.train.diloco import OuterState, RunSpec, batch_seed, outer_step, shard_of
from pynode.train.runner import RunnerFactory, TrainState, open_runner

Rounds = Sequence[Sequence[tuple[bytes, int]]]  # per round: (peer, inner steps) as its certificate named them


def replay(
    run: RunSpec, rounds: Rounds, runners: RunnerFactory | None = None, theta0: array | None = None
) -> OuterState:
    """The outer state after every round of `run`, re-trained from θ₀ (`theta0`: the checkpoint the run names,
    if it names one); ValueError when `rounds` is no history of this run (the wrong number of rounds, a round
    with no or repeated peers, more steps than it allows) or θ₀ is not the run's."""
    if run.rounds is None or len(rounds) != run.rounds:
        raise ValueError(f"a history of {len(rounds)} rounds is not one of this run ({run.rounds} rounds)")
    spec = run.spec
    data = load_dataset(run.data)
    runner = open_runner(spec, runners)
    decoder = Codec(run.codec, spec.n_params)
    inner: dict[bytes, TrainState] = {}  # each peer's inner optimiser state, carried between its rounds
    codecs: dict[bytes, Codec] = {}  # each peer's encoder (int4 and top-k keep what rounding left over)
    state = OuterState.initial(run, theta0)
    for r, named in enumerate(rounds):
        peers = [p for p, _ in named]
        if not peers or peers != sorted(set(peers)):
            raise ValueError(f"round {r} must name its peers once each, in order")
        deltas, samples = [], []
        for peer, steps in named:
            if not 1 <= steps <= run.steps_in(r):
                raise ValueError(f"round {r}: {steps} inner steps, at most {run.steps_in(r)} allowed")
            kept = inner.get(peer)
            start = array("f", state.theta)
            runner.set_state(
                TrainState(start, kept.m, kept.v, kept.step) if kept else TrainState.fresh(start)
            )
            seed, shard = batch_seed(run, r, peer), shard_of(run, peer)
            for i in range(steps):
                runner.train_step(data.batch(spec, seed, i, shard, run.shards), run.hyper(r * run.H + i))
            inner[peer] = runner.state()
            codec = codecs.setdefault(peer, Codec(run.codec, spec.n_params))
            deltas.append(decoder.decode(codec.encode(agg.pseudo_gradient(state.theta, runner.theta()))))
            samples.append(steps * spec.tokens_per_batch())
        following = outer_step(run, state, deltas, samples)
        if following is None:
            raise ValueError(f"round {r}'s outer step is not finite")
        state = following
    return state
