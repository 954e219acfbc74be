"""The inference service: text completion with the zoo's char-LM (streamed, temperature and top-k) and the
digits classifier, over the platform's model runner (onnxruntime in CPython, onnxruntime-web in a tab).

Methods (PROTOCOL.md §11.6):
  complete (streamed)  {model, prompt, max_tokens, temperature_milli, top_k, seed?} -> text pieces
  classify             {model, images: bytes (n × 64 pixels 0..16)} -> {classes, confidence_milli}
  models               {} -> [{id, kind, variant, source, backend, val_loss?}]

The char-LM is a 32-character-vocabulary tiny transformer trained on the Cranfield abstracts: it writes
English-looking lowercase text, not answers. Prompts are lowercased and characters outside its alphabet read
as spaces. Its graph has a fixed [16, 32] input: each token is one forward pass over the last 32 characters
(the other rows are padding), sampled here in pure Python so that both platforms share it.
"""

from __future__ import annotations

import math
import random
from array import array
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from pynode.platform.model import Runner, Tensor
from pynode.services import codec
from pynode.services.codec import ServiceError
from pynode.services.limits import (
    INFERENCE_REQUEST_BYTES,
    MAX_COMPLETION_TOKENS,
    MAX_DIGITS_IMAGES,
    MAX_PROMPT_CHARS,
    MAX_TEMPERATURE_MILLI,
)
from pynode.services.spec import Context, Method, Service, ServiceSpec
from pynode.train.assets import TEXT_ALPHABET, TEXT_INDEX
from pynode.train.zoo import ModelSpec, get_model

CAP = "inference"
VOCAB = get_model("charlm-tiny").vocab  # the zoo's char-LMs predict this many symbols (every variant)
TOKENS_PER_HOP = 4  # characters generated per offloaded call: fewer thread hops, still a steady stream
SPACE = TEXT_INDEX[" "]

Offload = Callable[[Callable[[], Any]], Awaitable[Any]]  # run blocking model work (a thread in CPython)


async def _inline(fn: Callable[[], Any]) -> Any:
    return fn()


@dataclass
class LoadedModel:
    """A zoo model with its θ in a runner: `source` says where the weights came from (for people)."""

    id: str  # what requests name: "charlm" or "digits"
    spec: ModelSpec
    runner: Runner
    source: str  # e.g. "zoo baseline, seed 0, 200 steps" or "ml board best <key>"
    val_loss: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def warm_up(self) -> LoadedModel:
        """One forward pass before serving: the runner settles its backend (a tab's WebGPU provider may refuse a
        graph, which then runs on wasm) and compiles its kernels, so that what the service advertises is what
        runs and the first request does not pay for it."""
        if self.spec.family == "gpt":
            next_logits(self, [SPACE])
        else:
            rows = self.spec.batch_size
            self.runner.infer(Tensor("float32", (rows, 64), array("f", bytes(4 * 64 * rows))))
        return self

    def describe(self) -> dict[str, Any]:
        kind = "text-completion" if self.spec.family == "gpt" else "image-classification"
        out = {"id": self.id, "kind": kind, "variant": self.spec.name, "source": self.source}
        out["backend"] = backend_name(self.runner)
        if self.val_loss is not None:
            out["val_loss_micro"] = int(round(self.val_loss * 1e6))
        return out


def backend_name(runner: Runner) -> str:
    device = getattr(runner, "device", "cpu")
    return f"onnxruntime-web/{device}" if device in ("wasm", "webgpu") else f"onnxruntime/{device}"


# ---- arguments (hostile input) --------------------------------------------------------------------------


@dataclass(frozen=True)
class Completion:
    model: str
    prompt: str
    max_tokens: int
    temperature: float
    top_k: int
    seed: int | None


def _int(args: dict[str, Any], key: str, lo: int, hi: int, default: int | None = None) -> int:
    v = args.get(key, default)
    if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
        raise ValueError(f"{key} must be an integer in [{lo}, {hi}]")
    return v


