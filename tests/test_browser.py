"""The browser node end to end: Pyodide in headless Chromium, a relay, CPython nodes, WebRTC both ways."""

from __future__ import annotations

import asyncio
import random
import threading
import time
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from bench.attacker import Attacker
from pynode.gossip.rpc import RPC
from pynode.identity import conformance as identity_checks
from pynode.identity import parse_peer_id
from pynode.platform import conformance, native
from pynode.topics import DEMO_PULSE
from pynode.train import conformance as train_checks
from pynode.wire import cbor
from pynode.wire.envelope import Envelope, sign_envelope
from tests.browser_util import open_dashboard, screenshot_path, wait_status
from tests.netutil import eventually, node_on, relay_on

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parent.parent


def _direct_to(st: dict, peer: str) -> bool:
    return any(p["peer"] == peer and p["kind"] == "direct" for p in st["peers"])


async def _feed_text(page) -> str:
    return await page.inner_text("#feed")


async def _relay_peers(port: int) -> list[dict]:
    async with httpx.AsyncClient() as client:
        return (await client.get(f"http://127.0.0.1:{port}/api/status", timeout=5)).json()["peers"]


async def test_a_tab_gossips_both_ways_with_python_nodes_and_holds_direct_channels(dist, tmp_path, chromium):
    relay = await relay_on(tmp_path, static_dir=dist)
    py = [await node_on(relay.url, direct_peers=4) for _ in range(3)]
    got: dict[int, list[bytes]] = {i: [] for i in range(3)}
    for i, n in enumerate(py):
        n.subscribe(DEMO_PULSE, lambda env, i=i: got[i].append(env.data))
    try:
        tab = await open_dashboard(await chromium.context(), relay.port)
        other = await open_dashboard(
            await chromium.context(), relay.port
        )  # another profile: another identity
        first = await wait_status(tab, lambda s: s["state"] == "online" and s["peer"], 60, "tab online")
        second = await wait_status(
            other, lambda s: s["state"] == "online" and s["peer"], 60, "second tab online"
        )
        py_ids = {n.identity.text for n in py}
        await wait_status(
            tab,
            lambda s: (
                any(p["peer"] in py_ids and p["kind"] == "direct" for p in s["peers"])
                and _direct_to(s, second["peer"])
            ),
            60,
            "direct data channels to a CPython node and to the other tab",
        )
        await eventually(lambda: all(len(n.router.mesh.get(DEMO_PULSE, ())) >= 2 for n in py), 30, "meshes")

        await tab.evaluate("window.hyperspace.node.publish('hs/1/demo/pulse', 'hello from the tab')")
        await eventually(
            lambda: all(b"hello from the tab" in got[i] for i in range(3)), 30, "python nodes got it"
        )
        await py[0].publish(DEMO_PULSE, b"hello from python")
        deadline = time.monotonic() + 30
        while "hello from python" not in await _feed_text(tab) or "hello from python" not in await _feed_text(
            other
        ):
            assert time.monotonic() < deadline, "the tabs did not show the python message"
            await asyncio.sleep(0.25)

        shot = screenshot_path("dashboard-after-join")
        await tab.screenshot(path=str(shot), full_page=True)
        print(f"\ndashboard screenshot: {shot}")
        assert first["boot"]["pyodide_s"] > 0
    finally:
        for n in py:
            await n.stop()
        await relay.stop()


