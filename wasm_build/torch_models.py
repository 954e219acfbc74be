"""PyTorch definitions of the zoo's models and of the functions exported as ONNX graphs. Build time only.

Nodes never import this module (torch is not a runtime dependency); `wasm_build/export_graphs.py` traces
these functions into the committed graphs, and the tests re-trace them to check the committed files.

Every function takes the flat θ of `zoo.py` and splits it (Split's gradient is a Concat; slicing would
lower to ScatterND). Two choices keep the graphs exact on every runtime (PLATFORM_NOTES, training graphs):
the token embedding is a one-hot matmul and the cross-entropy is written out, because torch's lowerings of
both use scatter ops whose multi-threaded accumulation races in onnxruntime and onnxruntime-web.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from pynode.train.zoo import ModelSpec


def unflatten(spec: ModelSpec, theta: Tensor) -> dict[str, Tensor]:
    params = spec.params()
    parts = torch.split(theta, [p.size for p in params])
    return {p.name: t.view(p.shape) for p, t in zip(params, parts, strict=True)}


def one_hot(idx: Tensor, n: int) -> Tensor:
    return (idx.unsqueeze(-1) == torch.arange(n)).to(torch.float32)


def cross_entropy(logits: Tensor, y: Tensor) -> Tensor:
    """Mean −log softmax(logits)[y] without gather/scatter; the max shift carries no gradient."""
    shift = logits.detach().amax(-1, keepdim=True)
    lse = torch.log(torch.exp(logits - shift).sum(-1)) + shift.squeeze(-1)
    return (lse - (one_hot(y, logits.shape[-1]) * logits).sum(-1)).mean()


def gelu(x: Tensor) -> Tensor:
    """Exact GELU, x·Φ(x), written out: its gradient reuses the forward's erf, where torch's gelu backward
    computes it again. One Erf per layer, not two: Erf runs 10-14× slower in onnxruntime-web's wasm than in
    onnxruntime (bench train --profile), and this took a tab's charlm-tiny step from 22.6 to 21.0 ms (bench train
    --against the graphs exported with torch's gelu)."""
    return 0.5 * x * (1 + torch.erf(x * (1 / math.sqrt(2))))


def activation(spec: ModelSpec, x: Tensor) -> Tensor:
    if spec.activation == "relu":
        return torch.relu(x)
    if spec.activation == "gelu":
        return gelu(x)
    return torch.tanh(x)


def norm(spec: ModelSpec, p: dict[str, Tensor], prefix: str, x: Tensor) -> Tensor:
    if spec.norm == "layer":
        return F.layer_norm(x, x.shape[-1:], p[f"{prefix}.weight"], p[f"{prefix}.bias"], eps=1e-5)
    if spec.norm == "rms":
        return x * torch.rsqrt((x * x).mean(-1, keepdim=True) + 1e-6) * p[f"{prefix}.weight"]
    return x


def linear(p: dict[str, Tensor], prefix: str, x: Tensor) -> Tensor:
    return x @ p[f"{prefix}.weight"].t() + p[f"{prefix}.bias"]


# ---- the models -------------------------------------------------------------------------------------


def mlp_logits(spec: ModelSpec, p: dict[str, Tensor], x: Tensor) -> Tensor:
    """(B, 64) pixels in [0, 1] → (B, 10) class logits."""
    for i in range(spec.depth):
        x = activation(spec, norm(spec, p, f"h{i}.norm", linear(p, f"h{i}", x)))
    return linear(p, "head", x)


def attention(spec: ModelSpec, p: dict[str, Tensor], prefix: str, x: Tensor) -> Tensor:
    B, T, C = x.shape
    hs = C // spec.heads
    q, k, v = linear(p, f"{prefix}.qkv", x).split(C, dim=2)
    q, k, v = (t.view(B, T, spec.heads, hs).transpose(1, 2) for t in (q, k, v))  # (B, nh, T, hs)
    att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(hs))
    causal = torch.tril(torch.ones(T, T, dtype=torch.bool))
    att = torch.softmax(att.masked_fill(~causal, float("-inf")), dim=-1)
    y = (att @ v).transpose(1, 2).reshape(B, T, C)
    return linear(p, f"{prefix}.proj", y)


