"""`hyperspace bench research`: does the built-in strategy find better configs than random search?

For each domain's main task, `agents` research agents (the bandit strategy) share their results through real
replicated state — each has its own Store; every signed result is written into its author's store and its
update imported, validated, into the others' — against the same number of random-search agents sharing the same
way, with the same experiment budget, over `repetitions` independent repetitions. Reported per domain: the best
metric each side reached (mean and 95% CI over repetitions), Welch's p-value between them, how many experiments
ours needed to reach random search's final best, the baseline and the published reference.

Evaluations are deterministic given (config, seed), so repeated ones (the baseline in every repetition) are
computed once and reused. JSON on stdout (with --json), the table on stderr.

The protocol, fixed before any run and the same for both sides and every domain: REPETITIONS (10) independent
repetitions of a BUDGET (24) experiment campaign by AGENTS (4) agents a side; repetition r of a side seeds its
agents' generators "<side>/<r>/<agent>", so a run is reproducible and neither side's seeds are chosen after
seeing results. `--quick` (budget 10, 3 repetitions) is for smoke tests, not for claims.
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
import time
from typing import Any

from pynode.identity import Identity
from pynode.platform import native
from pynode.research import paper, stats
from pynode.research.agent import Agent, priors, result_body
from pynode.research.config import config_hash
from pynode.research.domain import Domain, Evaluation, Task
from pynode.research.registry import DOMAIN_MODULES, domain
from pynode.research.strategy import Bandit, RandomSearch, Strategy, ranked
from pynode.state.records import make_record
from pynode.state.store import Store

BUDGET = 24  # experiments per campaign and side
REPETITIONS = 10  # independent campaigns per side: 5 left a true difference of the best's size at p ≈ 0.1-0.3
AGENTS = 4  # agents per side, taking turns on one shared board
SKILLS_CAP = 10_000  # candidates per problem in the benchmark's skills variant (the task allows 200,000)


class Capped:
    """A domain whose configs keep one top-level integer setting at most `cap`: the benchmark's smaller variant
    of a task, the same for both strategies (validate caps every config either side proposes, the baseline too).
    """

    def __init__(self, inner: Any, setting: str, cap: int) -> None:
        self.inner, self.setting, self.cap = inner, setting, cap
        self.name, self.tasks = inner.name, inner.tasks

    def baseline(self, task: str) -> dict[str, Any]:
        return self.validate(task, self.inner.baseline(task))

    def validate(self, task: str, config: Any) -> dict[str, Any]:
        out = self.inner.validate(task, config)
        return (
            self.inner.validate(task, {**out, self.setting: self.cap})
            if out[self.setting] > self.cap
            else out
        )

    def sample(self, task: str, rng: Any) -> dict[str, Any]:
        return self.validate(task, self.inner.sample(task, rng))

    def mutations(self, task: str) -> list[Any]:
        return self.inner.mutations(task)

    def crossover(self, task: str, a: Any, b: Any, rng: Any) -> dict[str, Any]:
        return self.inner.crossover(task, a, b, rng)

    def evaluate(self, task: str, config: Any, seed: int) -> Evaluation:
        return self.inner.evaluate(task, self.validate(task, config), seed)


def bench_domain_of(name: str) -> tuple[Domain, str]:
    """The domain the benchmark runs for `name`, and the variant it is in words (for the JSON)."""
    d = domain(name)
    task = next(iter(d.tasks.values()))  # a domain lists its main task first
    if name == "skills":
        variant = (
            f"{task.id} with at most {SKILLS_CAP:,} candidates per problem (the task allows "
            f"{_skills_max():,}): every config either side proposes is capped, so an experiment takes seconds"
        )
        return Capped(d, "max_candidates", SKILLS_CAP), variant
    return d, f"{task.id} as published (seeds {task.seeds})"


def _skills_max() -> int:
    from pynode.research.skills.limits import MAX_CANDIDATES

    return MAX_CANDIDATES


class Memo:
    """Deterministic evaluations computed once per (task, config, seed)."""

    def __init__(self, d: Domain) -> None:
        self.domain = d
        self.cache: dict[tuple[str, str, int], Evaluation] = {}

    def run(self, task: str, config: dict[str, Any]) -> list[Evaluation]:
        out = []
        for seed in range(self.domain.tasks[task].seeds):
            key = (task, config_hash(config), seed)
            if key not in self.cache:
                self.cache[key] = self.domain.evaluate(task, config, seed)
            out.append(self.cache[key])
        return out


async def _campaign(memo: Memo, task: Task, strategies: list[Strategy], budget: int) -> dict[str, Any]:
    """`budget` experiments in turn by agents sharing state; the best value after each experiment."""
    identities = [await Identity.from_seed(bytes([i + 1]) * 32) for i in range(len(strategies))]
    stores = [Store(ident.peer_id, native) for ident in identities]
    agents = [Agent(memo.domain, task.id, s) for s in strategies]
    doc = f"results.{task.domain}"
    trajectory: list[float] = []
    papers = improvements = 0
    for step in range(budget):
        i = step % len(agents)
        board, _ = priors(memo.domain, task, stores[i].all_records(doc))
        proposal = agents[i].plan(board, set())
        if proposal is None:
            break
        finding = agents[i].conclude(proposal, memo.run(task.id, proposal.config), board)
        record = await make_record(identities[i].signer, "result", result_body(finding), 1_000 + step)
        paper.write(finding, record.key, identities[i].text)
        papers += 1
        improvements += finding.improvement
        update = (await stores[i].write(identities[i].signer, [record]))[doc]
        for j, other in enumerate(stores):
            if j != i:
                await other.receive(doc, update, int(time.time() * 1000))
        board, _ = priors(memo.domain, task, stores[0].all_records(doc))
        means = [p.mean for p in board]
        trajectory.append(min(means) if task.direction == "min" else max(means))
    best = ranked(board, task.direction)[0]
    heldout = stores[0].records[doc][best.key].body.get("heldout")  # of the config selected as best
    return {
        "trajectory": trajectory,
        "papers": papers,
        "improvements": improvements,
        "heldout": float(heldout) if heldout is not None else None,
    }


def _experiments_to_reach(trajectories: list[list[float]], target: float, direction: str) -> float | None:
    """Mean (over repetitions) experiments until the best reached `target`; None if some never did."""
    counts = []
    for t in trajectories:
        hit = next(
            (k + 1 for k, v in enumerate(t) if (v <= target if direction == "min" else v >= target)), None
        )
        if hit is None:
            return None
        counts.append(hit)
    return sum(counts) / len(counts)


def bench_domain(
    name: str, budget: int, repetitions: int, agents: int, references: bool = True
) -> dict[str, Any]:
    d, variant = bench_domain_of(name)
    task = next(iter(d.tasks.values()))
    memo = Memo(d)
    sides: dict[str, list[dict[str, Any]]] = {"ours": [], "random": []}
    for rep in range(repetitions):
        _log(f"research: {name}/{task.id} repetition {rep + 1}/{repetitions}…")
        for side, make in (("ours", Bandit), ("random", RandomSearch)):
            strategies: list[Strategy] = [make(random.Random(f"{side}/{rep}/{i}")) for i in range(agents)]
            sides[side].append(asyncio.run(_campaign(memo, task, strategies, budget)))
    best = {s: [run["trajectory"][-1] for run in runs] for s, runs in sides.items()}
    random_final = stats.mean(best["random"])
    baseline = memo.run(task.id, d.validate(task.id, d.baseline(task.id)))
    out: dict[str, Any] = {
        "task": task.id,
        "variant": variant,
        "metric": task.metric,
        "unit": task.unit,
        "direction": task.direction,
        "baseline": stats.mean([e.value for e in baseline]),
        "reference": task.reference,
        "budget": budget,
        "agents": agents,
        "repetitions": repetitions,
        "p_value": stats.welch(best["ours"], best["random"]).p_value,
        "experiments_to_random_best": _experiments_to_reach(
            [r["trajectory"] for r in sides["ours"]], random_final, task.direction
        ),
        "papers": sum(r["papers"] for r in sides["ours"]),
        "improvements": sum(r["improvements"] for r in sides["ours"]),
        "evaluations": len(memo.cache),
    }
    for side, values in best.items():
        summary = stats.summarize(values)
        out[side] = {"best_mean": summary.mean, "ci95": summary.ci_high - summary.mean, "bests": values}
        heldout = [r["heldout"] for r in sides[side]]
        if all(h is not None for h in heldout):  # the selected best on data never used for selection
            out[side]["heldout_mean"] = stats.mean(heldout)
    details = baseline[0].details
    if "heldout" in details:
        out["baseline_heldout"] = details["heldout"]
    if "buy_and_hold_test" in details:
        out["buy_and_hold_heldout"] = details["buy_and_hold_test"]
    if name == "search" and references:  # the target: above plain BM25 with k1, b and tokenisation grid-tuned
        from pynode.research.search.tuning import tune_bm25

        tuned = tune_bm25(d)  # type: ignore[arg-type]
        out["tuned_bm25"] = {
            "tune": tuned.ndcg10_tune,
            "heldout": tuned.ndcg10_heldout,
            "config": tuned.config,
        }
    if name == "causes" and out["ours"]["best_mean"] > 0:  # the naive difference in means is the baseline
        out["naive_over_ours"] = out["baseline"] / out["ours"]["best_mean"]
    sign = -1 if task.direction == "min" else 1
    out["ours_better"] = sign * (out["ours"]["best_mean"] - out["random"]["best_mean"]) > 0
    return out


def run_bench(
    domains: list[str] | None = None,
    budget: int = BUDGET,
    repetitions: int = REPETITIONS,
    agents: int = AGENTS,
    quick: bool = False,
) -> dict[str, Any]:
    if quick:
        budget, repetitions = min(budget, 10), min(repetitions, 3)
    started = time.perf_counter()
    result: dict[str, Any] = {"domains": {}}
    for name in domains or list(DOMAIN_MODULES):
        t0 = time.perf_counter()
        result["domains"][name] = bench_domain(name, budget, repetitions, agents, references=not quick)
        result["domains"][name]["wall_s"] = round(time.perf_counter() - t0, 1)
    result["papers"] = sum(r["papers"] for r in result["domains"].values())
    result["wall_s"] = round(time.perf_counter() - started, 1)
    _table(result)
    return result


def _table(r: dict[str, Any]) -> None:
    _log("")
    _log(
        f"{'domain':<8} {'task':<20} {'metric':<8} {'baseline':>9} {'ours (±CI)':>20} {'random (±CI)':>20} "
        f"{'p':>7} {'→rand best':>10}  held-out of the selected best (ours / random / baseline)"
    )
    for name, d in r["domains"].items():
        ours, rand = d["ours"], d["random"]
        reach = d["experiments_to_random_best"]
        held = ""
        if "heldout_mean" in ours:
            held = f"{ours['heldout_mean']:.4g} / {rand['heldout_mean']:.4g} / {d.get('baseline_heldout', 0):.4g}"
            if "buy_and_hold_heldout" in d:
                held += f" (buy and hold {d['buy_and_hold_heldout']:.4g})"
            if "tuned_bm25" in d:
                held += f" (tuned BM25 {d['tuned_bm25']['heldout']:.4g})"
        if "naive_over_ours" in d:
            held = f"naive error / ours {d['naive_over_ours']:.1f}×"
        _log(
            f"{name:<8} {d['task']:<20} {d['metric']:<8} {d['baseline']:>9.4g} "
            f"{ours['best_mean']:>11.4g} ±{ours['ci95']:<7.2g} {rand['best_mean']:>11.4g} ±{rand['ci95']:<7.2g} "
            f"{d['p_value']:>7.3g} {reach if reach is not None else '—':>10}  {held}"
        )
    for name, d in r["domains"].items():
        _log(f"  {name}: {d['variant']}")
    wins = sum(1 for d in r["domains"].values() if d["ours_better"] and d["p_value"] < 0.05)
    _log(
        f"ours beats random search with p < 0.05 in {wins} of {len(r['domains'])} domains; wall {r['wall_s']} s"
    )


def _log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


if __name__ == "__main__":
    print(json.dumps(run_bench(quick="--quick" in sys.argv)))
