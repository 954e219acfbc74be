"""The archive gateway: a node without a Git token submits its own artefacts, signed, to the relay.

`POST /api/archive` with a CBOR body (or the same bytes as a request on the node's relay connection,
protocol `hs/1/archive`):

  {peer: bytes(32), ts: uint ms, files: [{path: text, data: bytes}], sig: bytes(64)}

`sig` is the peer's Ed25519 signature over "hyperspace/1/archive-submit\\0" + CBOR of the other fields.
Files land at `agents/<peer id>/<path>` at the next archive cycle. Refused, with nothing written: bodies over
MAX_SUBMISSION_BYTES (reading stops there; nothing is parsed), bad signatures, stale or replayed submissions,
paths that are absolute, climb (`..`), hide (`.git`), or pass through a symlink, paths that need a file
where a folder is or the reverse (`a` beside `a/b`: in the submission, the archive or the queue), paths into the
folders the archive writes from the state (`<domain>/`, `papers/`: archive_layout.DERIVED_FOLDERS), and
anything over the peer's quota (bytes it ever submitted), over its origin's share of the queue (429, per client
address: identities are free, addresses are not) or over the queue's budget (503); Budgets has them. The quota
and the replay window's digests survive a restart (gateway_ledger.py).
"""

from __future__ import annotations

import hashlib
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from pynode.identity import peer_id_text
from pynode.platform import current
from pynode.wire import cbor
from pynode.wire.errors import WireError
from pynode.wire.schema import expect_map, get_bytes, get_int, get_list, get_str
from relay_server.archive import Archiver
from relay_server.archive_layout import DERIVED_FOLDERS
from relay_server.archive_queue import UNKNOWN_ORIGIN
from relay_server.archive_tree import clash_within
from relay_server.gateway_ledger import GatewayLedger
from relay_server.limits import (
    MAX_FILES,
    MAX_PATH_DEPTH,
    MAX_PATH_LEN,
    MAX_SUBMISSION_BYTES,
    REPLAY_WINDOW_MS,
)

if TYPE_CHECKING:
    from relay_server.relay import Relay

DOMAIN_SUBMIT = b"hyperspace/1/archive-submit\x00"
ARCHIVE_PROTO = "hs/1/archive"
_COMPONENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


class GatewayError(Exception):
    def __init__(self, status: int, reason: str, detail: str, retry_after_s: float | None = None) -> None:
        super().__init__(f"{reason}: {detail}")
        self.status = status
        self.reason = reason
        self.detail = detail
        self.retry_after_s = retry_after_s  # for refusals that the next commit lifts


@dataclass(frozen=True)
class Budgets:
    """What the gateway takes. Identities are free, so the per-node quota alone bounds nothing: the queue as a
    whole and each origin (a client address) get budgets of their own, freed as commits drain the queue.
    RelayConfig's `archive_*` fields set them."""

    quota_bytes: int  # per node, everything it ever submitted
    queue_bytes: int  # everything waiting for the next commit
    queue_entries: int
    origin_bytes: int  # waiting, from one client address
    origin_entries: int


def check_path(path: str) -> str:
    """A relative path made of plain names: no '/' at the start, no '..', '.', empty or hidden parts."""
    if len(path) > MAX_PATH_LEN or "\\" in path or "\x00" in path:
        raise GatewayError(400, "bad_path", f"{path[:60]!r}: too long or has a backslash/NUL")
    parts = path.split("/")  # an absolute path starts with an empty part, which no rule below accepts
    if len(parts) > MAX_PATH_DEPTH:
        raise GatewayError(400, "bad_path", f"{path[:60]!r}: deeper than {MAX_PATH_DEPTH}")
    for part in parts:
        if not _COMPONENT.fullmatch(part):  # refuses '', '.', '..', '.git' and anything exotic
            raise GatewayError(400, "bad_path", f"{path[:60]!r}: component {part[:40]!r} is not a plain name")
    return path


def sign_submission_payload(peer: bytes, ts: int, files: list[dict[str, Any]]) -> bytes:
    return DOMAIN_SUBMIT + cbor.encode({"peer": peer, "ts": ts, "files": files})


