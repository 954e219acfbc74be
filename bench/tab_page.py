"""A benchmark's own page in a headless Chromium tab, beside a built web app (bench/state_tab.py,
bench/embedding_tab.py): the page and its worker are written into the app's `dist` and served by a relay
without a node of its own, so the worker loads Pyodide, loro-crdt and our wheels as the app's worker does."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any


@asynccontextmanager
async def bench_page(dist: Path, tmp: Path, page: str, files: dict[str, str]) -> AsyncIterator[Any]:
    """The Playwright page at `page`, one of `files` (name → text) written into `dist`; relay and Chromium
    stopped on the way out."""
    from tests.browser_util import Chromium
    from tests.netutil import relay_on

    for name, text in files.items():
        (dist / name).write_text(text)
    relay = await relay_on(tmp, static_dir=dist, embedded_node=False)
    chromium = await Chromium().start()
    try:
        tab = await (await chromium.context()).new_page()
        await tab.goto(f"http://127.0.0.1:{relay.port}/{page}")
        yield tab
    finally:
        await chromium.close()
        await relay.stop()
