"""Configs on the wire: one canonical text per config, so equal configs have equal hashes everywhere.

A config travels inside a signed result as canonical JSON (sorted keys, no spaces). CBOR on our wire has no
floats, and JSON's float text is Python's shortest repr on both CPython and Pyodide, so the bytes agree.
"""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any

from pynode.research.domain import Config, ConfigError
from pynode.research.limits import MAX_CONFIG_BYTES, MAX_CONFIG_DEPTH


def canonical(config: Config) -> str:
    _check(config, 0)
    text = json.dumps(config, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    if len(text.encode()) > MAX_CONFIG_BYTES:
        raise ConfigError(f"config over {MAX_CONFIG_BYTES} bytes")
    return text


def parse(text: str) -> Config:
    """A config from a peer's record: size-limited before parsing, then shape-checked."""
    if len(text.encode()) > MAX_CONFIG_BYTES:
        raise ConfigError(f"config over {MAX_CONFIG_BYTES} bytes")
    try:
        value = json.loads(text, parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as e:
        raise ConfigError(f"config is not JSON: {e}") from None
    if not isinstance(value, dict):
        raise ConfigError("config must be a JSON object")
    _check(value, 0)
    return value


def config_hash(config: Config) -> str:
    return hashlib.sha256(canonical(config).encode()).hexdigest()


def _refuse_constant(name: str) -> Any:
    raise ConfigError(f"config holds {name}")


def _check(value: Any, depth: int) -> None:
    if depth > MAX_CONFIG_DEPTH:
        raise ConfigError(f"config nested deeper than {MAX_CONFIG_DEPTH}")
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str):
                raise ConfigError("config keys must be text")
            _check(v, depth + 1)
    elif isinstance(value, list):
        for v in value:
            _check(v, depth + 1)
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ConfigError("config numbers must be finite")
    elif not (value is None or isinstance(value, str | int | bool)):
        raise ConfigError(f"config holds a {type(value).__name__}")
