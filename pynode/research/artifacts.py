"""Where a result's artifacts live in the Git archive, and reading them back.

A result names, in its `artifacts` field, the readable run file the archive writes for it from the state
(relay_server/archive_layout.py): `agents/<peer>/<domain>/run-NNNN.json`, the author's results in that domain
numbered 1, 2, … in clock order. The author knows the number before signing: one more than the results it
already published in the domain (its new result is its newest). The run file holds the signed record itself
(`record_cbor_hex`) and links to its paper, figures and parent, so whoever holds an archive checkout re-runs a
result from there: `hyperspace reproduce KEY --archive DIR`, or a reviewer with `--archive`.

What an archive file says is hostile input like any network byte: size-limited, parsed as JSON, and used only
when the signed record it holds is the very result asked about (same key).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pynode.identity import peer_id_text
from pynode.research.limits import MAX_RUN_FILE_BYTES
from pynode.state.records import Record, decode_record
from pynode.wire.errors import WireError


class ArtifactError(ValueError):
    """An archive file that is not the run file of the result asked about (missing, oversized, other record)."""


@dataclass(frozen=True)
class RunFile:
    record: Record  # the signed result, decoded from the file's exact bytes
    links: dict[str, str]  # "record", "paper", "parent": archive paths


def run_path(author: bytes, domain: str, n: int) -> str:
    return f"agents/{peer_id_text(author)}/{domain}/run-{n:04d}.json"


def next_run_path(author: bytes, domain: str, results: Iterable[Record]) -> str:
    """The run file the archive will write for `author`'s next result in `domain` (`results`: that domain's
    results as the author's replica holds them)."""
    mine = sum(1 for r in results if r.kind == "result" and r.author == author and r.body["domain"] == domain)
    return run_path(author, domain, mine + 1)


def read_run(data: bytes, key: str) -> RunFile:
    """The run file `data` (read from a result's artifacts path, or its results/ file), checked to hold the
    result `key` itself."""
    if len(data) > MAX_RUN_FILE_BYTES:
        raise ArtifactError(f"the run file is over {MAX_RUN_FILE_BYTES} bytes")
    try:
        value = json.loads(data)
        signed = bytes.fromhex(value["record_cbor_hex"])
        record = decode_record(signed)
    except (ValueError, KeyError, TypeError, RecursionError, WireError) as e:
        raise ArtifactError(f"the run file is not a result's run file: {str(e)[:120]}") from None
    if record.kind != "result" or record.key != key:
        raise ArtifactError(f"the run file holds record {record.key[:16]}, not result {key[:16]}")
    links = value.get("archive")
    links = {k: v for k, v in links.items() if isinstance(v, str)} if isinstance(links, dict) else {}
    return RunFile(record, links)


def run_config(run: RunFile) -> str | None:
    """The canonical config the archived record carries (None for a result from before the research tier)."""
    config: Any = run.record.body.get("config")
    return config if isinstance(config, str) else None
