"""Relay federation, sans-IO (PROTOCOL.md §2.11): a relay's own directory, the directories of the relays it
links to, the routes they give, and the rules that cut a hostile relay off.

`Federation` decides; the relay's runtime (`relay_server/federation.py`) carries out, and the simulator
(`pynode/sim/relays.py`) drives thousands of them in virtual time. Inputs are the relay's own peers coming and
going (with the hello that proves each), links to other relays coming up and going down, their directory
updates (signatures already checked by the runtime) and the `hop`s they forward; every input carries the wall
clock `now_ms`. Outputs are values: `Gone` (no relay routes to a peer any more), `Cut` (a link broke a rule:
close it, and the relay is banned for `FED_BAN_S`) and `Discovered` (a relay URL worth dialling).

The rules, each with a socket-free test in tests/test_federation_core.py:
- a route has two hops at most: a `hop` is delivered to a peer the receiver hosts or answered `unreachable`,
  never forwarded again, so no loop can form however the relays are linked;
- one route per peer: the claim with the newest hello wins (the peer moved there last), ties go to the smaller
  relay id; a linked relay's own id routes to its link, a peer the relay hosts itself never leaves it;
- one link per pair of relays: when both dial at once, the link the smaller id dialled is kept;
- a directory is signed, numbered (replays refused) and expiring; the first update of a link is a full one;
- floods are bounded: updates per second, entries per update and per relay, URLs, links;
- a relay that lists an entry it could not have (a federation hello, a hello from the future), forwards a hop
  from a peer it does not list, or keeps sending hops to peers not hosted here is cut off and banned.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pynode.net.federation_proto import FED_CAP, DirBody, Entry
from pynode.net.limits import (
    DIR_MAX_SKEW_MS,
    DIR_REFRESH_S,
    DIR_TTL_MS,
    DIR_UPDATES_BURST,
    DIR_UPDATES_PER_S,
    FED_BAN_S,
    HELLO_MAX_SKEW_MS,
    MAX_DIR_ENTRIES_PER_FRAME,
    MAX_DIR_PEERS,
    MAX_DIR_RELAY_URLS,
    MAX_FED_LINKS,
    UNROUTABLE_HOPS_BURST,
    UNROUTABLE_HOPS_PER_S,
)

# ---- outputs ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Gone:
    """No relay routes to `peer` any more: the local peers it was introduced to should hear `leave`."""

    peer: bytes


@dataclass(frozen=True)
class Cut:
    """Close the link to `relay`; `ban`: it broke a rule and may not link again for FED_BAN_S."""

    relay: bytes
    reason: str
    ban: bool = True


@dataclass(frozen=True)
class Discovered:
    """A federation relay, named in a directory, that this relay should dial: of two relays that learn of each
    other this way only the smaller id dials (unless the other cannot: this relay has no public URL)."""

    relay: bytes
    url: str


Output = Gone | Cut | Discovered

# Verdicts on a hop (`admit_hop`)
DELIVER, UNREACHABLE = "deliver", "unreachable"
# Verdicts on a new link (`admit_link`)
ADMIT, REPLACE = "admit", "replace"


class _Bucket:
    """A token bucket on the caller's millisecond clock."""

    def __init__(self, per_s: float, burst: float, now_ms: int) -> None:
        self.per_ms = per_s / 1000
        self.burst = burst
        self.tokens = burst
        self.last = now_ms

    def take(self, now_ms: int) -> bool:
        self.tokens = min(self.burst, self.tokens + max(0, now_ms - self.last) * self.per_ms)
        self.last = now_ms
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


@dataclass
class _Link:
    dialled: bool  # we dialled it (when both dial at once, the smaller id's link is kept)
    updates: _Bucket
    unroutable: _Bucket
    entries: dict[bytes, Entry] = field(default_factory=dict)
    last_seq: int = -1
    got_full: bool = False
    exp_ms: int = 0
    url: str = ""
    sent_snapshot: bool = False


