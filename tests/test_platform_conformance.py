"""The platform seam's conformance suite against CPython's implementation (the browser runs it in Pyodide)."""

import pytest

from pynode.platform import conformance, native
from tests.netutil import relay_on


@pytest.mark.parametrize("check", conformance.CHECKS, ids=lambda c: c.__name__)
async def test_native_platform_conforms(check, tmp_path):
    relay = await relay_on(tmp_path, embedded_node=False) if check is conformance.check_relay_hello else None
    try:
        await check(native, {"relay_url": relay.url if relay else None})
    finally:
        if relay:
            await relay.stop()
