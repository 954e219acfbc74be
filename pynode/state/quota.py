"""What one author may put into one document: records, bytes, and records per minute of record time.

Identities are free, so a quota per author does not stop a Sybil army; it stops one identity from making every
replica store, serve and archive unbounded data (10 MB of valid records from one fresh key used to be accepted
everywhere), and it prices an army by the number of keys it must announce.

The verdict must be the same on every replica, or replicas that refused a change could never import what
depends on it. So it depends only on the author's own chain: its changes arrive in counter order everywhere
(Loro imports a peer's counters contiguously), and a record is admitted or not given the records of that author
admitted before it. The rate is counted on the records' own signed timestamps, not on arrival times (which
differ between replicas): within any AUTHOR_RATE_WINDOW_MS of record time an author has at most AUTHOR_RATE
records. An author can backdate records to dodge the rate, never the totals.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from dataclasses import dataclass, field

from pynode.state.limits import AUTHOR_BYTES, AUTHOR_RATE, AUTHOR_RATE_WINDOW_MS, AUTHOR_RECORDS
from pynode.state.records import Record


@dataclass
class Usage:
    records: int = 0
    bytes: int = 0
    times: list[int] = field(default_factory=list)  # the admitted records' timestamps, sorted

    def copy(self) -> Usage:
        return Usage(self.records, self.bytes, list(self.times))


def refusal(usage: Usage, record: Record) -> str | None:
    """Why `record` does not fit its author's `usage`, or None (and `usage` then counts it)."""
    if usage.records >= AUTHOR_RECORDS:
        return f"more than {AUTHOR_RECORDS} records"
    if usage.bytes + len(record.encoded) > AUTHOR_BYTES:
        return f"more than {AUTHOR_BYTES} bytes of records"
    lo = bisect_left(usage.times, record.ts - AUTHOR_RATE_WINDOW_MS)
    if bisect_right(usage.times, record.ts + AUTHOR_RATE_WINDOW_MS, lo) - lo >= AUTHOR_RATE:
        # every record within a window of this one came before it in the chain: no window holds more than the rate
        return f"more than {AUTHOR_RATE} records within {AUTHOR_RATE_WINDOW_MS // 1000} s"
    usage.records += 1
    usage.bytes += len(record.encoded)
    insort(usage.times, record.ts)
    return None


class Quotas:
    """Every author's usage of one document, and trial admissions for an update being validated."""

    def __init__(self) -> None:
        self._usage: dict[bytes, Usage] = {}

    def usage(self, author: bytes) -> Usage:
        return self._usage.get(author) or Usage()

    def trial(self) -> Trial:
        return Trial(self)

    def commit(self, trial: Trial) -> None:
        self._usage.update(trial.staged)


class Trial:
    """Admissions staged while an update is checked; committed only if the whole update is imported."""

    def __init__(self, quotas: Quotas) -> None:
        self._quotas = quotas
        self.staged: dict[bytes, Usage] = {}

    def admit(self, record: Record) -> str | None:
        usage = self.staged.get(record.author)
        if usage is None:
            usage = self.staged[record.author] = self._quotas.usage(record.author).copy()
        return refusal(usage, record)
