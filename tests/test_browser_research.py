"""Research with a browser tab in the network: a relay, three CPython nodes and a Chromium tab all research the
search domain (the tab in Pyodide, within its CPU share). Results and papers agree on every replica, the tab's
included (read back through its worker); the tab's own result merges in CPython with its lineage and reproduces
there; the boards and the dashboard's Research card show CI and lineage; a paper is rendered with its figure as
an <img>, and a hostile one (script in the Markdown, script and onload in the SVG) renders inert."""

from __future__ import annotations

import asyncio
import base64
import json
import random
import threading
import time
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from pynode.identity import Identity, peer_id_text
from pynode.platform import native
from pynode.research.config import canonical
from pynode.research.policy import check_result
from pynode.research.registry import domain as load_domain
from pynode.research.reproduce import reproduce
from pynode.runtime.replica import StateReplica
from pynode.runtime.research import ResearchAgent, ResearchConfig
from pynode.state.store import Store
from pynode.state.sync import STATE_TOPIC
from pynode.state.views import boards_json, leaderboards
from tests.browser_util import screenshot_path, wait_status
from tests.netutil import eventually, node_on, relay_on

pytestmark = pytest.mark.slow
DOC = "results.search"
EXAMPLES = Path(__file__).resolve().parent.parent / "web" / "examples"
TASK = "cranfield-ndcg10"


async def replica_on(url: str) -> StateReplica:
    node = await node_on(url)
    replica = StateReplica(node, interval=0.5, store=Store(node.peer_id, native, policy=check_result))
    await replica.start()
    return replica


async def ask(page, message: dict[str, Any], timeout: float = 60) -> dict[str, Any]:
    reply = await asyncio.wait_for(
        page.evaluate("([m]) => window.hyperspace.node.ask(m, m.type)", [message]), timeout
    )
    assert "error" not in reply, reply["error"]
    return reply


async def tab_records(page) -> Store:
    """The tab's results and papers, exported by its worker and merged into a fresh CPython store (every
    signature and the research policy checked again here)."""
    store = Store((await Identity.generate()).peer_id, native, policy=check_result)
    for doc in (DOC, "papers"):
        exported = await ask(page, {"type": "state-export", "doc": doc})
        await store.receive(doc, base64.b64decode(exported["data"]), int(time.time() * 1000), ("snapshot",))
    return store


def keys(store: Store) -> tuple[set[str], set[str]]:
    return set(store.records[DOC]), set(store.records["papers"])


def without_totals(boards: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in b.items() if k != "total"} for b in boards]


