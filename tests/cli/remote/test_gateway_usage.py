"""``ironplane gateway usage``: the request sent, the table, and the routing past the gateway."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from ironplane import entry
from tests.cli.remote.conftest import FakeServer
from tests.conftest import run_cli

ROWS: list[dict[str, Any]] = [
    {
        "group": "user:alice",
        "requests": 12345,
        "errors": 3,
        "prompt_tokens": 120000,
        "completion_tokens": 400,
        "cost": 12.3456,
        "avg_latency_ms": 380.24,
    },
    {
        "group": None,
        "requests": 2,
        "errors": 0,
        "prompt_tokens": 10,
        "completion_tokens": 20,
        "cost": 0.0000172,
        "avg_latency_ms": 99.6,
    },
]


def test_usage_table(server: FakeServer) -> None:
    server.on("GET", "/gateway/usage", ROWS)
    code, out, err = run_cli(["gateway", "usage", "--by", "team", "--since", "7d"])
    assert code == 0, err
    [request] = server.sent("GET", "/gateway/usage")
    assert dict(request.url.params) == {"by": "team", "since": "7d"}
    lines = [line.split() for line in out.splitlines()]
    assert out.splitlines()[0].split("  ")[0] == "TEAM"
    headers = [h.strip() for h in out.splitlines()[0].split("  ") if h.strip()]
    assert headers == [
        "TEAM",
        "REQUESTS",
        "ERRORS",
        "TOKENS IN",
        "TOKENS OUT",
        "COST",
        "AVG LATENCY",
    ]
    assert lines[1] == ["user:alice", "12,345", "3", "120,000", "400", "12.35", "380ms"]
    assert lines[2] == ["(none)", "2", "0", "10", "20", "0.000017", "100ms"]


def test_usage_json_yaml_and_defaults(server: FakeServer) -> None:
    server.on("GET", "/gateway/usage", ROWS)
    code, out, err = run_cli(["gateway", "usage", "-o", "json"])
    assert code == 0, err
    assert json.loads(out) == ROWS
    assert dict(server.requests[-1].url.params) == {"by": "key", "since": "24h"}
    code, out, _ = run_cli(["gateway", "usage", "--by", "model", "-o", "yaml"])
    assert code == 0 and yaml.safe_load(out) == ROWS


def test_usage_empty_bad_flags_and_server_errors(server: FakeServer) -> None:
    server.on("GET", "/gateway/usage", [])
    code, out, err = run_cli(["gateway", "usage", "--since", "1h"])
    assert (code, out) == (0, "")
    assert "no gateway requests in the last 1h" in err
    code, _, err = run_cli(["gateway", "usage", "--by", "region"])
    assert code == 2 and "region" in err
    assert len(server.sent("GET", "/gateway/usage")) == 1  # the bad flag sent nothing
    error = {
        "error": {
            "code": "invalid",
            "message": "since: '91d' reaches further back than the 90 days",
            "diagnostics": [],
        }
    }
    server.on("GET", "/gateway/usage", error, status=400)
    code, _, err = run_cli(["gateway", "usage", "--since", "91d"])
    assert code == 2 and "90 days" in err


def test_usage_help_names_the_options(server: FakeServer) -> None:
    code, out, _ = run_cli(["gateway", "usage", "--help"])
    assert code == 0
    assert "ironplane gateway usage" in out and "--by" in out and "--since" in out


def test_entry_sends_usage_to_the_cli_and_the_rest_to_the_gateway(
    server: FakeServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import ironplane.gateway.main

    seen: list[list[str]] = []

    def gateway(argv: list[str]) -> int:
        seen.append(argv)
        return 7

    monkeypatch.setattr(ironplane.gateway.main, "main", gateway)
    server.on("GET", "/gateway/usage", ROWS)
    assert entry.main(["gateway", "usage", "--by", "model", "-o", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == ROWS
    assert seen == []
    assert entry.main(["gateway", "--config", "gw.yaml"]) == 7
    assert entry.main(["gateway", "--help"]) == 7
    # Through the CLI's passthrough too, for `python -m ironplane.cli.main gateway ...`.
    assert run_cli(["gateway", "check", "--config", "gw.yaml"])[0] == 7
    assert seen == [["--config", "gw.yaml"], ["--help"], ["check", "--config", "gw.yaml"]]
