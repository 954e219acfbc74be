"""`/explore`: the relay's replica as web pages a visitor reads without joining. Read-only, no script.

  /explore                                  domains and their tasks, newest papers
  /explore/task/<domain>/<task>             the task's boards (value ± CI, n, held-out, p, parent, paper),
                                            its lineage tree (SVG drawn here) and its results, newest first
  /explore/result/<key>                     every field, the config, parent and children, the signed bytes
  /explore/paper/<key>                      the paper, its Markdown rendered safely (relay_server.markdown)
  /explore/paper/<key>/figure-<n>.svg       a figure, as the author signed it
  /explore/points                           the points ledger (relay_server/points_page.py)

Everything shown comes from peers, so everything is escaped, every page forbids script with its CSP, and a
figure (an SVG a peer wrote) is served with a CSP of its own and embedded as <img>, where SVG never runs
script anyway. Keys and slugs in URLs are checked before any lookup; anything unknown is a 404.
"""

from __future__ import annotations

import bisect
import json
import re
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Route

from pynode.identity import peer_id_text
from pynode.research.board import BoardRow, ResearchIndex, task_title
from pynode.research.lineage import tree_svg
from pynode.state.records import DOCS, DOMAINS, KEY, SLUG, Record
from pynode.state.store import Store
from pynode.state.views import BoardId
from relay_server.limits import EXPLORE_MAX_LINEAGE, EXPLORE_MAX_LINKS, EXPLORE_MAX_ROWS, EXPLORE_REFRESH_S
from relay_server.markdown import render

if TYPE_CHECKING:
    from relay_server.relay import Relay

PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}
# A figure opened directly is its own document: no script, no fetches, an opaque origin (sandbox).
FIGURE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; sandbox",
    "X-Content-Type-Options": "nosniff",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Cache-Control": "public, max-age=86400, immutable",  # a record key names one value forever
}
CSS = Path(__file__).with_name("explore.css").read_bytes()
FIGURE_NAME = re.compile(r"figure-([1-9][0-9]{0,2})\.svg")
HEX_PREFIX = re.compile(r"[0-9a-f]{8,64}")


def routes(relay: Relay) -> list[BaseRoute]:
    built: list[tuple[tuple[int, ...], float, Explorer]] = []  # the last view: (counts, when, view)

    def explorer() -> Explorer | None:
        """The explorer over the replica; rebuilt when records were added (they never change or go away, so
        the counts say whether anything did), at most every EXPLORE_REFRESH_S."""
        replica = relay.replica
        if replica is None:
            return None
        store = replica.store
        counts = tuple(len(store.records[name]) for name in DOCS)
        now = time.monotonic()
        if not built or (built[0][0] != counts and now - built[0][1] >= EXPLORE_REFRESH_S):
            built[:] = [(counts, now, Explorer(store, relay.identity.text))]
        return built[0][2]

    def served(
        build: Callable[[Explorer, dict[str, str]], Response],
    ) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            x = explorer()
            if x is None:
                return page("No state", "<p>This relay holds no replica of the state.</p>", "", status=503)
            return build(x, request.path_params)

        return endpoint

    async def css(_request: Request) -> Response:
        return Response(CSS, media_type="text/css", headers={**PAGE_HEADERS, "Cache-Control": "no-cache"})

    return [
        Route("/explore", served(Explorer.home)),
        Route("/explore/style.css", css),
        Route("/explore/task/{domain}/{task}", served(Explorer.task)),
        Route("/explore/result/{key}", served(Explorer.result)),
        Route("/explore/paper/{key}", served(Explorer.paper)),
        Route("/explore/paper/{key}/{name}", served(Explorer.figure)),
    ]


