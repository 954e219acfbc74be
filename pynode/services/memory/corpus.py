"""What the memory indexes: papers and results from the replicated state, as (text to embed, metadata).

A paper reads as its title and abstract; a result as its task and hypothesis (results without one are
baselines and carry nothing to relate). The metadata is what a hit returns: kind, domain, task, a short title
or hypothesis, the author's key prefix and, for results, the metric's value and unit.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from pynode.services.memory.limits import MAX_META_CHARS, MAX_TEXT_CHARS
from pynode.state.records import DOMAINS, Record

PAPERS_DOC = "papers"
RESULT_DOCS = tuple(f"results.{d}" for d in DOMAINS)
DOCS = (PAPERS_DOC, *RESULT_DOCS)  # every document the index reads
KINDS = ("paper", "result")
_ABSTRACT = re.compile(r"^## Abstract\s*\n+(.+?)(?:\n\n|\n##|\Z)", re.MULTILINE | re.DOTALL)


@dataclass(frozen=True)
class Item:
    key: str
    ts: int
    text: str
    meta: dict[str, Any]


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_META_CHARS else text[: MAX_META_CHARS - 1] + "…"


def item(record: Record) -> Item | None:
    """The indexed form of a paper or result record; None for other kinds and results with no hypothesis."""
    b = record.body
    meta: dict[str, Any] = {
        "kind": record.kind,
        "domain": b.get("domain", ""),
        "task": b.get("task", ""),
        "author": record.author[:8].hex(),
    }
    if record.kind == "paper":
        found = _ABSTRACT.search(b["markdown"])
        abstract = found.group(1) if found else b["markdown"]
        text = f"{b['title']}. {abstract}"
        meta["title"] = _short(b["title"])
        meta["results"] = list(b["results"])[:4]
    elif record.kind == "result" and b.get("hypothesis"):
        text = f"{b['task']}: {b['hypothesis']}"
        meta["title"] = _short(b["hypothesis"])
        meta["value"] = b["value"]
        meta["metric"] = b["metric"]
        meta["unit"] = b["unit"]
    else:
        return None
    return Item(record.key, record.ts, " ".join(text.split())[:MAX_TEXT_CHARS], meta)


def items(records: Iterable[Record]) -> Iterator[Item]:
    for r in records:
        found = item(r)
        if found is not None:
            yield found
