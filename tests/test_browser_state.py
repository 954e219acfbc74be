"""The replicated state in a browser tab (loro-crdt through Pyodide) against CPython replicas (loro): records
cross both ways with their signatures checked on arrival, forgeries are refused in the tab, and a tab that
joins a network with existing records shows the leaderboards (a snapshot from one peer, then catch-up)."""

from __future__ import annotations

import asyncio
import base64
import time
from typing import Any

import pytest

from pynode.identity import Identity, peer_id_text
from pynode.platform import native
from pynode.runtime.replica import StateReplica
from pynode.state.authorship import change_payload, encode_message, loro_peer, ns
from pynode.state.records import make_record, verify_record
from pynode.state.store import Store
from pynode.state.views import boards_json
from tests.browser_util import open_dashboard, screenshot_path, wait_status
from tests.netutil import eventually, node_on, relay_on

pytestmark = pytest.mark.slow
DOC = "results.ml"


def result(
    value: str, domain: str = "ml", task: str = "mlp-digits", metric: str = "val_loss"
) -> dict[str, Any]:
    return {
        "domain": domain,
        "task": task,
        "metric": metric,
        "unit": "nats",
        "direction": "min",
        "value": value,
        "seeds": 3,
    }


def now_ms() -> int:
    return int(time.time() * 1000)


async def ask(page, message: dict[str, Any], timeout: float = 60) -> dict[str, Any]:
    reply = await asyncio.wait_for(
        page.evaluate("([m]) => window.hyperspace.node.ask(m, m.type)", [message]), timeout
    )
    assert "error" not in reply, reply["error"]
    return reply


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def keys_on_boards(status: dict[str, Any]) -> set[str]:
    return {row["key"] for b in status["replica"]["leaderboards"] for row in b["rows"]}


def without_totals(boards: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in b.items() if k != "total"} for b in boards]


async def test_records_cross_between_the_tab_and_cpython_with_signatures_checked_both_ways(
    dist, tmp_path, chromium
):
    relay = await relay_on(tmp_path, static_dir=dist)
    py = await node_on(relay.url, direct_peers=4)
    replica = StateReplica(py, interval=0.5)
    await replica.start()
    try:
        tab = await open_dashboard(await chromium.context(), relay.port)
        st = await wait_status(tab, lambda s: s["state"] == "online" and s["replica"]["sync"] != "off", 60)
        tab_peer = st["peer"]

        # browser → CPython: signed by WebCrypto, committed by loro-crdt, verified and merged by loro + PyNaCl
        mine = await ask(tab, {"type": "state-publish", "kind": "result", "body": result("0.4100")})
        assert mine["doc"] == DOC
        await eventually(lambda: mine["key"] in replica.store.records[DOC], 30, "the python replica has it")
        record = replica.store.records[DOC][mine["key"]]
        assert peer_id_text(record.author) == tab_peer and record.body["value"] == "0.4100"
        assert await verify_record(record)  # the record's own signature, checked again with PyNaCl
        exported = await ask(tab, {"type": "state-export", "doc": DOC})
        fresh = Store((await Identity.generate()).peer_id, native)
        merged = await fresh.receive(DOC, base64.b64decode(exported["data"]), now_ms(), ("snapshot",))
        assert mine["key"] in {r.key for r in merged}

        # CPython → browser: over the network, and as a blob handed to the tab's store directly
        theirs = await replica.publish("result", result("0.3900"))
        st = await wait_status(tab, lambda s: theirs.key in keys_on_boards(s), 30, "the tab shows it")
        author = await Identity.generate()
        store = Store(author.peer_id, native)
        own = await make_record(author.signer, "result", result("0.5000"), now_ms())
        update = (await store.write(author.signer, [own]))[DOC]
        got = await ask(tab, {"type": "state-import", "doc": DOC, "data": b64(update)})
        assert got == {"type": "state-import", "accepted": [own.key]}

        # the tab's authorship checks (pynode/state, unchanged, over loro-crdt) refuse forgeries
        attacker = await Identity.generate()
        held = (await wait_status(tab, lambda s: own.key in keys_on_boards(s), 30))["replica"]["records"]
        forged = native.crdt_doc(loro_peer(author.peer_id))  # writing as the author's Loro peer id...
        forged.import_(update)
        fake = await make_record(author.signer, "result", result("0.0001"), now_ms())
        items = [(fake.key, fake.encoded)]
        counter, lamport, deps = forged.next_change()
        sig = attacker.signer.sign_now(change_payload(DOC, forged.peer, counter, lamport, deps, 0, items))
        before = forged.version()
        forged.put(ns(author.peer_id), items, encode_message(author.peer_id, sig))  # ...signed by another key
        refused = await ask(
            tab, {"type": "state-import", "doc": DOC, "data": b64(forged.export_updates(before))}
        )
        assert refused.get("rejected") == "bad_signature", refused

        squatter = native.crdt_doc(loro_peer(attacker.peer_id))
        squatter.import_(update)
        planted = await make_record(attacker.signer, "result", result("0.0002"), now_ms())
        items = [(planted.key, planted.encoded)]
        counter, lamport, deps = squatter.next_change()
        sig = attacker.signer.sign_now(change_payload(DOC, squatter.peer, counter, lamport, deps, 0, items))
        before = squatter.version()
        squatter.put(
            ns(author.peer_id), items, encode_message(attacker.peer_id, sig)
        )  # into the author's map
        refused = await ask(
            tab, {"type": "state-import", "doc": DOC, "data": b64(squatter.export_updates(before))}
        )
        assert refused.get("rejected") == "outside_namespace", refused
        after = (await wait_status(tab, lambda s: True))["replica"]
        assert after["records"] == held and fake.key not in keys_on_boards({"replica": after})

        # both replicas converge (anti-entropy carries the imported record to CPython) and rank alike
        await eventually(lambda: own.key in replica.store.records[DOC], 30, "python pulled the tab's import")
        final = await wait_status(
            tab,
            lambda s: s["replica"]["by_doc"] == replica.store.counts(),
            30,
            "the tab and the python replica hold the same records",
        )
        expected = boards_json(replica.leaderboards(), 10)
        assert without_totals(final["replica"]["leaderboards"]) == expected
        assert [r["value"] for r in expected[0]["rows"]] == ["0.3900", "0.4100", "0.5000"]
    finally:
        await replica.stop()
        await py.stop()
        await relay.stop()


