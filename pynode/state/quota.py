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

A kind of record whose own content proves it is owed a place (a round certificate its committee co-signed) can
be charged to another account instead (`Exemption`: pynode/presence/admission.py charges round certificates
and their points records to the chain of rounds): a quota sized for one agent's results would otherwise cut off a long-running leader.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from pynode.state.limits import AUTHOR_BYTES, AUTHOR_RATE, AUTHOR_RATE_WINDOW_MS, AUTHOR_RECORDS
from pynode.state.records import Record

Held = Callable[
    [str], Record | None
]  # a record the replica holds (or the update being checked brings), by key


class Exemption(Protocol):
    """Records of one kind that another account pays for when `claim` says so.

    `claim` decides from the record, the records at hand (`held`) and what it took of the same author before
    (`before`, its own state per author, None at first): it returns the author's new state to take the
    record, or None to leave it to the author's quota. `refusal` says why a record of `kind` is refused outright
    (every replica must come to the same verdict: only the record's own content may decide it); it is asked
    once the signatures verify."""

    def claim(self, record: Record, held: Held, before: Any) -> Any | None: ...

    async def refusal(self, record: Record) -> str | None: ...


@dataclass
class Usage:
    records: int = 0
    bytes: int = 0
    times: list[int] = field(default_factory=list)  # the admitted records' timestamps, sorted
    exempt: Any = None  # what an Exemption took of this author (its own state)

    def copy(self) -> Usage:
        return Usage(self.records, self.bytes, list(self.times), self.exempt)


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

    def trial(self, exemptions: Mapping[str, Exemption] | None = None, held: Held | None = None) -> Trial:
        return Trial(self, exemptions, held)

    def commit(self, trial: Trial) -> None:
        self._usage.update(trial.staged)

    def dump(self) -> list[tuple[bytes, int, int, list[int], Any]]:
        """Every author's usage as plain values (a replica's sealed copy of a document keeps them: sealed.py)."""
        return [(a, u.records, u.bytes, list(u.times), u.exempt) for a, u in self._usage.items()]

    def load(self, usages: list[tuple[bytes, int, int, list[int], Any]]) -> None:
        """Take `dump`'s usages back (replacing what was counted of those authors)."""
        for author, records, size, times, exempt in usages:
            self._usage[author] = Usage(records, size, list(times), exempt)


class Trial:
    """Admissions staged while an update is checked; committed only if the whole update is imported."""

    def __init__(
        self, quotas: Quotas, exemptions: Mapping[str, Exemption] | None = None, held: Held | None = None
    ) -> None:
        self._quotas = quotas
        self._exemptions = exemptions or {}
        self._held = held or (lambda key: None)
        self.staged: dict[bytes, Usage] = {}

    def admit(self, record: Record) -> str | None:
        usage = self.staged.get(record.author)
        if usage is None:
            usage = self.staged[record.author] = self._quotas.usage(record.author).copy()
        exemption = self._exemptions.get(record.kind)
        if exemption is not None:
            taken = exemption.claim(record, self._held, usage.exempt)
            if taken is not None:
                usage.exempt = taken
                return None
        return refusal(usage, record)