async def make_submission(signer: Any, files: list[tuple[str, bytes]], ts: int | None = None) -> bytes:
    """Build a signed submission body (what a node sends)."""
    ts = ts if ts is not None else int(time.time() * 1000)
    entries = [{"path": p, "data": d} for p, d in files]
    sig = await signer.sign(sign_submission_payload(signer.public_key, ts, entries))
    return cbor.encode({"peer": signer.public_key, "ts": ts, "files": entries, "sig": sig})


@dataclass
class Accepted:
    peer: str
    paths: list[str]
    queue_id: str
    bytes: int


OriginOf = Callable[[bytes], str | None]  # a connected peer's network address, as the relay saw it


class Gateway:
    """Checks and queues submissions. Every check is O(1) in the queue's size (running totals in the queue's
    index and the ledger): no submission and no status request reads a queued file."""

    def __init__(
        self,
        archiver: Archiver,
        budgets: Budgets,
        origin_of: OriginOf | None = None,
        ledger_path: Path | None = None,
    ) -> None:
        self.archiver = archiver
        self.budgets = budgets
        self._origin_of = origin_of
        repo = archiver.config.repo_dir
        self.ledger = GatewayLedger(ledger_path or repo.with_name(repo.name + ".gateway"))

    async def submit(
        self, body: bytes, now_ms: int, origin: str = UNKNOWN_ORIGIN, peer_hint: bytes | None = None
    ) -> Accepted:
        """Check, then queue, one submission from `origin` (the client's address)."""
        if len(body) > MAX_SUBMISSION_BYTES:
            raise GatewayError(413, "too_large", f"{len(body)} bytes > {MAX_SUBMISSION_BYTES}")
        try:
            d = expect_map(
                cbor.decode(body, max_bytes=MAX_SUBMISSION_BYTES),
                "submission",
                {"peer", "ts", "files", "sig"},
            )
            peer = get_bytes(d, "peer", 32)
            ts = get_int(d, "ts")
            sig = get_bytes(d, "sig", 64)
            entries = get_list(d, "files", MAX_FILES)
            files = []
            for e in entries:
                f = expect_map(e, "file", {"path", "data"})
                files.append((get_str(f, "path", MAX_PATH_LEN), get_bytes(f, "data")))
        except WireError as e:
            raise GatewayError(400, "malformed", e.detail or e.reason) from None
        if not files:
            raise GatewayError(400, "malformed", "no files")
        if peer_hint is not None and peer != peer_hint:
            raise GatewayError(403, "not_yours", "a connection may submit only for its own peer id")
        if not await current().verify(peer, sign_submission_payload(peer, ts, entries), sig):
            raise GatewayError(401, "bad_signature", "the signature does not verify for that peer id")
        if abs(now_ms - ts) > REPLAY_WINDOW_MS:
            raise GatewayError(400, "stale", "the submission's timestamp is outside the accepted window")
        digest = hashlib.sha256(body).digest()
        if self.ledger.seen(digest, now_ms):  # persisted: a restart does not forget what it accepted
            raise GatewayError(409, "replayed", "this exact submission was already accepted")
        text = peer_id_text(peer)
        prefix = f"agents/{text}/"
        paths = [prefix + check_path(p) for p, _ in files]
        derived = [
            p for p, _ in files if p.split("/")[0].lower() in DERIVED_FOLDERS
        ]  # case-folding disks too
        if derived:
            raise GatewayError(
                400, "reserved_path", f"{derived[0][:60]!r}: the archive writes that folder from the state"
            )
        if len(set(paths)) != len(paths):
            raise GatewayError(400, "bad_path", "the same path twice")
        self._refuse_clashes(paths)
        size = sum(len(data) for _, data in files)
        self._check_budgets(text, origin, size)
        # Recorded before queueing: a crash in between over-counts a quota, never under-counts it.
        self.ledger.record(text, size, digest, ts, now_ms)
        qid = self.archiver.enqueue(
            [(p, data) for p, (_, data) in zip(paths, files, strict=True)], owner=text, origin=origin
        )
        return Accepted(text, paths, qid, size)

    def _refuse_clashes(self, paths: list[str]) -> None:
        """Paths that could never be written: through a symlink, or a file where a folder is needed (or the
        reverse) within the submission, in the archive, or in the queue. Accepted, they would wedge the cycle."""
        within = clash_within(paths)
        if within is not None:
            raise GatewayError(409, "path_clash", within)
        for rel in paths:
            found = self.archiver.clash(rel)
            if found is not None:
                raise (
                    GatewayError(400, "bad_path", found.detail)
                    if found.symlink
                    else GatewayError(409, "path_clash", found.detail)
                )

    def _check_budgets(self, peer: str, origin: str, size: int) -> None:
        b, queue = self.budgets, self.archiver.queue
        used = self.ledger.used(peer)
        if used + size > b.quota_bytes:
            raise GatewayError(
                413,
                "over_quota",
                f"{peer[:8]} has submitted {used} of {b.quota_bytes} bytes; this needs {size} more",
            )
        wait = self.archiver.config.interval_s
        mine = queue.origin(origin)
        if mine.entries + 1 > b.origin_entries or mine.bytes + size > b.origin_bytes:
            raise GatewayError(
                429,
                "origin_busy",
                f"{mine.entries} submissions ({mine.bytes} bytes) from this address wait for the next commit; "
                f"at most {b.origin_entries} ({b.origin_bytes} bytes)",
                wait,
            )
        total = queue.total
        if total.entries + 1 > b.queue_entries or total.bytes + size > b.queue_bytes:
            raise GatewayError(
                503,
                "queue_full",
                f"{total.entries} submissions ({total.bytes} bytes) wait for the next commit; "
                f"at most {b.queue_entries} ({b.queue_bytes} bytes)",
                wait,
            )

    # ---- transports -------------------------------------------------------------------------------

    async def serve_request(self, peer: bytes, data: bytes) -> bytes:
        """The same submission over the node's relay connection (Node.handle(ARCHIVE_PROTO, ...))."""
        from pynode.net.reqresp import RequestFailed

        origin = (self._origin_of(peer) if self._origin_of is not None else None) or UNKNOWN_ORIGIN
        try:
            accepted = await self.submit(data, int(time.time() * 1000), origin, peer_hint=peer)
        except GatewayError as e:
            raise RequestFailed(f"{e.reason}: {e.detail}") from None
        return cbor.encode({"queued": accepted.queue_id, "paths": accepted.paths})