class Federation:
    def __init__(self, me: bytes, url: str = "", seq_start: int = 0) -> None:
        self.me = me
        self.url = url
        self._seq = seq_start  # start from the clock (ms << 8) so a restarted relay's numbers still rise
        self._own: dict[bytes, Entry] = {}  # peers hosted here, with the hello that proves it
        self._pending_add: dict[bytes, Entry] = {}
        self._pending_del: set[bytes] = set()
        self._last_update_ms: int | None = None
        self._links: dict[bytes, _Link] = {}
        self._last_seq: dict[bytes, int] = {}  # per relay, across its sessions: an old update is a replay
        self._claims: dict[bytes, dict[bytes, int]] = {}  # peer -> relay -> hello ts
        self._routes: dict[bytes, bytes] = {}  # peer -> the relay its best claim names
        self._banned: dict[bytes, int] = {}  # relay -> until (ms)
        self._discovered: set[str] = set()
        self._urls_changed = False  # a link's URL became known: the next update tells the others (discovery)

    # ---- what the runtime asks -------------------------------------------------------------------------

    def route(self, peer: bytes) -> bytes | None:
        """The linked relay to forward a frame for `peer` to, or None (hot path: two dict lookups)."""
        if peer in self._links:
            return peer
        return self._routes.get(peer)

    def links(self) -> list[bytes]:
        return list(self._links)

    def entry(self, peer: bytes) -> Entry | None:
        """The claim the route to `peer` rests on (its caps are what the relay introduces it with)."""
        relay = self._routes.get(peer)
        return None if relay is None else self._links[relay].entries.get(peer)

    def link_url(self, relay: bytes) -> str:
        link = self._links.get(relay)
        return link.url if link is not None else ""

    def routes(self) -> int:
        return len(self._routes)

    def is_banned(self, relay: bytes, now_ms: int) -> bool:
        until = self._banned.get(relay)
        if until is None:
            return False
        if until <= now_ms:
            del self._banned[relay]
            return False
        return True

    def hosts(self, peer: bytes) -> bool:
        return peer == self.me or peer in self._own

    def unannounced(self, peer: bytes) -> bool:
        """`peer` is hosted here but its arrival is not yet in an update the links have: flush before its
        first hop, or the receiver would take the hop for a forged one."""
        return peer in self._pending_add

    # ---- our own peers ---------------------------------------------------------------------------------

    def host(self, entry: Entry) -> None:
        """A peer connected here, with its hello."""
        self._own[entry.peer] = entry
        self._pending_del.discard(entry.peer)
        self._pending_add[entry.peer] = entry

    def unhost(self, peer: bytes) -> None:
        if self._own.pop(peer, None) is None:
            return
        if self._pending_add.pop(peer, None) is None:
            self._pending_del.add(peer)

    def snapshot(self, relay: bytes, now_ms: int) -> list[DirBody]:
        """The full directory for a link that just came up: a `full` update, then more if it is long."""
        link = self._links.get(relay)
        if link is None:
            return []
        link.sent_snapshot = True
        if len(self._links) == 1:  # the snapshot holds what is pending, and no other link waits for it
            self._pending_add.clear()
            self._pending_del.clear()
        entries = list(self._own.values())
        chunks = [
            entries[i : i + MAX_DIR_ENTRIES_PER_FRAME]
            for i in range(0, len(entries), MAX_DIR_ENTRIES_PER_FRAME)
        ]
        return [self._body(now_ms, i == 0, tuple(chunk), ()) for i, chunk in enumerate(chunks or [[]])]

    def take_updates(self, now_ms: int, force: bool = False) -> list[DirBody]:
        """The update every link that has its snapshot should get now: the arrivals and departures since the
        last one, or an empty refresh when DIR_REFRESH_S passed. Empty when nothing is due (unless `force`)."""
        due = self._last_update_ms is None or now_ms - self._last_update_ms >= DIR_REFRESH_S * 1000
        if not (self._pending_add or self._pending_del or due or force or self._urls_changed):
            return []
        self._urls_changed = False
        adds, dels = list(self._pending_add.values()), list(self._pending_del)
        self._pending_add.clear()
        self._pending_del.clear()
        self._last_update_ms = now_ms
        n = MAX_DIR_ENTRIES_PER_FRAME
        count = max(1, -(-len(adds) // n), -(-len(dels) // n))
        return [
            self._body(now_ms, False, tuple(adds[i * n : (i + 1) * n]), tuple(dels[i * n : (i + 1) * n]))
            for i in range(count)
        ]

    def _body(self, now_ms: int, full: bool, add: tuple[Entry, ...], remove: tuple[bytes, ...]) -> DirBody:
        self._seq += 1
        urls = tuple((r, link.url) for r, link in self._links.items() if link.url)[:MAX_DIR_RELAY_URLS]
        return DirBody(self.me, self._seq, now_ms + DIR_TTL_MS, full, self.url, urls, add, remove)

    # ---- links -----------------------------------------------------------------------------------------

    def admit_link(self, relay: bytes, we_dialled: bool, now_ms: int) -> str:
        """ADMIT, REPLACE (close the existing link to `relay` first), or why the link is refused."""
        if relay == self.me:
            return "self_link"
        if self.is_banned(relay, now_ms):
            return "banned"
        existing = self._links.get(relay)
        if existing is not None:
            # one link per pair: the one the smaller id dialled
            preferred = we_dialled == (self.me < relay)
            return REPLACE if preferred and existing.dialled != we_dialled else "duplicate_link"
        if len(self._links) >= MAX_FED_LINKS:
            return "too_many_links"
        return ADMIT

    def link_up(self, relay: bytes, we_dialled: bool, now_ms: int) -> list[Output]:
        old = self._links.get(relay)
        self._links[relay] = _Link(
            we_dialled,
            _Bucket(DIR_UPDATES_PER_S, DIR_UPDATES_BURST, now_ms),
            _Bucket(UNROUTABLE_HOPS_PER_S, UNROUTABLE_HOPS_BURST, now_ms),
            # a link replacing another to the same relay keeps its routes until its own full directory
            entries=old.entries if old is not None else {},
            exp_ms=now_ms + DIR_TTL_MS,  # until its first directory says otherwise
            url=old.url if old is not None else "",
        )
        return []

    def link_down(self, relay: bytes) -> list[Output]:
        """The link closed: every route through it goes."""
        link = self._links.pop(relay, None)
        if link is None:
            return []
        return self._withdraw(relay, list(link.entries))

    def tick(self, now_ms: int) -> list[Output]:
        """Links whose directory expired unrefreshed are closed (not banned: the relay may be overloaded)."""
        out: list[Output] = []
        for relay, link in list(self._links.items()):
            if link.exp_ms <= now_ms:
                out += [Cut(relay, "directory_expired", ban=False), *self.link_down(relay)]
        return out

    def cut(self, relay: bytes, reason: str, now_ms: int, ban: bool = True) -> list[Output]:
        """Cut `relay` off (the runtime found a bad signature, a flood, a bad frame)."""
        if ban:
            self._banned[relay] = now_ms + int(FED_BAN_S * 1000)
        return [Cut(relay, reason, ban), *self.link_down(relay)]

    # ---- what links send -------------------------------------------------------------------------------

    def directory(self, relay: bytes, body: DirBody, now_ms: int) -> list[Output]:
        """A `dir` from `relay`, its signature and its entries' hellos verified by the runtime."""
        link = self._links.get(relay)
        if link is None:
            return []
        if not link.updates.take(now_ms):
            return self.cut(relay, "directory_flood", now_ms)
        reason = self._check(relay, link, body, now_ms)
        if reason:
            return self.cut(relay, reason, now_ms)
        link.last_seq = self._last_seq[relay] = body.seq
        link.exp_ms = body.exp
        if link.url != body.url:
            link.url = body.url
            self._urls_changed = True
        out: list[Output] = []
        changed: list[bytes] = []
        if body.full:
            link.got_full = True
            changed += link.entries
            link.entries = {}
        for peer in body.remove:
            if link.entries.pop(peer, None) is not None:
                changed.append(peer)
        for e in body.add:
            link.entries[e.peer] = e
            changed.append(e.peer)
        if len(link.entries) > MAX_DIR_PEERS:
            return self.cut(relay, "directory_too_large", now_ms)
        out += self._reroute(relay, link, changed)
        for other, url in body.relays:
            if self._worth_dialling(other, url, now_ms):
                self._discovered.add(url)
                out.append(Discovered(other, url))
        return out

    def _check(self, relay: bytes, link: _Link, body: DirBody, now_ms: int) -> str:
        if body.relay != relay:
            return "wrong_relay"
        if body.seq <= self._last_seq.get(relay, -1):
            return "replayed_directory"
        if not link.got_full and not body.full:
            return "no_full_directory"
        if body.exp <= now_ms or body.exp > now_ms + DIR_TTL_MS + DIR_MAX_SKEW_MS:
            return "bad_expiry"
        for e in body.add:
            # a federation hello is a relay's, not a hosted peer's; a hello from the future was not given
            if FED_CAP in e.caps or e.peer == relay or e.ts > now_ms + HELLO_MAX_SKEW_MS:
                return "forged_entry"
        return ""

    def admit_hop(self, relay: bytes, sender: bytes, to: bytes, now_ms: int) -> str | list[Output]:
        """A `hop` from `relay`: DELIVER, UNREACHABLE (answer it), or the outputs of cutting the link."""
        link = self._links.get(relay)
        if link is None:
            return UNREACHABLE
        if sender != relay and sender not in link.entries:
            return self.cut(relay, "forged_source", now_ms)
        if to == self.me or to in self._own:
            return DELIVER
        if not link.unroutable.take(now_ms):
            return self.cut(relay, "circuits_to_nowhere", now_ms)
        return UNREACHABLE

    def hop_unreachable(self, relay: bytes, peer: bytes) -> bool:
        """`relay` answered that it does not host `peer`: forget its claim (True: the route changed)."""
        link = self._links.get(relay)
        if link is None or link.entries.pop(peer, None) is None:
            return False
        self._reroute(relay, link, [peer])
        return True

    # ---- routes ----------------------------------------------------------------------------------------

    def _reroute(self, relay: bytes, link: _Link, peers: list[bytes]) -> list[Output]:
        out: list[Output] = []
        for peer in peers:
            claims = self._claims.setdefault(peer, {})
            e = link.entries.get(peer)
            if e is None:
                claims.pop(relay, None)
            else:
                claims[relay] = e.ts
            out += self._best(peer, claims)
        return out

    def _withdraw(self, relay: bytes, peers: list[bytes]) -> list[Output]:
        out: list[Output] = []
        for peer in peers:
            claims = self._claims.get(peer)
            if claims is not None:
                claims.pop(relay, None)
                out += self._best(peer, claims)
        return out

    def _best(self, peer: bytes, claims: dict[bytes, int]) -> list[Output]:
        if not claims:
            self._claims.pop(peer, None)
            return [Gone(peer)] if self._routes.pop(peer, None) is not None else []
        # newest hello first; equal stamps: the smaller relay id, so every relay picks the same
        self._routes[peer] = min(claims, key=lambda r: (-claims[r], r))
        return []

    def _worth_dialling(self, relay: bytes, url: str, now_ms: int) -> bool:
        """Not us, not linked, not banned, not seen (the set of those seen stays bounded), and ours to dial."""
        if relay == self.me or relay in self._links or self.is_banned(relay, now_ms) or url == self.url:
            return False
        if url in self._discovered or len(self._discovered) >= 2 * MAX_FED_LINKS:
            return False
        return self.me < relay or not self.url  # it dials us otherwise: no duplicate link to resolve

    def forget_url(self, url: str) -> None:
        """The runtime gave up on a discovered URL: a later directory may name it again."""
        self._discovered.discard(url)