async def test_a_tab_researches_beside_cpython_nodes_and_every_replica_agrees(dist, tmp_path, chromium):
    relay = await relay_on(tmp_path, static_dir=dist, archive_interval_s=3600)
    replicas = [await replica_on(relay.url) for _ in range(3)]
    try:
        tab = await (await chromium.context()).new_page()
        errors: list[str] = []
        tab.on("pageerror", lambda e: errors.append(str(e)))
        await tab.goto(f"http://127.0.0.1:{relay.port}/?research=search&cpu=1")
        st = await wait_status(tab, lambda s: s["state"] == "online", 90, "tab online")
        me = st["peer"]
        assert st["research"]["domains"] == ["search"] and st["research"]["cpu_share"] == 1.0
        for r in replicas:
            await eventually(lambda r=r: len(r.node.connected_peers()) >= 3, 30, "peers, the tab included")
            await eventually(lambda r=r: r.node.router.mesh.get(STATE_TOPIC), 30, "state mesh")

        # three CPython agents run one experiment each while the tab researches on its own
        for i, r in enumerate(replicas):
            config = ResearchConfig(domains=("search",), seed=i, state_file=tmp_path / f"plan-{i}.json")
            assert await ResearchAgent(r, config).run_once() is not None
        st = await wait_status(
            tab,
            lambda s: any(r["mine"] and r["inspired_by"] for r in s["research"]["results"]),
            300,
            "a result of the tab's that builds on another",
        )
        assert st["research"]["seed_s"]["search"]["max"] > 0
        print(
            f"\none search seed held the tab's event loop up to {st['research']['seed_s']['search']['max']} s"
        )
        await tab.click("#research-toggle")  # the dashboard's control: nothing partial is published
        await wait_status(tab, lambda s: s["research"]["state"] == "paused", 60, "research paused")
        await tab.wait_for_selector("#research-toggle[data-action=resume]", timeout=10_000)

        # results and papers agree on the three nodes, the relay and the tab
        holders = [r.store for r in replicas] + [relay.relay.replica.store]
        deadline = time.monotonic() + 90
        while True:
            in_tab = await tab_records(tab)
            if all(keys(s) == keys(in_tab) for s in holders):
                break
            assert time.monotonic() < deadline, f"replicas differ: {[keys(s) for s in [*holders, in_tab]]}"
            await asyncio.sleep(1)
        store = replicas[0].store
        results, papers = store.records[DOC], store.records["papers"]
        assert len(results) >= 4 and len(papers) == len(results)

        # the tab's results: signed in the tab, merged in CPython with their lineage and papers, and re-run here
        d = load_domain("search")
        mine = sorted(
            (r for r in results.values() if peer_id_text(r.author) == me),
            key=lambda r: "inspired_by" not in r.body,
        )
        assert mine and "inspired_by" in mine[0].body
        for r in mine:
            b = r.body
            assert b["task"] == TASK and len(b["samples"]) == b["seeds"] == 3 and "ci95" in b
            if "inspired_by" in b:  # lineage: the parent and the task's baseline are on every replica
                assert b["inspired_by"] in results and b["baseline"] in results
            else:  # the tab ran the baseline itself
                assert b["config"] == canonical(d.validate(TASK, d.baseline(TASK)))
            verdict = reproduce(r)
            assert verdict.agree, verdict.reason  # Pyodide and CPython measure the same numbers
            paper = next(p for p in papers.values() if p.author == r.author and r.key in p.body["results"])
            assert (
                paper.body["figures"][0].startswith("<svg") and f"reproduce {r.key}" in paper.body["markdown"]
            )

        # the boards agree, with CI and parent per row, in the status and on the dashboard
        expected = boards_json(leaderboards(results.values()), 10)
        st = await wait_status(
            tab, lambda s: without_totals(s["replica"]["leaderboards"]) == expected, 30, "the same boards"
        )
        lineage = st["replica"]["lineage"]
        for row in expected[0]["rows"]:
            body = results[row["key"]].body
            assert lineage[row["key"]]["ci95"] == body["ci95"]
            assert lineage[row["key"]].get("inspired_by") == body.get("inspired_by")
            shown = tab.locator(f'#boards .board-row[data-key="{row["key"]}"]')
            assert (await shown.locator(".board-ci").inner_text()) == f"± {body['ci95']}"
            if "inspired_by" in body:
                parent = shown.locator(".board-parent")
                assert await parent.get_attribute("data-parent") == body["inspired_by"]

        # the Research card: the tab's result with its CI, and its paper rendered with the figure as an <img>
        own = mine[0]
        item = tab.locator(f'#research-results .research-result[data-key="{own.key}"]')
        await item.wait_for(timeout=60_000)  # the card polls the worker, which may be mid-seed
        assert await item.get_attribute("data-author") == me
        assert (await item.locator(".research-ci").inner_text()) == f"± {own.body['ci95']}"
        assert (await item.locator(".research-n").inner_text()) == "n = 3"
        await item.locator(".research-paper").click()
        paper = next(p for p in papers.values() if own.key in p.body["results"] and p.author == own.author)
        await tab.wait_for_selector(f'#paper[data-key="{paper.key}"]:not([hidden])', timeout=10_000)
        assert (await tab.locator("#paper-body h3").first.inner_text()) == paper.body["title"]
        assert await tab.locator("#paper-body table").count() >= 1
        figure = tab.locator("#paper-body img.paper-figure")
        assert await figure.count() == 1
        assert (await figure.get_attribute("src")).startswith("blob:")
        await tab.wait_for_function(
            "() => { const i = document.querySelector('#paper-body img.paper-figure');"
            " return i.complete && i.naturalWidth > 0; }",
            timeout=10_000,
        )
        shot = screenshot_path("research-card")
        await tab.evaluate("window.scrollTo(0, 0)")  # the sticky top bar is drawn where the page is scrolled
        await tab.screenshot(path=str(shot), full_page=True)
        print(f"research card screenshot: {shot}")

        # a hostile paper: markup and script in the Markdown, script and onload in its SVG — all inert
        await hostile_paper_renders_inert(tab, replicas[2])
        assert not errors, errors
    finally:
        for r in replicas:
            await r.stop()
            await r.node.stop()
        await relay.stop()


