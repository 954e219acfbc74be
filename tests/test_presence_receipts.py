"""Receipts: a requester's signed word that a server served it, the only thing a service capability's points
bonus is paid on (pynode/presence/receipts.py)."""

from __future__ import annotations

import os

import pytest

from pynode.identity import Identity
from pynode.state.records import decode_record, doc_for, make_record
from pynode.state.sync import run_sync
from pynode.wire.errors import WireError


def test_receipt_records_go_to_their_document_and_refuse_bad_shapes():
    requester = run_sync(Identity.from_seed(bytes([7]) * 32)).signer
    body = {"cap": "inference", "server": os.urandom(32), "epoch": 493_000, "count": 3, "units": 1200}
    r = run_sync(make_record(requester, "receipt", body, 493_000 * 3_600_000))
    assert decode_record(r.encoded).body == body and doc_for("receipt", body) == "receipts"
    for bad in (
        {**body, "count": 0},
        {**body, "units": -1},
        {**body, "server": bytes(31)},
        {**body, "cap": "Not A Slug"},
        {**body, "extra": 1},
        {k: v for k, v in body.items() if k != "units"},
    ):
        with pytest.raises(WireError):
            run_sync(make_record(requester, "receipt", bad, 0))
