"""A replica refuses research results that contradict their task: hostile configs, fabricated headline values."""

from __future__ import annotations

import json

import pytest

from pynode.identity import Identity
from pynode.platform import native
from pynode.research.policy import check_result
from pynode.research.registry import domain
from pynode.state.authorship import Rejected
from pynode.state.records import make_record
from pynode.state.store import Store

TASK = "cranfield-ndcg10"
HONEST = {
    "domain": "search",
    "task": TASK,
    "metric": "ndcg10",
    "unit": "ndcg",
    "direction": "max",
    "value": "0.4",
    "seeds": 3,
    "samples": ["0.3", "0.4", "0.5"],
}


def config_text(**change) -> str:
    return json.dumps({**domain("search").baseline(TASK), **change})


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"config": config_text(k1="1e308")}, "config refused"),
        ({"config": config_text(rm_extra=1)}, "config refused"),
        ({"config": '{"a": ' * 40 + "1" + "}" * 40}, "config refused"),
        ({"value": "0.9"}, "not the mean"),
        ({"seeds": 4}, "samples for 4 seeds"),
        ({"direction": "min"}, "measured as"),
    ],
)
async def test_an_update_with_a_contradicting_result_is_refused_whole(change, reason):
    author = await Identity.from_seed(bytes([7]) * 32)
    honest_author = Store(author.peer_id, native)
    good = await make_record(author.signer, "result", {**HONEST, "config": config_text()}, 1)
    bad = await make_record(author.signer, "result", {**HONEST, "config": config_text(), **change}, 2)
    update = (await honest_author.write(author.signer, [good, bad]))["results.search"]
    receiver = Store((await Identity.from_seed(bytes([8]) * 32)).peer_id, native, policy=check_result)
    with pytest.raises(Rejected, match=reason) as e:
        await receiver.receive("results.search", update, 10)
    assert e.value.reason == "refused_record"
    assert receiver.counts()["results.search"] == 0  # nothing of the update got in, the good record neither
    plain = Store((await Identity.from_seed(bytes([9]) * 32)).peer_id, native)
    assert len(await plain.receive("results.search", update, 10)) == 2  # without the policy it would have


async def test_results_of_unknown_tasks_and_old_records_pass():
    author = await Identity.from_seed(bytes([7]) * 32)
    for body in (
        {**HONEST, "task": "a-newer-task", "config": "{}"},
        {k: HONEST[k] for k in HONEST if k != "samples"},
    ):
        check_result(await make_record(author.signer, "result", body, 1))