async def hostile_paper_renders_inert(tab, attacker: StateReplica) -> None:
    d = load_domain("search")
    config = d.validate(TASK, d.sample(TASK, random.Random(99)))
    result = await attacker.publish(
        "result",
        {
            "domain": "search", "task": TASK, "metric": "ndcg10", "unit": "ndcg", "direction": "max",
            "value": "0.1", "seeds": 3, "samples": ["0.1", "0.1", "0.1"], "ci95": "0",
            "config": canonical(config), "hypothesis": '<img src=x onerror="window.__pwned = 1">',
        },
    )  # fmt: skip
    svg = (
        '<svg xmlns="http://www.w3.org/2000/svg" width="120" height="60" onload="window.top.__pwned = 2">'
        "<script>window.top.__pwned = 3</script>"
        '<image href="http://127.0.0.1:9/leak.png" width="10" height="10"/>'
        '<rect width="120" height="60" fill="#c33"/></svg>'
    )
    markdown = "\n".join(
        [
            "# <script>window.__pwned = 4</script> a paper",
            "",
            'Text <img src=x onerror="window.__pwned = 5"> and [a link](javascript:window.__pwned=6).',
            "",
            '<iframe srcdoc="<script>parent.__pwned = 7</script>"></iframe>',
            "",
            "![remote](http://127.0.0.1:9/leak.png)",
            "",
            "![figure](figure-1.svg)",
            "",
            "| a | b |",
            "|---|---|",
            '| <b onmouseover="x">cell</b> | `<script>` |',
        ]
    )
    paper = await attacker.publish(
        "paper",
        {"title": "hostile", "domain": "search", "task": TASK, "results": [result.key],
         "markdown": markdown, "figures": [svg]},
    )  # fmt: skip
    item = tab.locator(f'#research-results .research-result[data-key="{result.key}"]')
    await item.wait_for(timeout=60_000)
    assert "onerror" in await item.locator(".research-result-hypothesis").inner_text()  # shown as text
    await item.locator(".research-paper").click()
    await tab.wait_for_selector(f'#paper[data-key="{paper.key}"]:not([hidden])', timeout=10_000)
    await tab.wait_for_function(
        "() => { const i = document.querySelector('#paper-body img.paper-figure');"
        " return i && i.complete && i.naturalWidth > 0; }",
        timeout=10_000,
    )
    await asyncio.sleep(1.0)  # time for anything that would run to run
    found = await tab.evaluate(
        """() => ({
            pwned: window.__pwned === undefined ? null : window.__pwned,
            scripts: document.querySelectorAll('#card-research script, #card-research iframe').length,
            handlers: [...document.querySelectorAll('#card-research *')]
                .filter((e) => [...e.attributes].some((a) => a.name.startsWith('on'))).length,
            images: [...document.querySelectorAll('#paper-body img')].map((i) => i.src),
            text: document.getElementById('paper-body').innerText,
        })"""
    )
    assert found["pwned"] is None and found["scripts"] == 0 and found["handlers"] == 0, found
    assert len(found["images"]) == 1 and found["images"][0].startswith("blob:"), found["images"]
    for shown in (
        "<script>window.__pwned = 4</script>",
        '<img src=x onerror="window.__pwned = 5">',
        "<iframe",
    ):
        assert shown in found["text"], json.dumps(found["text"])
    assert "[image: remote]" in found["text"]


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


async def test_an_embedded_node_researches_its_default_domain(dist, tmp_path, chromium):
    """The embed on another site (data-cpu 0.25) researches what a tab does by default (finance, whose
    seeds stay short in Pyodide) and its signed result and paper reach the relay's replica and re-run in CPython."""
    relay = await relay_on(tmp_path, static_dir=dist, archive_interval_s=3600)
    site = ThreadingHTTPServer(("127.0.0.1", 0), partial(_Quiet, directory=str(EXAMPLES)))
    threading.Thread(target=site.serve_forever, daemon=True).start()
    try:
        page = await (await chromium.context()).new_page()
        origin = f"http://127.0.0.1:{relay.port}"
        await page.goto(f"http://127.0.0.1:{site.server_address[1]}/foreign.html?relay={origin}")
        await page.wait_for_selector('#hyperspace-badge[data-state="online"]', timeout=120_000)
        peer = await page.get_attribute("#hyperspace-badge", "data-peer")
        frame = next(f for f in page.frames if f.url.startswith(origin + "/embed.html"))
        assert await frame.evaluate("window.hyperspace.cpuShare") == 0.25
        held = relay.relay.replica.store

        def with_paper() -> list[Any]:  # the embed's results whose paper the relay holds too
            papers = [p for p in held.all_records("papers") if peer_id_text(p.author) == peer]
            return [
                r
                for r in held.all_records("results.finance")
                if peer_id_text(r.author) == peer and any(r.key in p.body["results"] for p in papers)
            ]

        await eventually(lambda: with_paper(), 120, "the embed's result and its paper at the relay")
        result = with_paper()[0]
        check_result(result)  # the research policy a CPython replica applies
        assert reproduce(result).agree
    finally:
        site.shutdown()
        await relay.stop()
