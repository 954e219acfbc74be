"""Regenerate `pynode/train/data/cranfield.txt` (and its manifest hash): the Cranfield abstracts as char-LM text.

    python scripts/cranfield_charlm_text.py [--source ../shared/data/cranfield/cran.all.1400.xml]

The character LM's vocabulary is fixed at 32 symbols (pynode.train.assets.TEXT_ALPHABET: newline, space,
`!',.?` and a-y), baked into the shipped graphs. So each abstract's <text> (title sentence and body, in docno
order) is lowercased; `-` and `/` become spaces (compounds split into words); `z` becomes `s` (the British
spelling of -ize, zero as sero: 1,394 letters, 0.1% of the text); whitespace-separated tokens that hold a digit
(numbers, formulae, citations) are dropped, as are the other symbols outside the alphabet; each abstract becomes
one line. The last 10% of lines is the validation text (pynode.train.data.CharText).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pynode.train.assets import DATA_DIR, MANIFEST, TEXT_ALPHABET  # noqa: E402

OUT = "cranfield.txt"
DEFAULT_SOURCE = ROOT.parent / "shared" / "data" / "cranfield" / "cran.all.1400.xml"
_KEEP = set(TEXT_ALPHABET) - {"\n", " "}


def _token(word: str) -> str:
    if any(c.isdigit() for c in word):
        return ""
    return "".join(c for c in word if c in _KEEP)


def abstract_line(text: str) -> str:
    words = (_token(w) for w in re.sub(r"[-/]", " ", text.lower()).replace("z", "s").split())
    return " ".join(w for w in words if w)


def build(xml: str) -> str:
    docs = []
    for block in re.findall(r"<doc>(.*?)</doc>", xml, re.S):
        docno = int(re.search(r"<docno>\s*(\d+)\s*</docno>", block).group(1))
        body = re.search(r"<text>(.*?)</text>", block, re.S)
        line = abstract_line(body.group(1)) if body else ""
        if line:
            docs.append((docno, line))
    docs.sort()
    text = "".join(line + "\n" for _, line in docs)
    if not set(text) <= set(TEXT_ALPHABET):
        raise SystemExit(f"symbols outside the alphabet: {sorted(set(text) - set(TEXT_ALPHABET))}")
    return text


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", type=Path, default=DEFAULT_SOURCE)
    args = ap.parse_args()
    text = build(args.source.read_text())
    data = text.encode("ascii")
    (DATA_DIR / OUT).write_bytes(data)
    path = DATA_DIR / MANIFEST
    manifest = json.loads(path.read_text())
    manifest[OUT] = hashlib.sha256(data).hexdigest()
    path.write_text(json.dumps(dict(sorted(manifest.items())), indent=1) + "\n")
    print(f"{OUT}: {text.count(chr(10))} abstracts, {len(data)} chars, sha256 {manifest[OUT]}")


if __name__ == "__main__":
    main()
