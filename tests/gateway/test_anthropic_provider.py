"""An Anthropic provider behind the gateway: the OpenAI SDK in front, the Messages API behind."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from tests.gateway.anthropic_mock import AnthropicMock, anthropic_upstream
from tests.gateway.conftest import Handle, base_config, running_gateway

MESSAGES = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "hi"},
]


@pytest.fixture
def claude(tmp_path: Path) -> Iterator[tuple[Handle, AnthropicMock]]:
    with anthropic_upstream() as mock:
        cfg: dict[str, Any] = base_config(
            "http://127.0.0.1:9/v1",
            claude={"targets": [{"provider": "anthropic", "model": "claude-x"}], "retries": 0},
        )
        cfg["providers"].append(
            {
                "name": "anthropic",
                "kind": "anthropic",
                "base_url": mock.url,
                "api_key": {"env": "ANTHROPIC_API_KEY"},
            }
        )
        with running_gateway(cfg, tmp_path, {"ANTHROPIC_API_KEY": mock.api_key}) as gw:
            yield gw, mock


def test_chat_is_translated_both_ways(claude: tuple[Handle, AnthropicMock]) -> None:
    gw, mock = claude
    mock.reply_text = "Hello!"
    reply = gw.client().chat.completions.create(model="claude", messages=MESSAGES, max_tokens=50)
    assert reply.choices[0].message.content == "Hello!"
    assert reply.choices[0].finish_reason == "stop"
    assert reply.model == "claude"
    assert reply.usage is not None and reply.usage.prompt_tokens == mock.input_tokens
    headers, body = mock.requests[-1]
    assert body["model"] == "claude-x" and body["system"] == "Be brief."
    assert body["max_tokens"] == 50
    assert body["messages"] == [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]
    assert headers["anthropic-version"] == "2023-06-01"
    tokens = gw.call(
        lambda: gw.running.gateway.metrics.of("claude", "anthropic/claude-x", "alice").tokens_in
    )
    assert tokens == mock.input_tokens


def test_streaming_with_usage(claude: tuple[Handle, AnthropicMock]) -> None:
    gw, mock = claude
    mock.reply_text = "One two three"
    mock.pace_s = 0.002
    chunks = list(
        gw.client().chat.completions.create(
            model="claude", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "One two three"
    assert chunks[-1].usage is not None and chunks[-1].usage.prompt_tokens == mock.input_tokens
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"


def test_tool_calls(claude: tuple[Handle, AnthropicMock]) -> None:
    gw, mock = claude
    mock.reply_tool = ("get_weather", {"city": "Oslo"})
    tools = [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
            },
        }
    ]
    reply = gw.client().chat.completions.create(model="claude", messages=MESSAGES, tools=tools)
    call = reply.choices[0].message.tool_calls
    assert call is not None and call[0].function.name == "get_weather"  # type: ignore[union-attr]
    assert reply.choices[0].finish_reason == "tool_calls"


def test_errors_in_openai_shape(claude: tuple[Handle, AnthropicMock]) -> None:
    gw, mock = claude
    mock.fail_with = (
        429,
        {"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}},
    )
    with pytest.raises(openai.RateLimitError) as limited:
        gw.client().chat.completions.create(model="claude", messages=MESSAGES)
    assert "slow down" in limited.value.message
    mock.fail_with = None
    with pytest.raises(openai.BadRequestError) as bad:
        gw.client().chat.completions.create(model="claude", messages=MESSAGES, n=2)
    assert "n" in bad.value.message
    with pytest.raises(openai.BadRequestError) as unsupported:
        gw.client().embeddings.create(model="claude", input="x")
    assert "only /v1/chat/completions" in unsupported.value.message


def test_stream_cut_short_ends_with_an_error(claude: tuple[Handle, AnthropicMock]) -> None:
    gw, mock = claude
    mock.cut_stream = True
    stream = gw.client().chat.completions.create(model="claude", messages=MESSAGES, stream=True)
    with pytest.raises(openai.APIError):
        list(stream)


def test_a_stream_without_include_usage_still_counts_its_tokens(
    claude: tuple[Handle, AnthropicMock],
) -> None:
    gw, mock = claude
    mock.reply_text = "One two three"
    chunks = list(
        gw.client().chat.completions.create(model="claude", messages=MESSAGES, stream=True)
    )
    assert all(c.usage is None and c.choices for c in chunks)  # none asked for
    series = gw.call(lambda: gw.running.gateway.metrics.of("claude", "anthropic/claude-x", "alice"))
    # From message_start and message_delta: prompt tokens and the answer's 3 words + 1.
    assert (series.tokens_in, series.tokens_out) == (mock.input_tokens, 4)
    assert "stream_options" not in mock.requests[-1][1]  # the Messages API has no such field
