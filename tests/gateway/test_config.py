"""The configuration file: every problem found, located by line, and no secret in a message."""

from __future__ import annotations

from pathlib import Path

import pytest

from ironplane.core.errors import ConfigError
from ironplane.gateway.config import hash_key, load, parse

GOOD = """\
providers:
  - name: vllm
    kind: openai
    base_url: http://127.0.0.1:8000/v1
    api_key: {env: VLLM_KEY}
models:
  - name: gpt
    targets:
      - {provider: vllm, model: llama, weight: 2}
    timeout: 500ms
    idle_timeout: 2m
keys:
  - name: alice
    hash: HASH
"""


def _parse(text: str, env: dict[str, str] | None = None) -> object:
    return parse(
        text.replace("HASH", hash_key("k")).encode(),
        "gw.yaml",
        {"VLLM_KEY": "s3"} if env is None else env,
    )


def _problems(text: str, env: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as failed:
        _parse(text, env)
    return failed.value.message


def test_good_config_resolves_durations_and_secrets() -> None:
    loaded = _parse(GOOD)
    config = loaded.config  # type: ignore[attr-defined]
    assert config.models[0].timeout == 0.5
    assert config.models[0].idle_timeout == 120
    assert config.models[0].retries == 1 and config.models[0].strategy == "weighted"
    assert loaded.secrets == {"vllm": "s3"}  # type: ignore[attr-defined]
    assert config.gateway.auth is True and config.gateway.max_body_bytes == 4 << 20


def test_unknown_field_is_located_with_a_suggestion() -> None:
    message = _problems(GOOD.replace("    timeout: 500ms", "    timout: 500ms"))
    assert "gw.yaml:10:5: models[0].timout: unknown field 'timout'" in message
    assert "did you mean 'timeout'?" in message


def test_wrong_type_and_bad_duration_are_located() -> None:
    assert "gw.yaml:9:48: models[0].targets[0].weight" in _problems(
        GOOD.replace("weight: 2", "weight: heavy")
    )
    message = _problems(GOOD.replace("500ms", "soon"))
    assert "gw.yaml:10:14: models[0].timeout" in message and "not a duration" in message


def test_cross_references_are_all_reported_at_once() -> None:
    text = GOOD.replace("provider: vllm", "provider: vlm").replace(
        "    idle_timeout: 2m\n", "    idle_timeout: 2m\n    fallbacks: [gpt, nothing]\n"
    )
    message = _problems(text)
    assert "3 problem(s)" in message
    assert "unknown provider 'vlm'" in message and "did you mean 'vllm'?" in message
    assert "a model cannot fall back to itself" in message
    assert "unknown model 'nothing'" in message


def test_missing_secret_names_the_variable_never_a_value() -> None:
    message = _problems(GOOD, env={})
    assert "providers[0].api_key: the environment variable VLLM_KEY is not set" in message


def test_key_must_be_a_hash_and_keys_are_required_with_auth() -> None:
    message = _problems(GOOD.replace("HASH", "sk-plain-key"))
    assert "keys[0].hash: not a key hash" in message
    assert "sk-plain-key" not in message  # a key pasted by mistake is not echoed
    assert "ironplane gateway hash-key" in message
    no_keys = GOOD.split("keys:")[0]
    assert "no keys" in _problems(no_keys)
    assert _parse(no_keys + "gateway: {auth: false}\n")


def test_azure_needs_an_api_version() -> None:
    message = _problems(GOOD.replace("kind: openai", "kind: azure"))
    assert "providers[0]: an Azure OpenAI provider needs `api_version`" in message


def test_bad_yaml_and_unreadable_files(tmp_path: Path) -> None:
    assert "not valid YAML" in _problems("models: [\n")
    assert "one YAML mapping" in _problems("- a\n- b\n")
    with pytest.raises(ConfigError) as missing:
        load(tmp_path / "nope.yaml")
    assert "cannot read the configuration" in missing.value.message


def test_header_injection_in_provider_headers_is_refused() -> None:
    text = GOOD.replace(
        "    api_key: {env: VLLM_KEY}\n",
        '    api_key: {env: VLLM_KEY}\n    headers: {"X-A": "b\\r\\nX-Evil: 1"}\n',
    )
    assert "not a valid header name and value" in _problems(text)


def test_the_shipped_example_is_valid() -> None:
    example = Path(__file__).resolve().parents[2] / "deploy" / "gateway.example.yaml"
    loaded = load(example, {"OPENAI_API_KEY": "a", "ANTHROPIC_API_KEY": "b"})
    assert [m.name for m in loaded.config.models] == ["llama-3.1-8b", "gpt-4o-mini", "claude"]
    assert loaded.config.keys[0].hash == hash_key("sk-ip-demo-replace-me")


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:99999/v1", "http://127.0.0.1:8o80/v1", "ftp://x/v1"]
)
def test_bad_base_urls_are_refused_at_load(url: str) -> None:
    message = _problems(GOOD.replace("http://127.0.0.1:8000/v1", url))
    assert "providers[0].base_url" in message and "is not an http(s) base URL" in message


def test_cold_start_is_a_duration_and_unset_by_default() -> None:
    assert _parse(GOOD).config.models[0].cold_start is None  # type: ignore[attr-defined]
    loaded = _parse(
        GOOD.replace("    idle_timeout: 2m\n", "    idle_timeout: 2m\n    cold_start: 5m\n")
    )
    assert loaded.config.models[0].cold_start == 300  # type: ignore[attr-defined]


def test_cold_start_longer_than_the_gateway_holds_is_located() -> None:
    text = GOOD.replace("    idle_timeout: 2m\n", "    idle_timeout: 2m\n    cold_start: 2h\n")
    message = _problems(text)
    assert "gw.yaml:12:17: models[0].cold_start" in message
    assert "7200s is longer than the gateway holds a request" in message
    assert "a duration up to 30m" in message
    assert "start-up time" in message
    assert "models[0].cold_start" in _problems(text.replace("2h", "0s"))
