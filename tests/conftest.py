"""Fixtures shared by the browser tests: the built web app (once per session) and a Chromium per test."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from wasm_build.web import build

    out = tmp_path_factory.mktemp("web") / "dist"
    build(ROOT, out)
    return out


@pytest.fixture
async def chromium():
    from tests.browser_util import Chromium

    c = await Chromium().start()
    yield c
    await c.close()
