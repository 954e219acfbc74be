"""Typed field access for decoded frames: every accessor raises WireError("bad_field", ...) on a mismatch."""

from __future__ import annotations

from collections.abc import Set as AbstractSet
from typing import Any

from pynode.wire.errors import WireError


def expect_map(
    value: Any, what: str, keys: AbstractSet[str], optional: AbstractSet[str] = frozenset()
) -> dict[str, Any]:
    """`value` must be a map whose keys are exactly `keys`, plus any of `optional`."""
    if not isinstance(value, dict):
        raise WireError("bad_type", f"{what} must be a map")
    present = value.keys()
    # all of `keys` and no more keys than that: exactly `keys`, without building the union
    if not keys <= present or (len(present) > len(keys) and not present <= keys | optional):
        raise WireError("bad_field", f"{what} has keys {sorted(present)}, expected {sorted(keys)}")
    return value


def get_bytes(d: dict[str, Any], key: str, size: int | None = None, max_len: int | None = None) -> bytes:
    v = d.get(key)
    if not isinstance(v, bytes):
        raise WireError("bad_field", f"{key} must be bytes")
    if size is not None and len(v) != size:
        raise WireError("bad_field", f"{key} must be {size} bytes, got {len(v)}")
    if max_len is not None and len(v) > max_len:
        raise WireError("bad_field", f"{key} longer than {max_len} bytes")
    return v


def get_str(d: dict[str, Any], key: str, max_len: int, min_len: int = 1) -> str:
    v = d.get(key)
    if not isinstance(v, str):
        raise WireError("bad_field", f"{key} must be text")
    if not min_len <= len(v) <= max_len:
        raise WireError("bad_field", f"{key} must be {min_len}..{max_len} characters")
    return v


def get_int(d: dict[str, Any], key: str, lo: int = 0, hi: int = 2**64 - 1) -> int:
    v = d.get(key)
    if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
        raise WireError("bad_field", f"{key} must be an integer in [{lo}, {hi}]")
    return v


def get_bool(d: dict[str, Any], key: str) -> bool:
    v = d.get(key)
    if not isinstance(v, bool):
        raise WireError("bad_field", f"{key} must be true or false")
    return v


def get_list(d: dict[str, Any], key: str, max_len: int) -> list[Any]:
    v = d.get(key)
    if not isinstance(v, list):
        raise WireError("bad_field", f"{key} must be a list")
    if len(v) > max_len:
        raise WireError("bad_field", f"{key} has {len(v)} items, at most {max_len}")
    return v


def check_topic(topic: Any) -> str:
    from pynode.wire.limits import MAX_TOPIC_LEN

    if not isinstance(topic, str) or not 1 <= len(topic) <= MAX_TOPIC_LEN or not topic.isprintable():
        raise WireError("bad_field", "topic must be 1..128 printable characters")
    return topic
