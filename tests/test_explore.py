"""/explore: the relay's replica as read-only pages, filled with real signed research records (search domain).

Boards with CI, held-out and lineage columns, result and paper pages at their keys, figures served inert, a
hostile paper rendered as text, bad keys 404 — and the relay's replica refusing a contradicting result.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from html.parser import HTMLParser

import httpx
import pytest

from pynode.identity import Identity
from pynode.state.authorship import Rejected
from pynode.state.records import make_record
from relay_server.app import create_app
from relay_server.config import RelayConfig
from relay_server.markdown import render
from relay_server.relay import open_relay
from tests.research_util import TASK, deliver, research_run

ALLOWED_TAGS = {
    "html", "head", "meta", "title", "link", "body", "header", "nav", "main", "footer", "a", "h1", "h2", "h3",
    "h4", "h5", "h6", "p", "div", "span", "table", "thead", "tbody", "tr", "th", "td", "code", "pre", "em",
    "strong", "ul", "ol", "li", "img", "article", "details", "summary", "hr", "svg", "g", "circle", "path",
    "text",
}  # fmt: skip
ALLOWED_ATTRS = {
    "id", "lang", "charset", "name", "content", "rel", "href", "class", "title", "aria-label", "src", "alt",
    "xmlns", "width", "height", "viewbox", "font-family", "font-size", "role", "d", "fill", "stroke",
    "stroke-width", "stroke-dasharray", "cx", "cy", "r", "x", "y",
}  # fmt: skip
HOSTILE_MD = """# Totally <script>alert(1)</script> normal

<img src=x onerror="alert(2)"> and <iframe src="https://evil.example"></iframe>

