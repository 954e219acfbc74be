"""The benchmarks. Like the test helpers (tests/) and the web build (wasm_build/) they start relays, Chromium
and the app with, they ship with the repository only: the repository's root goes on the import path here,
once, so a benchmark finds those from `hyperspace bench` (an installed script, run from anywhere) as it does
from the root."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
