"""The storage service as the services framework hosts it: its spec (limits advertised in the profile) and its
methods, each a pure argument parser and a handler over the `StorageCore`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pynode.services.codec import ServiceError
from pynode.services.spec import Context, Method, Service, ServiceSpec
from pynode.services.storage import messages as msg
from pynode.services.storage.core import Output, StorageCore
from pynode.services.storage.holdings import Refused
from pynode.services.storage.limits import CHUNK_BYTES, FETCH_WINDOW, HASH_BYTES, MAX_CHUNKS


def storage_spec(core: StorageCore) -> ServiceSpec:
    return ServiceSpec(
        name=msg.NAME,
        max_bytes=MAX_CHUNKS * HASH_BYTES + 4096,  # an offer carries a manifest: 32 B per chunk
        per_min=6000,  # a 256 MiB blob is 1,024 chunk requests: a fetcher asks a holder ~100 a second
        burst=400,
        concurrent=FETCH_WINDOW + 4,  # a fetch's window, plus upkeep probes and proofs
        capacity=64,
        info={
            "capacity": core.holdings.capacity,
            "quota": core.holdings.peer_quota,
            "chunk": CHUNK_BYTES,
            "replicas": core.replicas,
        },
    )


def storage_service(
    core: StorageCore, clock: Callable[[], float], carry_out: Callable[[list[Output]], None]
) -> Service:
    """`clock()`: wall-clock seconds (expiries outlive restarts). `carry_out`: the runtime's handler for the
    core's outputs (an accepted offer's `Pull`)."""

    async def manifest(ctx: Context, blob: bytes) -> Any:
        return core.answer_manifest(blob)

    async def chunk(ctx: Context, a: msg.ChunkArgs) -> Any:
        answer = core.answer_chunk(a, clock())
        ctx.units += len(answer["data"]) if answer else 0
        return answer

    async def has(ctx: Context, blobs: list[bytes]) -> Any:
        return core.answer_has(blobs)

    async def offer(ctx: Context, a: msg.OfferArgs) -> Any:
        try:
            answer, outputs = core.offer(ctx.peer, a, clock())
        except Refused as e:
            raise ServiceError(e.code, str(e)) from None
        carry_out(outputs)
        return answer

    async def prove(ctx: Context, a: msg.ProveArgs) -> Any:
        try:
            return core.answer_prove(ctx.peer, a, clock())
        except Refused as e:
            raise ServiceError(e.code, str(e)) from None

    return Service(
        storage_spec(core),
        {
            msg.MANIFEST: Method(msg.parse_blob, manifest),
            msg.CHUNK: Method(msg.parse_chunk, chunk),
            msg.HAS: Method(msg.parse_has, has),
            msg.OFFER: Method(msg.parse_offer, offer),
            msg.PROVE: Method(msg.parse_prove, prove),
        },
    )
