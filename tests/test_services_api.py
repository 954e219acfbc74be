"""`--api`: the OpenAI-compatible API of a node, tested with the real `openai` package. The node asking has no
model of its own: completions are served by a peer over the mesh; embeddings have no provider here (503)."""

from __future__ import annotations

import socket

import httpx
import openai
import pytest

from pynode.identity import Identity
from pynode.node import Node, NodeConfig
from pynode.platform import native
from pynode.runtime.api import ApiServer
from pynode.runtime.replica import StateReplica
from pynode.runtime.services import ServicesRuntime
from pynode.services.inference import Inference
from pynode.services.inference_weights import committed
from pynode.services.spec import Context
from tests.netutil import eventually, relay_on

pytestmark = pytest.mark.slow
TOKEN = "s3cret-token"


@pytest.fixture(scope="module")
def charlm():
    return committed("charlm")


@pytest.fixture
async def api(tmp_path, charlm):
    relay = await relay_on(tmp_path, embedded_node=False)
    started = []
    for services in ([Inference({"charlm": charlm}).service()], []):
        node = Node(await Identity.generate(), native.relay_link(relay.url), NodeConfig(direct_peers=0))
        replica = StateReplica(node)
        runtime = ServicesRuntime(node, replica, services)
        await node.start()
        await replica.start()
        await runtime.start()
        started.append((node, replica, runtime))
    asking = started[1][2]
    await eventually(lambda: asking.providers("inference"), 20, "an inference peer")
    server = ApiServer(asking, "127.0.0.1", 0, token=TOKEN)
    await server.start()
    yield server
    await server.stop()
    for node, replica, runtime in started:
        await runtime.stop()
        await replica.stop()
        await node.stop()
    await relay.stop()


async def _greedy(charlm, prompt: str, n: int) -> str:
    inf = Inference({"charlm": charlm})
    req = inf._parse_completion({"prompt": prompt, "max_tokens": n, "temperature_milli": 0})
    return "".join([p async for p in inf.complete(Context(b""), req)])


async def test_the_openai_client_works_unchanged_against_the_mesh(api, charlm):
    client = openai.AsyncOpenAI(base_url=api.url, api_key=TOKEN, max_retries=0)
    models = [m.id for m in (await client.models.list()).data]
    assert models == ["charlm"]

    expected = await _greedy(charlm, "the wing ", 40)
    done = await client.completions.create(model="charlm", prompt="the wing ", max_tokens=40, temperature=0)
    assert done.choices[0].text == expected and done.choices[0].finish_reason == "length"
    assert done.usage.completion_tokens == 40 and "char-LM" in done.system_fingerprint

    stream = await client.completions.create(
        model="charlm", prompt="the wing ", max_tokens=40, temperature=0, stream=True
    )
    assert "".join([c.choices[0].text async for c in stream]) == expected

    stop = expected[10:13]
    cut = await client.completions.create(
        model="charlm", prompt="the wing ", max_tokens=40, temperature=0, stop=stop
    )
    assert cut.choices[0].text == expected[: expected.index(stop)] and cut.choices[0].finish_reason == "stop"

    chat = await client.chat.completions.create(
        model="charlm", messages=[{"role": "user", "content": "the wing "}], max_tokens=40, temperature=0
    )
    assert chat.choices[0].message.content == expected
    chunks = await client.chat.completions.create(
        model="charlm",
        messages=[{"role": "system", "content": "be brief"}, {"role": "user", "content": "the wing "}],
        max_tokens=40,
        temperature=0,
        stream=True,
    )
    assert "".join([c.choices[0].delta.content or "" async for c in chunks]) == expected

    with pytest.raises(openai.APIStatusError) as e:
        await client.embeddings.create(model="all-MiniLM-L6-v2", input=["a sentence"])
    assert e.value.status_code == 503 and "embeddings" in str(e.value)
    with pytest.raises(openai.NotFoundError):
        await client.completions.create(model="gpt-4o", prompt="x")
    with pytest.raises(openai.AuthenticationError):
        await openai.AsyncOpenAI(base_url=api.url, api_key="wrong", max_retries=0).models.list()


async def test_hostile_requests_get_clear_errors(api):
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(base_url=api.url, headers=headers) as http:
        big = await http.post("/completions", content=b"{" + b" " * 300_000 + b"}")
        assert big.status_code == 413 and "body over" in big.json()["error"]["message"]
        bad = await http.post("/completions", content=b"{not json")
        assert bad.status_code == 400 and bad.json()["error"]["message"] == "the body is not JSON"
        for body, words in [
            ({"model": "charlm", "prompt": "x", "max_tokens": 10**6}, "max_tokens"),
            ({"model": "charlm", "prompt": "x", "temperature": "hot"}, "temperature"),
            ({"model": "charlm", "prompt": ["a", "b"]}, "one prompt"),
            ({"model": "charlm", "prompt": "x" * 5000}, "over 4000"),
            ({"model": "charlm", "prompt": "x", "n": 3}, "n must be 1"),
            ({"model": "digits", "prompt": "x"}, "not a text model"),
        ]:
            r = await http.post("/completions", json=body)
            assert r.status_code == 400 and words in r.json()["error"]["message"], (body, r.text)
        r = await http.post("/chat/completions", json={"model": "charlm", "messages": [{"role": "system"}]})
        assert r.status_code == 400 and "user message" in r.json()["error"]["message"]


def test_an_api_off_loopback_needs_a_token():
    with pytest.raises(ValueError, match="token"):
        ApiServer(None, "0.0.0.0", 8080)  # type: ignore[arg-type]


async def test_hyperspace_node_api_serves_its_own_models(tmp_path):
    import asyncio
    import signal
    import sys

    relay = await relay_on(tmp_path, embedded_node=False)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    flags = ["--no-research", "--no-review", "--no-presence", "--no-storage", "--no-tasks"]
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "pynode.cli", "node", "--relay", relay.url, "--data-dir", str(tmp_path / "n"),
        "--api", f"127.0.0.1:{port}", *flags,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        client = openai.AsyncOpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="none", max_retries=0)

        async def listed() -> list[str]:
            try:
                return [m.id for m in (await client.models.list()).data]
            except openai.APIConnectionError:
                return []

        for _ in range(600):  # the node derives its models' weights first (seconds)
            if "charlm" in await listed():
                break
            await asyncio.sleep(0.1)
        done = await client.completions.create(model="charlm", prompt="the ", max_tokens=10, temperature=0)
        assert len(done.choices[0].text) == 10
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(proc.communicate(), 30)
        await relay.stop()
    assert f"OpenAI API at http://127.0.0.1:{port}/v1" in err.decode()