async def test_identity_survives_reload_leave_closes_every_channel_and_the_relay_lists_the_tab(
    dist, tmp_path, chromium
):
    relay = await relay_on(tmp_path, static_dir=dist)
    py = await node_on(relay.url, direct_peers=4)
    try:
        ctx = await chromium.context()
        tab = await open_dashboard(ctx, relay.port, "research=off")  # with its boot snapshot for the reload
        st = await wait_status(
            tab, lambda s: s["state"] == "online" and _direct_to(s, py.identity.text), 60, "direct"
        )
        peer = st["peer"]
        assert st["boot"]["snapshot"] is False  # a fresh profile boots Pyodide
        listed = {p["peer"]: p["caps"] for p in await _relay_peers(relay.port)}
        assert "browser" in listed[peer] and "webrtc" in listed[peer]

        made = await tab.evaluate("window.hyperspace.node.snapshot")  # the boot snapshot for the next visit
        assert made["ok"] and made["bytes"] > 0, made
        await tab.reload()
        again = await wait_status(tab, lambda s: s["state"] == "online", 60, "online after reload")
        assert again["peer"] == peer, "the identity must survive a reload (IndexedDB)"
        assert again["boot"]["snapshot"] is True, "the reload restores the boot snapshot"

        await wait_status(tab, lambda s: _direct_to(s, py.identity.text), 60, "direct again after reload")
        await tab.click("#leave-join")
        left = await wait_status(tab, lambda s: s["state"] == "left", 20, "left")
        assert left["peers"] == []
        await eventually(
            lambda: parse_peer_id(peer) not in py.connected_peers(), 20, "python sees the tab gone"
        )
        assert await tab.evaluate("window.hyperspace.node.openChannels") == 0
        assert peer not in {p["peer"] for p in await _relay_peers(relay.port)}

        await tab.click("#leave-join")  # join again, same identity
        back = await wait_status(tab, lambda s: s["state"] == "online" and s["peers"], 60, "joined again")
        assert back["peer"] == peer
    finally:
        await py.stop()
        await relay.stop()


async def test_a_boot_snapshot_that_does_not_restore_is_dropped_and_the_tab_boots_with_the_files_stored_beside_it(
    dist, tmp_path, chromium
):
    """The stored memory no longer reads (here: three bytes in its place): the reload boots Pyodide the usual way,
    writes the files stored with the snapshot before its start, joins and loads what it runs once joined."""
    relay = await relay_on(tmp_path, static_dir=dist)
    py = await node_on(relay.url, direct_peers=4)
    try:
        tab = await open_dashboard(await chromium.context(), relay.port, "research=off")
        await wait_status(tab, lambda s: s["state"] == "online", 60, "online")
        made = await tab.evaluate("window.hyperspace.node.snapshot")
        assert made["ok"] and made["bytes"] > 0, made
        spoiled = await tab.evaluate(
            """async () => {
              const cache = await caches.open('hyperspace-boot');
              const keys = (await cache.keys()).map((r) => r.url).filter((u) => u.endsWith('.bin'));
              for (const key of keys) await cache.put(key, new Response(new Uint8Array([1, 2, 3])));
              return keys.length;
            }"""
        )
        assert spoiled == 1
        await tab.reload()
        again = await wait_status(
            tab,
            lambda s: s["state"] == "online" and "runtimes" in s["boot"]["at"],
            60,
            "online, runtimes loaded",
        )
        assert again["boot"]["snapshot"] is False and again["replica"]["sync"] != "off", again["replica"]
    finally:
        await py.stop()
        await relay.stop()


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


async def test_the_embed_script_on_another_origin_runs_a_node_that_joins(dist, tmp_path, chromium):
    relay = await relay_on(tmp_path, static_dir=dist)
    site = ThreadingHTTPServer(("127.0.0.1", 0), partial(_Quiet, directory=str(ROOT / "web" / "examples")))
    threading.Thread(target=site.serve_forever, daemon=True).start()
    try:
        page = await (await chromium.context()).new_page()
        relay_origin = f"http://127.0.0.1:{relay.port}"
        await page.goto(f"http://127.0.0.1:{site.server_address[1]}/foreign.html?relay={relay_origin}")
        deadline = time.monotonic() + 60
        while True:
            peers = await _relay_peers(relay.port)
            if any("inference" in p["caps"] for p in peers):
                break
            assert time.monotonic() < deadline, f"no embedded node joined; relay sees {peers}"
            await asyncio.sleep(0.5)
        await page.wait_for_selector('#hyperspace-badge[data-state="online"]', timeout=30_000)
        shot = screenshot_path("embed-on-foreign-origin")
        await page.screenshot(path=str(shot))
        print(f"\nembed screenshot: {shot}")
    finally:
        site.shutdown()
        await relay.stop()


def _fuzz_corpus(seed: int = 7) -> list[bytes]:
    """Garbage a hostile peer might send after a valid handshake (the substrate's fuzz classes)."""
    rng = random.Random(seed)
    corpus = [bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200))) for _ in range(6)]
    corpus += [
        b"\x9f\x01\xff",  # indefinite length
        b"\xd8\x23\x62a+",  # a regex tag
        cbor.encode({"t": "rpc", "msgs": "not a list"}),
        cbor.encode({"t": "rpc", "subs": [{"sub": 1, "topic": 5}]}),
        cbor.encode({"t": "rpc", "ctrl": {"iwant": [b"x" * 31]}}),
        cbor.encode({"t": "nope"}),
        cbor.encode([1, 2, 3]),
        b"\x81" * 40 + b"\x00",  # too deep
    ]
    return corpus


