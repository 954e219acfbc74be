"""A result's `artifacts`: the run file the archive writes for it, known to its author before signing, and
read back (verified to hold that very result) by `hyperspace reproduce --archive` and a reviewer."""

from __future__ import annotations

import json

import pytest

from pynode.cli.common import CliError
from pynode.cli.research import _from_archive, _with_artifacts
from pynode.identity import Identity
from pynode.platform import native
from pynode.research.artifacts import ArtifactError, read_run, run_path
from pynode.research.limits import MAX_RUN_FILE_BYTES
from pynode.runtime.replica import LocalReplica
from pynode.runtime.research import ResearchAgent, ResearchConfig, archive_artifacts
from pynode.state.store import Store
from relay_server.archive_layout import state_files


async def _run(tmp_path, experiments: int = 3):
    identity = await Identity.from_seed(bytes([7]) * 32)
    replica = LocalReplica(identity.signer, Store(identity.peer_id, native), tmp_path / "state")
    agent = ResearchAgent(replica, ResearchConfig(domains=("finance",), seed=1))
    published = [await agent.run_once() for _ in range(experiments)]
    root = tmp_path / "archive"
    for path, data in state_files(replica.store).items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(data)
    return identity, published, root


async def test_each_result_names_the_run_file_the_archive_writes_for_it(tmp_path):
    identity, published, root = await _run(tmp_path)
    paths = [p.result.body["artifacts"] for p in published]
    assert paths == [run_path(identity.peer_id, "finance", n) for n in (1, 2, 3)]
    for p in published:
        run = read_run((root / p.result.body["artifacts"]).read_bytes(), p.result.key)
        assert run.record == p.result and run.links["paper"].startswith(f"agents/{identity.text}/papers/")


async def test_reproduce_reads_the_result_and_its_artifacts_from_an_archive(tmp_path):
    _, published, root = await _run(tmp_path, 2)
    record = _from_archive(root, published[1].result.key)
    assert record == published[1].result
    assert _with_artifacts(root, record) == record  # the run file holds this result: nothing to add
    # a run file swapped for another result's is refused, not re-run
    (root / record.body["artifacts"]).write_bytes((root / published[0].result.body["artifacts"]).read_bytes())
    with pytest.raises(CliError, match="not result"):
        _with_artifacts(root, record)
    assert _from_archive(root, "0" * 64) is None


async def test_a_reviewer_takes_the_config_from_the_archived_run_file(tmp_path):
    _, published, root = await _run(tmp_path, 2)
    source = archive_artifacts(root)
    got = await source(published[0].result)
    assert got.config == published[0].result.body["config"]
    missing = await archive_artifacts(tmp_path / "empty")(published[0].result)  # not archived yet
    assert missing.config == published[0].result.body["config"]


def test_a_hostile_run_file_is_refused_with_a_reason():
    with pytest.raises(ArtifactError, match="over"):
        read_run(b" " * (MAX_RUN_FILE_BYTES + 1), "0" * 64)
    with pytest.raises(ArtifactError, match="not a result's run file"):
        read_run(b"[1, 2", "0" * 64)
    with pytest.raises(ArtifactError, match="not a result's run file"):
        read_run(json.dumps({"record_cbor_hex": "zz"}).encode(), "0" * 64)
