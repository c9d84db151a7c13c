"""The OpenAI API through the gateway, with the official SDK as the client."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import openai
import pytest

from tests.gateway.conftest import KEY, OTHER_KEY, base_config, running_gateway
from tests.gateway.openai_mock import MockUpstream

MESSAGES = [{"role": "user", "content": "hi"}]


def test_chat_json_streaming_completions_embeddings(upstream: MockUpstream, tmp_path: Path) -> None:
    cfg = base_config(upstream.url, gpt={"targets": [{"provider": "mock", "model": "ok"}]})
    with running_gateway(cfg, tmp_path) as gw:
        client = gw.client()
        reply = client.chat.completions.create(model="gpt", messages=MESSAGES)
        assert reply.choices[0].message.content == "hello from ok"
        assert reply.usage is not None and reply.usage.total_tokens == 12

        stream = client.chat.completions.create(
            model="gpt", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
        )
        chunks = list(stream)
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert text == "tok0 tok1 tok2 tok3 tok4 "
        assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 5

        assert client.completions.create(model="gpt", prompt="x").choices[0].text == "done"
        emb = client.embeddings.create(model="gpt", input="x")
        assert emb.data[0].embedding == [0.1, 0.2, 0.3]
        paths = [r.path for r in upstream.requests]
        assert paths == ["/v1/chat/completions"] * 2 + ["/v1/completions", "/v1/embeddings"]
        # The upstream got its own credentials, never the client's key.
        assert all(r.headers.get("authorization") != f"Bearer {KEY}" for r in upstream.requests)


def test_body_bytes_pass_through_untouched(upstream: MockUpstream, tmp_path: Path) -> None:
    cfg = base_config(upstream.url, ok={"targets": [{"provider": "mock", "model": "ok"}]})
    body = (
        b'{"model": "ok",  "messages": [{"role":"user","content":"h\\u00e9"}], "x_custom": [1,2]}'
    )
    with running_gateway(cfg, tmp_path) as gw:
        r = httpx.post(
            gw.url + "/v1/chat/completions",
            content=body,
            headers={"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"},
        )
        assert r.status_code == 200
        assert upstream.requests[-1].body == body  # same name upstream: not even re-encoded


def test_model_name_rewritten_other_fields_kept(upstream: MockUpstream, tmp_path: Path) -> None:
    cfg = base_config(upstream.url, gpt={"targets": [{"provider": "mock", "model": "ok"}]})
    with running_gateway(cfg, tmp_path) as gw:
        r = httpx.post(
            gw.url + "/v1/chat/completions",
            content=b'{"model":"gpt","messages":[],"temperature":0.25,"extra":{"a":[1,"b"]}}',
            headers={"Authorization": f"Bearer {KEY}"},
        )
        assert r.status_code == 200
        sent = upstream.requests[-1].json
        assert sent == {
            "model": "ok",
            "messages": [],
            "temperature": 0.25,
            "extra": {"a": [1, "b"]},
        }


def test_models_list_follows_the_key(upstream: MockUpstream, tmp_path: Path) -> None:
    cfg = base_config(
        upstream.url,
        gpt={"targets": [{"provider": "mock", "model": "ok"}]},
        big={"targets": [{"provider": "mock", "model": "ok"}]},
    )
    with running_gateway(cfg, tmp_path) as gw:
        assert [m.id for m in gw.client().models.list()] == ["gpt", "big"]
        assert [m.id for m in gw.client(OTHER_KEY).models.list()] == ["gpt"]
        with pytest.raises(openai.PermissionDeniedError) as denied:
            gw.client(OTHER_KEY).chat.completions.create(model="big", messages=MESSAGES)
        assert denied.value.code == "forbidden"
        assert len(upstream.requests) == 0


def test_azure_deployment_url_and_api_key_header(upstream: MockUpstream, tmp_path: Path) -> None:
    cfg = base_config(upstream.url, gpt={"targets": [{"provider": "az", "model": "ok"}]})
    cfg["providers"].append(
        {
            "name": "az",
            "kind": "azure",
            "base_url": upstream.url.removesuffix("/v1"),
            "api_version": "2024-10-21",
            "api_key": {"env": "AZ_KEY"},
        }
    )
    with running_gateway(cfg, tmp_path, environ={"AZ_KEY": "azure-secret"}) as gw:
        reply = gw.client().chat.completions.create(model="gpt", messages=MESSAGES)
        assert reply.choices[0].message.content == "hello from ok"
        seen = upstream.requests[-1]
        assert seen.path == "/openai/deployments/ok/chat/completions?api-version=2024-10-21"
        assert seen.headers["api-key"] == "azure-secret"
        assert "authorization" not in seen.headers
        # Azure takes the deployment from the URL: the body is passed through as sent.
        assert seen.json["model"] == "gpt"


def test_openai_provider_key_from_file(upstream: MockUpstream, tmp_path: Path) -> None:
    secret = tmp_path / "key"
    secret.write_text("sk-upstream-from-file\n")
    cfg = base_config(upstream.url)
    cfg["providers"][0]["api_key"] = {"file": str(secret)}
    with running_gateway(cfg, tmp_path) as gw:
        gw.client().chat.completions.create(model="gpt", messages=MESSAGES)
        assert upstream.requests[-1].headers["authorization"] == "Bearer sk-upstream-from-file"


def test_upstream_client_errors_are_relayed_not_retried(
    upstream: MockUpstream, tmp_path: Path
) -> None:
    cfg = base_config(
        upstream.url, gpt={"targets": [{"provider": "mock", "model": "status-400"}], "retries": 3}
    )
    with running_gateway(cfg, tmp_path) as gw:
        with pytest.raises(openai.BadRequestError) as bad:
            gw.client().chat.completions.create(model="gpt", messages=MESSAGES)
        assert "mock status 400" in str(bad.value)
        assert len(upstream.requests) == 1


def test_health(upstream: MockUpstream, tmp_path: Path) -> None:
    with running_gateway(base_config(upstream.url), tmp_path) as gw:
        health = httpx.get(gw.url + "/healthz").json()
        assert health["status"] == "ok"
        assert health["models"] == 1
        assert health["config"]["reload_error"] is None
        assert json.dumps(health).find(KEY) == -1


@pytest.mark.parametrize(("api_version", "asked"), [("2024-06-01", False), ("2024-10-21", True)])
def test_azure_is_asked_for_stream_usage_only_from_the_version_that_takes_it(
    upstream: MockUpstream, tmp_path: Path, api_version: str, asked: bool
) -> None:
    cfg = base_config(upstream.url, gpt={"targets": [{"provider": "az", "model": "ok"}]})
    cfg["providers"].append(
        {
            "name": "az",
            "kind": "azure",
            "base_url": upstream.url.removesuffix("/v1"),
            "api_version": api_version,
            "api_key": {"env": "AZ_KEY"},
        }
    )
    with running_gateway(cfg, tmp_path, environ={"AZ_KEY": "k"}) as gw:
        stream = gw.client().chat.completions.create(model="gpt", messages=MESSAGES, stream=True)
        assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
        # Older Azure API versions answer 400 to stream_options: it is not sent to them.
        assert ("stream_options" in upstream.requests[-1].json) is asked
