"""The web app's own files: dashboard (index.html, app.js), embed script (embed.js → embed.html), example page.

Static checks run everywhere. The browser checks (marked slow) drive Debian's Chromium through Playwright with the
dev-only fake host (web/dev/fake-host.js) routed in place of node-host.js, so they test the UI and the embed wiring
without Pyodide; the end-to-end tests with the real node live with the browser-node tests.
"""

from __future__ import annotations

import asyncio
import functools
import http.server
import re
import shutil
import subprocess
import threading
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest

from relay_server.app import create_app
from relay_server.config import RelayConfig
from relay_server.relay import open_relay
from relay_server.server import build_server
from tests.prereq import missing, require_module, requires

WEB = Path(__file__).resolve().parent.parent / "web"
PAGES = ["index.html", "embed.html"]
SCRIPTS = [
    "app.js",
    "embed.js",
    "embed-frame.js",
    "ui-common.js",
    "state-card.js",
    "research-card.js",
    "paper-view.js",
    "presence-card.js",
    "review-card.js",
    "services-card.js",
]
STYLES = ["style.css", "embed.css"]
CHROMIUM = Path("/usr/bin/chromium")

DASHBOARD_HOOKS = [
    "state-pill",
    "leave-join",
    "peer-id",
    "copy-peer",
    "caps",
    "relay-url",
    "uptime",
    "peers",
    "peer-count",
    "topics",
    "feed",
    "feed-pause",
    "publish",
    "publish-topic",
    "publish-text",
    "publish-send",
    "throughput",
    "delivered",
    "known-peers",
    "rejections",
    "boot",
    "error-panel",
    "error-message",
    "replica",
    "replica-records",
    "replica-sync",
    "board-count",
    "boards",
    "boards-empty",
    "research-state",
    "research-toggle",
    "research-current",
    "research-hypothesis",
    "research-progress",
    "research-results",
    "paper",
    "paper-body",
    "review-state",
    "review-queue",
    "review-recent",
    "review-breakthroughs",
    "review-results",
]


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def _tags(name: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = _Tags()
    parser.feed((WEB / name).read_text())
    return parser.tags


# ---- static ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("page", PAGES)
def test_pages_load_nothing_from_the_internet_and_have_unique_ids(page):
    tags = _tags(page)
    for tag, attrs in tags:
        for attr in ("src", "href"):
            value = attrs.get(attr)
            if value is not None and tag not in ("a",):
                assert not re.match(r"^[a-z]+:|^//", value), (
                    f"{page}: <{tag} {attr}={value}> is not a local file"
                )
                assert (WEB / value).is_file() or value == "./", f"{page}: {value} is missing"
    ids = [attrs["id"] for _, attrs in tags if attrs.get("id")]
    assert len(ids) == len(set(ids)), f"{page}: duplicate ids"
    for tag, attrs in tags:
        if tag == "label" and attrs.get("for"):
            assert attrs["for"] in ids, f"{page}: label for={attrs['for']} points nowhere"


def test_the_dashboard_has_its_test_hooks():
    ids = {attrs.get("id") for _, attrs in _tags("index.html")}
    assert set(DASHBOARD_HOOKS) <= ids
    body = next(attrs for tag, attrs in _tags("index.html") if tag == "body")
    assert body.get("data-state") == "booting"


@pytest.mark.parametrize("name", SCRIPTS + STYLES)
def test_scripts_and_styles_import_only_local_files(name):
    text = (WEB / name).read_text()
    assert not re.search(r"""\bimport\b[^;]*?['"](?:https?:)?//""", text)
    assert not re.search(r"""@import|url\(\s*['"]?(?:https?:)?//""", text)
    assert "dev/" not in re.sub(r"//.*|/\*[\s\S]*?\*/", "", text), f"{name} refers to the dev-only folder"


def test_embed_js_is_a_classic_script():
    text = re.sub(r"/\*[\s\S]*?\*/|//.*", "", (WEB / "embed.js").read_text())
    assert not re.search(r"^\s*(import|export)\b", text, re.M)
    assert ".currentScript" in text


@requires(shutil.which("node") is not None, "needs node for a syntax check")
@pytest.mark.parametrize("name", SCRIPTS + ["dev/fake-host.js"])
def test_scripts_parse(name, tmp_path):
    path = WEB / name
    if name != "embed.js":  # ES modules: node checks module syntax for .mjs files
        path = tmp_path / (Path(name).stem + ".mjs")
        path.write_text((WEB / name).read_text())
    result = subprocess.run(["node", "--check", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


async def test_the_relay_serves_the_embed_files_to_other_origins(tmp_path):
    app = create_app(await open_relay(RelayConfig(data_dir=tmp_path, static_dir=WEB), embedded=False))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://relay") as client:
        script = await client.get("/embed.js")
        frame = await client.get("/embed.html?caps=inference&cpu=0.25")
        logo = await client.get("/assets/logo.svg")
    assert script.status_code == 200 and script.headers["content-type"] == "text/javascript"
    assert script.headers["cross-origin-resource-policy"] == "cross-origin"
    assert frame.status_code == 200 and frame.headers["content-type"].startswith("text/html")
    assert "x-frame-options" not in frame.headers  # the badge is an iframe on foreign pages
    assert logo.status_code == 200 and logo.headers["content-type"].startswith("image/svg+xml")


async def test_the_relay_sends_a_files_gzip_copy_only_to_clients_that_take_it(tmp_path):
    import gzip
    import os

    static = tmp_path / "static"
    static.mkdir()
    wasm = os.urandom(3000) * 4  # compressible: each 3000 bytes four times
    (static / "app.wasm").write_bytes(wasm)
    (static / "app.wasm.gz").write_bytes(gzip.compress(wasm, mtime=0))
    (static / "page.css").write_text("body { color: red; }\n" * 200)
    (static / "page.css.gz").write_bytes(gzip.compress((static / "page.css").read_bytes(), mtime=0))
    (static / "plain.js").write_text("export const a = 1;\n")
    (static / "stale.json").write_text('{"fresh": true}')
    (static / "stale.json.gz").write_bytes(gzip.compress(b'{"fresh": false}', mtime=0))
    os.utime(
        static / "stale.json.gz", (1_000_000, 1_000_000)
    )  # older than the file: an edit not packed again
    app = create_app(await open_relay(RelayConfig(data_dir=tmp_path, static_dir=static), embedded=False))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://relay") as client:

        async def get(path: str, **headers: str) -> httpx.Response:
            # raw bytes as sent: httpx would inflate them, and must not be asked for gzip of its own accord
            async with client.stream("GET", path, headers={"Accept-Encoding": "identity", **headers}) as r:
                r.raw_bytes = b"".join([chunk async for chunk in r.aiter_raw()])
            return r

        packed = await get("/app.wasm", **{"Accept-Encoding": "br, gzip;q=0.8"})
        assert packed.headers["content-encoding"] == "gzip" and packed.headers["vary"] == "Accept-Encoding"
        assert packed.headers["content-type"] == "application/wasm"  # the file's type, not gzip's
        assert packed.headers["cross-origin-embedder-policy"] == "require-corp"
        assert gzip.decompress(packed.raw_bytes) == wasm and len(packed.raw_bytes) < len(wasm)
        css = await get("/page.css", **{"Accept-Encoding": "gzip"})
        assert (
            css.headers["content-type"] == "text/css; charset=utf-8"
            and css.headers["content-encoding"] == "gzip"
        )
        # not to a client that refuses gzip, asks for a range of the file's own bytes, or takes no encoding
        for headers in (
            {"Accept-Encoding": "gzip;q=0"},
            {"Accept-Encoding": "gzip", "Range": "bytes=0-9"},
            {},
        ):
            plain = await get("/app.wasm", **headers)
            assert "content-encoding" not in plain.headers and plain.headers["vary"] == "Accept-Encoding"
            assert plain.raw_bytes == (wasm[:10] if "Range" in headers else wasm)
        assert (
            "vary" not in (await get("/plain.js", **{"Accept-Encoding": "gzip"})).headers
        )  # no copy to choose
        stale = await get("/stale.json", **{"Accept-Encoding": "gzip"})
        assert "content-encoding" not in stale.headers and stale.raw_bytes == b'{"fresh": true}'
        # a revalidation names the encoding it holds: the copy's own validator
        again = await get("/app.wasm", **{"Accept-Encoding": "gzip", "If-None-Match": packed.headers["etag"]})
        assert again.status_code == 304


# ---- in Chromium, with the fake host -----------------------------------------------------------------------

ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
FAKE_HOST = (WEB / "dev" / "fake-host.js").read_text()


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def relay_http() -> Iterator[str]:
    """A relay serving web/ (not web/dist) on a free port, in a thread with its own event loop."""
    import tempfile

    started = threading.Event()
    box: dict = {}

    def run() -> None:
        loop = asyncio.new_event_loop()
        box["loop"] = loop
        with tempfile.TemporaryDirectory() as data:
            config = RelayConfig(port=0, data_dir=Path(data), static_dir=WEB, log_level="warning")
            relay = loop.run_until_complete(open_relay(config, embedded=False))
            server = build_server(config, create_app(relay))
            box["server"] = server

            async def serve() -> None:
                task = asyncio.ensure_future(server.serve())
                while not server.started:
                    await asyncio.sleep(0.01)
                started.set()
                await task

            loop.run_until_complete(serve())

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert started.wait(20), "relay did not start"
    yield f"http://127.0.0.1:{box['server'].port}"
    box["server"].should_exit = True
    thread.join(10)


@pytest.fixture(scope="module")
def foreign_http() -> Iterator[str]:
    """web/examples on another origin (another port), like any site that pastes the script tag."""
    handler = functools.partial(_Quiet, directory=str(WEB / "examples"))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture(scope="module")
def browser():
    sync_api = require_module("playwright.sync_api")
    if not CHROMIUM.exists():
        missing("needs Debian's chromium")
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield b
        b.close()


def _context(browser, fake: bool = True, **kw):
    ctx = browser.new_context(**kw)
    if fake:
        ctx.route(
            "**/node-host.js",
            lambda route: route.fulfill(
                status=200, body=FAKE_HOST, headers={"content-type": "text/javascript"}
            ),
        )
    return ctx


@pytest.mark.slow
def test_dashboard_shows_the_node_and_controls_it(browser, relay_http, tmp_path):
    ctx = _context(browser, viewport={"width": 1280, "height": 900})
    page = ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(relay_http + "/")
    page.wait_for_selector("body[data-state=online]", timeout=10_000)
    page.wait_for_function("document.querySelector('#peers').dataset.count >= 3", timeout=10_000)
    peer = page.get_attribute("#peer-id", "data-peer")
    assert peer and len(peer) == 52
    assert page.get_attribute("#caps", "data-caps") == "browser"
    assert page.get_attribute("#state-pill", "data-state") == "online"
    assert page.locator("#topics li[data-topic='hs/1/demo/pulse']").count() == 1
    assert page.locator("#peers li[data-kind=direct]").count() >= 1
    page.wait_for_function("document.querySelector('#feed').dataset.count > 0", timeout=10_000)

    page.fill("#publish-text", "hello from the test")
    page.click("#publish-send")
    mine = page.locator(f"#feed li[data-from='{peer}']")
    mine.first.wait_for(timeout=5_000)
    assert mine.count() == 1 and "hello from the test" in mine.first.inner_text()

    assert page.get_attribute("#leave-join", "data-action") == "leave"
    page.click("#leave-join")
    page.wait_for_selector("body[data-state=left]", timeout=5_000)
    assert page.get_attribute("#leave-join", "data-action") == "join"
    assert page.get_attribute("#peers", "data-count") == "0"
    page.click("#leave-join")
    page.wait_for_selector("body[data-state=online]", timeout=5_000)
    page.wait_for_function("document.querySelector('#boot').dataset.pyodideS > 0")
    page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)
    assert not errors
    ctx.close()


@pytest.mark.slow
def test_dashboard_explains_a_failed_node(browser, relay_http):
    ctx = _context(browser)
    page = ctx.new_page()
    page.goto(relay_http + "/?fake=error")
    page.wait_for_selector("body[data-state=error]", timeout=10_000)
    assert page.is_visible("#error-panel")
    assert page.text_content("#error-message").strip()
    ctx.close()

    ctx = _context(browser, fake=False)
    ctx.route("**/node-host.js", lambda route: route.fulfill(status=404, body="missing"))
    page = ctx.new_page()
    page.goto(relay_http + "/")
    page.wait_for_selector("body[data-state=error]", timeout=10_000)
    assert "could not be loaded" in page.text_content("#error-title")
    ctx.close()


# Every rule with an endless animation, and every endless animation running, whose timing is not steps():
# a smooth one has the compositor draw 60 frames a second, for as long as the tab is open (style.css says why).
SMOOTH_ENDLESS = """() => {
  const found = [];
  const walk = (rules) => {
    for (const rule of rules) {
      if (rule.cssRules) walk(rule.cssRules);
      const s = rule.style;
      if (s && s.animationName && s.animationName !== 'none' && s.animationIterationCount.includes('infinite')
          && !s.animationTimingFunction.startsWith('steps(')) {
        found.push(`${rule.selectorText}: ${s.animationTimingFunction}`);
      }
    }
  };
  for (const sheet of document.styleSheets) walk(sheet.cssRules);
  for (const a of document.getAnimations()) {
    if (a.effect.getTiming().iterations === Infinity
        && !a.effect.getKeyframes().every((k) => k.easing.startsWith('steps('))) {
      found.push(`running ${a.animationName || a.id}: ${a.effect.getKeyframes().map((k) => k.easing)}`);
    }
  }
  return found;
}"""


@pytest.mark.slow
@pytest.mark.parametrize(("path", "state"), [("/", "booting"), ("/", "online"), ("/embed.html", "")])
def test_endless_animations_step_instead_of_running_smooth(browser, relay_http, path, state):
    ctx = _context(browser)
    page = ctx.new_page()
    page.goto(relay_http + path + ("?fake=slow" if state == "booting" else ""))
    page.wait_for_load_state("load")
    if state:
        page.wait_for_selector(f"body[data-state={state}]", timeout=10_000)
    assert page.evaluate(SMOOTH_ENDLESS) == []
    ctx.close()


@pytest.mark.slow
def test_embed_on_another_origin_runs_a_badge_from_the_relay(browser, relay_http, foreign_http):
    ctx = _context(browser, viewport={"width": 1000, "height": 700})
    page = ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{foreign_http}/foreign.html?relay={relay_http}")
    badge = page.locator("#hyperspace-badge")
    badge.wait_for(timeout=10_000)
    page.wait_for_selector("#hyperspace-badge[data-state=online]", timeout=10_000)
    box = badge.bounding_box()
    # about 220×40, whatever the page's own `iframe { … }` CSS says
    assert box and 200 <= box["width"] <= 240 and 36 <= box["height"] <= 44
    assert badge.get_attribute("data-relay") == relay_http
    assert page.get_attribute("#embed-status", "data-state") == "online"

    frame = next(f for f in page.frames if f.url.startswith(relay_http + "/embed.html"))
    assert "caps=inference" in frame.url and "cpu=0.25" in frame.url
    assert frame.evaluate("window.hyperspace.caps") == ["browser", "inference"]
    assert frame.evaluate("window.hyperspace.cpuShare") == 0.25
    frame.wait_for_function("/peers?$/.test(document.getElementById('detail').textContent)", timeout=10_000)
    assert "Hyperspace node" in frame.text_content("#label")

    frame.click("#toggle")
    page.wait_for_selector("#hyperspace-badge[data-state=left]", timeout=5_000)
    assert frame.get_attribute("#toggle", "data-action") == "join"
    frame.click("#toggle")
    page.wait_for_selector("#hyperspace-badge[data-state=online]", timeout=5_000)
    assert not errors
    ctx.close()


@pytest.mark.parametrize(
    "name",
    [
        "app.js",
        "state-card.js",
        "research-card.js",
        "paper-view.js",
        "presence-card.js",
        "review-card.js",
        "services-card.js",
    ],
)
def test_the_dashboard_never_parses_network_text_as_html(name):
    code = re.sub(r"/\*[\s\S]*?\*/|//.*", "", (WEB / name).read_text())
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "DOMParser", "document.write", "srcdoc"):
        assert sink not in code, f"{name} uses {sink}"
