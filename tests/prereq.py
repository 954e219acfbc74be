"""Missing prerequisites: a skip on a developer's machine, a failure in CI (CI=true).

CI installs everything the suite needs, so a test that would skip there means the install is broken; letting it
skip would turn a broken setup into a green run.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType

import pytest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def missing(reason: str) -> None:
    """Stop the current test for a missing prerequisite."""
    if IN_CI:
        pytest.fail(f"prerequisite missing in CI: {reason}", pytrace=False)
    pytest.skip(reason)


def require_module(name: str) -> ModuleType:
    """Import `name`, or stop the test as `missing` would."""
    try:
        return importlib.import_module(name)
    except ImportError as e:
        missing(f"needs the Python package {name} ({e})")
        raise  # unreachable: missing() raises


def requires(condition: bool, reason: str) -> pytest.MarkDecorator:
    """A marker for tests that need `condition`: skipped without it locally, failed without it in CI."""
    return pytest.mark.skipif(not condition and not IN_CI, reason=reason)