def gpt_logits(spec: ModelSpec, p: dict[str, Tensor], idx: Tensor) -> Tensor:
    """(B, T) token ids → (B, T, vocab) next-token logits; nanoGPT's pre-norm blocks, tied head."""
    T = idx.shape[1]
    x = one_hot(idx, spec.vocab) @ p["wte"] + p["wpe"][:T]
    for i in range(spec.depth):
        x = x + attention(spec, p, f"b{i}.attn", norm(spec, p, f"b{i}.ln1", x))
        h = activation(spec, linear(p, f"b{i}.mlp.fc", norm(spec, p, f"b{i}.ln2", x)))
        x = x + linear(p, f"b{i}.mlp.proj", h)
    return norm(spec, p, "lnf", x) @ p["wte"].t()


def logits(spec: ModelSpec, theta: Tensor, x: Tensor) -> Tensor:
    p = unflatten(spec, theta)
    return mlp_logits(spec, p, x) if spec.family == "mlp" else gpt_logits(spec, p, x)


def loss_fn(spec: ModelSpec, theta: Tensor, x: Tensor, y: Tensor) -> Tensor:
    out = logits(spec, theta, x)
    return cross_entropy(out.reshape(-1, out.shape[-1]), y.reshape(-1))


# ---- the exported functions (input and output names are the graphs' names) ---------------------------

HYPER_INPUTS = ["step", "lr", "beta1", "beta2", "eps", "weight_decay"]  # 0-d float32 each
SIGNATURES: dict[str, tuple[list[str], list[str]]] = {
    "train": (["theta", "m", "v", *HYPER_INPUTS, "x", "y"], ["loss", "theta_out", "m_out", "v_out"]),
    "grad": (["theta", "x", "y"], ["loss", "grad"]),
    "adamw": (["theta", "m", "v", "grad", *HYPER_INPUTS], ["theta_out", "m_out", "v_out"]),
    "eval": (["theta", "x", "y"], ["loss", "correct"]),
    "infer": (["theta", "x"], ["logits"]),
}


def adamw(theta, m, v, grad, step, lr, beta1, beta2, eps, weight_decay):
    """Decoupled weight decay Adam (Loshchilov & Hutter), as torch.optim.AdamW computes it."""
    m = beta1 * m + (1 - beta1) * grad
    v = beta2 * v + (1 - beta2) * grad * grad
    m_hat = m / (1 - beta1**step)
    v_hat = v / (1 - beta2**step)
    theta = theta * (1 - lr * weight_decay) - lr * m_hat / (torch.sqrt(v_hat) + eps)
    return theta, m, v


def grad_fn(spec: ModelSpec):
    def grad(theta, x, y):
        theta = theta.detach().requires_grad_(True)
        loss = loss_fn(spec, theta, x, y)
        (g,) = torch.autograd.grad(loss, theta)
        return loss.detach(), g

    return grad


def train_fn(spec: ModelSpec):
    """One fused step: the same arithmetic as `grad` followed by `adamw`."""
    grad = grad_fn(spec)

    def train(theta, m, v, step, lr, beta1, beta2, eps, weight_decay, x, y):
        loss, g = grad(theta, x, y)
        return (loss, *adamw(theta.detach(), m, v, g, step, lr, beta1, beta2, eps, weight_decay))

    return train


def eval_fn(spec: ModelSpec):
    def evaluate(theta, x, y):
        out = logits(spec, theta, x)
        out, y = out.reshape(-1, out.shape[-1]), y.reshape(-1)
        correct = (out.argmax(-1) == y).to(torch.float32).sum()
        return cross_entropy(out, y), correct

    return evaluate


def infer_fn(spec: ModelSpec):
    def infer(theta, x):
        return logits(spec, theta, x)

    return infer
