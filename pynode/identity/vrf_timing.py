"""How long ECVRF proving and verifying take on a group: one measurement for CPython and the tab alike
(bench/vrf.py runs it on both backends here and asks a Chromium tab to run it in Pyodide)."""

from __future__ import annotations

import time
from typing import Any

from pynode.identity import vrf
from pynode.platform.ed25519_group import Ed25519Group
from pynode.stats import percentile

KEYS = 4  # provers taking turns, so verification sees a few recurring keys as in a pulse round


def measure(group: Ed25519Group, verifier: Ed25519Group, rounds: int) -> dict[str, Any]:
    """Milliseconds per key expansion, proof and verification (p50/p99 over `rounds`). `verifier` is a second
    instance of the group, so nothing `group` remembers from proving speeds up the verifications."""
    t0 = time.perf_counter()
    keys = [vrf.VrfKey(bytes([i + 1]) * 32, group) for i in range(KEYS)]  # first one builds any tables
    setup_ms = (time.perf_counter() - t0) * 1000
    key_ms, prove_ms, verify_ms = [], [], []
    for i in range(rounds):
        t0 = time.perf_counter()
        vrf.VrfKey(bytes([i % 251]) + bytes(31), group)
        key_ms.append((time.perf_counter() - t0) * 1000)
        key, alpha = keys[i % KEYS], b"round seed %d" % i
        t0 = time.perf_counter()
        pi = key.prove(alpha)
        prove_ms.append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()
        beta = vrf.verify(key.public_key, pi, alpha, verifier)
        verify_ms.append((time.perf_counter() - t0) * 1000)
        if beta is None:
            raise AssertionError(f"{group.name}: a fresh proof did not verify")
    return {
        "group": group.name,
        "rounds": rounds,
        "setup_ms": round(setup_ms, 2),
        "key_ms": _summary(key_ms),
        "prove_ms": _summary(prove_ms),
        "verify_ms": _summary(verify_ms),
    }


def _summary(samples: list[float]) -> dict[str, float]:
    return {"p50": round(percentile(samples, 50, 0.0), 3), "p99": round(percentile(samples, 99, 0.0), 3)}
