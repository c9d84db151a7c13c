"""A fake Anthropic Messages API (``POST /v1/messages``) that speaks Anthropic's wire format.

Usage::

    async with anthropic_upstream() as mock:  # or: with anthropic_upstream() as mock:
        mock.reply_text = "Hi there"
        mock.reply_tool = ("get_weather", {"city": "Oslo"})
        # POST f"{mock.url}/v1/messages" with x-api-key: mock.api_key, anthropic-version: 2023-06-01
        headers, body = mock.requests[-1]

It checks ``x-api-key`` (401) and ``anthropic-version`` (400), validates bodies the way the real
API does (unknown fields, roles, empty text blocks, tool_use/tool_result pairing...), answers a
Message or an SSE stream (``event: X\\ndata: {...}\\n\\n``: message_start, content_block_start,
ping, content_block_delta, content_block_stop, message_delta, message_stop), and can fail with a
given status and body, send an ``error`` event mid-stream, or end a stream before message_stop.
The server is an asyncio server on 127.0.0.1 (a free port) in its own thread, so sync and async
clients both work against it.
"""

from __future__ import annotations

import asyncio
import contextlib
import http
import itertools
import json
import re
import threading
from typing import Any

VERSIONS = frozenset({"2023-06-01"})
_FIELDS = frozenset(
    {"model", "messages", "max_tokens", "system", "metadata", "stop_sequences", "stream"}
    | {"temperature", "top_k", "top_p", "tools", "tool_choice", "thinking", "service_tier"}
    | {"container", "mcp_servers"}
)
_BLOCKS = ("text", "image", "document", "tool_use", "tool_result", "thinking", "redacted_thinking")
_MEDIA = ("image/jpeg", "image/png", "image/gif", "image/webp")
_ids = itertools.count(1)


def error_body(kind: str, message: str) -> bytes:
    """Anthropic's error shape."""
    body = {"type": "error", "error": {"type": kind, "message": message}}
    return json.dumps(body | {"request_id": f"req_01Mock{next(_ids):016d}"}).encode()


def make_message(
    *,
    model: str = "claude-mock-1",
    text: str = "",
    tool: tuple[str, dict[str, Any]] | None = None,
    stop_reason: str | None = None,
    input_tokens: int = 17,
    cache_read_input_tokens: int = 0,
    output_tokens: int | None = None,
) -> dict[str, Any]:
    """A Messages API response body (a Message object)."""
    content: list[dict[str, Any]] = [{"type": "text", "text": text}] if text else []
    if tool is not None:
        tool_id = f"toolu_01Mock{next(_ids):014d}"
        content.append({"type": "tool_use", "id": tool_id, "name": tool[0], "input": tool[1]})
    usage = {"input_tokens": input_tokens, "cache_creation_input_tokens": 0}
    usage["cache_read_input_tokens"] = cache_read_input_tokens
    usage["output_tokens"] = output_tokens if output_tokens is not None else len(text.split()) + 1
    return {
        "id": f"msg_01Mock{next(_ids):016d}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason or ("tool_use" if tool else "end_turn"),
        "stop_sequence": None,
        "usage": usage,
    }


def _sse(kind: str, data: dict[str, Any]) -> bytes:
    return f"event: {kind}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