def page(title: str, body: str, relay: str, crumbs: str = "", status: int = 200) -> HTMLResponse:
    footer = (
        f"Read-only view of the replica held by relay <code>{escape(relay[:16])}</code>. "
        "Every value here is a record signed by its author; each page links the bytes to verify."
        if relay
        else ""
    )
    html = (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)} · Hyperspace explorer</title>"
        '<link rel="stylesheet" href="/explore/style.css"></head><body>'
        '<header><a class="brand" href="/explore">Hyperspace explorer</a>'
        f'<nav aria-label="breadcrumbs">{crumbs}</nav><a class="dash" href="/">dashboard</a></header>'
        f"<main>{body}</main><footer>{footer}</footer></body></html>\n"
    )
    return HTMLResponse(html, status_code=status, headers=PAGE_HEADERS)


def not_found(what: str, relay: str) -> HTMLResponse:
    return page("Not found", f"<h1>Not found</h1><p>{escape(what)}</p>", relay, status=404)


class Explorer:
    """The pages over one moment of a replica."""

    def __init__(self, store: Store, relay: str) -> None:
        results = [r for name in DOCS if name.startswith("results.") for r in store.all_records(name)]
        self.index = ResearchIndex(results, store.all_records("papers"))
        self.relay = relay
        self.result_keys = sorted(self.index.results)

    # ---- pages ------------------------------------------------------------------------------------

    def home(self, _params: dict[str, str]) -> Response:
        ix = self.index
        authors = {r.author for r in ix.results.values()} | {p.author for p in ix.papers.values()}
        parts = [
            "<h1>Research on the network</h1>",
            f"<p>{len(ix.results)} results and {len(ix.papers)} papers from {len(authors)} authors, "
            "as this relay's replica holds them now. The nodes present in pulse rounds: "
            '<a href="/explore/points">points</a>.</p>',
        ]
        tasks = ix.tasks()
        for domain in DOMAINS:
            mine = [(task, rs) for (d, task), rs in tasks.items() if d == domain]
            parts.append(f'<h2 id="{escape(domain)}">{escape(domain)}</h2>')
            if not mine:
                parts.append('<p class="muted">No results yet.</p>')
                continue
            rows = []
            for task, rs in mine:
                title = _task_title(domain, task)
                board = next(iter(ix.boards(domain, task).items()), None)
                best = ""
                if board is not None and board[1]:
                    bid, top = board[0], board[1][0]
                    best = f"{_value(top.value, top.ci95)} {escape(bid.unit)} {_author(top.author)}"
                rows.append(
                    f'<tr><td><a href="{_task_href(domain, task)}">{escape(task)}</a>'
                    f'<div class="muted">{escape(title)}</div></td>'
                    f'<td class="r">{len(rs)}</td><td class="r">{len({r.author for r in rs})}</td>'
                    f"<td>{best}</td></tr>"
                )
            parts.append(
                "<table><thead><tr><th>task</th><th class='r'>results</th><th class='r'>authors</th>"
                f"<th>best</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
            )
        papers = sorted(ix.papers.values(), key=lambda p: (p.ts, p.key), reverse=True)[:EXPLORE_MAX_ROWS]
        parts.append("<h2>Newest papers</h2>")
        parts.append(self._paper_list(papers) if papers else '<p class="muted">No papers yet.</p>')
        return page("Explorer", "".join(parts), self.relay)

    def task(self, params: dict[str, str]) -> Response:
        domain, task = params["domain"], params["task"]
        if domain not in DOMAINS or not SLUG.fullmatch(task):
            return not_found("There is no such task.", self.relay)
        results = self.index.task_results(domain, task)
        if not results:
            return not_found(f"No results for {domain}/{task} on this relay.", self.relay)
        crumbs = f'<a href="/explore#{escape(domain)}">{escape(domain)}</a> › {escape(task)}'
        parts = [f"<h1>{escape(task)}</h1>", f'<p class="muted">{escape(_task_title(domain, task))}</p>']
        boards = self.index.boards(domain, task)
        for bid, rows in boards.items():
            parts.append(self._board(bid, rows))
        best = next((rows[0].key for rows in boards.values() if rows), None)
        nodes = self.index.lineage(domain, task, EXPLORE_MAX_LINEAGE)
        labels = {n.key: self._label(n.key) for n in nodes}
        parts += [
            "<h2>Lineage</h2>",
            '<p class="muted">Each result under the one it was inspired by. Green: better than its parent; '
            "orange: not; blue: a root (a baseline or a result whose parent is not on this task); "
            f"ringed: the leader. The newest {EXPLORE_MAX_LINEAGE} results are drawn.</p>",
            f'<div class="lineage">{tree_svg(nodes, labels, _result_href, best)}</div>',
            "<h2>All results, newest first</h2>",
            self._result_list(list(reversed(results))[:EXPLORE_MAX_ROWS]),
        ]
        return page(task, "".join(parts), self.relay, crumbs)

    def result(self, params: dict[str, str]) -> Response:
        key = params["key"]
        r = self.index.results.get(key) if KEY.fullmatch(key) else None
        if r is None:
            return not_found("There is no result with that key on this relay.", self.relay)
        b = r.body
        domain, task = b["domain"], b["task"]
        crumbs = (
            f'<a href="/explore#{escape(domain)}">{escape(domain)}</a> › <a href="{_task_href(domain, task)}">'
            f"{escape(task)}</a> › result"
        )
        parent = self.index.parent(key)
        rows = [
            ("task", f'<a href="{_task_href(domain, task)}">{escape(domain)}/{escape(task)}</a>'),
            ("author", f"<code>{escape(peer_id_text(r.author))}</code>"),
            ("time", escape(_when(r.ts))),
            ("value", f"{_value(b['value'], b.get('ci95'))} {escape(b['unit'])} (95% CI)"),
        ]
        for name in sorted(b):
            if name in ("domain", "task", "value", "ci95", "unit", "config"):
                continue
            rows.append((name, self._field(name, b[name])))
        if parent is None and "inspired_by" in b:
            rows.append(("parent", '<span class="muted">not on this relay</span>'))
        paper = self.index.paper_of.get(key)
        if paper is not None:
            rows.append(("its paper", self._paper_link(paper)))
        parts = [
            f"<h1>Result <code>{key[:16]}</code></h1>",
            f'<p class="muted">{escape(_task_title(domain, task))}</p>',
            _table_of(rows),
        ]
        if "config" in b:
            parts += ["<h2>Configuration</h2>", f"<pre>{escape(_pretty(b['config']))}</pre>"]
        children = self.index.children.get(key, [])
        parts.append(f"<h2>Inspired by this ({len(children)})</h2>")
        parts.append(
            self._result_list([self.index.results[k] for k in children[:EXPLORE_MAX_LINKS]])
            if children
            else '<p class="muted">Nothing yet.</p>'
        )
        citing = [p for p in self.index.papers.values() if key in p.body["results"]][:EXPLORE_MAX_LINKS]
        if citing:
            parts += ["<h2>Papers citing it</h2>", self._paper_list(citing)]
        parts += [
            "<h2>Reproduce</h2>",
            f"<pre>hyperspace reproduce {key}</pre>",
            '<p class="muted">Re-runs the configuration on the same seeds and says whether the values agree.</p>',
            *self._signed(r),
        ]
        return page(f"result {key[:12]}", "".join(parts), self.relay, crumbs)

    def paper(self, params: dict[str, str]) -> Response:
        key = params["key"]
        p = self.index.papers.get(key) if KEY.fullmatch(key) else None
        if p is None:
            return not_found("There is no paper with that key on this relay.", self.relay)
        b = p.body
        figures = b.get("figures", [])

        def image_src(target: str) -> str | None:
            m = FIGURE_NAME.fullmatch(target)
            if m is None or not 1 <= int(m.group(1)) <= len(figures):
                return None  # no remote images, no data: URLs, only the paper's own figures
            return f"/explore/paper/{key}/figure-{int(m.group(1))}.svg"

        crumbs = (
            f'<a href="/explore#{escape(b["domain"])}">{escape(b["domain"])}</a> › '
            f'<a href="{_task_href(b["domain"], b["task"])}">{escape(b["task"])}</a> › paper'
        )
        cited = ", ".join(
            f'<a href="{_result_href(k)}"><code>{k[:12]}</code></a>'
            if k in self.index.results
            else f"<code>{k[:12]}</code>"
            for k in b["results"]
        )
        meta = _table_of(
            [
                ("author", f"<code>{escape(peer_id_text(p.author))}</code>"),
                ("time", escape(_when(p.ts))),
                ("results", cited or "—"),
                ("record", f"<code>{key}</code>"),
            ]
        )
        article = render(b["markdown"], image_src, self._code_href)
        body = [meta, f'<article class="paper">{article}</article>', *self._signed(p)]
        return page(b["title"], "".join(body), self.relay, crumbs)

    def figure(self, params: dict[str, str]) -> Response:
        key, name = params["key"], params["name"]
        p = self.index.papers.get(key) if KEY.fullmatch(key) else None
        m = FIGURE_NAME.fullmatch(name)
        figures = p.body.get("figures", []) if p is not None else []
        if m is None or not 1 <= int(m.group(1)) <= len(figures):
            return not_found("There is no such figure.", self.relay)
        return Response(figures[int(m.group(1)) - 1], media_type="image/svg+xml", headers=FIGURE_HEADERS)

    # ---- pieces -----------------------------------------------------------------------------------

    def _board(self, bid: BoardId, rows: list[BoardRow]) -> str:
        better = "lower" if bid.direction == "min" else "higher"
        held = any(r.heldout is not None for r in rows)
        head = ["rank", "author", f"{escape(bid.metric)} ± 95% CI", "n"]
        head += ["held-out"] if held else []
        head += ["p vs parent", "parent", "paper"]
        body = []
        for r in rows[:EXPLORE_MAX_ROWS]:
            cells = [
                f'<td class="r">{r.rank}</td>',
                f"<td>{_author(r.author)}</td>",
                f'<td class="r"><a href="{_result_href(r.key)}">{_value(r.value, r.ci95)}</a></td>',
                f'<td class="r">{r.seeds}</td>',
            ]
            if held:
                cells.append(f'<td class="r">{escape(r.heldout or "—")}</td>')
            cells += [
                f'<td class="r">{escape(r.p_value or "—")}</td>',
                f"<td>{self._result_link(r.parent)}</td>",
                f"<td>{self._paper_link(r.paper)}</td>",
            ]
            body.append(f"<tr>{''.join(cells)}</tr>")
        heads = "".join(f"<th>{h}</th>" for h in head)
        more = len(rows) - EXPLORE_MAX_ROWS
        note = f'<p class="muted">{more} more authors not shown.</p>' if more > 0 else ""
        return (
            f"<h2>{escape(bid.metric)} <span class='muted'>({escape(bid.unit)}, {better} is better; "
            f"each author's best)</span></h2><table><thead><tr>{heads}</tr></thead>"
            f"<tbody>{''.join(body)}</tbody></table>{note}"
        )

    def _result_list(self, results: list[Record]) -> str:
        rows = []
        for r in results:
            b = r.body
            rows.append(
                f"<tr><td>{escape(_when(r.ts))}</td><td>{_author(peer_id_text(r.author))}</td>"
                f'<td class="r"><a href="{_result_href(r.key)}">{_value(b["value"], b.get("ci95"))}</a></td>'
                f'<td class="r">{b["seeds"]}</td><td>{self._result_link(self.index.parent(r.key))}</td>'
                f"<td>{self._paper_link(self.index.paper_of.get(r.key))}</td>"
                f"<td>{escape(b.get('hypothesis', '')[:160])}</td></tr>"
            )
        return (
            "<table><thead><tr><th>time</th><th>author</th><th>value ± CI</th><th>n</th><th>parent</th>"
            f"<th>paper</th><th>hypothesis</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
        )

    def _paper_list(self, papers: list[Record]) -> str:
        items = [
            f'<li><a href="/explore/paper/{p.key}">{escape(p.body["title"])}</a> '
            f'<span class="muted">{escape(p.body["task"])} · {_author(peer_id_text(p.author))} · '
            f"{escape(_when(p.ts))}</span></li>"
            for p in papers
        ]
        return f"<ul class='papers'>{''.join(items)}</ul>"

    def _label(self, key: str) -> str:
        b = self.index.results[key].body
        ci = f" ± {b['ci95']}" if "ci95" in b else ""
        return f"{b['value']}{ci} · {self.index.author(key)[:8]} · {key[:8]}"

    def _result_link(self, key: str | None) -> str:
        if key is None:
            return "—"
        return f'<a href="{_result_href(key)}"><code>{key[:8]}</code></a>'

    def _paper_link(self, key: str | None) -> str:
        if key is None:
            return "—"
        return f'<a href="/explore/paper/{key}">paper</a>'

    def _field(self, name: str, value: object) -> str:
        if name in ("inspired_by", "baseline", "paper") and isinstance(value, str):
            if name == "paper" and value in self.index.papers:
                return self._paper_link(value)
            if value in self.index.results:
                return self._result_link(value)
            return f"<code>{escape(value)}</code>"
        if isinstance(value, list):
            return escape(", ".join(str(v) for v in value))
        return escape(str(value))

    def _code_href(self, code: str) -> str | None:
        """Inline code in a paper that names a known result (a full key or an unambiguous ≥ 8-digit prefix)."""
        if not HEX_PREFIX.fullmatch(code):
            return None
        if code in self.index.papers:
            return f"/explore/paper/{code}"
        i = bisect.bisect_left(self.result_keys, code)
        hits = self.result_keys[i : i + 2]
        if hits and hits[0].startswith(code) and (len(hits) == 1 or not hits[1].startswith(code)):
            return _result_href(hits[0])
        return None

    def _signed(self, r: Record) -> list[str]:
        return [
            "<h2>Signed record</h2>",
            f"<p class='muted'>The key is the SHA-256 of these bytes (deterministic CBOR); <code>sig</code> is "
            "the author's Ed25519 signature over <code>hyperspace/1/state-record\\0</code> followed by the CBOR "
            f"of the record without it (docs/ARCHIVE.md).</p><p>sig <code class='hex'>{r.sig.hex()}</code></p>",
            f"<details><summary>{len(r.encoded)} bytes, hex</summary>"
            f"<pre class='hex'>{r.encoded.hex()}</pre></details>",
        ]


