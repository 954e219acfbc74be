"""The research view of the state: each result with its statistics, its lineage and its paper.

A pure function of validated records, like `pynode.state.views`: the relay's explorer pages and the archive's
per-task LEADERBOARD.md are both drawn from it, so they show the same ranks, parents and papers. Nothing here
trusts a reference: a parent that is not a known result, or a paper by someone other than the result's author,
is simply not linked.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from pynode.identity import peer_id_text
from pynode.research.registry import DOMAIN_MODULES
from pynode.research.registry import domain as load_domain
from pynode.state.records import Record
from pynode.state.views import BoardId, Row, leaderboards


def order(r: Record) -> tuple[int, str]:
    """Authors' clock order, ties by key: the one total order every replica agrees on."""
    return (r.ts, r.key)


def task_title(domain: str, task: str) -> str | None:
    """The task's one-line title when this release knows it (a peer on a newer release may have more tasks)."""
    if domain not in DOMAIN_MODULES:
        return None
    t = load_domain(domain).tasks.get(task)
    return t.title if t is not None else None


@dataclass(frozen=True)
class BoardRow:
    """A leaderboard row with the research columns beside the value."""

    rank: int
    author: str
    key: str
    value: str
    ci95: str | None  # half-width of the 95% CI
    seeds: int
    heldout: str | None  # the metric on data never used for selection
    p_value: str | None  # against the parent
    parent: str | None  # key of the known result it was inspired by
    paper: str | None  # key of its author's paper on it


@dataclass(frozen=True)
class LineageNode:
    """One result in a task's lineage tree, in depth-first order (a node's parent is the nearest node above
    it with depth one less)."""

    key: str
    depth: int
    orphan: bool  # it names a parent that is not drawn (unknown, in another task, or beyond the limit)
    better: bool | None  # than its drawn parent, in the task's direction; None without one


class ResearchIndex:
    def __init__(self, results: Iterable[Record], papers: Iterable[Record]) -> None:
        self.results: dict[str, Record] = {r.key: r for r in results if r.kind == "result"}
        self.papers: dict[str, Record] = {p.key: p for p in papers if p.kind == "paper"}
        self.children: dict[str, list[str]] = {}
        for r in sorted(self.results.values(), key=order):
            parent = self.parent(r.key)
            if parent is not None:
                self.children.setdefault(parent, []).append(r.key)
        # A result's paper: the one its body names, else the author's earliest paper that cites it.
        self.paper_of: dict[str, str] = {}
        for key, r in self.results.items():
            named = self.papers.get(r.body.get("paper", ""))
            if named is not None and named.author == r.author:
                self.paper_of[key] = named.key
        for p in sorted(self.papers.values(), key=order):
            for key in p.body["results"]:
                r = self.results.get(key)
                if r is not None and r.author == p.author:
                    self.paper_of.setdefault(key, p.key)
        by_task: dict[tuple[str, str], list[Record]] = {}
        for r in sorted(self.results.values(), key=order):
            by_task.setdefault((r.body["domain"], r.body["task"]), []).append(r)
        self._by_task = dict(sorted(by_task.items()))

    def parent(self, key: str) -> str | None:
        """The known result `key` was inspired by (its lineage edge), or None."""
        parent = self.results[key].body.get("inspired_by")
        return parent if parent in self.results and parent != key else None

    def tasks(self) -> dict[tuple[str, str], list[Record]]:
        """(domain, task) → its results in authors' clock order, tasks sorted."""
        return dict(self._by_task)

    def task_results(self, domain: str, task: str) -> list[Record]:
        return list(self._by_task.get((domain, task), []))

    def boards(self, domain: str, task: str) -> dict[BoardId, list[BoardRow]]:
        """The task's leaderboards (one per metric/unit/direction it was measured in) with research columns."""
        return {
            bid: [self.row(r) for r in rows]
            for bid, rows in leaderboards(self.task_results(domain, task)).items()
        }

    def row(self, row: Row) -> BoardRow:
        b = self.results[row.key].body
        return BoardRow(
            rank=row.rank,
            author=row.author,
            key=row.key,
            value=row.value,
            ci95=b.get("ci95"),
            seeds=row.seeds,
            heldout=b.get("heldout"),
            p_value=b.get("p_value"),
            parent=self.parent(row.key),
            paper=self.paper_of.get(row.key),
        )

    def lineage(self, domain: str, task: str, limit: int) -> list[LineageNode]:
        """The task's newest `limit` results as a forest along their `inspired_by` edges, depth first,
        roots and siblings in clock order."""
        shown = self.task_results(domain, task)[-limit:] if limit > 0 else []
        keys = {r.key for r in shown}
        out: list[LineageNode] = []
        stack: list[tuple[str, int]] = [(r.key, 0) for r in reversed(shown) if self.parent(r.key) not in keys]
        seen: set[str] = set()
        while stack:
            key, depth = stack.pop()
            if key in seen:  # keys are hashes of content that names its parent: no cycle, but never loop
                continue
            seen.add(key)
            parent = self.parent(key)
            drawn = parent if parent in keys else None
            out.append(
                LineageNode(
                    key,
                    depth,
                    orphan="inspired_by" in self.results[key].body and drawn is None,
                    better=self.better(key, drawn) if drawn is not None else None,
                )
            )
            kids = [k for k in self.children.get(key, []) if k in keys]
            stack.extend((k, depth + 1) for k in reversed(kids))
        return out

    def better(self, key: str, than: str) -> bool:
        a, b = self.results[key].body, self.results[than].body
        if (a["metric"], a["unit"], a["direction"]) != (b["metric"], b["unit"], b["direction"]):
            return False
        va, vb = Decimal(a["value"]), Decimal(b["value"])
        return va < vb if a["direction"] == "min" else va > vb

    def author(self, key: str) -> str:
        return peer_id_text(self.results[key].author)