def stream_events(
    message: dict[str, Any], *, error: dict[str, str] | None = None, cut: bool = False
) -> list[bytes]:
    """The SSE events Anthropic streams for `message`, one ``event:/data:`` event per item.

    `error` replaces everything after the first delta with an ``error`` event; `cut` drops
    message_delta and message_stop (a stream that ends early).
    """
    usage = message["usage"]
    start = message | {"content": [], "stop_reason": None, "stop_sequence": None}
    start["usage"] = usage | {"output_tokens": 1}
    events = [_sse("message_start", {"type": "message_start", "message": start})]
    for index, block in enumerate(message["content"]):
        if block["type"] == "text":
            first = {"type": "text", "text": ""}
            pieces = [
                {"type": "text_delta", "text": p} for p in re.findall(r"\s*\S+|\s+", block["text"])
            ]
        else:
            first = block | {"input": {}}
            arguments = json.dumps(block["input"])
            pieces = [{"type": "input_json_delta", "partial_json": ""}]
            pieces += [
                {"type": "input_json_delta", "partial_json": arguments[i : i + 7]}
                for i in range(0, len(arguments), 7)
            ]
        events.append(
            _sse(
                "content_block_start",
                {"type": "content_block_start", "index": index, "content_block": first},
            )
        )
        if index == 0:
            events.append(_sse("ping", {"type": "ping"}))
        for delta in pieces:
            events.append(
                _sse(
                    "content_block_delta",
                    {"type": "content_block_delta", "index": index, "delta": delta},
                )
            )
            if error is not None:
                return [*events, _sse("error", {"type": "error", "error": error})]
        events.append(_sse("content_block_stop", {"type": "content_block_stop", "index": index}))
    if error is not None:
        return [*events, _sse("error", {"type": "error", "error": error})]
    if cut:
        return events
    delta = {"stop_reason": message["stop_reason"], "stop_sequence": message["stop_sequence"]}
    usage_delta = {"output_tokens": usage["output_tokens"]}
    events.append(
        _sse("message_delta", {"type": "message_delta", "delta": delta, "usage": usage_delta})
    )
    events.append(_sse("message_stop", {"type": "message_stop"}))
    return events


def check_body(body: Any) -> str | None:
    """The problem the real API reports for a request body, or None (a subset of its checks)."""
    if not isinstance(body, dict):
        return "Request body must be a JSON object"
    if extra := sorted(set(body) - _FIELDS):
        return f"{extra[0]}: Extra inputs are not permitted"
    if not isinstance(body.get("model"), str) or not body["model"]:
        return "model: Field required"
    if type(body.get("max_tokens")) is not int or body["max_tokens"] < 1:
        return "max_tokens: Field required (an integer >= 1)"
    for name in ("temperature", "top_p"):
        value = body.get(name, 0)
        if type(value) not in (int, float) or not 0 <= value <= 1:
            return f"{name}: Input should be between 0 and 1"
    if "system" in body and not isinstance(body["system"], str | list):
        return "system: Input should be a valid string or a list of text blocks"
    stops = body.get("stop_sequences", [])
    if not isinstance(stops, list) or not all(isinstance(s, str) and s.strip() for s in stops):
        return "stop_sequences: each stop sequence must contain non-whitespace"
    if "stream" in body and not isinstance(body["stream"], bool):
        return "stream: Input should be a valid boolean"
    metadata = body.get("metadata", {})
    if not isinstance(metadata, dict) or set(metadata) - {"user_id"}:
        return "metadata: Extra inputs are not permitted"
    names = set()
    for k, tool in enumerate(body.get("tools", [])):
        if not isinstance(tool.get("name"), str) or not isinstance(tool.get("input_schema"), dict):
            return f"tools.{k}: name and input_schema are required"
        if extra := sorted(set(tool) - {"name", "description", "input_schema", "cache_control"}):
            return f"tools.{k}.{extra[0]}: Extra inputs are not permitted"
        names.add(tool["name"])
    choice = body.get("tool_choice")
    if choice is not None:
        if not isinstance(choice, dict) or choice.get("type") not in (
            "auto",
            "any",
            "tool",
            "none",
        ):
            return (
                "tool_choice: Input tag found using 'type' does not match any of the expected tags"
            )
        if choice["type"] == "tool" and choice.get("name") not in names:
            return f"tool_choice.name: no tool named {choice.get('name')!r}"
    return _check_messages(body.get("messages"), bool(names))


