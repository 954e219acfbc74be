"""Relay-wide counters: the one source that /api/status and /metrics both read."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass
class RelayStats:
    frames_in: int = 0
    frames_out: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    throttled: int = 0  # peers' frames read only after waiting for their rate buckets
    rejections: Counter[str] = field(default_factory=Counter)  # reason -> count

    def reject(self, reason: str) -> None:
        self.rejections[reason] += 1
