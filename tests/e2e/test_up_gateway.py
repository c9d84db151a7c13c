"""`ironplane up` with its AI gateway: a Model deployed on the local runtime answers through the
gateway to the official `openai` SDK, with an Ironplane API token as the key."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import openai
import pytest

from ironplane.embedded.up import Embedded, up
from tests.e2e.conftest import eventually
from tests.ports import free_port

pytestmark = pytest.mark.anyio

# A tiny OpenAI-compatible model server: echoes the last message, reports usage.
SERVER = """\
import http.server, json, sys
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    def _send(self, body, kind='application/json'):
        self.send_response(200)
        self.send_header('Content-Type', kind)
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def do_GET(self):
        self._send(b'ok', 'text/plain')
    def do_POST(self):
        request = json.loads(self.rfile.read(int(self.headers['Content-Length'])))
        text = 'echo: ' + request['messages'][-1]['content']
        self._send(json.dumps({
            'id': 'c1', 'object': 'chat.completion', 'created': 0, 'model': request['model'],
            'choices': [{'index': 0, 'finish_reason': 'stop',
                         'message': {'role': 'assistant', 'content': text}}],
            'usage': {'prompt_tokens': 3, 'completion_tokens': 2, 'total_tokens': 5},
        }).encode())
    def log_message(self, *args):
        print('served', flush=True)
http.server.ThreadingHTTPServer(('127.0.0.1', int(sys.argv[1])), H).serve_forever()
"""


def model(port: int) -> str:
    return (
        "kind: Model\nname: tiny-llm\nworkspace: default\nengine: custom\nmodel: tiny/echo-1\n"
        f"image: python:3.12\ncommand: [{sys.executable!r}, '-c', {SERVER!r}, '$(PORT)']\n"
        f"port: {port}\ngateway: {{name: tiny}}\n"
    )


@contextlib.asynccontextmanager
async def running_up(data_dir: Path, gateway_port: int) -> AsyncIterator[Embedded]:
    stop = asyncio.Event()
    ready: asyncio.Future[Embedded] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(
        up(data_dir, port=0, stop=stop, ready=ready, gateway_port=gateway_port)
    )
    try:
        yield await asyncio.wait_for(ready, 60)
    finally:
        stop.set()
        await asyncio.wait_for(task, 60)


async def test_a_local_model_answers_through_the_gateway_with_an_api_token(
    tmp_path: Path,
) -> None:
    async with running_up(tmp_path / "data", free_port()) as embedded:
        assert embedded.gateway_url is not None
        api = httpx.AsyncClient(
            base_url=embedded.url + "/api/v1",
            headers={"Authorization": f"Bearer {embedded.admin_token}"},
        )
        r = await api.post(
            "/apply",
            json={"documents": [{"source": "m.yaml", "content": model(free_port())}]},
        )
        assert r.status_code == 200, r.text
        client = openai.AsyncOpenAI(
            base_url=embedded.gateway_url + "/v1", api_key=embedded.admin_token, max_retries=0
        )

        async def answers() -> bool:
            try:
                reply = await client.chat.completions.create(
                    model="tiny", messages=[{"role": "user", "content": "hello"}]
                )
            except openai.APIError:
                return False
            return reply.choices[0].message.content == "echo: hello"

        await eventually(answers, timeout=60, what="the model answers through the gateway")
        listed = [m.id for m in (await client.models.list()).data]
        assert "tiny" in listed

        stranger = openai.AsyncOpenAI(
            base_url=embedded.gateway_url + "/v1", api_key="ipt_0123456789abcdef_nope"
        )
        with pytest.raises(openai.AuthenticationError):
            await stranger.chat.completions.create(
                model="tiny", messages=[{"role": "user", "content": "hello"}]
            )

        # The request logs reach the control plane: the admin's usage is there.
        async def used() -> bool:
            rows = (await api.get("/gateway/usage", params={"by": "key", "since": "1h"})).json()
            return any(row["group"] == "user:admin" and row["requests"] >= 1 for row in rows)

        await eventually(used, timeout=30, what="the request logs shipped")
        await api.aclose()
        await client.close()
        await stranger.close()


async def test_a_taken_gateway_port_is_a_clear_error_and_a_revoked_token_is_replaced(
    tmp_path: Path,
) -> None:
    import socket

    from ironplane.core.errors import UnavailableError

    port = free_port()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        with pytest.raises(UnavailableError, match=f"cannot listen on 127.0.0.1:{port}"):
            async with running_up(tmp_path / "data", port):
                pass
    # The data directory's gateway token is revoked: the next start mints a live one.
    async with running_up(tmp_path / "data", free_port()) as embedded:
        token = (tmp_path / "data" / "gateway-token").read_text().strip()
        api = httpx.AsyncClient(
            base_url=embedded.url + "/api/v1",
            headers={"Authorization": f"Bearer {embedded.admin_token}"},
        )
        token_id = token.removeprefix("ipt_").partition("_")[0]
        assert (await api.delete(f"/tokens/{token_id}")).status_code == 200
        await api.aclose()
    async with running_up(tmp_path / "data", free_port()):
        assert (tmp_path / "data" / "gateway-token").read_text().strip() != token


async def test_without_the_gateway_extra_up_runs_without_a_gateway_and_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from ironplane.embedded import gateway
    from ironplane.embedded import up as up_module

    assert gateway.missing_gateway_modules() == []  # the test environment has the extra
    real = gateway.importlib.util.find_spec
    monkeypatch.setattr(
        gateway.importlib.util,
        "find_spec",
        lambda name, *a: None if name == "hiredis" else real(name, *a),
    )
    assert gateway.missing_gateway_modules() == ["hiredis"]
    monkeypatch.setattr(up_module, "missing_gateway_modules", gateway.missing_gateway_modules)
    async with running_up(tmp_path / "data", free_port()) as embedded:
        assert embedded.gateway_url is None
    assert "pip install 'ironplane[gateway]'" in capsys.readouterr().err
