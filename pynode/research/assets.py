"""Data shipped with the research domains, read only after its sha256 matches `data/manifest.json`.

Every domain (search, skills, finance, causes) evaluates over these files, so a result means the same thing on
every node: a tampered or half-written file is refused instead of silently giving different numbers. The
scripts under `scripts/` regenerate the files and their manifest entries from the raw sources.
"""

from __future__ import annotations

import hashlib
import json
from functools import cache
from pathlib import Path

DATA_DIR = Path(__file__).parent / "data"
MANIFEST = "manifest.json"


class AssetError(Exception):
    """A shipped file is missing, unlisted, or its bytes do not match the manifest."""


@cache
def _manifest() -> dict[str, str]:
    try:
        return json.loads((DATA_DIR / MANIFEST).read_text())
    except (OSError, ValueError) as e:
        raise AssetError(f"cannot read {DATA_DIR / MANIFEST}: {e}") from None


def asset_hash(name: str) -> str:
    """The sha256 (hex) the manifest lists for `name`: what a result can cite as the data it used."""
    expected = _manifest().get(name)
    if expected is None:
        raise AssetError(f"{name} is not in {DATA_DIR / MANIFEST}")
    return expected


@cache
def read_asset(name: str) -> bytes:
    """The bytes of `data/<name>`, or AssetError when they do not match the manifest."""
    expected = asset_hash(name)
    try:
        data = (DATA_DIR / name).read_bytes()
    except OSError as e:
        raise AssetError(f"cannot read {name}: {e}") from None
    if hashlib.sha256(data).hexdigest() != expected:
        raise AssetError(
            f"{name} does not match its hash in {MANIFEST} (regenerate it with scripts/ or restore it)"
        )
    return data


def write_asset(name: str, data: bytes) -> str:
    """Write `data/<name>` and record its sha256 in the manifest (for the regeneration scripts, not at runtime)."""
    (DATA_DIR / name).write_bytes(data)
    path = DATA_DIR / MANIFEST
    manifest = json.loads(path.read_text()) if path.exists() else {}
    manifest[name] = hashlib.sha256(data).hexdigest()
    path.write_text(json.dumps(dict(sorted(manifest.items())), indent=2) + "\n")
    _manifest.cache_clear()
    read_asset.cache_clear()
    return manifest[name]