async def test_a_malicious_peer_cannot_break_the_tab(dist, tmp_path, chromium):
    relay = await relay_on(tmp_path, static_dir=dist)
    honest = await node_on(relay.url)
    got: list[bytes] = []
    honest.subscribe(DEMO_PULSE, lambda env: got.append(env.data))
    try:
        tab = await open_dashboard(await chromium.context(), relay.port)
        st = await wait_status(
            tab, lambda s: s["state"] == "online" and len(s["peers"]) >= 2, 60, "tab online"
        )
        target = parse_peer_id(st["peer"])
        for frame in _fuzz_corpus():
            attacker = await Attacker(relay.url).start()
            conn = await attacker.open(target)
            await conn.send(frame)
            await attacker.stop()
        # forged and replayed envelopes from one more attacker
        attacker = await Attacker(relay.url).start()
        conn = await attacker.open(target)
        now = int(time.time() * 1000)
        forged = Envelope(
            DEMO_PULSE, honest.peer_id, 1, now, b"forged", native.NaclSigner(b"f" * 32).sign_now(b"x")
        )
        stale = await sign_envelope(honest.identity.signer, DEMO_PULSE, 2, now - 600_000, b"stale")
        for env in (forged, forged, stale):
            await conn.send(RPC(msgs=[env]).encode())
        await attacker.stop()

        after = await wait_status(
            tab,
            lambda s: sum(s["rejections"].values()) >= len(_fuzz_corpus()),
            30,
            "rejections counted in the tab",
        )
        assert after["state"] == "online"
        assert "forged" not in await _feed_text(tab) and "stale" not in await _feed_text(tab)
        uptime = after["uptime_s"]
        await wait_status(tab, lambda s: s["uptime_s"] > uptime, 10, "the tab's node is still alive")
        await honest.publish(DEMO_PULSE, b"still delivering")
        deadline = time.monotonic() + 30
        while "still delivering" not in await _feed_text(tab):
            assert time.monotonic() < deadline, "the tab stopped delivering"
            await asyncio.sleep(0.25)
        await tab.evaluate("window.hyperspace.node.publish('hs/1/demo/pulse', 'tab still talks')")
        await eventually(lambda: b"tab still talks" in got, 30, "honest node hears the tab")
    finally:
        await honest.stop()
        await relay.stop()


async def test_the_platform_conformance_suite_passes_in_pyodide(dist, tmp_path, chromium):
    relay = await relay_on(tmp_path, static_dir=dist)
    try:
        tab = await open_dashboard(await chromium.context(), relay.port)
        await wait_status(tab, lambda s: s["state"] == "online", 60, "tab online")
        reply = await tab.evaluate(
            "(url) => window.hyperspace.node.ask({type: 'conformance', relay: url}, 'conformance')", relay.url
        )
        failed = [r for r in reply["results"] if not r["ok"]]
        expected = [c.__name__ for c in conformance.CHECKS + identity_checks.CHECKS + train_checks.CHECKS]
        assert [r["name"] for r in reply["results"]] == expected and not failed, failed
    finally:
        await relay.stop()


def test_the_built_app_ships_bytecode_for_the_stdlib_and_every_wheel(dist):
    """Pyodide compiled each stdlib module it imported, and the tab each module of ours, at every boot: the build
    ships unchecked-hash bytecode beside every source (zipimport and the path finder try it first)."""
    import zipfile

    stdlib = zipfile.ZipFile(dist / "pyodide" / "python_stdlib.zip")
    names = set(stdlib.namelist())
    sources = {n for n in names if n.endswith(".py")}
    assert len(sources) > 500 and all(f"{n}c" in names for n in sources)
    assert stdlib.read("asyncio/__init__.pyc")[4:8] == (1).to_bytes(4, "little")  # hash-based, unchecked
    for wheel in (dist / "py").glob("*.whl"):
        listed = zipfile.ZipFile(wheel).namelist()
        modules = [n for n in listed if n.endswith(".py") and "/" in n]
        compiled = {n for n in listed if n.endswith(".cpython-314.pyc")}
        assert modules and all(
            n.rsplit("/", 1)[0] + "/__pycache__/" + n.rsplit("/", 1)[1][:-3] + ".cpython-314.pyc" in compiled
            for n in modules
        ), wheel.name


