"""A small world for review tests: real identities (Ed25519 + ECVRF from one seed), real signed records, real
stores that receive each other's documents, and epochs of the review protocol at fixed times."""

from __future__ import annotations

import contextlib
import hashlib
import itertools
from collections.abc import Sequence
from typing import Any

from pynode.identity import Identity
from pynode.identity.vrf import VrfKey
from pynode.platform import native
from pynode.platform.native import NaclSigner
from pynode.research.agent import decimal_text
from pynode.research.config import canonical
from pynode.research.search import DOMAIN as SEARCH
from pynode.research.search.schema import BASELINE
from pynode.review import sortition
from pynode.review.params import EPOCH_MS
from pynode.state.authorship import Rejected
from pynode.state.records import Record, make_record
from pynode.state.store import Deferred, Store
from pynode.state.sync import run_sync

E0 = 56_666_700  # the first epoch of the scenarios' results
T0 = sortition.epoch_start(E0)
TASK = SEARCH.tasks["cranfield-ndcg10"]
_seeds = itertools.count(1)


def identity(seed: int | None = None) -> Identity:
    raw = (seed if seed is not None else next(_seeds)).to_bytes(4, "big") * 8
    return Identity(NaclSigner(raw), VrfKey(raw))


def record(who: Identity, kind: str, body: dict[str, Any], ts: int) -> Record:
    return run_sync(make_record(who.signer, kind, body, ts))


def profile(who: Identity, ts: int = T0 - 60_000, caps: Sequence[str] = ("validation",)) -> Record:
    return record(who, "profile", {"name": "validator", "caps": list(caps)}, ts)


def config(**change: Any) -> str:
    return canonical(SEARCH.validate(TASK.id, {**BASELINE, **change}))


def result(
    who: Identity,
    samples: Sequence[float],
    ts: int,
    cfg: str | None = None,
    parent: Record | None = None,
    **extra: Any,
) -> Record:
    texts = [decimal_text(v, 10) for v in samples]
    body: dict[str, Any] = {
        "domain": "search",
        "task": TASK.id,
        "metric": TASK.metric,
        "unit": TASK.unit,
        "direction": TASK.direction,
        "value": decimal_text(sum(float(v) for v in texts) / len(texts)),
        "seeds": len(texts),
        "samples": texts,
        "config": cfg if cfg is not None else config(),
        "hypothesis": "a stated prediction",
        **extra,
    }
    if parent is not None:
        body["inspired_by"] = parent.key
    return record(who, "result", {k: v for k, v in body.items() if v is not None}, ts)


def ml_runs(steps: int, seeds: int = 3) -> tuple[str, list[Any]]:
    """A digits-mlp config of `steps` steps (canonical) and its real runs on seeds 0..n-1 (each Evaluation
    carries its trained θ as `checkpoint`)."""
    from pynode.research.ml import DOMAIN as ML

    cfg = ML.validate("digits-mlp", {**ML.baseline("digits-mlp"), "steps": steps})
    return canonical(cfg), [ML.evaluate("digits-mlp", cfg, seed) for seed in range(seeds)]


def ml_result(
    who: Identity, cfg: str, samples: Sequence[float], ts: int, checkpoints: Sequence[bytes] = ()
) -> Record:
    """A digits-mlp result claiming `samples` for `cfg`, naming the blobs `checkpoints` (their SHA-256)."""
    from pynode.research.ml import DOMAIN as ML

    task = ML.tasks["digits-mlp"]
    texts = [decimal_text(v, 10) for v in samples]
    body: dict[str, Any] = {
        "domain": "ml",
        "task": task.id,
        "metric": task.metric,
        "unit": task.unit,
        "direction": task.direction,
        "value": decimal_text(sum(float(v) for v in texts) / len(texts)),
        "seeds": len(texts),
        "samples": texts,
        "config": cfg,
    }
    if checkpoints:
        body["checkpoints"] = [hashlib.sha256(c).hexdigest() for c in checkpoints]
    return record(who, "result", body, ts)


def review(
    who: Identity,
    target: Record,
    epoch: int,
    verdict: str = "reproduced",
    score: int = 10,
    ts: int | None = None,
    proof: bytes | None = None,
) -> Record:
    assert who.vrf is not None
    body = {
        "target": target.key,
        "score": score,
        "rubric": "hs-review-1",
        "vrf": proof if proof is not None else who.vrf.prove(sortition.alpha(target.key, epoch)),
        "epoch": epoch,
        "verdict": verdict,
    }
    stamp = ts if ts is not None else max(sortition.epoch_start(epoch), target.ts) + 15_000
    return record(who, "review", body, stamp)


def drawn(who: Identity, target: Record, epoch: int, n: int) -> bool:
    assert who.vrf is not None
    return sortition.draw(who.vrf, target.key, epoch, n) is not None


class Network:
    """Each author's own store (its records in signed Loro changes) and delivery of them to any replica."""

    def __init__(self) -> None:
        self.stores: dict[bytes, tuple[Identity, Store]] = {}

    def publish(self, who: Identity, *records: Record) -> None:
        if who.peer_id not in self.stores:
            self.stores[who.peer_id] = (who, Store(who.peer_id, native))
        _, store = self.stores[who.peer_id]
        run_sync(store.write(who.signer, list(records)))

    def deliver(self, into: Store, now_ms: int) -> None:
        """Every author's documents, validated and imported like updates from the network."""
        for _, source in self.stores.values():
            if source is into:
                continue
            for doc, records in source.records.items():
                if not records:
                    continue
                with contextlib.suppress(Deferred):  # nothing new
                    run_sync(into.receive(doc, source.snapshot(doc), now_ms, ("snapshot", "updates")))


__all__ = ["E0", "EPOCH_MS", "T0", "TASK", "Network", "Rejected"]  # Rejected: what tests expect of receive
