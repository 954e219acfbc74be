"""What the replicated state looks like in the archive repository (the layout is in docs/ARCHIVE.md).

A pure function of the replica's validated records and documents: the same state always yields the same
files, byte for byte, so a cycle repeated after a crash changes nothing.
"""

from __future__ import annotations

from typing import Any

from pynode.identity import peer_id_text
from pynode.state.records import DOCS, DOMAINS, Record
from pynode.state.store import Store
from pynode.state.views import boards_json, boards_markdown, latest_profiles, leaderboards
from relay_server.archive import json_bytes


def record_json(r: Record) -> dict[str, Any]:
    body = {k: (v.hex() if isinstance(v, bytes) else v) for k, v in r.body.items()}
    if r.kind == "points":
        body["awards"] = [[peer_id_text(p), n] for p, n in r.body["awards"]]
    return {
        "key": r.key,
        "kind": r.kind,
        "author": peer_id_text(r.author),
        "ts": r.ts,
        "body": body,
        "sig": r.sig.hex(),
        "record_cbor_hex": r.encoded.hex(),  # the exact signed bytes: anyone can re-verify
    }


def state_files(store: Store) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    results = [r for name in DOCS if name.startswith("results.") for r in store.all_records(name)]
    for r in results:
        files[f"results/{r.body['domain']}/{r.body['task']}/{r.key}.json"] = json_bytes(record_json(r))
    for r in store.all_records("reviews"):
        files[f"reviews/{r.key}.json"] = json_bytes(record_json(r))
    for r in store.all_records("points"):
        files[f"points/{r.key}.json"] = json_bytes(record_json(r))
    for r in store.all_records("papers"):
        files[f"papers/{r.key}.md"] = r.body["markdown"].encode()
        meta = record_json(r)
        meta["body"] = {k: v for k, v in meta["body"].items() if k != "markdown"}
        files[f"papers/{r.key}.json"] = json_bytes(meta)
    for peer, profile in latest_profiles(store.all_records("identities")).items():
        files[f"profiles/{peer}.json"] = json_bytes(profile)
    boards = leaderboards(results)
    for domain in DOMAINS:
        mine = {b: rows for b, rows in boards.items() if b.domain == domain}
        if mine:
            files[f"leaderboards/{domain}.json"] = json_bytes(boards_json(mine))
            files[f"leaderboards/{domain}.md"] = boards_markdown(mine, domain).encode()
    for name in DOCS:
        if store.records[name]:
            files[f"snapshots/{name}.loro"] = store.snapshot(name)
    return files
