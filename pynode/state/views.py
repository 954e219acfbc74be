"""Views: pure functions of validated records. Same records in, same board out, on every node.

A leaderboard is per (domain, task, metric, unit, direction): a val_loss is never ranked beside a val_bpb,
nor a "max" accuracy beside a "min" one that reuses its name. Each author appears once, with their best
result; ties break by the earlier timestamp, then the smaller record key, so the order is total.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from decimal import Decimal
from typing import Any

from pynode.identity import peer_id_text
from pynode.state.records import Record, metric_value


@dataclass(frozen=True)
class BoardId:
    domain: str
    task: str
    metric: str
    unit: str
    direction: str  # "min": lower is better; "max": higher is better


@dataclass(frozen=True)
class Row:
    rank: int
    author: str
    value: str
    seeds: int
    ts: int
    key: str


def board_id(r: Record) -> BoardId:
    b = r.body
    return BoardId(b["domain"], b["task"], b["metric"], b["unit"], b["direction"])


def _order(r: Record) -> tuple[Decimal, int, str]:
    value = metric_value(r)
    return (value if r.body["direction"] == "min" else -value, r.ts, r.key)


def leaderboards(results: Iterable[Record]) -> dict[BoardId, list[Row]]:
    best: dict[BoardId, dict[bytes, Record]] = {}
    for r in results:
        if r.kind != "result":
            continue
        per_author = best.setdefault(board_id(r), {})
        current = per_author.get(r.author)
        if current is None or _order(r) < _order(current):
            per_author[r.author] = r
    boards = {}
    for bid in sorted(best, key=lambda b: (b.domain, b.task, b.metric, b.unit, b.direction)):
        ranked = sorted(best[bid].values(), key=_order)
        boards[bid] = [
            Row(i + 1, peer_id_text(r.author), r.body["value"], r.body["seeds"], r.ts, r.key)
            for i, r in enumerate(ranked)
        ]
    return boards


def boards_json(boards: dict[BoardId, list[Row]], limit: int | None = None) -> list[dict[str, Any]]:
    return [{**asdict(bid), "rows": [asdict(r) for r in rows[:limit]]} for bid, rows in boards.items()]


def boards_markdown(boards: dict[BoardId, list[Row]], domain: str) -> str:
    lines = [f"# Leaderboards — {domain}", ""]
    for bid, rows in boards.items():
        if bid.domain != domain:
            continue
        better = "lower" if bid.direction == "min" else "higher"
        lines += [f"## {bid.task} · {bid.metric} ({bid.unit}, {better} is better)", ""]
        lines += ["| rank | author | value | seeds | record |", "|---:|---|---:|---:|---|"]
        lines += [f"| {r.rank} | `{r.author[:12]}` | {r.value} | {r.seeds} | `{r.key[:12]}` |" for r in rows]
        lines.append("")
    return "\n".join(lines)


def latest_profiles(profiles: Iterable[Record]) -> dict[str, dict[str, Any]]:
    """Each author's newest profile (ties: larger key), so replaying an old profile changes nothing."""
    newest: dict[bytes, Record] = {}
    for r in profiles:
        cur = newest.get(r.author)
        if cur is None or (r.ts, r.key) > (cur.ts, cur.key):
            newest[r.author] = r
    return {peer_id_text(a): {**r.body, "ts": r.ts} for a, r in sorted(newest.items())}


def points_totals(points: Iterable[Record]) -> dict[str, int]:
    """Points per peer, counting each (issuer, round, part) once (its smallest record key), whatever the order.
    Any issuer's awards count here; pynode/presence/ledger.py counts only each round's certified leader's."""
    chosen: dict[tuple[bytes, int, int], Record] = {}
    for r in points:
        k = (r.author, r.body["round"], r.body.get("part", 0))
        if k not in chosen or r.key < chosen[k].key:
            chosen[k] = r
    totals: dict[str, int] = {}
    for r in chosen.values():
        for peer, pts in r.body["awards"]:
            text = peer_id_text(peer)
            totals[text] = totals.get(text, 0) + pts
    return dict(sorted(totals.items()))
