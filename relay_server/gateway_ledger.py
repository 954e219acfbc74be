"""What the gateway remembers across restarts: how many bytes each node has submitted (its quota), and which
submissions it accepted within the replay window (so a restart never accepts the same body twice).

An append-only journal beside the archive (`<repo>.gateway`), one line per fact, fsync'd before the submitter is
answered:

  b <peer id> <bytes>       a submission of that many bytes from that node was accepted
  r <sha-256 hex> <ts ms>   the digest of an accepted body, and the timestamp it was signed with

It is read once, when the gateway starts (a torn last line, from a crash mid-append, is skipped), and kept in
memory, so a submission costs one append and no read. When the journal holds many more lines than facts it is
rewritten (tmp + rename) with one line per node and one per digest still inside the window, so it stays as small
as what it must remember.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections import OrderedDict
from pathlib import Path

from relay_server.limits import LEDGER_COMPACT_SLACK, REPLAY_WINDOW_MS

log = logging.getLogger(__name__)


class GatewayLedger:
    def __init__(self, path: Path, compact_slack: int = LEDGER_COMPACT_SLACK) -> None:
        self.path = path
        self._slack = compact_slack
        self._used: dict[str, int] = {}
        self._seen: OrderedDict[bytes, int] = OrderedDict()  # accepted body digest → its ts, in arrival order
        self._lines = 0
        if self._load():
            self._compact()  # a torn line must not glue itself to the next append

    def used(self, peer: str) -> int:
        """Bytes this node has submitted (accepted), ever."""
        return self._used.get(peer, 0)

    def seen(self, digest: bytes, now_ms: int) -> bool:
        """Whether a body with this digest was accepted within the replay window."""
        self._expire(now_ms)
        return digest in self._seen

    def record(self, peer: str, size: int, digest: bytes, ts: int, now_ms: int) -> None:
        """Remember an accepted submission; durable when this returns."""
        self._expire(now_ms)
        self._used[peer] = self._used.get(peer, 0) + size
        self._seen[digest] = ts
        self._append([f"b {peer} {size}\n", f"r {digest.hex()} {ts}\n"])

    def _expire(self, now_ms: int) -> None:
        """Forget digests signed before the window: the gateway refuses such a body as stale anyway."""
        while self._seen and next(iter(self._seen.values())) < now_ms - REPLAY_WINDOW_MS:
            self._seen.popitem(last=False)

    # ---- the journal ----------------------------------------------------------------------------------

    def _facts(self) -> list[str]:
        used = [f"b {peer} {n}\n" for peer, n in self._used.items()]
        return used + [f"r {digest.hex()} {ts}\n" for digest, ts in self._seen.items()]

    def _append(self, lines: list[str]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="ascii") as f:
            f.writelines(lines)
            f.flush()
            os.fsync(f.fileno())
        self._lines += len(lines)
        if self._lines > 2 * (len(self._used) + len(self._seen)) + self._slack:
            self._compact()

    def _compact(self) -> None:
        facts = self._facts()
        tmp = self.path.with_name(self.path.name + ".tmp")
        with open(tmp, "w", encoding="ascii") as f:
            f.writelines(facts)
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(self.path)
        self._lines = len(facts)

    def _load(self) -> bool:
        """Read the journal; True when it had a torn or unknown line (then it is rewritten)."""
        try:
            text = self.path.read_text(encoding="ascii", errors="replace")
        except FileNotFoundError:
            return False
        lines = text.splitlines()
        damaged = bool(text) and not text.endswith("\n")
        if damaged:
            lines.pop()  # the append a crash cut short: its number may be cut too
        for line in lines:
            self._lines += 1
            parts = line.split(" ")
            with contextlib.suppress(ValueError, IndexError):
                if len(parts) == 3 and parts[2].isdigit() and parts[0] == "b":
                    self._used[parts[1]] = self._used.get(parts[1], 0) + int(parts[2])
                    continue
                if len(parts) == 3 and parts[2].isdigit() and parts[0] == "r":
                    self._seen[bytes.fromhex(parts[1])] = int(parts[2])
                    continue
            damaged = True
            log.warning("gateway ledger %s: skipping a torn or unknown line", self.path.name)
        return damaged