def _check_messages(messages: Any, has_tools: bool) -> str | None:
    if not isinstance(messages, list) or not messages:
        return "messages: Field required (at least one message)"
    pending: list[str] = []  # tool_use ids the next message must answer
    for i, msg in enumerate(messages):
        role, content = msg.get("role"), msg.get("content")
        if role not in ("user", "assistant"):
            return f"messages.{i}.role: Input should be 'user' or 'assistant'"
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
        if not isinstance(blocks, list) or not blocks:
            return f"messages.{i}: all messages must have non-empty content"
        results = [b.get("tool_use_id") for b in blocks if b.get("type") == "tool_result"]
        if pending and sorted(pending) != sorted(results):
            return f"messages.{i}: `tool_use` ids were found without `tool_result` blocks immediately after: {', '.join(pending)}"
        if results and not pending:
            return f"messages.{i}: unexpected `tool_use_id` found in `tool_result` blocks: {results[0]}"
        if results and blocks[0].get("type") != "tool_result":
            return f"messages.{i}: tool_result blocks must come first in the user message"
        pending = []
        for j, block in enumerate(blocks):
            kind = block.get("type")
            where = f"messages.{i}.content.{j}"
            if kind not in _BLOCKS:
                return f"{where}.type: Input tag {kind!r} found using 'type' does not match any of the expected tags"
            if kind == "text" and (not isinstance(block.get("text"), str) or not block["text"]):
                return "messages: text content blocks must be non-empty"
            if kind == "image":
                source = block.get("source", {})
                ok = source.get("type") == "url" and isinstance(source.get("url"), str)
                ok = ok or (
                    source.get("type") == "base64"
                    and source.get("media_type") in _MEDIA
                    and bool(source.get("data"))
                )
                if not ok:
                    return f"{where}.source: Input should be a valid base64 or url image source"
            if kind == "tool_use":
                if role != "assistant" or not isinstance(block.get("input"), dict):
                    return f"{where}: tool_use blocks belong to assistant messages, with an object input"
                pending.append(block.get("id"))
            if kind == "tool_result" and role != "user":
                return f"{where}: tool_result blocks belong to user messages"
        if (pending or any(b.get("type") == "tool_result" for b in blocks)) and not has_tools:
            return "Requests which include `tool_use` or `tool_result` blocks must define tools."
    last = messages[-1]
    text = (
        last["content"]
        if isinstance(last["content"], str)
        else last["content"][-1].get("text", "x")
    )
    if last["role"] == "assistant" and text != text.rstrip():
        return "messages: final assistant content cannot end with trailing whitespace"
    return None


