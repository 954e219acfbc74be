"""A reloaded tab keeps its identity (IndexedDB) and must not sign a change under ids it signed before its reload:
a CPython replica would hold the honest tab faulty and drop every record of it. The tab saves each document it
writes to in IndexedDB before gossiping the write, and loads it back when it starts (pynode/browser/state.py);
its writes also wait until it knows its own history (SyncEngine.submit)."""

from __future__ import annotations

import pytest

from pynode.identity import peer_id_text
from pynode.runtime.replica import StateReplica
from pynode.state.authorship import loro_peer
from tests.browser_util import open_dashboard, wait_status
from tests.netutil import eventually, node_on, relay_on
from tests.test_browser_state import DOC, ask, result

pytestmark = pytest.mark.slow
BOOT_S = 240  # Pyodide's boot on a loaded 2-core machine took over 120 s (PLATFORM_NOTES); ~15 s when idle


async def test_a_tab_that_publishes_reloads_and_publishes_again_is_not_held_faulty(dist, tmp_path, chromium):
    relay = await relay_on(tmp_path, static_dir=dist)
    py = await node_on(relay.url, direct_peers=4)
    replica = StateReplica(py, interval=0.5)
    await replica.start()
    try:
        ctx = await chromium.context()  # one profile: the reloaded tab has the same identity
        tab = await open_dashboard(ctx, relay.port)
        online = lambda s: s["state"] == "online" and s["replica"]["sync"] not in ("off", "error")  # noqa: E731
        peer = (await wait_status(tab, online, BOOT_S, "the tab online"))["peer"]
        first = await ask(tab, {"type": "state-publish", "kind": "result", "body": result("0.4100")}, BOOT_S)
        await eventually(
            lambda: first["key"] in replica.store.records[DOC], 60, "the first record in CPython"
        )

        await tab.reload()
        st = await wait_status(tab, online, BOOT_S, "the reloaded tab online")
        assert st["peer"] == peer
        # what it wrote came back from this browser, not from a peer
        assert st["replica"]["history"] == "own changes held", st["replica"]
        second = await ask(tab, {"type": "state-publish", "kind": "result", "body": result("0.3900")}, BOOT_S)
        await eventually(lambda: second["key"] in replica.store.records[DOC], 60, "the second record")

        author = replica.store.records[DOC][second["key"]].author
        assert peer_id_text(author) == peer
        ours = {k for k, r in replica.store.records[DOC].items() if r.author == author}
        assert ours == {first["key"], second["key"]}
        assert loro_peer(author) not in replica.store.faulty
        assert (
            replica.store.version()[DOC][loro_peer(author)] >= 2
        )  # the second change went on from the first
        await eventually(lambda: replica.engine.pulls >= 3, 60, "a few more pulls")
        assert replica.store.faulty == set()
    finally:
        await replica.stop()
        await py.stop()
        await relay.stop()