async def test_a_tab_joining_a_network_with_records_shows_the_leaderboards_then_catches_up(
    dist, tmp_path, chromium
):
    relay = await relay_on(tmp_path, static_dir=dist)
    holder = relay.relay.replica
    writers = [await node_on(relay.url) for _ in range(3)]
    replicas = [StateReplica(n, interval=0.5) for n in writers]
    for r in replicas:
        await r.start()
    keys = []
    try:
        boards = [
            ("ml", "mlp-digits", "val_loss"),
            ("search", "ranker", "ndcg-loss"),
            ("finance", "arima", "mae"),
        ]
        for i, r in enumerate(replicas):
            for j, (domain, task, metric) in enumerate(boards):
                for k in range(4):
                    rec = await r.publish("result", result(f"0.{i}{j}{k}1", domain, task, metric))
                    keys.append(rec.key)
        await eventually(
            lambda: results_held(holder.store.counts()) == len(keys), 60, "the relay holds every record"
        )
        for r, n in zip(replicas, writers, strict=True):  # the relay's node is now the only peer with state
            await r.stop()
            await n.stop()

        tab = await open_dashboard(await chromium.context(), relay.port)
        await wait_status(tab, lambda s: s["state"] == "online", 60, "tab online")
        t0 = time.monotonic()
        st = await wait_status(
            tab, lambda s: results_held(s["replica"]["by_doc"]) == len(keys), 60, "the tab holds every result"
        )
        print(
            f"\ncold start: {len(keys)} records from one peer in {time.monotonic() - t0:.2f} s after online"
        )
        expected = boards_json(holder.leaderboards(), 10)
        assert without_totals(st["replica"]["leaderboards"]) == expected
        assert [b["domain"] for b in expected] == ["finance", "ml", "search"]
        assert all(b["total"] == 3 for b in st["replica"]["leaderboards"])  # one row per author
        # the dashboard renders what the status says: every board, its best row first
        await tab.wait_for_function(
            "document.querySelectorAll('#boards .board').length === 3", timeout=10_000
        )
        for b in expected:
            sel = f'#boards .board[data-board="{b["domain"]}/{b["task"]}/{b["metric"]}/nats/min"]'
            first = tab.locator(f"{sel} .board-row").first
            assert await first.get_attribute("data-key") == b["rows"][0]["key"]
            assert await first.locator(".board-value").inner_text() == b["rows"][0]["value"]
        # the card counts every record: these results and whatever presence rounds have certified meanwhile
        assert int(await tab.get_attribute("#replica", "data-records")) >= len(keys)

        # catch-up: a result published after the cold start reaches the tab and tops its board
        late = await node_on(relay.url)
        late_replica = StateReplica(late, interval=0.5)
        await late_replica.start()
        try:
            best = await late_replica.publish("result", result("0.00001"))  # beats every earlier one
            st = await wait_status(
                tab, lambda s: results_held(s["replica"]["by_doc"]) == len(keys) + 1, 60, "the tab caught up"
            )
            ml = next(b for b in st["replica"]["leaderboards"] if b["domain"] == "ml")
            assert ml["rows"][0]["key"] == best.key and ml["rows"][0]["author"] == late.identity.text
            await tab.wait_for_function(
                "(k) => document.querySelector('#boards .board-row[data-key=\"' + k + '\"]') !== null",
                arg=best.key,
                timeout=10_000,
            )
            assert await tab.get_attribute("#replica", "data-sync") in ("syncing", "synced")
            shot = screenshot_path("dashboard-leaderboards")
            await tab.screenshot(path=str(shot), full_page=True)
            print(f"leaderboards screenshot: {shot}")
        finally:
            await late_replica.stop()
            await late.stop()
    finally:
        await relay.stop()


def results_held(by_doc: dict[str, int]) -> int:
    """Result records only: the relay's node also writes presence certificates and points as rounds pass."""
    return sum(n for doc, n in by_doc.items() if doc.startswith("results."))
