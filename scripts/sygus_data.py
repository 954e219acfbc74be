"""Regenerate `pynode/research/data/sygus-pbe-strings.json.gz` (and its manifest hash) from the SyGuS-Comp 2018
PBE Strings track copy.

    python scripts/sygus_data.py [--source ../shared/data/sygus-pbe-strings]

The output is one gzip'd JSON object {problem name: .sl text}, every file of the track verbatim (the domain's
parser reads the SyGuS-IF text itself; max3 and the contradictory univ_*-long-repeat files are kept as data and
refused by the parser with a reason).
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pynode.research.assets import write_asset  # noqa: E402

OUT = "sygus-pbe-strings.json.gz"
DEFAULT_SOURCE = ROOT.parent / "shared" / "data" / "sygus-pbe-strings"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", type=Path, default=DEFAULT_SOURCE)
    args = ap.parse_args()
    texts = {p.stem: p.read_bytes().decode() for p in sorted(args.source.glob("*.sl"))}  # verbatim, \r kept
    if not texts:
        raise SystemExit(f"no .sl files in {args.source}")
    raw = json.dumps(texts, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    blob = gzip.compress(
        raw, compresslevel=9, mtime=0
    )  # mtime=0: the same input gives the same bytes and hash
    digest = write_asset(OUT, blob)
    print(f"{OUT}: {len(texts)} problems, {len(blob)} bytes, sha256 {digest}")


if __name__ == "__main__":
    main()
