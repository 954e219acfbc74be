"""Receipts, the requester's side, sans-IO: count what each server served us per (server, capability, hour) and
say which `receipt` record bodies are due (PROTOCOL.md §11.5; the schema is pynode/state/records.py).

A receipt is signed by the requester that was served: a server cannot mint its own. One record per
(requester, server, cap, epoch), epoch = ts_ms // 3,600,000, published when the epoch ends or the node stops.
A node that stops and starts again within one epoch publishes that epoch's receipt again with the counts of
both runs added (`merge`): the newest record of a (requester, server, cap, epoch) supersedes the older ones.
"""

from __future__ import annotations

from typing import Any

from pynode.state.limits import MAX_RECEIPT_COUNT, MAX_RECEIPT_UNITS

EPOCH_MS = 3_600_000

Key = tuple[bytes, str, int]  # (server, cap, epoch)


def epoch_of(ts_ms: int) -> int:
    return ts_ms // EPOCH_MS


class ReceiptTally:
    def __init__(self) -> None:
        self._open: dict[Key, list[int]] = {}  # -> [count, units]

    def served(self, server: bytes, cap: str, units: int, ts_ms: int) -> None:
        """`server` completed one request of ours for `cap` (units: tokens, bytes, items...)."""
        entry = self._open.setdefault((server, cap, epoch_of(ts_ms)), [0, 0])
        entry[0] += 1
        entry[1] += max(0, units)

    def due(self, now_ms: int) -> list[dict[str, Any]]:
        """Bodies of the epochs that have ended, removed from the tally."""
        current = epoch_of(now_ms)
        return self._drain([k for k in self._open if k[2] < current])

    def flush(self) -> list[dict[str, Any]]:
        """Every body, the running epoch's too (the node is stopping)."""
        return self._drain(list(self._open))

    def pending(self) -> int:
        return len(self._open)

    def _drain(self, keys: list[Key]) -> list[dict[str, Any]]:
        out = []
        for key in sorted(keys):
            count, units = self._open.pop(key)
            out.append(_body(key, count, units))
        return out


def _body(key: Key, count: int, units: int) -> dict[str, Any]:
    server, cap, epoch = key
    return {
        "cap": cap,
        "server": server,
        "epoch": epoch,
        "count": min(count, MAX_RECEIPT_COUNT),
        "units": min(units, MAX_RECEIPT_UNITS),
    }


def merge(body: dict[str, Any], earlier: dict[str, Any] | None) -> dict[str, Any]:
    """`body` with the counts of `earlier` (our newest receipt for the same key, if any) added."""
    if earlier is None:
        return body
    return {
        **body,
        "count": min(body["count"] + earlier["count"], MAX_RECEIPT_COUNT),
        "units": min(body["units"] + earlier["units"], MAX_RECEIPT_UNITS),
    }