class AnthropicMock:
    """The fake API; set the reply attributes before (or between) requests."""

    def __init__(self, **settings: Any) -> None:
        self.api_key = "sk-ant-mock-0123456789"
        self.versions: frozenset[str] = VERSIONS
        self.reply_text = "Hello from the mock Anthropic API."
        self.reply_tool: tuple[str, dict[str, Any]] | None = None
        self.stop_reason: str | None = None
        self.input_tokens = 17
        self.cache_read_input_tokens = 0
        self.output_tokens: int | None = None
        self.fail_with: tuple[int, bytes | dict[str, Any]] | None = None
        self.stream_error: dict[str, str] | None = None  # an Anthropic error object
        self.cut_stream = False
        self.pace_s = 0.0  # pause before each half of each SSE event
        self.requests: list[tuple[dict[str, str], Any]] = []
        self.url = ""
        for name, value in settings.items():
            if not hasattr(self, name):
                raise TypeError(f"unknown mock setting {name!r}")
            setattr(self, name, value)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> AnthropicMock:
        loop = self._loop = asyncio.new_event_loop()
        ready = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(loop)
            server = loop.run_until_complete(asyncio.start_server(self._serve, "127.0.0.1", 0))
            self.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
            ready.set()
            try:
                loop.run_forever()
            finally:
                server.close()
                for writer in list(self._writers):
                    writer.close()
                tasks = asyncio.all_tasks(loop)
                for task in tasks:
                    task.cancel()
                loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
                loop.run_until_complete(server.wait_closed())
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.close()

        self._thread = threading.Thread(target=run, name="anthropic-mock", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("the Anthropic mock did not start")
        return self

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop = self._thread = None

    def __enter__(self) -> AnthropicMock:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def __aenter__(self) -> AnthropicMock:
        return await asyncio.to_thread(self.start)

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.to_thread(self.stop)

    # -- HTTP ------------------------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                request_line, *lines = head.decode("latin-1").split("\r\n")
                method, target, _ = request_line.split(" ", 2)
                headers = {}
                for line in lines:
                    name, colon, value = line.partition(":")
                    if colon:
                        headers[name.strip().lower()] = value.strip()
                if headers.get("transfer-encoding", "").lower() == "chunked":
                    body = b""
                    while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
                        body += (await reader.readexactly(size + 2))[:-2]
                    await reader.readuntil(b"\r\n")  # no trailers expected
                else:
                    body = await reader.readexactly(int(headers.get("content-length") or 0))
                await self._answer(method, target, headers, body, writer)
                if headers.get("connection", "").lower() == "close":
                    break
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            pass
        except asyncio.CancelledError:  # the mock is stopping: end this connection quietly
            pass
        finally:
            self._writers.discard(writer)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _answer(
        self,
        method: str,
        target: str,
        headers: dict[str, str],
        raw: bytes,
        writer: asyncio.StreamWriter,
    ) -> None:
        try:
            body = json.loads(raw)
        except ValueError:
            body = raw
        self.requests.append((headers, body))
        version = headers.get("anthropic-version")
        if method != "POST" or target.partition("?")[0] != "/v1/messages":
            await self._send(
                writer, 404, error_body("not_found_error", f"Not Found: {method} {target}")
            )
        elif headers.get("x-api-key") != self.api_key:
            await self._send(writer, 401, error_body("authentication_error", "invalid x-api-key"))
        elif version not in self.versions:
            problem = (
                "header is required" if version is None else f"{version!r} is not a valid version"
            )
            await self._send(
                writer, 400, error_body("invalid_request_error", f"anthropic-version: {problem}")
            )
        elif self.fail_with is not None:
            status, payload = self.fail_with
            await self._send(
                writer,
                status,
                payload if isinstance(payload, bytes) else json.dumps(payload).encode(),
            )
        elif (problem := check_body(body)) is not None:
            await self._send(writer, 400, error_body("invalid_request_error", problem))
        else:
            message = make_message(
                model=body["model"],
                text=self.reply_text,
                tool=self.reply_tool,
                stop_reason=self.stop_reason,
                input_tokens=self.input_tokens,
                cache_read_input_tokens=self.cache_read_input_tokens,
                output_tokens=self.output_tokens,
            )
            if body.get("stream"):
                await self._stream(
                    writer, stream_events(message, error=self.stream_error, cut=self.cut_stream)
                )
            else:
                await self._send(writer, 200, json.dumps(message).encode())

    async def _send(self, writer: asyncio.StreamWriter, status: int, body: bytes) -> None:
        head = f"HTTP/1.1 {status} {_reason(status)}\r\ncontent-type: application/json\r\n"
        head += f"content-length: {len(body)}\r\nrequest-id: req_01Mock{next(_ids):016d}\r\n\r\n"
        writer.write(head.encode() + body)
        await writer.drain()

    async def _stream(self, writer: asyncio.StreamWriter, events: list[bytes]) -> None:
        head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream; charset=utf-8\r\n"
        head += "cache-control: no-cache\r\ntransfer-encoding: chunked\r\n\r\n"
        writer.write(head.encode())
        for event in events:
            halves = (
                (event[: len(event) // 2], event[len(event) // 2 :]) if self.pace_s else (event,)
            )
            for half in halves:
                if self.pace_s:
                    await asyncio.sleep(self.pace_s)
                writer.write(b"%x\r\n%s\r\n" % (len(half), half))
                await writer.drain()
        writer.write(b"0\r\n\r\n")
        await writer.drain()


def _reason(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return "Overloaded" if status == 529 else "Error"


def anthropic_upstream(**settings: Any) -> AnthropicMock:
    """A mock to use as ``with`` or ``async with``; keyword arguments set its attributes."""
    return AnthropicMock(**settings)
