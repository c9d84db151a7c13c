"""Structured logs: JSON lines with context, readable text, and no secrets in either."""

from __future__ import annotations

import asyncio
import io
import json
import logging

import pytest

from ironplane.core.logs import (
    JsonFormatter,
    TextFormatter,
    configure,
    context,
    log_context,
    redact,
)

TOKEN = "ipt_3f1c0b6a9d2e4f10_Zq0abcDEF-123_xyz"


def _line(formatter: logging.Formatter, message: str, *args: object, **extra: object) -> str:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    logger = logging.getLogger("tests.core.logs")
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    try:
        logger.info(message, *args, extra=extra or None)
    finally:
        logger.removeHandler(handler)
    return stream.getvalue().strip()


@pytest.mark.parametrize(
    ("text", "kept", "gone"),
    [
        (f"token {TOKEN} refused", "ipt_3f1c0b6a9d2e4f10_***", "Zq0abc"),
        ("Authorization: Bearer sk-live-123456", "Bearer ***", "sk-live"),
        ("redis://user:hunter2@cache:6379/0", "redis://***@cache:6379/0", "hunter2"),
        ("basic dXNlcjpwYXNz in a header", "basic ***", "dXNlcjpwYXNz"),
    ],
)
def test_redact_masks_secrets_and_keeps_what_finds_the_mistake(
    text: str, kept: str, gone: str
) -> None:
    out = redact(text)
    assert kept in out
    assert gone not in out


def test_a_json_line_has_the_fields_the_context_and_the_extras() -> None:
    with log_context(request_id="r-1", cluster="oke-prod", workspace=None):
        line = _line(JsonFormatter(), "applied revision %d", 7, route="/x/{y}", status=200)
    data = json.loads(line)
    assert data["level"] == "INFO"
    assert data["logger"] == "tests.core.logs"
    assert data["msg"] == "applied revision 7"
    assert data["ts"].endswith("Z")
    assert data["request_id"] == "r-1" and data["cluster"] == "oke-prod"
    assert "workspace" not in data  # None values are left out
    assert data["route"] == "/x/{y}" and data["status"] == 200
    assert context() == {}  # the context ends with the block


def test_secrets_never_reach_a_line_in_either_format() -> None:
    for formatter in (JsonFormatter(), TextFormatter()):
        line = _line(formatter, "login with %s", TOKEN, api_key="sk-1", authorization="x")
        assert "Zq0abc" not in line and "sk-1" not in line
        assert "ipt_3f1c0b6a9d2e4f10_***" in line


def test_a_traceback_is_one_json_line() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("tests.core.logs.exc")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        try:
            raise ValueError(f"bad token {TOKEN}")
        except ValueError:
            logger.exception("it failed")
    finally:
        logger.removeHandler(handler)
    lines = stream.getvalue().strip().splitlines()
    assert len(lines) == 1
    data = json.loads(lines[0])
    assert "ValueError" in data["exc"] and "Zq0abc" not in data["exc"]


def test_tasks_inherit_the_context_they_were_created_in() -> None:
    seen: list[object] = []

    async def child() -> None:
        seen.append(context().get("cluster"))

    async def main() -> None:
        with log_context(cluster="edge"):
            task = asyncio.create_task(child())
        await task

    asyncio.run(main())
    assert seen == ["edge"]


def test_configure_installs_one_handler_with_the_chosen_format() -> None:
    root = logging.getLogger()
    before, level = list(root.handlers), root.level
    try:
        configure("text")
        assert len(root.handlers) == 1 and isinstance(root.handlers[0].formatter, TextFormatter)
        configure("json")
        assert len(root.handlers) == 1 and isinstance(root.handlers[0].formatter, JsonFormatter)
        with pytest.raises(ValueError, match="json or text"):
            configure("xml")  # type: ignore[arg-type]
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in before:
            root.addHandler(handler)
        root.setLevel(level)
