"""The OpenAI-compatible API's requests and answers, sans-IO: JSON bodies in, service arguments out, and the
service's results back as OpenAI-shaped JSON (the HTTP server is pynode/runtime/api.py).

Honest labels: the only text model is the zoo's char-LM, a ~100k-parameter character model trained on the
Cranfield aerodynamics abstracts. It continues text; it does not follow instructions. `/v1/chat/completions`
feeds it the last user message and says so in every answer (`system_fingerprint`, and the model's
description in `/v1/models`). Tokens are characters: `usage` counts characters.
"""

from __future__ import annotations

import base64
import json
import math
import sys
import time
from array import array
from dataclasses import dataclass
from typing import Any

from pynode.services.limits import MAX_COMPLETION_TOKENS, MAX_PROMPT_CHARS

API_BODY_BYTES = 256 * 1024  # an API request body is refused unread beyond this
assert sys.byteorder == "little", "base64 embeddings are little-endian float32"
MAX_STOPS = 4  # OpenAI's own limit on stop sequences
MAX_EMBED_INPUTS = 256  # texts in one /v1/embeddings call (sent to the mesh in batches)
CHARLM_NOTE = (
    "hyperspace char-LM: a ~100k-parameter character model trained on the Cranfield abstracts; "
    "it continues text and does not follow instructions"
)


class ApiError(Exception):
    """An answer with an HTTP status and OpenAI's error object."""

    def __init__(
        self, status: int, message: str, kind: str = "invalid_request_error", code: str = ""
    ) -> None:
        super().__init__(message)
        self.status = status
        self.kind = kind
        self.code = code or kind

    def body(self) -> dict[str, Any]:
        return {"error": {"message": str(self), "type": self.kind, "param": None, "code": self.code}}


def parse_body(raw: bytes) -> dict[str, Any]:
    if len(raw) > API_BODY_BYTES:
        raise ApiError(413, f"request body over {API_BODY_BYTES} bytes")
    try:
        value = json.loads(raw, parse_constant=lambda c: float("nan"))
    except (ValueError, RecursionError):
        raise ApiError(400, "the body is not JSON") from None
    if not isinstance(value, dict):
        raise ApiError(400, "the body must be a JSON object")
    return value


@dataclass(frozen=True)
class TextRequest:
    model: str
    prompt: str
    max_tokens: int
    temperature_milli: int
    top_k: int
    seed: int | None
    stop: tuple[str, ...]
    stream: bool
    chat: bool

    def service_args(self) -> dict[str, Any]:
        args: dict[str, Any] = {
            "model": self.model,
            "prompt": self.prompt,
            "max_tokens": self.max_tokens,
            "temperature_milli": self.temperature_milli,
            "top_k": self.top_k,
        }
        if self.seed is not None:
            args["seed"] = self.seed
        return args


def _number(body: dict[str, Any], key: str, lo: float, hi: float, default: float) -> float:
    v = body.get(key, default)
    if v is None:
        v = default
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) or not lo <= v <= hi:
        raise ApiError(400, f"{key} must be a number in [{lo:g}, {hi:g}]")
    return float(v)


def _text_common(body: dict[str, Any], prompt: str, chat: bool) -> TextRequest:
    model = body.get("model")
    if not isinstance(model, str) or not 0 < len(model) <= 64:
        raise ApiError(400, "model is required (see /v1/models)")
    if len(prompt) > MAX_PROMPT_CHARS:
        raise ApiError(400, f"the prompt is over {MAX_PROMPT_CHARS} characters")
    if body.get("n", 1) not in (1, None):
        raise ApiError(400, "n must be 1")
    limit_key = "max_completion_tokens" if chat and "max_completion_tokens" in body else "max_tokens"
    max_tokens = int(_number(body, limit_key, 1, MAX_COMPLETION_TOKENS, 16 if not chat else 128))
    stop = body.get("stop")
    stops = (stop,) if isinstance(stop, str) else tuple(stop or ())
    if len(stops) > MAX_STOPS or not all(isinstance(s, str) and 0 < len(s) <= 64 for s in stops):
        raise ApiError(400, f"stop must be a string or up to {MAX_STOPS} strings")
    seed = body.get("seed")
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed < 2**63):
        raise ApiError(400, "seed must be a non-negative integer")
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise ApiError(400, "stream must be a boolean")
    return TextRequest(
        model,
        prompt,
        max_tokens,
        int(round(_number(body, "temperature", 0, 5, 1) * 1000)),
        int(_number(body, "top_k", 0, 32, 0)),  # not OpenAI's, but common among compatible servers
        seed,
        stops,
        stream,
        chat,
    )


def parse_completion(body: dict[str, Any]) -> TextRequest:
    prompt = body.get("prompt", "")
    if isinstance(prompt, list) and len(prompt) == 1:
        prompt = prompt[0]
    if not isinstance(prompt, str):
        raise ApiError(400, "prompt must be a string (one prompt per request)")
    return _text_common(body, prompt, chat=False)


