"""What the replicated state looks like in the archive repository (the layout is in docs/ARCHIVE.md).

A pure function of the replica's validated records and documents: the same state always yields the same
files, byte for byte, so a cycle repeated after a crash changes nothing.

Beside the content-addressed files (results/, papers/, …) each author gets a readable folder written from the
state: `agents/<peer>/<domain>/run-NNNN.json` (their results in that domain, numbered in their own clock order)
and `agents/<peer>/papers/NNNN.md` with its figures `NNNN.svg`, `NNNN-2.svg`; and each task a
`leaderboards/<domain>/<task>/LEADERBOARD.md`. The gateway refuses submissions into those folder names
(DERIVED_FOLDERS), so what a node submits under `agents/<peer>/` and what the state writes there never meet.
"""

from __future__ import annotations

import re
from typing import Any

from pynode.identity import peer_id_text
from pynode.research.board import BoardRow, ResearchIndex, order, task_title
from pynode.review.breakthroughs import analyse
from pynode.review.summary import breakthroughs_markdown, standing_json
from pynode.runtime.replica import EVIDENCE_FILE, evidence_bytes
from pynode.state.records import DOCS, DOMAINS, Record
from pynode.state.store import Store
from pynode.state.views import BoardId, boards_json, boards_markdown, latest_profiles, leaderboards
from relay_server.archive import json_bytes

# Folders under agents/<peer>/ that the state writes; a gateway submission may not start with one.
DERIVED_FOLDERS = frozenset({*DOMAINS, "papers"})
FIGURE_LINK = re.compile(r"\]\(figure-([1-9][0-9]{0,2})\.svg\)")


def plain(value: Any) -> Any:
    """`value` with every bytes as hex, at any depth (profiles and certificates nest them in lists)."""
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return value


def breakthrough_files(results: list[Record], store: Store) -> dict[str, bytes]:
    """`breakthroughs/`: the review view (pynode.review.breakthroughs) as of the newest record held, so the same
    records always give the same files."""
    reviews = list(store.all_records("reviews"))
    if not reviews:
        return {}
    profiles = list(store.all_records("identities"))
    newest = max(r.ts for r in [*results, *reviews, *profiles])
    view = analyse(results, reviews, profiles, newest)
    return {
        "breakthroughs/README.md": breakthroughs_markdown(view).encode(),
        "breakthroughs/breakthroughs.json": json_bytes(
            [standing_json(s, view) for s in view.breakthroughs()]
        ),
    }


def record_json(r: Record) -> dict[str, Any]:
    body = {k: plain(v) for k, v in r.body.items()}
    if r.kind == "points":
        body["awards"] = [[peer_id_text(p), n] for p, n in r.body["awards"]]
    return {
        "key": r.key,
        "kind": r.kind,
        "author": peer_id_text(r.author),
        "ts": r.ts,
        "body": body,
        "sig": r.sig.hex(),
        "record_cbor_hex": r.encoded.hex(),  # the exact signed bytes: anyone can re-verify
    }


class AuthorFolders:
    """Where each result and paper lives under its author's folder: numbered 1, 2, … in (ts, key) order per
    author and domain (results) or per author (papers). The same records always get the same numbers."""

    def __init__(self, index: ResearchIndex) -> None:
        self.run: dict[str, str] = {}  # result key → agents/<peer>/<domain>/run-NNNN.json
        self.paper: dict[str, str] = {}  # paper key → agents/<peer>/papers/NNNN (no suffix)
        counts: dict[tuple[bytes, str], int] = {}
        for r in sorted(index.results.values(), key=order):
            n = counts[(r.author, r.body["domain"])] = counts.get((r.author, r.body["domain"]), 0) + 1
            self.run[r.key] = f"agents/{peer_id_text(r.author)}/{r.body['domain']}/run-{n:04d}.json"
        for p in sorted(index.papers.values(), key=order):
            n = counts[(p.author, "papers")] = counts.get((p.author, "papers"), 0) + 1
            self.paper[p.key] = f"agents/{peer_id_text(p.author)}/papers/{n:04d}"

    def figure(self, paper: str, n: int) -> str:
        """Figure n (from 1) of a paper: NNNN.svg, then NNNN-2.svg, …"""
        return f"{self.paper[paper]}.svg" if n == 1 else f"{self.paper[paper]}-{n}.svg"


def paper_markdown(markdown: str, stem: str, figures: int) -> str:
    """The Markdown with its `figure-N.svg` links pointing at the archived figures beside it."""

    def link(m: re.Match[str]) -> str:
        n = int(m.group(1))
        if n > figures:
            return m.group(0)
        return f"]({stem}.svg)" if n == 1 else f"]({stem}-{n}.svg)"

    return FIGURE_LINK.sub(link, markdown)


