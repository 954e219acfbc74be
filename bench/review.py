"""`hyperspace bench review`: can peer review be gamed? Planted fabrications among genuine improvements,
colluders at a share of the validators, on a simulated network (pynode.sim.review: the simulation kernel with
real GossipSub routers, signed records verified by every receiver, VRF sortition and real re-execution of
every result; the state tier's CRDT is left out, `bench state` measures it).

Reported: genuine results and how many of them are significant improvements (ground truth, issue 9's definition
of an improvement: better than the best earlier genuine result of their task with p < 0.05 and a 95% CI that
excludes its mean; the count by p alone is reported beside it), planted claims by kind, true and false
breakthroughs, counted reviews per result, and review latency (result published → re-execution done and the
review written, for every re-execution: one finished after the deadline publishes nothing and is counted too,
so the window cannot hide slow reviews; colluders' votes re-execute nothing and are not in it).
Targets (the issue's): 0 false breakthroughs of ≥ 50 planted with colluders at 20% of validators; ≥ 90% of
genuine significant improvements become breakthroughs; p99 review latency under 2 minutes at 100 nodes.
JSON on stdout (with --json), the table on stderr.
"""

from __future__ import annotations

import sys
from typing import Any

from pynode.sim.review import ReviewScenario, run_review_simulation
from pynode.stats import percentile

TARGET_RECALL = 0.9
TARGET_P99_S = 120.0
MIN_PLANTED = 50


def run_bench(
    nodes: int = 100,
    genuine: int = 150,
    planted: int = 60,
    research_s: float = 600.0,
    colluder_share: float = 0.2,
    seed: int = 1,
    runs: int = 1,
    quick: bool = False,
) -> dict[str, Any]:
    """`runs` independent networks (seeds seed, seed + 1, …), their counts summed and latencies pooled."""
    if quick:
        nodes, genuine, planted, research_s = min(nodes, 30), 40, 20, 200.0
    per_run = []
    for i in range(runs):
        scenario = ReviewScenario(
            nodes=nodes,
            colluder_share=colluder_share,
            genuine=genuine,
            planted=planted,
            research_s=research_s,
            seed=seed + i,
        )
        _log(
            f"review run {i + 1}/{runs}: {nodes} nodes ({colluder_share:.0%} colluding), {genuine} experiments and "
            f"{planted} planted claims over {research_s:g} virtual s on {', '.join(scenario.tasks)}…"
        )
        per_run.append(run_review_simulation(scenario))
    result = _pool(per_run)
    result["targets"] = {
        "false_breakthroughs": 0,
        "planted_at_least": MIN_PLANTED,
        "recall_at_least": TARGET_RECALL,
        "p99_latency_s_below": TARGET_P99_S,
    }
    result["met"] = {
        "no_false_breakthroughs": result["false_breakthroughs"] == 0 and result["planted"] >= MIN_PLANTED,
        "recall": result["recall"] is not None and result["recall"] >= TARGET_RECALL,
        "latency": result["review_latency_s"]["p99"] < TARGET_P99_S,
    }
    _table(result)
    return result


SUMMED = (
    "genuine",
    "genuine_significant",
    "genuine_p05",
    "true_breakthroughs_p05",
    "planted",
    "true_breakthroughs",
    "false_breakthroughs",
    "other_breakthroughs",
    "reviews_published",
    "declined",
    "late",
)


def _pool(runs: list[dict[str, Any]]) -> dict[str, Any]:
    latencies = [x for r in runs for x in r.pop("latencies")]
    out: dict[str, Any] = {k: runs[0][k] for k in ("nodes", "colluders", "colluder_share")}
    out.update({k: sum(r[k] for r in runs) for k in SUMMED})
    kinds: dict[str, int] = {}
    for r in runs:
        for k, v in r["planted_kinds"].items():
            kinds[k] = kinds.get(k, 0) + v
    results = sum(r["genuine"] + r["planted"] for r in runs)
    out |= {
        "planted_kinds": kinds,
        "recall": round(out["true_breakthroughs"] / out["genuine_significant"], 3)
        if out["genuine_significant"]
        else None,
        "reviews_per_result": round(
            sum(r["reviews_per_result"] * (r["genuine"] + r["planted"]) for r in runs) / results, 2
        )
        if results
        else 0.0,
        "review_latency_s": {
            "p50": round(percentile(latencies, 50, 0.0), 1),
            "p99": round(percentile(latencies, 99, 0.0), 1),
        },
        "same_view": all(r["same_view"] for r in runs),
        "runs": len(runs),
        "cpu_s": round(sum(r["cpu_s"] for r in runs), 1),
        "wall_s": round(sum(r["wall_s"] for r in runs), 1),
        "per_run": runs,
    }
    return out


def _table(r: dict[str, Any]) -> None:
    lat = r["review_latency_s"]
    rows = [
        (
            "nodes / colluders",
            f"{r['nodes']} / {r['colluders']} ({r['colluder_share']:.0%})",
            f"{r['runs']} run(s)",
        ),
        (
            "genuine results",
            str(r["genuine"]),
            f"{r['genuine_significant']} significant improvements (p < 0.05, CI clear of the best); "
            f"{r['genuine_p05']} by p alone, {r['true_breakthroughs_p05']} of them breakthroughs",
        ),
        (
            "planted claims",
            str(r["planted"]),
            ", ".join(f"{k} {v}" for k, v in sorted(r["planted_kinds"].items())),
        ),
        (
            "true breakthroughs",
            str(r["true_breakthroughs"]),
            f"recall {r['recall']} (target ≥ {TARGET_RECALL})",
        ),
        ("false breakthroughs", str(r["false_breakthroughs"]), f"target 0 of ≥ {MIN_PLANTED} planted"),
        (
            "other breakthroughs",
            str(r["other_breakthroughs"]),
            "genuine, not significant on the ground truth",
        ),
        ("counted reviews per result", str(r["reviews_per_result"]), f"{r['reviews_published']} published"),
        ("review latency p50 / p99", f"{lat['p50']} / {lat['p99']} s", f"target p99 < {TARGET_P99_S:g} s"),
        ("declined / late", f"{r['declined']} / {r['late']}", ""),
        ("same view on 3 replicas", str(r["same_view"]), ""),
        ("real CPU in evaluation", f"{r['cpu_s']} s", f"wall {r['wall_s']} s"),
    ]
    width = max(len(a) for a, _, _ in rows)
    for a, b, c in rows:
        _log(f"  {a:<{width}}  {b:>16}  {c}")


def _log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)