[click](javascript:alert(3)) [data](data:text/html,<script>alert(4)</script>) [ok](https://example.org/a?b=1&c=2)

![remote](https://evil.example/track.png) ![js](javascript:alert(5)) ![fig](figure-1.svg) ![nope](figure-7.svg)

| a <b onmouseover=alert(6)> | `<script>` |
|---|---:|
| **x" onclick="alert(7)** | [y](vbscript:msgbox) |

```
</code></pre><script>alert(8)</script>
```

*<svg onload=alert(9)>* `` ` `` \\<script\\>
"""
HOSTILE_SVG = '<svg xmlns="http://www.w3.org/2000/svg" onload="alert(10)"><script>alert(11)</script></svg>'


class Tags(HTMLParser):
    """Every start tag and attribute of a page, as a browser's tokenizer sees them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def tags_of(html: str) -> list[tuple[str, dict[str, str | None]]]:
    p = Tags()
    p.feed(html)
    p.close()
    return p.tags


def assert_inert(html: str) -> None:
    """Only tags and attributes the explorer writes, and only URLs it makes."""
    for tag, attrs in tags_of(html):
        assert tag in ALLOWED_TAGS, tag
        for name, value in attrs.items():
            assert name in ALLOWED_ATTRS, (tag, name)
            if name in ("href", "src"):
                assert value is not None and re.match(r"(/explore|/$|https?://)", value), (tag, value)
                assert "javascript:" not in value.lower()


def assert_strict_csp(r: httpx.Response) -> None:
    csp = r.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src" not in csp and "'unsafe-inline'" not in csp
    assert r.headers["x-content-type-options"] == "nosniff"


@pytest.fixture(scope="module")
def research():
    """Three real experiments by two authors (baseline, then children) and a hostile author's paper."""
    return asyncio.run(_research())


async def _research():
    ada, bob, mallory = [await Identity.from_seed(bytes([i]) * 32) for i in (1, 2, 3)]
    published = await research_run([ada, bob], 3)
    target = published[0].result.key
    hostile = await make_record(
        mallory.signer,
        "paper",
        {
            "title": "<script>alert(0)</script>",
            "domain": "search",
            "task": TASK,
            "results": [target],
            "markdown": HOSTILE_MD,
            "figures": [HOSTILE_SVG],
        },
        int(time.time() * 1000),
    )
    return [ada, bob, mallory], published, hostile


@pytest.fixture
async def explorer(tmp_path, research):
    authors, published, hostile = research
    config = RelayConfig(data_dir=tmp_path / "relay", static_dir=None, archive=False)
    relay = await open_relay(config, identity=await Identity.generate())
    records = [r for p in published for r in (p.result, p.paper)] + [hostile]
    await deliver(relay.replica.store, authors, records)
    app = create_app(relay)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://relay") as client:
        yield client, relay
    await relay.shutdown()


async def test_the_index_lists_domains_tasks_and_papers(explorer, research):
    client, _ = explorer
    _, published, _ = research
    r = await client.get("/explore")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert_strict_csp(r)
    assert_inert(r.text)
    assert f'href="/explore/task/search/{TASK}"' in r.text
    for domain in ("ml", "search", "finance", "skills", "causes"):
        assert f'<h2 id="{domain}">{domain}</h2>' in r.text
    for p in published:
        assert f'href="/explore/paper/{p.paper.key}"' in r.text
    css = await client.get("/explore/style.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")


async def test_the_task_board_has_ci_heldout_p_parent_and_paper_and_a_lineage_tree(explorer, research):
    client, _ = explorer
    _, published, _ = research
    r = await client.get(f"/explore/task/search/{TASK}")
    assert r.status_code == 200
    assert_strict_csp(r)
    assert_inert(r.text)
    board = r.text.split("<h2>Lineage</h2>")[0]
    for h in ("rank", "author", "ndcg10 ± 95% CI", "n", "held-out", "p vs parent", "parent", "paper"):
        assert f"<th>{h}</th>" in board
    results = [p.result for p in published]
    best_per_author: dict[bytes, object] = {}
    for res in results:
        cur = best_per_author.get(res.author)
        if cur is None or float(res.body["value"]) > float(cur.body["value"]):
            best_per_author[res.author] = res
    ranked = sorted(best_per_author.values(), key=lambda x: -float(x.body["value"]))
    rows = board.split("<tbody>")[1].split("</tbody>")[0].split("<tr>")[1:]
    assert len(rows) == len(ranked)
    for row, res in zip(rows, ranked, strict=True):
        b = res.body
        assert f'href="/explore/result/{res.key}">{b["value"]} ± {b["ci95"]}</a>' in row
        assert f">{b['heldout']}<" in row
        if "inspired_by" in b:
            assert f'href="/explore/result/{b["inspired_by"]}"' in row and f">{b['p_value']}<" in row
        paper = next(p.paper for p in published if p.result.key == res.key)
        assert f'href="/explore/paper/{paper.key}"' in row
    lineage = r.text.split("<h2>Lineage</h2>")[1].split("<h2>")[0]
    drawn = re.findall(r'<a href="/explore/result/([0-9a-f]{64})">', lineage)
    assert sorted(drawn) == sorted(res.key for res in results)  # every result once
    for res in results:  # a child is drawn below its parent
        if "inspired_by" in res.body:
            assert drawn.index(res.body["inspired_by"]) < drawn.index(res.key)
    assert lineage.count("<path ") == sum("inspired_by" in res.body for res in results)  # one edge each


async def test_a_result_page_shows_every_field_lineage_the_signed_bytes_and_how_to_reproduce(
    explorer, research
):
    client, _ = explorer
    _, published, _ = research
    child = next(p.result for p in published if "inspired_by" in p.result.body)
    parent = child.body["inspired_by"]
    r = await client.get(f"/explore/result/{child.key}")
    assert r.status_code == 200
    assert_strict_csp(r)
    assert_inert(r.text)
    b = child.body
    for name in ("metric", "direction", "seeds", "heldout", "p_value", "noise_floor", "baseline", "samples"):
        if name in b:
            assert f"<th>{name}</th>" in r.text
    assert ", ".join(b["samples"]) in r.text
    assert f'href="/explore/result/{parent}"' in r.text
    pretty = json.dumps(json.loads(b["config"]), indent=2, sort_keys=True)
    assert pretty.replace('"', "&quot;") in r.text
    assert child.encoded.hex() in r.text and child.sig.hex() in r.text
    assert f"hyperspace reproduce {child.key}" in r.text
    up = await client.get(f"/explore/result/{parent}")
    assert f'href="/explore/result/{child.key}"' in up.text.split("Inspired by this")[1]  # its child


async def test_a_paper_renders_with_its_figure_and_the_figure_is_served_inert(explorer, research):
    client, _ = explorer
    _, published, _ = research
    p = published[1].paper
    r = await client.get(f"/explore/paper/{p.key}")
    assert r.status_code == 200
    assert_strict_csp(r)
    assert_inert(r.text)
    assert f'<img src="/explore/paper/{p.key}/figure-1.svg"' in r.text
    assert "<table>" in r.text and "<h2>Results</h2>" in r.text
    assert f"<pre><code>hyperspace reproduce {published[1].result.key}</code></pre>" in r.text
    assert f'href="/explore/result/{published[1].result.key}"' in r.text
    fig = await client.get(f"/explore/paper/{p.key}/figure-1.svg")
    assert fig.status_code == 200 and fig.headers["content-type"] == "image/svg+xml"
    assert fig.text == p.body["figures"][0]
    assert fig.headers["content-security-policy"].startswith("default-src 'none'; style-src 'unsafe-inline'")
    assert fig.headers["x-content-type-options"] == "nosniff"


async def test_a_hostile_paper_renders_as_text_and_its_svg_cannot_run(explorer, research):
    client, _ = explorer
    _, _, hostile = research
    r = await client.get(f"/explore/paper/{hostile.key}")
    assert r.status_code == 200
    assert_strict_csp(r)
    assert_inert(r.text)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in r.text and "&lt;script&gt;alert(0)" in r.text
    assert '<a href="https://example.org/a?b=1&amp;c=2" rel="nofollow noopener noreferrer">ok</a>' in r.text
    assert f'<img src="/explore/paper/{hostile.key}/figure-1.svg" alt="fig">' in r.text
    assert "[remote]" in r.text and "[nope]" in r.text  # no remote image, no figure it does not have
    fig = await client.get(f"/explore/paper/{hostile.key}/figure-1.svg")
    assert (
        "sandbox" in fig.headers["content-security-policy"]
        and "script-src" not in fig.headers["content-security-policy"]
    )
    index = await client.get("/explore")
    assert_inert(index.text)
    assert "&lt;script&gt;alert(0)&lt;/script&gt;" in index.text


@pytest.mark.parametrize(
    "path",
    [
        "/explore/result/xyz",
        "/explore/result/" + "0" * 64,
        "/explore/result/" + "A" * 64,
        "/explore/result/" + "0" * 65,
        "/explore/paper/" + "f" * 64,
        "/explore/paper/" + "f" * 64 + "/figure-1.svg",
        "/explore/task/nope/cranfield-ndcg10",
        "/explore/task/search/Nope",
        "/explore/task/search/unknown-task",
    ],
)
async def test_bad_or_unknown_keys_are_404_with_the_same_csp(explorer, path):
    client, _ = explorer
    r = await client.get(path)
    assert r.status_code == 404
    assert_strict_csp(r)


async def test_figures_a_paper_does_not_have_are_404(explorer, research):
    client, _ = explorer
    key = research[1][0].paper.key
    for name in ("figure-0.svg", "figure-2.svg", "figure-1.png", "figure-01.svg", "..%2Fx"):
        assert (await client.get(f"/explore/paper/{key}/{name}")).status_code == 404, name


async def test_the_relays_replica_refuses_a_result_that_contradicts_its_task(explorer, research):
    _, relay = explorer
    (ada, *_), published, _ = research
    forged = {**published[0].result.body, "value": "0.99"}  # not the mean of its samples
    record = await make_record(ada.signer, "result", forged, int(time.time() * 1000))
    earlier = [r for p in published for r in (p.result, p.paper)]
    with pytest.raises(Rejected, match="not the mean"):
        await deliver(relay.replica.store, [ada], [record], earlier)
    assert record.key not in relay.replica.store.records["results.search"]


def test_markdown_renders_the_blocks_papers_use():
    md = (
        "# Title *one*\n\npara with `code` and **bold** and _it_ and snake_case_name.\nsecond line\n\n"
        "| k | v |\n|:--|--:|\n| `a\\|b` | 1 |\n\n- one\n- two\n\n1. first\n\n```\nx < y\n```\n\n---\n"
    )
    html = render(md)
    assert html == "\n".join(
        [
            "<h1>Title <em>one</em></h1>",
            "<p>para with <code>code</code> and <strong>bold</strong> and <em>it</em> and snake_case_name.\n"
            "second line</p>",
            '<table><thead><tr><th class="l">k</th><th class="r">v</th></tr></thead><tbody><tr>'
            '<td class="l"><code>a|b</code></td><td class="r">1</td></tr></tbody></table>',
            "<ul><li>one</li><li>two</li></ul>",
            "<ol><li>first</li></ol>",
            "<pre><code>x &lt; y</code></pre>",
            "<hr>",
        ]
    )


@pytest.mark.parametrize(
    "md",
    [
        "*" * 40_000,
        "[" * 40_000,
        "![" * 20_000,
        "a" + "`" * 40_000,
        "_a" * 20_000,
        "**" + "*a" * 20_000,
        "|" * 40_000,
    ],
)
def test_markdown_on_pathological_input_stays_escaped_and_finishes(md):
    html = render(md + "<script>")
    assert "<script>" not in html and "&lt;script&gt;" in html
