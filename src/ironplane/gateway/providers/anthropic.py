"""OpenAI chat completions to and from Anthropic's Messages API (``POST /v1/messages``).

Pure translation, no I/O: :func:`chat_request` builds the upstream body, :func:`chat_response`
and :class:`ChatStream` turn the answer back into OpenAI's shapes, :func:`error_response` maps
upstream errors. Client input that cannot be translated raises :class:`InvalidError` naming the
field; an upstream answer that is not a Message raises :class:`UnavailableError`.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import msgspec

from ironplane.core.errors import UnavailableError
from ironplane.gateway.providers.anthropic_request import (
    DEFAULT_MAX_TOKENS,
    chat_request,
    stream_include_usage,
)

__all__ = [
    "ANTHROPIC_VERSION",
    "DEFAULT_MAX_TOKENS",
    "ChatStream",
    "chat_request",
    "chat_response",
    "error_response",
    "stream_include_usage",
]

ANTHROPIC_VERSION = "2023-06-01"
# Anthropic stop_reason -> OpenAI finish_reason; end_turn, stop_sequence and the rest -> "stop".
_FINISH = {"max_tokens": "length", "model_context_window_exceeded": "length"}
_FINISH |= {"tool_use": "tool_calls", "refusal": "content_filter"}
# Anthropic's error type for each HTTP status, and the OpenAI error type for each of those.
_BY_STATUS = {400: "invalid_request_error", 401: "authentication_error", 402: "billing_error"}
_BY_STATUS |= {403: "permission_error", 404: "not_found_error", 413: "request_too_large"}
_BY_STATUS |= {429: "rate_limit_error", 500: "api_error", 504: "timeout_error"}
_BY_STATUS |= {529: "overloaded_error"}
_OPENAI_TYPE = {kind: kind for kind in _BY_STATUS.values()}
_OPENAI_TYPE |= {
    "request_too_large": "invalid_request_error",
    "billing_error": "insufficient_quota",
}
_OPENAI_TYPE |= dict.fromkeys(("api_error", "overloaded_error", "timeout_error"), "server_error")
_MAX_PENDING = 16 * 1024 * 1024  # bytes of one unfinished SSE line before giving up
_encode = msgspec.json.encode


class _Usage(msgspec.Struct):
    input_tokens: int | None = None
    cache_creation_input_tokens: int | None = None
    cache_read_input_tokens: int | None = None
    output_tokens: int | None = None


class _Block(msgspec.Struct):
    """A content block, or the delta of one (message_delta's delta has no type)."""

    type: str = ""
    text: str = ""
    id: str = ""
    name: str = ""
    input: dict[str, Any] | None = None
    partial_json: str = ""
    stop_reason: str | None = None


class _Message(msgspec.Struct):
    type: str = ""
    id: str = ""
    content: list[_Block] = []
    stop_reason: str | None = None
    usage: _Usage | None = None


class _Event(msgspec.Struct):
    type: str = ""
    index: int | None = None
    message: _Message | None = None
    content_block: _Block | None = None
    delta: _Block | None = None
    usage: _Usage | None = None
    error: dict[str, Any] | None = None
    request_id: str | None = None


_decode_message = msgspec.json.Decoder(_Message).decode
_decode_event = msgspec.json.Decoder(_Event).decode


def _usage(usage: _Usage, prompt: int, completion: int) -> dict[str, Any]:
    out: dict[str, Any] = {"prompt_tokens": prompt, "completion_tokens": completion}
    out["total_tokens"] = prompt + completion
    out["prompt_tokens_details"] = {"cached_tokens": usage.cache_read_input_tokens or 0}
    return out


def _prompt_tokens(usage: _Usage) -> int:
    inputs = (usage.input_tokens, usage.cache_creation_input_tokens, usage.cache_read_input_tokens)
    return sum(value or 0 for value in inputs)


def chat_response(body: bytes, model: str) -> tuple[bytes, int, int]:
    """Anthropic Message JSON -> OpenAI chat.completion JSON named `model` (the client's name).

    Returns (body, prompt_tokens, completion_tokens).
    """
    try:
        msg = _decode_message(body)
    except msgspec.DecodeError:
        msg = _Message()
    if msg.type != "message":
        raise UnavailableError("the upstream answered with something that is not a Message")
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    for block in msg.content:
        if block.type == "text":
            texts.append(block.text)
        elif block.type == "tool_use":
            function = {"name": block.name, "arguments": _encode(block.input or {}).decode()}
            calls.append({"id": block.id, "type": "function", "function": function})
    message: dict[str, Any] = {"role": "assistant", "content": "".join(texts), "refusal": None}
    if calls:
        message["content"] = message["content"] or None
        message["tool_calls"] = calls
    usage = msg.usage or _Usage()
    prompt, completion = _prompt_tokens(usage), usage.output_tokens or 0
    finish = _FINISH.get(msg.stop_reason or "", "stop")
    choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": finish}
    out: dict[str, Any] = {"id": f"chatcmpl-{msg.id or uuid.uuid4().hex}"}
    out["object"] = "chat.completion"
    out |= {"created": int(time.time()), "model": model, "choices": [choice]}
    out["usage"] = _usage(usage, prompt, completion)
    return _encode(out), prompt, completion


def _openai_error(status: int | None, error: object, request_id: object = None) -> dict[str, Any]:
    error = error if isinstance(error, dict) else {}
    kind, message = error.get("type"), error.get("message")
    kind = kind if isinstance(kind, str) and kind else None
    if not isinstance(message, str) or not message:
        message = f"the upstream failed with {kind or f'HTTP {status}'}"
    if isinstance(request_id, str) and request_id:
        message = f"{message} (upstream request_id {request_id})"
    mapped = _OPENAI_TYPE.get(kind or "") or _OPENAI_TYPE.get(_BY_STATUS.get(status or 0, ""))
    if mapped is None:
        mapped = "invalid_request_error" if status and 400 <= status < 500 else "server_error"
    return {"message": message, "type": mapped, "param": None, "code": kind}


def error_response(status: int, body: bytes) -> bytes:
    """An Anthropic error body (or anything else, even garbage) -> OpenAI error JSON.

    ``{"type": "error", "error": {"type", "message"}}`` becomes ``{"error": {"message", "type",
    "param", "code"}}`` with Anthropic's error type as ``code``; other bodies are summarised.
    """
    try:
        data = msgspec.json.decode(body)
    except msgspec.DecodeError:
        data = None
    if isinstance(data, dict) and isinstance(data.get("error"), dict):
        return _encode({"error": _openai_error(status, data["error"], data.get("request_id"))})
    text = " ".join(body[:300].decode("utf-8", "replace").split())[:200]
    message = f"the upstream answered HTTP {status}" + (f": {text}" if text else "")
    return _encode({"error": _openai_error(status, {"message": message})})


# --- streams --------------------------------------------------------------------------------


class ChatStream:
    """Anthropic's SSE stream -> OpenAI ``chat.completion.chunk`` events, fed bytes as they come."""

    def __init__(self, model: str, include_usage: bool) -> None:
        self.model = model
        self.include_usage = include_usage
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self._created = int(time.time())
        self._usage = _Usage()
        self._buf = bytearray()  # the unfinished last line
        self._event = ""
        self._data: list[bytes] = []
        self._tools: dict[int | None, int] = {}  # Anthropic block index -> OpenAI tool index
        self._finish = "stop"
        self._started = self._stopped = self._failed = self._done = False
        self._set_id(f"chatcmpl-{uuid.uuid4().hex}")

    def _set_id(self, chat_id: str) -> None:
        head = {"id": chat_id, "object": "chat.completion.chunk", "created": self._created}
        self._head = b"data: " + _encode(head | {"model": self.model})[:-1] + b","
        self._tail = b',"usage":null}\n\n' if self.include_usage else b"}\n\n"

    def feed(self, data: bytes) -> bytes:
        """Take raw bytes of Anthropic's SSE stream, split anywhere (LF or CRLF line ends).

        Returns the OpenAI SSE bytes ready to send now (``data: {...}`` per chunk), b"" if none.
        """
        if self._done or self._failed or not data:
            return b""
        buf, out, start = self._buf, list[bytes](), 0
        newline = data.find(b"\n")  # the kept tail holds no newline: search only the new bytes
        newline += len(buf) if newline >= 0 else 0
        buf += data
        while newline >= 0 and not self._failed:
            end = newline - 1 if newline > start and buf[newline - 1] == 13 else newline
            self._line(bytes(buf[start:end]), out)
            start = newline + 1
            newline = buf.find(b"\n", start)
        del buf[:start]
        if len(buf) > _MAX_PENDING and not self._failed:
            self._fail(out, "the upstream sent an over-long stream line", "upstream_bad_stream")
        return b"".join(out)

    def finish(self) -> bytes:
        """The upstream stream ended: what is left, the usage chunk and ``data: [DONE]``.

        The usage chunk (``choices: []``) comes only with include_usage. A stream that ended
        without message_stop gets an OpenAI error event ``data: {"error": {...}}`` instead.
        """
        if self._done:
            return b""
        self._done, out = True, list[bytes]()
        if self._buf and not self._failed:
            self._line(bytes(self._buf).removesuffix(b"\r"), out)
        self._buf.clear()
        if self._data and not self._failed:
            self._dispatch(out)
        if not self._failed and not self._stopped:
            message = "the upstream stream ended before message_stop; the answer is incomplete"
            self._fail(out, message, "upstream_incomplete")
        if self._failed:
            return b"".join(out)
        if self.include_usage:
            usage = _usage(self._usage, self.prompt_tokens, self.completion_tokens)
            out.append(self._head + b'"choices":[],"usage":' + _encode(usage) + b"}\n\n")
        out.append(b"data: [DONE]\n\n")
        return b"".join(out)

    def _line(self, line: bytes, out: list[bytes]) -> None:
        if not line:
            if self._data:
                self._dispatch(out)
            self._event = ""
            return
        name, _, value = line.partition(b":")
        if value[:1] == b" ":
            value = value[1:]
        if name == b"data":
            self._data.append(value)
        elif name == b"event":
            self._event = value.decode("utf-8", "replace")

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> bytes:
        choice = b'"choices":[{"index":0,"delta":' + _encode(delta)
        choice += b',"logprobs":null,"finish_reason":' + _encode(finish) + b"}]"
        return self._head + choice + self._tail

    def _fail(self, out: list[bytes], message: str, code: str, kind: str = "server_error") -> None:
        error = {"message": message, "type": kind, "param": None, "code": code}
        out.append(b"data: " + _encode({"error": error}) + b"\n\n")
        self._failed = True

    def _start(self, out: list[bytes]) -> None:
        if not self._started:
            self._started = True
            out.append(self._chunk({"role": "assistant", "content": ""}))

    def _take_usage(self, usage: _Usage | None) -> None:
        for field in () if usage is None else usage.__struct_fields__:
            if (value := getattr(usage, field)) is not None:
                setattr(self._usage, field, value)
        self.prompt_tokens = _prompt_tokens(self._usage)
        self.completion_tokens = self._usage.output_tokens or 0

    def _dispatch(self, out: list[bytes]) -> None:
        payload, self._data = b"\n".join(self._data), []
        try:
            event = _decode_event(payload)
        except msgspec.ValidationError:
            return  # an event shape this translator does not know
        except msgspec.DecodeError:
            self._fail(out, "the upstream sent a non-JSON stream event", "upstream_bad_stream")
            return
        kind, delta, block = event.type or self._event, event.delta, event.content_block
        if kind == "content_block_delta" and delta is not None:
            if delta.type == "text_delta" and delta.text:
                self._start(out)
                out.append(self._chunk({"content": delta.text}))
            elif delta.type == "input_json_delta" and delta.partial_json:
                index = self._tools.get(event.index)
                if index is not None:
                    call = {"index": index, "function": {"arguments": delta.partial_json}}
                    out.append(self._chunk({"tool_calls": [call]}))
        elif kind == "content_block_start" and block is not None:
            self._start(out)
            if block.type == "text" and block.text:
                out.append(self._chunk({"content": block.text}))
            elif block.type == "tool_use":
                index = self._tools[event.index] = len(self._tools)
                arguments = _encode(block.input).decode() if block.input else ""
                function = {"name": block.name, "arguments": arguments}
                call = {"index": index, "id": block.id, "type": "function", "function": function}
                out.append(self._chunk({"tool_calls": [call]}))
        elif kind == "message_start":
            if event.message is not None:
                if event.message.id:
                    self._set_id(f"chatcmpl-{event.message.id}")
                self._take_usage(event.message.usage)
            self._start(out)
        elif kind == "message_delta":
            if delta is not None and delta.stop_reason is not None:
                self._finish = _FINISH.get(delta.stop_reason, "stop")
            self._take_usage(event.usage)
        elif kind == "message_stop":
            self._start(out)
            out.append(self._chunk({}, self._finish))
            self._stopped = True
        elif kind == "error":
            error = _openai_error(None, event.error, event.request_id)
            self._fail(out, error["message"], error["code"] or "upstream_error", error["type"])
