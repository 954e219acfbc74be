"""The platform seam's conformance suite against CPython's implementation (the browser runs it in Pyodide),
and identity's and the model runner's cross-platform checks on top of it."""

import pytest

from pynode.identity import conformance as identity_checks
from pynode.platform import conformance, native
from pynode.train import conformance as train_checks
from tests.netutil import relay_on

ALL = conformance.CHECKS + identity_checks.CHECKS + train_checks.CHECKS


@pytest.mark.parametrize("check", ALL, ids=lambda c: c.__name__)
async def test_native_platform_conforms(check, tmp_path):
    relay = await relay_on(tmp_path, embedded_node=False) if check is conformance.check_relay_link else None
    try:
        await check(native, {"relay_url": relay.url if relay else None, "key_place": str(tmp_path / "key")})
    finally:
        if relay:
            await relay.stop()


async def test_run_all_reports_each_check_and_what_failed():
    async def broken(p, ctx):
        raise AssertionError("as planned")

    results = await conformance.run_all(native, checks=[conformance.check_random_bytes, broken])
    assert results == [
        {"name": "check_random_bytes", "ok": True, "detail": ""},
        {"name": "broken", "ok": False, "detail": "AssertionError: as planned"},
    ]