def parse_chat(body: dict[str, Any]) -> TextRequest:
    messages = body.get("messages")
    if not isinstance(messages, list) or not 0 < len(messages) <= 256:
        raise ApiError(400, "messages must be a non-empty list")
    users = []
    for m in messages:
        if not isinstance(m, dict) or not isinstance(m.get("role"), str):
            raise ApiError(400, "each message needs a role")
        content = m.get("content", "")
        if isinstance(content, list):  # content parts: keep the text ones
            content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
        if not isinstance(content, str):
            raise ApiError(400, "message content must be text")
        if m["role"] == "user":
            users.append(content)
    if not users:
        raise ApiError(400, "the char-LM continues the last user message: send one")
    return _text_common(body, users[-1][-MAX_PROMPT_CHARS:], chat=True)


class StopScan:
    """Cuts generated text at the first stop sequence, holding back what could be the start of one."""

    def __init__(self, stops: tuple[str, ...]) -> None:
        self.stops = stops
        self.text = ""
        self.sent = 0
        self.stopped = False

    def feed(self, piece: str) -> str:
        """The new text safe to emit after `piece` ('' when held back or stopped)."""
        if self.stopped:
            return ""
        self.text += piece
        cuts = [i for s in self.stops if (i := self.text.find(s)) >= 0]
        if cuts:
            self.stopped = True
            self.text = self.text[: min(cuts)]
            safe = len(self.text)
        else:
            safe = max(self.sent, len(self.text) - max((len(s) - 1 for s in self.stops), default=0))
        out, self.sent = self.text[self.sent : safe], safe
        return out

    def rest(self) -> str:
        """What was held back, once the generation ended without a stop."""
        out, self.sent = ("" if self.stopped else self.text[self.sent :]), len(self.text)
        return out


def completion_json(
    req: TextRequest, ident: str, text: str, finish: str, created: int | None = None
) -> dict[str, Any]:
    created = created or int(time.time())
    usage = {
        "prompt_tokens": len(req.prompt),
        "completion_tokens": len(text),
        "total_tokens": len(req.prompt) + len(text),
    }
    if req.chat:
        choice = {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish}
        obj = "chat.completion"
    else:
        choice = {"index": 0, "text": text, "logprobs": None, "finish_reason": finish}
        obj = "text_completion"
    body = {"id": ident, "object": obj, "created": created, "model": req.model, "choices": [choice]}
    return {**body, "usage": usage, "system_fingerprint": CHARLM_NOTE}


def chunk_json(req: TextRequest, ident: str, text: str, finish: str | None, created: int) -> dict[str, Any]:
    if req.chat:
        delta: dict[str, Any] = {"content": text} if text or finish is None else {}
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        obj = "chat.completion.chunk"
    else:
        choice = {"index": 0, "text": text, "logprobs": None, "finish_reason": finish}
        obj = "text_completion"
    body = {"id": ident, "object": obj, "created": created, "model": req.model, "choices": [choice]}
    return {**body, "system_fingerprint": CHARLM_NOTE}


def parse_embeddings(body: dict[str, Any]) -> tuple[str, list[str], str]:
    model = body.get("model")
    if not isinstance(model, str) or not 0 < len(model) <= 64:
        raise ApiError(400, "model is required (see /v1/models)")
    texts = body.get("input")
    if isinstance(texts, str):
        texts = [texts]
    if not isinstance(texts, list) or not 0 < len(texts) <= MAX_EMBED_INPUTS:
        raise ApiError(400, f"input must be a string or a list of 1..{MAX_EMBED_INPUTS} strings")
    if not all(isinstance(t, str) for t in texts):
        raise ApiError(400, "input must be text (token arrays are not supported)")
    encoding = body.get("encoding_format") or "float"  # the openai package asks for base64
    if encoding not in ("float", "base64"):
        raise ApiError(400, "encoding_format must be float or base64")
    return model, texts, encoding


def embeddings_json(model: str, vectors: list[array], tokens: int, encoding: str) -> dict[str, Any]:
    """`vectors` as float lists, or (base64) their little-endian float32 bytes as OpenAI sends them."""

    def encode(v: array) -> list[float] | str:
        return base64.b64encode(v.tobytes()).decode() if encoding == "base64" else [float(x) for x in v]

    data = [{"object": "embedding", "index": i, "embedding": encode(v)} for i, v in enumerate(vectors)]
    usage = {"prompt_tokens": tokens, "total_tokens": tokens}
    return {"object": "list", "data": data, "model": model, "usage": usage}


def model_json(model_id: str, description: str) -> dict[str, Any]:
    return {
        "id": model_id,
        "object": "model",
        "created": 0,
        "owned_by": "hyperspace-mesh",
        "description": description,
    }
