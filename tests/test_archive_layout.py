"""The archive's per-author folders and per-task LEADERBOARD.md, written from real signed research records.

run-NNNN.json numbered in the author's clock order, papers with their figures beside them and the links
rewritten, LEADERBOARD.md with CI, held-out and lineage whose links all resolve, the same files byte for byte
for the same state, and no path the state writes that a gateway submission could also write.
"""

from __future__ import annotations

import asyncio
import json
import re
import time

import httpx
import pytest

from pynode.identity import Identity
from pynode.platform import native
from pynode.state.records import make_record
from pynode.state.store import Store
from relay_server.app import create_app
from relay_server.archive_layout import DERIVED_FOLDERS, paper_markdown, state_files
from relay_server.config import RelayConfig
from relay_server.gateway import make_submission
from relay_server.relay import open_relay
from tests.research_util import TASK, deliver, research_run, run_experiment


@pytest.fixture(scope="module")
def research():
    """Four real experiments on Cranfield by two authors, each building on the board so far."""

    async def build():
        authors = [await Identity.from_seed(bytes([i]) * 32) for i in (11, 12)]
        return authors, await research_run(authors, 4)

    return asyncio.run(build())


async def filled(research, order=1) -> Store:
    authors, published = research
    store = Store((await Identity.from_seed(bytes([99]) * 32)).peer_id, native)
    await deliver(store, authors[::order], [r for p in published for r in (p.result, p.paper)])
    return store


async def test_the_same_state_gives_the_same_files_byte_for_byte(research):
    a, b = await filled(research), await filled(research, order=-1)  # imported in another order
    files = state_files(a)
    assert files == state_files(a)
    same = {p: d for p, d in files.items() if not p.startswith("snapshots/")}
    assert same == {p: d for p, d in state_files(b).items() if not p.startswith("snapshots/")}


async def test_runs_are_numbered_per_author_and_domain_in_clock_order_and_keep_their_numbers(research):
    authors, published = research
    store = await filled(research)
    files = state_files(store)
    for who in authors:
        mine = sorted((p.result for p in published if p.result.author == who.peer_id), key=lambda r: r.ts)
        for n, r in enumerate(mine, start=1):
            run = json.loads(files[f"agents/{who.text}/search/run-{n:04d}.json"])
            assert run["key"] == r.key and run["record_cbor_hex"] == r.encoded.hex()
            assert run["archive"]["record"] == f"results/search/{TASK}/{r.key}.json"
            assert f"results/search/{TASK}/{r.key}.json" in files  # the permanent address stays
            paper = next(p.paper for p in published if p.result.key == r.key)
            assert files[run["archive"]["paper"]] == files[f"agents/{who.text}/papers/{n:04d}.md"]
            assert (
                json.loads(files[f"papers/{paper.key}.json"])["archive"]["markdown"]
                == run["archive"]["paper"]
            )
            if "inspired_by" in r.body:
                parent = json.loads(files[run["archive"]["parent"]])
                assert parent["key"] == r.body["inspired_by"]
    # a later experiment adds the next number and leaves every earlier file as it was
    later = await run_experiment(authors[0], [p.result for p in published], int(time.time() * 1000), seed=9)
    earlier = [r for p in published for r in (p.result, p.paper)]
    await deliver(store, authors, [later.result, later.paper], earlier)
    after = state_files(store)
    n = sum(p.result.author == authors[0].peer_id for p in published) + 1
    assert json.loads(after[f"agents/{authors[0].text}/search/run-{n:04d}.json"])["key"] == later.result.key
    for path, data in files.items():
        if path.startswith("agents/"):
            assert after[path] == data, path


async def test_papers_sit_beside_their_figures_with_the_links_rewritten(research):
    authors, published = research
    files = state_files(await filled(research))
    who = authors[0]
    first = next(p.paper for p in published if p.paper.author == who.peer_id)
    md = files[f"agents/{who.text}/papers/0001.md"].decode()
    assert "](0001.svg)" in md and "figure-1.svg" not in md
    assert files[f"agents/{who.text}/papers/0001.svg"] == first.body["figures"][0].encode()
    assert files[f"papers/{first.key}.md"] == first.body["markdown"].encode()  # the signed text, unchanged
    assert md == first.body["markdown"].replace("](figure-1.svg)", "](0001.svg)")


def test_figure_links_beyond_the_papers_figures_are_left_alone():
    md = "![a](figure-1.svg) ![b](figure-2.svg) ![c](figure-3.svg) [t](figure-1.svg.html) figure-1.svg"
    assert paper_markdown(md, "0007", 2) == (
        "![a](0007.svg) ![b](0007-2.svg) ![c](figure-3.svg) [t](figure-1.svg.html) figure-1.svg"
    )


