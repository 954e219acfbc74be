"""Headless Chromium (Debian's, driven by Playwright) against a relay serving the built web app."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

from playwright.async_api import Browser, BrowserContext, Page, async_playwright

CHROMIUM = os.environ.get("HYPERSPACE_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--allow-loopback-in-peer-connection",  # WebRTC between processes on one machine (PLATFORM_NOTES)
]
# WebGPU on the CPU: Chromium's SwiftShader Vulkan adapter (/usr/lib/chromium/libvk_swiftshader.so), which a
# headless Chromium offers only with the "unsafe" (experimental platforms) switch, --disable-gpu or not.
WEBGPU_ARGS = ["--enable-unsafe-webgpu", "--use-webgpu-adapter=swiftshader"]
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


class Chromium:
    def __init__(self, webgpu: bool = False) -> None:
        """`webgpu`: offer pages a WebGPU adapter (SwiftShader's); without it `requestAdapter()` gives null."""
        self._pw: Any = None
        self.browser: Browser | None = None
        self.args = ARGS + WEBGPU_ARGS if webgpu else ARGS

    async def start(self) -> Chromium:
        self._pw = await async_playwright().start()
        self.browser = await self._pw.chromium.launch(executable_path=CHROMIUM, args=self.args)
        return self

    async def context(self) -> BrowserContext:
        """A fresh profile; the media grant is what lets WebRTC gather loopback candidates."""
        assert self.browser is not None
        return await self.browser.new_context(
            permissions=["microphone", "camera"], viewport={"width": 1280, "height": 860}
        )

    async def close(self) -> None:
        if self.browser is not None:
            await self.browser.close()
        if self._pw is not None:
            await self._pw.stop()


async def open_dashboard(ctx: BrowserContext, port: int, query: str = "research=off&snapshot=off") -> Page:
    """The dashboard of a relay on `port`. A tab researches by default, and makes a boot snapshot for its next
    visit (a second Pyodide boot); tests of other parts keep both off (`query`), so that the records they count
    and the CPU they time are their own."""
    page = await ctx.new_page()
    page.on("pageerror", lambda e: print("pageerror:", e))
    await page.goto(f"http://127.0.0.1:{port}/?{query}")
    return page


async def status(page: Page) -> dict[str, Any] | None:
    return await page.evaluate("window.hyperspace ? window.hyperspace.status : null")


async def wait_status(page: Page, cond: Any, timeout: float = 60, what: str = "status") -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = await status(page)
        if last is not None and cond(last):
            return last
        await asyncio.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}; last status: {last}")


def screenshot_path(name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS / f"{name}.png"
