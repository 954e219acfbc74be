"""The optional LLM strategy against an OpenAI-compatible endpoint on loopback (the wire format, not a model)."""

from __future__ import annotations

import argparse
import http.server
import json
import threading

import pytest

from pynode.cli.research import llm_proposer
from pynode.research.registry import domain
from pynode.research.strategy import Prior

TASK = "cranfield-ndcg10"


class Endpoint(http.server.BaseHTTPRequestHandler):
    reply = ""
    seen: list[dict] = []

    def do_POST(self):  # noqa: N802 (http.server's name)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        Endpoint.seen.append({"path": self.path, "auth": self.headers.get("Authorization"), **body})
        if Endpoint.reply == "500":
            self.send_error(500)
            return
        out = json.dumps(
            {"choices": [{"message": {"role": "assistant", "content": Endpoint.reply}}]}
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *args):
        pass


@pytest.fixture
def endpoint():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Endpoint)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()


def board():
    d = domain("search")
    base = d.validate(TASK, d.baseline(TASK))
    return [Prior("ab" * 32, "someone", base, (0.37, 0.38, 0.39), 0.38)]


@pytest.mark.parametrize(
    ("reply", "valid"),
    [
        ('Sure! {"config": {"b": 0.9}, "prediction": "raising b to 0.9 lowers length bias"}', True),
        ('{"config": {"b": 99}, "prediction": "x"}', False),  # out of the schema's range
        ("I would raise b.", False),
        ("500", False),  # the endpoint fails: the built-in strategy proposes instead
    ],
)
async def test_the_llm_proposal_passes_the_schema_or_is_dropped(endpoint, monkeypatch, reply, valid):
    monkeypatch.setenv("TEST_LLM_KEY", "sk-test")
    Endpoint.reply, Endpoint.seen = reply, []
    args = argparse.Namespace(llm_url=endpoint, llm_model="m", llm_key_env="TEST_LLM_KEY")
    proposal = await llm_proposer(args)(domain("search"), TASK, board())
    request = Endpoint.seen[0]
    assert request["path"] == "/v1/chat/completions" and request["auth"] == "Bearer sk-test"
    assert request["model"] == "m" and "Cranfield" in request["messages"][1]["content"]
    if valid:
        assert proposal.operator == "llm" and proposal.config["b"] == 0.9
        assert proposal.parent.key == "ab" * 32 and "length bias" in proposal.prediction
    else:
        assert proposal is None
