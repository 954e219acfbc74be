"""Services in signed profiles (PROTOCOL.md §11.3): who offers what, and our own profile body with our services.

Discovery reads the newest profile of each author: its `caps` list names every capability, its `services`
map adds each hosted service's limits and facts (models served, dimensions...). Older profiles without
`services` stay valid and still count through their `caps`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pynode.state.records import Record
from pynode.wire.limits import MAX_CAPABILITIES


@dataclass(frozen=True)
class Offer:
    peer: bytes
    name: str  # the node's chosen name
    entry: Mapping[str, Any]  # the service's advertised fields ({} when only `caps` names it)
    ts: int  # the profile's time


def newest_profiles(records: Iterable[Record]) -> dict[bytes, Record]:
    newest: dict[bytes, Record] = {}
    for r in records:
        if r.kind != "profile":
            continue
        held = newest.get(r.author)
        if held is None or (r.ts, r.key) > (held.ts, held.key):
            newest[r.author] = r
    return newest


def offers(records: Iterable[Record], cap: str) -> list[Offer]:
    """Every author whose newest profile offers `cap`, newest profiles first."""
    out = []
    for peer, r in newest_profiles(records).items():
        services = r.body.get("services", {})
        if cap in services or cap in r.body["caps"]:
            out.append(Offer(peer, r.body["name"], services.get(cap, {}), r.ts))
    return sorted(out, key=lambda o: -o.ts)


def with_services(
    newest: Record | None, name: str, caps: Iterable[str], services: Mapping[str, Mapping[str, Any]]
) -> dict[str, Any] | None:
    """Our profile body offering `services` (every other field kept from our newest profile), or None when
    the newest already says exactly that."""
    body: dict[str, Any] = dict(newest.body) if newest is not None else {"name": name[:64], "caps": []}
    merged = {**body.get("services", {}), **{k: dict(v) for k, v in services.items()}}
    others = sorted({*body["caps"], *caps} - set(services))
    wanted_caps = sorted(
        [*services, *others][:MAX_CAPABILITIES]
    )  # the services first, within the schema's 16
    if newest is not None and body.get("services") == merged and sorted(body["caps"]) == wanted_caps:
        return None
    body["caps"] = wanted_caps
    body["services"] = merged
    return body
