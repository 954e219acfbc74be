"""`hyperspace node --api HOST:PORT`: the OpenAI-compatible HTTP API, backed by the mesh.

`/v1/models`, `/v1/completions`, `/v1/chat/completions` (the char-LM, honestly labelled) and `/v1/embeddings`
go through the node's `ServicesRuntime`: served in-process when this node hosts the capability, else by the
best connected peer (with retry; a completion resumes on another peer if its server leaves). No provider:
503. Bound to loopback by default; bound anywhere else it requires a bearer token. Bodies are size-limited
before they are parsed; the translation is sans-IO (pynode/services/openai_api.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import ipaddress
import json
import logging
import secrets
import socket
import time
from array import array
from collections.abc import AsyncIterator
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from pynode.runtime.services import ServicesRuntime
from pynode.services import codec
from pynode.services import openai_api as oa
from pynode.services.codec import ServiceError
from pynode.services.inference import CAP as INFERENCE
from pynode.services.inference import resume_completion
from pynode.services.profile import offers

log = logging.getLogger(__name__)

EMBED_BATCH = 32  # texts per embedding call to the mesh (under the embedding service's own per-call limit)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Api:
    def __init__(self, services: ServicesRuntime, token: str | None = None) -> None:
        self.services = services
        self.token = token
        self.counts: dict[str, int] = {}

    # ---- the app ------------------------------------------------------------------------------------------

    def app(self) -> Starlette:
        routes = [
            Route("/v1/models", self._guard(self.models), methods=["GET"]),
            Route("/v1/completions", self._guard(self.completions), methods=["POST"]),
            Route("/v1/chat/completions", self._guard(self.chat), methods=["POST"]),
            Route("/v1/embeddings", self._guard(self.embeddings), methods=["POST"]),
        ]
        return Starlette(routes=routes)

    def _guard(self, handler: Any) -> Any:
        async def endpoint(request: Request) -> Response:
            name = request.url.path
            try:
                if self.token is not None:
                    given = request.headers.get("authorization", "")
                    if not hmac.compare_digest(given.encode(), f"Bearer {self.token}".encode()):
                        raise oa.ApiError(401, "a valid bearer token is required", "authentication_error")
                response = await handler(request)
                self.counts[name] = self.counts.get(name, 0) + 1
                return response
            except oa.ApiError as e:
                self.counts[f"{name} {e.status}"] = self.counts.get(f"{name} {e.status}", 0) + 1
                return JSONResponse(e.body(), status_code=e.status)

        return endpoint

    async def _body(self, request: Request) -> dict[str, Any]:
        declared = request.headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > oa.API_BODY_BYTES):
            raise oa.ApiError(413, f"request body over {oa.API_BODY_BYTES} bytes")
        raw = b""
        async for part in request.stream():
            raw += part
            if len(raw) > oa.API_BODY_BYTES:
                raise oa.ApiError(413, f"request body over {oa.API_BODY_BYTES} bytes")
        return oa.parse_body(raw)

    # ---- endpoints ----------------------------------------------------------------------------------------

    def text_models(self) -> dict[str, str]:
        """Completion models this node or a connected peer serves → a description."""
        out: dict[str, str] = {}
        local = self.services.services.get(INFERENCE)
        ids = list(local.spec.info.get("models", [])) if local else []  # type: ignore[arg-type]
        if self.services.replica is not None:
            connected = set(self.services.node.connected_peers())
            for o in offers(self.services.replica.store.all_records("identities"), INFERENCE):
                if o.peer in connected:
                    ids += [m for m in o.entry.get("models", []) if isinstance(m, str)]
        if self.services.providers(INFERENCE) and not ids:
            ids = ["charlm"]  # a peer announced inference to the relay before its profile reached us
        for m in ids:
            out[m] = oa.CHARLM_NOTE if m == "charlm" else "digits classifier (8x8 images; not a text model)"
        return out

    def embedding_models(self) -> dict[str, str]:
        out: dict[str, str] = {}
        local = self.services.services.get("embedding")
        if local is not None and isinstance(local.spec.info.get("model"), str):
            out[str(local.spec.info["model"])] = "sentence embeddings (served by this node)"
        if self.services.replica is not None:
            connected = set(self.services.node.connected_peers())
            for o in offers(self.services.replica.store.all_records("identities"), "embedding"):
                if o.peer in connected and isinstance(o.entry.get("model"), str):
                    out.setdefault(o.entry["model"], "sentence embeddings (served by a peer)")
        return out

    async def models(self, request: Request) -> Response:
        listed = {**self.text_models(), **self.embedding_models()}
        data = [oa.model_json(m, d) for m, d in sorted(listed.items())]
        return JSONResponse({"object": "list", "data": data})

    async def completions(self, request: Request) -> Response:
        return await self._text(oa.parse_completion(await self._body(request)))

    async def chat(self, request: Request) -> Response:
        return await self._text(oa.parse_chat(await self._body(request)))

    async def _text(self, req: oa.TextRequest) -> Response:
        if req.model == "digits":
            raise oa.ApiError(
                400, "digits is an image classifier, not a text model", code="model_not_supported"
            )
        if req.model not in self.text_models():
            raise oa.ApiError(
                404, f"no node serves the model {req.model!r} (see /v1/models)", code="model_not_found"
            )
        ident = f"{'chatcmpl' if req.chat else 'cmpl'}-{secrets.token_hex(12)}"
        created = int(time.time())
        pieces = self._pieces(req)
        if req.stream:
            first = await self._first(pieces)  # a failure before any text is a plain HTTP error, not a stream
            return StreamingResponse(
                self._sse(req, ident, created, first, pieces), media_type="text/event-stream"
            )
        scan, text, finish = oa.StopScan(req.stop), "", "length"
        async with contextlib.aclosing(pieces):
            async for piece in pieces:
                text += scan.feed(piece)
                if scan.stopped:
                    finish = "stop"
                    break
        text += scan.rest()
        return JSONResponse(oa.completion_json(req, ident, text, finish, created))

    async def _pieces(self, req: oa.TextRequest) -> AsyncIterator[str]:
        try:
            async for piece in self.services.stream(
                INFERENCE, "complete", req.service_args(), resume=resume_completion, units=len
            ):
                yield piece
        except ServiceError as e:
            raise _api_error(e, INFERENCE) from None

    async def _first(self, pieces: AsyncIterator[str]) -> str | None:
        try:
            return await anext(pieces)
        except StopAsyncIteration:
            return None

    async def _sse(
        self, req: oa.TextRequest, ident: str, created: int, first: str | None, pieces: AsyncIterator[str]
    ) -> AsyncIterator[bytes]:
        def event(text: str, finish: str | None) -> bytes:
            return f"data: {json.dumps(oa.chunk_json(req, ident, text, finish, created))}\n\n".encode()

        scan, finish = oa.StopScan(req.stop), "length"
        if req.chat:
            yield f"data: {json.dumps(_role_chunk(req, ident, created))}\n\n".encode()
        try:
            async with contextlib.aclosing(pieces):
                rest = [first] if first is not None else []
                async for piece in _chain(rest, pieces):
                    out = scan.feed(piece)
                    if out:
                        yield event(out, None)
                    if scan.stopped:
                        finish = "stop"
                        break
        except oa.ApiError as e:  # the headers are sent: report in the stream, as OpenAI does
            yield f"data: {json.dumps(e.body())}\n\n".encode()
            return
        tail = scan.rest()
        if tail:
            yield event(tail, None)
        yield event("", finish)
        yield b"data: [DONE]\n\n"

    async def embeddings(self, request: Request) -> Response:
        model, texts, encoding = oa.parse_embeddings(await self._body(request))
        known = self.embedding_models()
        if not known:
            raise oa.ApiError(
                503, "no node reachable from here serves embeddings", "service_unavailable", "no_provider"
            )
        if model not in known:
            raise oa.ApiError(
                404,
                f"no node serves the embedding model {model!r}; try {sorted(known)}",
                code="model_not_found",
            )
        vectors: list[array] = []
        for start in range(0, len(texts), EMBED_BATCH):
            batch = texts[start : start + EMBED_BATCH]
            n = len(batch)
            try:
                answer = await self.services.call(
                    "embedding", "embed", {"texts": batch}, units=lambda _a, k=n: k
                )
            except ServiceError as e:
                raise _api_error(e, "embedding") from None
            vectors += _vectors(answer, len(batch))
        tokens = sum(len(t.split()) for t in texts)
        return JSONResponse(oa.embeddings_json(model, vectors, tokens, encoding))


async def _chain(first: list[str], rest: AsyncIterator[str]) -> AsyncIterator[str]:
    for piece in first:
        yield piece
    async for piece in rest:
        yield piece


def _role_chunk(req: oa.TextRequest, ident: str, created: int) -> dict[str, Any]:
    body = oa.chunk_json(req, ident, "", None, created)
    body["choices"][0]["delta"] = {"role": "assistant", "content": ""}
    return body


def _vectors(answer: Any, count: int) -> list[array]:
    """The embedding service's answer `{model, dim, vectors: float32 bytes}`, checked (a peer is hostile)."""
    dim = answer.get("dim") if isinstance(answer, dict) else None
    data = answer.get("vectors") if isinstance(answer, dict) else None
    if (
        not isinstance(dim, int)
        or not 0 < dim <= 4096
        or not isinstance(data, bytes)
        or len(data) != 4 * dim * count
    ):
        raise oa.ApiError(502, "the embedding peer answered malformed vectors", "api_error", "bad_gateway")
    flat = array("f", data)
    return [flat[i * dim : (i + 1) * dim] for i in range(count)]