def test_the_built_app_stores_its_wheels_and_packs_its_large_files_in_gzip_copies(dist):
    """The tab takes each file straight out of a wheel (no inflating ~770 streams beside Pyodide's boot); the
    relay sends the wheels, wasm and scripts as their gzip copies, each of the same bytes."""
    import gzip
    import json
    import zipfile

    for wheel in (dist / "py").glob("*.whl"):
        assert {i.compress_type for i in zipfile.ZipFile(wheel).infolist()} == {zipfile.ZIP_STORED}, (
            wheel.name
        )
    copies = sorted(dist.rglob("*.gz"))
    packed = {str(c.relative_to(dist))[: -len(".gz")] for c in copies}
    assert {
        "pyodide/pyodide.asm.wasm",
        "pyodide/pyodide.asm.mjs",
        "loro/loro_wasm_bg.wasm",
        "worker.js",
    } <= packed
    assert {f"py/{w.name}" for w in (dist / "py").glob("*.whl")} <= packed
    for copy in copies:
        original = copy.with_name(copy.name[: -len(".gz")])
        assert gzip.decompress(copy.read_bytes()) == original.read_bytes(), copy
        assert copy.stat().st_size <= 0.9 * original.stat().st_size
    files = json.loads((dist / "manifest.json").read_text())["files"]
    assert packed - {"manifest.json"} <= set(files) and not any(name.endswith(".gz") for name in files)


def test_the_built_app_lists_the_files_a_first_visit_fetches_before_its_wheels(dist):
    """A first visit fetches the start's files (the modules importing the app loads, the recorded dataclass code,
    cbor2) while Pyodide boots, and the wheels (~6x the bytes) only once online: the zip holds the wheels' own
    bytes, stored, with a gzip copy, and the manifest names it and its sha256, which the tab checks."""
    import gzip
    import hashlib
    import json
    import zipfile

    manifest = json.loads((dist / "manifest.json").read_text())
    start = dist / manifest["start"]
    assert manifest["files"][manifest["start"]] == hashlib.sha256(start.read_bytes()).hexdigest()
    assert gzip.decompress(start.with_name(start.name + ".gz").read_bytes()) == start.read_bytes()
    wheels = {}
    for wheel in (dist / "py").glob("*.whl"):
        with zipfile.ZipFile(wheel) as z:
            wheels.update((name, z.read(name)) for name in z.namelist())
    with zipfile.ZipFile(start) as z:
        assert {i.compress_type for i in z.infolist()} == {zipfile.ZIP_STORED}
        files = {name: z.read(name) for name in z.namelist()}
    assert all(wheels[name] == data for name, data in files.items())
    assert {
        "pynode/browser/app.py",
        "pynode/browser/__pycache__/app.cpython-314.pyc",
        "pynode/browser/dataclass_code.bin",
        "pynode/node.py",
        "cbor2/__init__.py",
    } <= set(files)
    assert not any(name.startswith(("pynode/runtime/", "pynode/train/data/")) for name in files)
    assert 6 * sum(map(len, files.values())) < sum(map(len, wheels.values()))
    assert all(manifest["packages"][p]["imports"] == [p] for p in ("pynode", "cbor2", "snowballstemmer"))