def parse_completion(args: dict[str, Any]) -> Completion:
    known = {"model", "prompt", "max_tokens", "temperature_milli", "top_k", "seed"}
    if not set(args) <= known:
        raise ValueError(f"unknown arguments {sorted(set(args) - known)}")
    model, prompt = args.get("model", "charlm"), args.get("prompt", "")
    if not isinstance(model, str) or len(model) > 64:
        raise ValueError("model must be a model id")
    if not isinstance(prompt, str) or len(prompt) > MAX_PROMPT_CHARS:
        raise ValueError(f"prompt must be text of at most {MAX_PROMPT_CHARS} characters")
    seed = args.get("seed")
    if seed is not None:
        seed = _int(args, "seed", 0, 2**63 - 1)
    return Completion(
        model,
        prompt,
        _int(args, "max_tokens", 1, MAX_COMPLETION_TOKENS, 64),
        _int(args, "temperature_milli", 0, MAX_TEMPERATURE_MILLI, 1000) / 1000,
        _int(args, "top_k", 0, VOCAB, 0),
        seed,
    )


def parse_classify(args: dict[str, Any]) -> tuple[str, bytes]:
    if not set(args) <= {"model", "images"}:
        raise ValueError("classify takes model and images")
    model, images = args.get("model", "digits"), args.get("images")
    if not isinstance(model, str) or len(model) > 64:
        raise ValueError("model must be a model id")
    if (
        not isinstance(images, bytes)
        or not images
        or len(images) % 64
        or len(images) > 64 * MAX_DIGITS_IMAGES
    ):
        raise ValueError(f"images must be 1..{MAX_DIGITS_IMAGES} images of 64 bytes (8×8 pixels)")
    if max(images) > 16:
        raise ValueError("pixels are 0..16")
    return model, images


def _no_args(args: dict[str, Any]) -> None:
    if args:
        raise ValueError("models takes no arguments")


# ---- text ---------------------------------------------------------------------------------------------------


def encode_text(text: str) -> list[int]:
    """The char-LM's ids: lowercased, characters outside its alphabet read as spaces."""
    return [TEXT_INDEX.get(c, SPACE) for c in text.lower()]


def sample(logits: list[float], temperature: float, top_k: int, rng: random.Random) -> int:
    """Greedy at temperature 0; else softmax(logits / T) over the top_k (0: all) most likely."""
    if temperature <= 0:
        return max(range(len(logits)), key=logits.__getitem__)
    order = sorted(range(len(logits)), key=logits.__getitem__, reverse=True)
    if top_k:
        order = order[:top_k]
    top = logits[order[0]]
    weights = [math.exp((logits[i] - top) / temperature) for i in order]
    return rng.choices(order, weights)[0]


def next_logits(model: LoadedModel, context: list[int]) -> list[float]:
    """Logits of the character after `context` (its last `block` ids): one forward pass."""
    spec = model.spec
    rows, block, vocab = spec.batch_size, spec.block, spec.vocab
    window = context[-block:] or [SPACE]
    x = array("q", window + [SPACE] * (block - len(window)))
    x.extend(array("q", [SPACE]) * (block * (rows - 1)))
    logits = model.runner.infer(Tensor("int64", (rows, block), x))
    at = (
        len(window) - 1
    ) * vocab  # row 0, the last real position: attention is causal, padding after it is unseen
    return list(logits[at : at + vocab])


# ---- the service ----------------------------------------------------------------------------------------