def _api_error(e: ServiceError, cap: str) -> oa.ApiError:
    if e.code == codec.UNAVAILABLE:
        return oa.ApiError(
            503, f"no node reachable from here serves {cap}", "service_unavailable", "no_provider"
        )
    if e.code in (codec.BAD_REQUEST, codec.TOO_LARGE, codec.UNKNOWN_METHOD):
        return oa.ApiError(400, str(e))
    if e.code == codec.RATE_LIMITED:
        return oa.ApiError(429, str(e), "rate_limit_error")
    return oa.ApiError(503, f"every {cap} peer tried failed: {e}", "service_unavailable", e.code)


class ApiServer:
    """The API under uvicorn inside the node's event loop (signals stay with the node)."""

    def __init__(self, services: ServicesRuntime, host: str, port: int, token: str | None = None) -> None:
        if not is_loopback(host) and not token:
            raise ValueError(f"the API on {host} (not loopback) needs a token (--api-token)")
        self.api = Api(services, token)
        self.host, self.requested_port = host, port
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        config = uvicorn.Config(self.api.app(), log_level="warning", lifespan="off", ws="none")
        server = self._server = _QuietServer(config)
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.create_server((self.host, self.requested_port), family=family)  # OSError if busy
        self._task = asyncio.ensure_future(server.serve(sockets=[sock]))
        while not server.started:
            if self._task.done():
                self._task.result()
                raise OSError(f"the API stopped while starting on {self.host}:{self.requested_port}")
            await asyncio.sleep(0.01)

    @property
    def port(self) -> int:
        assert self._server is not None
        return self._server.servers[0].sockets[0].getsockname()[1]

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/v1"

    async def stop(self) -> None:
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            with contextlib.suppress(asyncio.CancelledError, SystemExit):
                await self._task
            self._task = None


class _QuietServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self):  # type: ignore[override]
        yield