async def test_a_first_visit_refuses_a_start_zip_that_is_not_the_builds(dist, tmp_path, chromium):
    """The start's files are checked against the manifest's sha256 before any is written: a tampered zip (one
    byte of a module flipped on its way) stops the boot with the reason, and nothing of it runs."""
    relay = await relay_on(tmp_path, static_dir=dist, embedded_node=False)
    try:
        ctx = await chromium.context()
        tampered = bytearray((dist / "py" / "pynode-start.zip").read_bytes())
        tampered[len(tampered) // 2] ^= 0x01
        await ctx.route(
            "**/py/pynode-start.zip",
            lambda route: route.fulfill(body=bytes(tampered), content_type="application/zip"),
        )
        tab = await open_dashboard(ctx, relay.port)
        st = await wait_status(tab, lambda s: s["state"] == "error", 60, "the tab refusing its start files")
        assert "pynode-start.zip: sha256" in st["error"] and "the manifest says" in st["error"], st["error"]
        assert st["peer"] == "" and await _relay_peers(relay.port) == []  # it never said hello
    finally:
        await relay.stop()


async def test_a_wheel_that_is_not_the_builds_stops_what_loads_after_the_join_and_the_tab_says_why(
    dist, tmp_path, chromium
):
    """A first visit fetches our wheels once joined: one that is not the lock file's (a byte flipped on its way) is
    refused before any of its files is written, what the tab loads once joined does not start, the node stays on
    the network, and the feed says why."""
    relay = await relay_on(tmp_path, static_dir=dist)
    try:
        ctx = await chromium.context()
        wheel = next((dist / "py").glob("pynode-*.whl"))
        tampered = bytearray(wheel.read_bytes())
        tampered[len(tampered) // 2] ^= 0x01
        await ctx.route(
            f"**/py/{wheel.name}",
            lambda route: route.fulfill(body=bytes(tampered), content_type="application/octet-stream"),
        )
        tab = await open_dashboard(ctx, relay.port)
        await wait_status(tab, lambda s: s["state"] == "online", 60, "the tab online")
        deadline = time.monotonic() + 30
        while "loading the rest of pynode failed" not in (feed := await _feed_text(tab)):
            assert time.monotonic() < deadline, f"no error in the feed: {feed[-2000:]}"
            await asyncio.sleep(0.25)
        assert f"{wheel.name}: sha256" in feed and "the lock file says" in feed
        await asyncio.sleep(2)  # the status loop's ticks: the node is still on, nothing loaded meanwhile
        st = await wait_status(tab, lambda s: s["state"] == "online", 10, "the tab still online")
        assert not {"files", "loaded", "state"} & set(st["boot"]["at"]), st["boot"]["at"]
    finally:
        await relay.stop()


# Under Node with the built wheels (tests/node_pyodide.py), imports the tab's app as web/worker.js does and prints
# how its dataclasses were made (pynode/browser/dataclass_code.py)
_DATACLASS_PROBE = """
console.log(py.runPython(`
import importlib, json
importlib.invalidate_caches()
from pynode.browser import dataclass_code
installed = dataclass_code.install()
import pynode.browser.app
json.dumps({"installed": installed, **dataclass_code.made})
`));
"""


def test_the_tab_makes_its_dataclasses_from_code_the_build_compiled(dist, tmp_path):
    """A dataclass compiles its generated methods when the class is made (~10 ms a class in Pyodide, most of
    importing the node): the build records that code with the app's Pyodide, and the tab's start compiles none."""
    from tests.node_pyodide import run_probe

    made = run_probe(dist, tmp_path, _DATACLASS_PROBE)
    assert made["installed"] > 0 and made["recorded"] >= 50 and made["compiled"] == 0, made


# What the tab's start imports (web/worker.js imports pynode.browser.app before the join), and that what it left for
# later still works there once asked for
_LATER_PROBE = """
console.log(py.runPython(`
import json, sys
import pynode.browser.app
later = ("cbor2", "datetime", "pynode.platform.crdt", "pynode.platform.model")
loaded = [m for m in later if m in sys.modules]
from pynode.wire.cbor import decode, encode
tagged = bytes([0xC1, 0x00])  # a tag: outside cbor_pure's subset, so the strict path (cbor2's) refuses it
try:
    decode(tagged)
    refused = False
except Exception as e:
    refused = type(e).__name__ == "WireError"
json.dumps({"loaded": loaded, "refused": refused, "round_trip": decode(encode({"a": [1, b"x"]})) == {"a": [1, b"x"]}})
`));
"""


def test_the_tabs_start_leaves_cbor2_and_the_replica_and_model_seams_for_later(dist, tmp_path):
    """Importing cbor2 (with datetime) and the CRDT and model seams took ~30-40 ms of a tab's start, none of it
    needed before the join: cbor_pure takes every canonical frame, and the replica and the runners come later."""
    from tests.node_pyodide import run_probe

    probe = run_probe(dist, tmp_path, _LATER_PROBE)
    assert probe["loaded"] == [] and probe["refused"] and probe["round_trip"], probe