class Inference:
    def __init__(
        self,
        models: dict[str, LoadedModel] | None = None,
        offload: Offload = _inline,
        tokens_per_hop: int = TOKENS_PER_HOP,
    ) -> None:
        """`tokens_per_hop`: characters per `offload` call (1 where the work runs inline on the event loop, as in
        a tab, so that pulls and gossip get a turn after every character)."""
        self.models: dict[str, LoadedModel] = dict(models or {})
        self.offload = offload
        self.tokens_per_hop = tokens_per_hop

    def set_model(self, model: LoadedModel) -> None:
        """Add or replace a model (the runtime swaps in a better char-LM checkpoint)."""
        self.models[model.id] = model

    def _parse_completion(self, args: dict[str, Any]) -> Completion:
        req = parse_completion(args)
        self._model(req.model, "gpt")  # an unknown model is refused before any work starts
        return req

    def _parse_classify(self, args: dict[str, Any]) -> tuple[str, bytes]:
        req = parse_classify(args)
        self._model(req[0], "mlp")
        return req

    def _model(self, model_id: str, family: str) -> LoadedModel:
        m = self.models.get(model_id)
        if m is None or m.spec.family != family:
            wanted = [k for k, v in self.models.items() if v.spec.family == family]
            if not wanted:  # still deriving its weights: another peer may serve it now
                raise ServiceError(codec.BUSY, "the models are still loading")
            raise ValueError(f"no model {model_id!r} here; this node serves {wanted}")
        return m

    async def complete(self, ctx: Context, req: Completion) -> AsyncIterator[str]:
        model = self._model(req.model, "gpt")  # raises ValueError -> bad_request before any work
        rng = random.Random(req.seed)
        context = encode_text(req.prompt)

        def generate(n: int) -> list[int]:
            for _ in range(n):
                context.append(sample(next_logits(model, context), req.temperature, req.top_k, rng))
            return context[-n:]

        done = 0
        while done < req.max_tokens:
            # a few tokens per hop off the event loop: each hop costs a thread switch and a loop wakeup
            n = min(self.tokens_per_hop, req.max_tokens - done)
            tokens = await self.offload(lambda n=n: generate(n))
            done += len(tokens)
            for token in tokens:
                ctx.units += 1
                yield TEXT_ALPHABET[token]

    async def classify(self, ctx: Context, req: tuple[str, bytes]) -> dict[str, Any]:
        model_id, images = req
        model = self._model(model_id, "mlp")
        n = len(images) // 64
        rows = model.spec.batch_size
        pixels = array("f", [v / 16.0 for v in images])
        pixels.extend(array("f", bytes(4 * 64 * (rows - n))))
        logits = await self.offload(lambda: model.runner.infer(Tensor("float32", (rows, 64), pixels)))
        classes, confidence = [], []
        for i in range(n):
            row = list(logits[i * 10 : i * 10 + 10])
            best = max(range(10), key=row.__getitem__)
            top = row[best]
            total = sum(math.exp(v - top) for v in row)
            classes.append(best)
            confidence.append(int(1000 / total))
        ctx.units += n
        return {"model": model.id, "classes": classes, "confidence_milli": confidence}

    async def list_models(self, ctx: Context, _: None) -> list[dict[str, Any]]:
        return [m.describe() for m in self.models.values()]

    def spec(self) -> ServiceSpec:
        backends = sorted({backend_name(m.runner) for m in self.models.values()})
        info = {"models": sorted(self.models), "backend": ",".join(backends) or "none"}
        return ServiceSpec(
            CAP, max_bytes=INFERENCE_REQUEST_BYTES, per_min=120, burst=20, concurrent=2, capacity=4, info=info
        )

    def service(self) -> Service:
        return Service(
            self.spec(),
            {
                "complete": Method(self._parse_completion, self.complete, stream=True),
                "classify": Method(self._parse_classify, self.classify),
                "models": Method(_no_args, self.list_models),
            },
        )


def resume_completion(args: dict[str, Any], pieces: list[Any]) -> dict[str, Any]:
    """A `complete` call cut short after `pieces`: continue from the text so far on another peer."""
    done = "".join(p for p in pieces if isinstance(p, str))
    rest = max(1, int(args.get("max_tokens", 64)) - len(pieces))
    return {**args, "prompt": str(args.get("prompt", "")) + done, "max_tokens": rest}