def state_files(store: Store) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    results = [r for name in DOCS if name.startswith("results.") for r in store.all_records(name)]
    papers = list(store.all_records("papers"))
    index = ResearchIndex(results, papers)
    folders = AuthorFolders(index)
    for r in results:
        files[f"results/{r.body['domain']}/{r.body['task']}/{r.key}.json"] = json_bytes(record_json(r))
        files[folders.run[r.key]] = json_bytes({**record_json(r), "archive": _run_links(r, index, folders)})
    for r in store.all_records("reviews"):
        files[f"reviews/{r.key}.json"] = json_bytes(record_json(r))
    files.update(breakthrough_files(results, store))
    for r in store.all_records("points"):
        files[f"points/{r.key}.json"] = json_bytes(record_json(r))
    for p in papers:
        figures = p.body.get("figures", [])
        files[f"papers/{p.key}.md"] = p.body["markdown"].encode()  # the text exactly as its author signed it
        meta = record_json(p)
        meta["body"] = {k: v for k, v in meta["body"].items() if k not in ("markdown", "figures")}
        stem = folders.paper[p.key]
        meta["archive"] = {
            "markdown": f"{stem}.md",
            "figures": [folders.figure(p.key, n) for n in range(1, len(figures) + 1)],
        }
        files[f"papers/{p.key}.json"] = json_bytes(meta)
        name = stem.rsplit("/", 1)[1]
        files[f"{stem}.md"] = paper_markdown(p.body["markdown"], name, len(figures)).encode()
        for n, svg in enumerate(figures, start=1):
            files[folders.figure(p.key, n)] = svg.encode()
    for peer, profile in latest_profiles(store.all_records("identities")).items():
        files[f"profiles/{peer}.json"] = json_bytes(plain(profile))
    boards = leaderboards(results)
    for domain in DOMAINS:
        mine = {b: rows for b, rows in boards.items() if b.domain == domain}
        if mine:
            files[f"leaderboards/{domain}.json"] = json_bytes(boards_json(mine))
            files[f"leaderboards/{domain}.md"] = boards_markdown(mine, domain).encode()
    for domain, task in index.tasks():
        text = task_leaderboard(index, folders, domain, task)
        files[f"leaderboards/{domain}/{task}/LEADERBOARD.md"] = text.encode()
    for name in DOCS:
        if store.records[name]:
            files[f"snapshots/{name}.loro"] = store.snapshot(name)
    if (proofs := evidence_bytes(store)) is not None:  # without it the snapshots would not load again
        files[f"snapshots/{EVIDENCE_FILE}"] = proofs
    return files


def _run_links(r: Record, index: ResearchIndex, folders: AuthorFolders) -> dict[str, str]:
    """Where to go from a run file: its permanent address, its parent's run, its paper."""
    links = {"record": f"results/{r.body['domain']}/{r.body['task']}/{r.key}.json"}
    parent = index.parent(r.key)
    if parent is not None:
        links["parent"] = folders.run[parent]
    paper = index.paper_of.get(r.key)
    if paper is not None:
        links["paper"] = f"{folders.paper[paper]}.md"
    return links


def task_leaderboard(index: ResearchIndex, folders: AuthorFolders, domain: str, task: str) -> str:
    """LEADERBOARD.md of one task: each author's best with CI, held-out and lineage, linked into the archive."""
    up = "../../../"  # from leaderboards/<domain>/<task>/ to the repository root
    lines = [f"# {task} — {domain}", ""]
    title = task_title(domain, task)
    if title:
        lines += [title, ""]
    results = index.task_results(domain, task)
    authors = len({r.author for r in results})
    lines += [
        f"{len(results)} results by {authors} authors. Each author's best is ranked; every run is linked.",
        "",
    ]
    for bid, rows in index.boards(domain, task).items():
        lines += _board_lines(bid, rows, index, folders, up)
    return "\n".join(lines)


def _board_lines(
    bid: BoardId, rows: list[BoardRow], index: ResearchIndex, folders: AuthorFolders, up: str
) -> list[str]:
    better = "lower" if bid.direction == "min" else "higher"
    lines = [
        f"## {bid.metric} ({bid.unit}, {better} is better)",
        "",
        "| rank | author | value ± 95% CI | n | held-out | p vs parent | parent | children | paper | run |",
        "|---:|---|---:|---:|---:|---:|---|---:|---|---|",
    ]
    for r in rows:
        value = r.value if r.ci95 is None else f"{r.value} ± {r.ci95}"
        parent = f"[`{r.parent[:8]}`]({up}{folders.run[r.parent]})" if r.parent is not None else "—"
        paper = f"[paper]({up}{folders.paper[r.paper]}.md)" if r.paper is not None else "—"
        run = folders.run[r.key]
        cells = [
            str(r.rank),
            f"`{r.author[:12]}`",
            value,
            str(r.seeds),
            r.heldout or "—",
            r.p_value or "—",
            parent,
            str(len(index.children.get(r.key, []))),
            paper,
            f"[{run.rsplit('/', 1)[1].removesuffix('.json')}]({up}{run})",
        ]
        lines.append(f"| {' | '.join(cells)} |")
    lines.append("")
    return lines
