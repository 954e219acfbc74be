"""`bench/vrf.py`: ECVRF-EDWARDS25519-SHA512-TAI prove/verify time on each group backend.

CPython: libsodium (what CPython nodes use) and the pure-Python group (what the browser uses, measured here on
the same machine for comparison). With --browser: the pure-Python group inside Pyodide in headless Chromium,
the way a tab runs it. Each proof is verified by a second group instance, so nothing remembered while proving
helps; provers take turns among a few keys, as in a pulse round. JSON on stdout, a table on stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench import ROOT
from pynode.identity.vrf_timing import measure
from pynode.platform.native_ed25519 import SodiumEd25519Group
from pynode.platform.pure_ed25519 import PureEd25519Group

TAB_BOOT_S = 300  # Pyodide boots in ~20 s on an idle machine, over 2 min on a loaded one


def run_bench(rounds: int = 50, browser: bool = False, browser_rounds: int = 20) -> dict[str, Any]:
    result: dict[str, Any] = {
        "cpython": {
            "nacl": measure(SodiumEd25519Group(), SodiumEd25519Group(), rounds),
            "pure": measure(PureEd25519Group(), PureEd25519Group(), rounds),
        }
    }
    if browser:
        result["pyodide"] = {"pure": asyncio.run(_in_browser(browser_rounds))}
    _table(result)
    return result


async def _in_browser(rounds: int) -> dict[str, Any]:
    from tests.browser_util import Chromium, open_dashboard, wait_status
    from tests.netutil import relay_on
    from wasm_build.web import build

    with tempfile.TemporaryDirectory() as tmp:
        dist = Path(tmp) / "dist"
        _log("building the web app...")
        build(ROOT, dist)
        relay = await relay_on(Path(tmp), static_dir=dist)
        chromium = await Chromium().start()
        try:
            page = await open_dashboard(await chromium.context(), relay.port)
            await wait_status(page, lambda s: s["state"] == "online", TAB_BOOT_S, "tab online")
            reply = await page.evaluate(
                "(n) => window.hyperspace.node.ask({type: 'bench', op: 'vrf', rounds: n}, 'bench')", rounds
            )
        finally:
            await chromium.close()
            await relay.stop()
    reply.pop("type", None)
    reply.pop("op", None)
    return reply


def _table(r: dict[str, Any]) -> None:
    rows = [(f"CPython {name}", m) for name, m in r["cpython"].items()]
    rows += [(f"Pyodide {name}", m) for name, m in r.get("pyodide", {}).items()]
    lines = [
        f"{'ECVRF-EDWARDS25519-SHA512-TAI (ms)':<36}{'prove p50':>10}{'p99':>8}{'verify p50':>12}{'p99':>8}"
    ]
    for label, m in rows:
        p, v = m["prove_ms"], m["verify_ms"]
        lines.append(
            f"  {label + ' (' + str(m['rounds']) + ' rounds)':<34}{p['p50']:>10}{p['p99']:>8}{v['p50']:>12}{v['p99']:>8}"
        )
    _log("\n".join(lines))


def _log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=50, help="proofs per CPython backend")
    parser.add_argument("--browser", action="store_true", help="also measure in Pyodide (headless Chromium)")
    parser.add_argument("--browser-rounds", type=int, default=20, help="proofs in the tab")
    args = parser.parse_args(argv)
    print(json.dumps(run_bench(args.rounds, args.browser, args.browser_rounds)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