def routes(relay: Relay) -> list[BaseRoute]:
    """`POST /api/archive`, answered by the relay's gateway (it has one when it archives; else 503)."""

    async def archive(request: Request) -> Response:
        gateway = relay.gateway
        if gateway is None:
            return _error(GatewayError(503, "archive_disabled", "this relay does not archive"))
        body = bytearray()
        try:
            async for chunk in request.stream():
                body += chunk
                if len(body) > MAX_SUBMISSION_BYTES:
                    break  # read no further: `submit` refuses anything this long before parsing it
        except ClientDisconnect:  # gone (or cut off for sending too slowly): nobody to answer
            return Response(status_code=400)
        origin = request.client.host if request.client else UNKNOWN_ORIGIN  # trusted proxies already applied
        try:
            accepted = await gateway.submit(bytes(body), int(time.time() * 1000), origin)
        except GatewayError as e:
            return _error(e)
        return JSONResponse(
            {
                "queued": accepted.queue_id,
                "paths": accepted.paths,
                "bytes": accepted.bytes,
                "commit_within_s": gateway.archiver.config.interval_s,
            },
            status_code=202,
        )

    return [Route("/api/archive", archive, methods=["POST"])]


def _error(e: GatewayError) -> Response:
    headers = {"Retry-After": str(math.ceil(e.retry_after_s))} if e.retry_after_s is not None else None
    return JSONResponse({"error": e.reason, "detail": e.detail}, status_code=e.status, headers=headers)
