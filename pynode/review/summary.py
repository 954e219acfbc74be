"""What people see of review: per-result reviews, the breakthroughs list, reviewer weights — JSON for the
dashboard and Markdown for the archive (`breakthroughs/`), both pure functions of an `Analysis`."""

from __future__ import annotations

from typing import Any

from pynode.identity import peer_id_text
from pynode.research.agent import decimal_text
from pynode.review.breakthroughs import Analysis, ReviewRow, Standing

MAX_ROWS = 200  # results listed in one summary: the dashboard shows the newest


def _review_json(row: ReviewRow, analysis: Analysis) -> dict[str, Any]:
    b = row.record.body
    weight = analysis.weights.get(row.reviewer)
    return {
        "key": row.record.key,
        "reviewer": peer_id_text(row.reviewer),
        "score": b["score"],
        "verdict": b.get("verdict"),
        "measured": b.get("measured"),
        "tolerance": b.get("tolerance"),
        "subscores": b.get("subscores", {}),
        "epoch": b.get("epoch"),
        "proof_verified": row.eligible,  # the ticket verified and was drawn (the ✓ on the dashboard)
        "counted": row.counted,
        "why_not": row.reason,
        "weight": str(weight) if weight is not None else None,
        "copy_of": b.get("copy_of"),
        "comment": b.get("comment", ""),
    }


def standing_json(s: Standing, analysis: Analysis) -> dict[str, Any]:
    b = s.result.body
    return {
        "result": s.result.key,
        "author": peer_id_text(s.result.author),
        "task": b["task"],
        "metric": b["metric"],
        "unit": b["unit"],
        "value": b["value"],
        "ts": s.result.ts,
        "consensus": s.consensus,
        "median": s.median,
        "reproduced": s.reproduced,
        "counted": len(s.standing),
        "copy_of": s.copy_of,
        "best": s.best,
        "p_vs_best": decimal_text(s.p_vs_best) if s.p_vs_best is not None else None,
        "breakthrough": s.breakthrough,
        "final": s.final,
        "reviews": [_review_json(r, analysis) for r in s.rows],
    }


def summary_json(analysis: Analysis, limit: int = MAX_ROWS) -> dict[str, Any]:
    newest = sorted(analysis.standings.values(), key=lambda s: (s.result.ts, s.result.key), reverse=True)
    return {
        "results": [standing_json(s, analysis) for s in newest[:limit] if s.rows],
        "breakthroughs": [standing_json(s, analysis) for s in analysis.breakthroughs()],
        "weights": {peer_id_text(p): str(w) for p, w in sorted(analysis.weights.items())},
    }


def breakthroughs_markdown(analysis: Analysis) -> str:
    """`breakthroughs/README.md` of the archive: the breakthroughs, oldest first; final once their review
    window has closed (until then more reviews may still count)."""
    lines = [
        "# Breakthroughs",
        "",
        "Reproduced by VRF-drawn reviewers, median score ≥ 8 of ≥ 3 reviews, significantly better than the",
        "task's best established result (docs/REVIEW.md §4). Recomputed from the review records.",
        "",
        "| task | value | median | reproduced | p vs best | status | result | author |",
        "|---|---:|---:|---:|---:|---|---|---|",
    ]
    for s in analysis.breakthroughs():
        b = s.result.body
        p = decimal_text(s.p_vs_best, 3) if s.p_vs_best is not None else "—"
        lines.append(
            f"| {b['task']} | {b['value']} {b['unit']} | {s.median} | {s.reproduced} | {p} | "
            f"{'final' if s.final else 'under review'} | `{s.result.key[:16]}` | "
            f"`{peer_id_text(s.result.author)[:12]}` |"
        )
    return "\n".join(lines) + "\n"