async def test_a_second_figure_is_archived_as_nnnn_2(research):
    authors, _ = research
    who = await Identity.from_seed(bytes([13]) * 32)
    body = {
        "title": "two figures",
        "domain": "search",
        "task": TASK,
        "results": [],
        "markdown": "![one](figure-1.svg)\n\n![two](figure-2.svg)\n",
        "figures": ["<svg>1</svg>", "<svg>2</svg>"],
    }
    paper = await make_record(who.signer, "paper", body, 5)
    store = await filled(research)
    await deliver(store, [who], [paper])
    files = state_files(store)
    base = f"agents/{who.text}/papers/0001"
    assert files[f"{base}.md"] == b"![one](0001.svg)\n\n![two](0001-2.svg)\n"
    assert (files[f"{base}.svg"], files[f"{base}-2.svg"]) == (b"<svg>1</svg>", b"<svg>2</svg>")
    assert json.loads(files[f"papers/{paper.key}.json"])["archive"]["figures"] == [
        f"{base}.svg",
        f"{base}-2.svg",
    ]


async def test_the_task_leaderboard_has_ci_heldout_and_lineage_and_every_link_resolves(research):
    authors, published = research
    files = state_files(await filled(research))
    board = files[f"leaderboards/search/{TASK}/LEADERBOARD.md"].decode()
    assert board.startswith(f"# {TASK} — search\n")
    header = (
        "| rank | author | value ± 95% CI | n | held-out | p vs parent | parent | children | paper | run |"
    )
    assert header in board and "## ndcg10 (ndcg, higher is better)" in board
    rows = [line for line in board.splitlines() if re.match(r"\| \d+ \|", line)]
    assert len(rows) == len(authors)
    results = [p.result for p in published]
    for line in rows:
        cells = [c.strip() for c in line.strip("|").split("|")]
        run_path = re.search(r"\(\.\./\.\./\.\./([^)]+)\)", cells[9]).group(1)
        r = next(x for x in results if x.key == json.loads(files[run_path])["key"])
        b = r.body
        assert cells[2] == f"{b['value']} ± {b['ci95']}" and cells[3] == str(b["seeds"])
        assert cells[4] == b["heldout"] and cells[5] == b.get("p_value", "—")
        assert cells[7] == str(sum(x.body.get("inspired_by") == r.key for x in results))
        if "inspired_by" in b:
            assert b["inspired_by"][:8] in cells[6]
    values = [float(c.strip("|").split("|")[3].split("±")[0]) for c in rows]
    assert values == sorted(values, reverse=True)  # higher is better, ranked
    for target in re.findall(r"\]\(\.\./\.\./\.\./([^)]+)\)", board):
        assert target in files, target


async def test_what_the_state_writes_under_agents_is_refused_to_the_gateway_and_not_charged_to_quota(
    research, tmp_path
):
    authors, published = research
    files = state_files(await filled(research))
    for path in files:
        if path.startswith("agents/"):
            assert path.split("/")[2] in DERIVED_FOLDERS, path
    config = RelayConfig(
        data_dir=tmp_path / "relay", static_dir=None, archive_dir=tmp_path, archive_quota_bytes=4000
    )
    relay = await open_relay(config, identity=await Identity.generate())
    await deliver(relay.replica.store, authors, [r for p in published for r in (p.result, p.paper)])
    archiver = relay.embedded.archiver
    await archiver.cycle()  # the state's files, including ada's derived folders (far over 4000 bytes)
    who = authors[0]
    folder = archiver.config.repo_dir / "agents" / who.text
    derived = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    assert derived > config.archive_quota_bytes
    app = create_app(relay)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://relay") as client:
        for path in ("search/run-0001.json", "papers/0001.md", "Papers/x.md", "causes/notes.txt"):
            body = await make_submission(who.signer, [(path, b"forged")])
            r = await client.post("/api/archive", content=body)
            assert r.status_code == 400 and r.json()["error"] == "reserved_path", path
        body = await make_submission(
            who.signer, [("runs/1.log", b"x" * 3000)]
        )  # within quota: derived not counted
        assert (await client.post("/api/archive", content=body)).status_code == 202
    await archiver.cycle()
    assert (folder / "runs/1.log").read_bytes() == b"x" * 3000
    assert (folder / "search/run-0001.json").read_bytes() == files[f"agents/{who.text}/search/run-0001.json"]
    await relay.shutdown()
