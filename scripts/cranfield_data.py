"""Regenerate `pynode/research/data/cranfield.json.gz` (and its manifest hash) from the TREC-format Cranfield copy.

    python scripts/cranfield_data.py [--source ../shared/data/cranfield]

The output is one gzip'd JSON object:
    {"docs": [[docno, title, body], ...], "queries": [text, ...], "qrels": [[query, docno, level], ...]}
Queries are numbered by their position in cran.qry.xml (1..225), the numbering the qrels use (not the `<num>`
values, which skip). Each abstract's body starts with a copy of its title; it is cut off so that the title and
body fields do not count the same words twice (BM25F weighs them separately). Whitespace is collapsed.
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pynode.research.assets import write_asset  # noqa: E402

OUT = "cranfield.json.gz"
DEFAULT_SOURCE = ROOT.parent / "shared" / "data" / "cranfield"


def _field(block: str, tag: str) -> str:
    m = re.search(rf"<{tag}>(.*?)</{tag}>", block, re.S)
    return " ".join(m.group(1).split()) if m else ""


def build(source: Path) -> dict:
    docs = []
    for block in re.findall(r"<doc>(.*?)</doc>", (source / "cran.all.1400.xml").read_text(), re.S):
        docno = int(_field(block, "docno"))
        title, text = _field(block, "title"), _field(block, "text")
        body = text[len(title) :].strip() if title and text.startswith(title) else text
        docs.append([docno, title, body])
    docs.sort()
    if [d[0] for d in docs] != list(range(1, len(docs) + 1)):
        raise SystemExit("docnos are not 1..N")
    queries = [
        _field(b, "title")
        for b in re.findall(r"<top>(.*?)</top>", (source / "cran.qry.xml").read_text(), re.S)
    ]
    qrels = []
    for line in (source / "cranqrel.trec.txt").read_text().splitlines():
        if line.strip():
            q, _, d, rel = line.split()
            qrels.append([int(q), int(d), int(rel)])
    qrels.sort()
    if not all(1 <= q <= len(queries) and 1 <= d <= len(docs) for q, d, _ in qrels):
        raise SystemExit("a qrel names an unknown query or document")
    return {"docs": docs, "queries": queries, "qrels": qrels}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", type=Path, default=DEFAULT_SOURCE)
    args = ap.parse_args()
    data = build(args.source)
    text = json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()
    blob = gzip.compress(
        text, compresslevel=9, mtime=0
    )  # mtime=0: the same input gives the same bytes and hash
    digest = write_asset(OUT, blob)
    print(
        f"{OUT}: {len(data['docs'])} docs, {len(data['queries'])} queries, {len(data['qrels'])} qrels, "
        f"{len(blob)} bytes, sha256 {digest}"
    )


if __name__ == "__main__":
    main()
