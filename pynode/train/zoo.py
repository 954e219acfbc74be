"""The model zoo: every trainable model, its variants and its flat parameter layout, in plain Python.

A model's parameters travel as ONE flat float32 vector θ (the graphs split it into tensors), so a runner,
a checkpoint hash, a DiLoCo delta and the browser all deal with a single buffer. The layout below is the
source of truth: the PyTorch definitions (`wasm_build/torch_models.py`, build time only) consume θ in this
order.
"""

from __future__ import annotations

import math
from array import array
from dataclasses import dataclass, field, replace
from functools import lru_cache

from pynode.platform.model import Hyper
from pynode.train.rng import Stream, mix

ACTIVATIONS = ("relu", "gelu", "tanh")
NORMS = ("none", "layer", "rms")


@dataclass(frozen=True)
class Param:
    name: str
    shape: tuple[int, ...]
    init: str  # "uniform" (std below), "zeros" or "ones"
    std: float = 0.0

    @property
    def size(self) -> int:
        return math.prod(self.shape)


@dataclass(frozen=True)
class ModelSpec:
    name: str
    family: str  # "mlp" (digits classifier) or "gpt" (character LM)
    dataset: str  # "digits" or "charlm"
    width: int
    depth: int
    activation: str
    norm: str
    batch_size: int
    hyper: Hyper = field(default_factory=Hyper)
    # gpt only
    vocab: int = 0
    block: int = 0
    heads: int = 0

    def params(self) -> list[Param]:
        return _mlp_params(self) if self.family == "mlp" else _gpt_params(self)

    @property
    def n_params(self) -> int:
        return sum(p.size for p in self.params())

    def batch_shapes(self) -> tuple[tuple[tuple[int, ...], str], tuple[tuple[int, ...], str]]:
        """(x shape, x dtype), (y shape, y dtype) of one batch, fixed in the graphs."""
        if self.family == "mlp":
            return ((self.batch_size, 64), "float32"), ((self.batch_size,), "int64")
        return ((self.batch_size, self.block), "int64"), ((self.batch_size, self.block), "int64")

    def tokens_per_batch(self) -> int:
        """Examples (mlp) or predicted tokens (gpt) per batch: DiLoCo weighs deltas by these samples."""
        return self.batch_size * (self.block if self.family == "gpt" else 1)


def _norm_params(prefix: str, dim: int, norm: str) -> list[Param]:
    if norm == "layer":
        return [Param(f"{prefix}.weight", (dim,), "ones"), Param(f"{prefix}.bias", (dim,), "zeros")]
    if norm == "rms":
        return [Param(f"{prefix}.weight", (dim,), "ones")]
    return []


def _linear(prefix: str, fan_in: int, fan_out: int, std: float | None = None) -> list[Param]:
    return [
        Param(f"{prefix}.weight", (fan_out, fan_in), "uniform", std or 1.0 / math.sqrt(fan_in)),
        Param(f"{prefix}.bias", (fan_out,), "zeros"),
    ]


def _mlp_params(s: ModelSpec) -> list[Param]:
    out: list[Param] = []
    fan_in = 64
    for i in range(s.depth):
        out += _linear(f"h{i}", fan_in, s.width)
        out += _norm_params(f"h{i}.norm", s.width, s.norm)
        fan_in = s.width
    return out + _linear("head", fan_in, 10)


def _gpt_params(s: ModelSpec) -> list[Param]:
    d = s.width
    # nanoGPT's init: N(0, 0.02) everywhere (here a uniform of that std), residual projections scaled down
    proj_std = 0.02 / math.sqrt(2 * s.depth)
    out = [Param("wte", (s.vocab, d), "uniform", 0.02), Param("wpe", (s.block, d), "uniform", 0.02)]
    for i in range(s.depth):
        out += _norm_params(f"b{i}.ln1", d, s.norm)
        out += _linear(f"b{i}.attn.qkv", d, 3 * d, 0.02)
        out += _linear(f"b{i}.attn.proj", d, d, proj_std)
        out += _norm_params(f"b{i}.ln2", d, s.norm)
        out += _linear(f"b{i}.mlp.fc", d, 4 * d, 0.02)
        out += _linear(f"b{i}.mlp.proj", 4 * d, d, proj_std)
    return out + _norm_params("lnf", d, s.norm)  # the head is tied to wte


THETAS_KEPT = 16  # θ₀s kept (≤ 1 MB each): a research task trains its few variants on the same 3 seeds


def init_theta(spec: ModelSpec, seed: int) -> array:
    """θ₀ for `spec`, identical on every platform for a given seed (a fresh array: callers may change it)."""
    return array("f", _init_theta(spec, seed))


@lru_cache(maxsize=THETAS_KEPT)
def _init_theta(spec: ModelSpec, seed: int) -> bytes:
    theta = array("f")
    for i, p in enumerate(spec.params()):
        if p.init == "zeros":
            theta.extend(array("f", bytes(4 * p.size)))
        elif p.init == "ones":
            theta.extend(array("f", [1.0]) * p.size)
        else:
            theta.extend(Stream(mix(seed, i)).uniforms(p.size, p.std * math.sqrt(3.0)))
    return theta.tobytes()


_DIGITS = ModelSpec(
    "digits-mlp",
    "mlp",
    "digits",
    width=64,
    depth=2,
    activation="relu",
    norm="none",
    batch_size=64,
    hyper=Hyper(lr=3e-3),
)
_CHARLM = ModelSpec(
    "charlm-tiny",
    "gpt",
    "charlm",
    width=64,
    depth=2,
    activation="gelu",
    norm="layer",
    batch_size=16,
    vocab=32,
    block=32,
    heads=4,
    hyper=Hyper(lr=3e-3, beta2=0.99, weight_decay=0.01),
)


def _variants(base: ModelSpec, width: int, depth: int, activation: str, norm: str) -> list[ModelSpec]:
    """The base model and one variant along each axis the research agents explore."""
    return [
        base,
        replace(base, name=f"{base.name}-w{width}", width=width),
        replace(base, name=f"{base.name}-d{depth}", depth=depth),
        replace(base, name=f"{base.name}-{activation}", activation=activation),
        replace(base, name=f"{base.name}-{norm}", norm=norm),
    ]


MODELS: dict[str, ModelSpec] = {
    s.name: s
    for s in _variants(_DIGITS, width=128, depth=3, activation="gelu", norm="layer")
    + _variants(_CHARLM, width=96, depth=3, activation="relu", norm="rms")
}


def get_model(name: str) -> ModelSpec:
    try:
        return MODELS[name]
    except KeyError:
        raise KeyError(f"no model {name!r}; known: {', '.join(MODELS)}") from None