def _task_href(domain: str, task: str) -> str:
    return f"/explore/task/{escape(domain)}/{escape(task)}"


def _result_href(key: str) -> str:
    return f"/explore/result/{key}"


def _author(author: str) -> str:
    return f'<code title="{escape(author)}">{escape(author[:12])}</code>'


def _value(value: str, ci95: str | None) -> str:
    return escape(value if ci95 is None else f"{value} ± {ci95}")


def _table_of(rows: list[tuple[str, str]]) -> str:
    """A two-column field table; the values are HTML already escaped by the caller."""
    body = "".join(f"<tr><th>{escape(k)}</th><td>{v}</td></tr>" for k, v in rows)
    return f"<table class='fields'><tbody>{body}</tbody></table>"


def _task_title(domain: str, task: str) -> str:
    title = task_title(domain, task)
    return title if title is not None else "a task this relay's release does not know"


def _when(ts: int) -> str:
    try:
        return datetime.fromtimestamp(ts / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    except (OverflowError, OSError, ValueError):
        return f"{ts} ms"


def _pretty(config: str) -> str:
    try:
        return json.dumps(json.loads(config), indent=2, sort_keys=True, ensure_ascii=False)
    except (ValueError, RecursionError):  # not JSON, or nested deeper than the parser goes
        return config  # shown as the author signed it
