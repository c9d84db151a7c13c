"""OpenAI chat-completions requests translated to Anthropic Messages API bodies.

Client input that cannot be translated raises :class:`InvalidError` naming the field and the fix.
"""

from __future__ import annotations

from typing import Any

import msgspec

from ironplane.core.errors import InvalidError

DEFAULT_MAX_TOKENS = 4096
_IMAGE_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp")
_encode = msgspec.json.encode

_KINDS = {type(None): "null", bool: "a boolean", int: "a number", float: "a number"}
_KINDS |= {str: "a string", list: "an array"}


def _kind(value: object) -> str:
    return _KINDS.get(type(value), "an object")


def _bad(path: str, problem: str, fix: str) -> InvalidError:
    return InvalidError(f"{path}: {problem}; {fix}")


def _object(value: object, path: str, fix: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _bad(path, f"expected an object, got {_kind(value)}", fix)
    return value


def _string(value: object, path: str, fix: str) -> str:
    if not isinstance(value, str) or not value:
        raise _bad(path, f"expected a non-empty string, got {_kind(value)}", fix)
    return value


# --- requests -------------------------------------------------------------------------------


def chat_request(body: bytes, upstream_model: str) -> tuple[bytes, bool]:
    """OpenAI /v1/chat/completions request body -> Anthropic /v1/messages body; (body, stream)."""
    req = _decode_request(body)
    n = req.get("n")
    if n is not None and (type(n) is not int or n != 1):
        raise _bad("n", f"got {n!r}", "Anthropic models return one choice per request; send n=1")
    if req.get("logprobs") is True:
        raise _bad("logprobs", "not available", "Anthropic models return no log probabilities")
    for legacy in ("functions", "function_call"):
        if req.get(legacy) is not None:
            raise _bad(legacy, "the legacy functions API is not supported", "send tools instead")
    system, messages = _messages(req.get("messages"))
    out: dict[str, Any] = {"model": upstream_model, "max_tokens": DEFAULT_MAX_TOKENS}
    for name in ("max_tokens", "max_completion_tokens"):  # the second wins
        value = req.get(name)
        if value is not None:
            if type(value) is not int or value < 1:
                raise _bad(name, f"expected a positive integer, got {value!r}", "send e.g. 1024")
            out["max_tokens"] = value
    if system:
        out["system"] = system
    out["messages"] = messages
    for name in ("temperature", "top_p"):
        value = req.get(name)
        if value is not None:
            if type(value) not in (int, float) or not 0 <= value <= 1:
                raise _bad(name, f"got {value!r}", "Anthropic models accept 0 to 1")
            out[name] = value
    stop = req.get("stop")
    stop = [stop] if isinstance(stop, str) else [] if stop is None else stop
    if not isinstance(stop, list) or not all(isinstance(item, str) for item in stop):
        raise _bad("stop", f"got {req.get('stop')!r}", "send a string or an array of strings")
    if any(stop):
        out["stop_sequences"] = [item for item in stop if item]
    user = req.get("user")
    if user is not None and not isinstance(user, str):
        raise _bad("user", f"expected a string, got {_kind(user)}", "send a user id string")
    if user:
        out["metadata"] = {"user_id": user}
    tools, choice = _tools(req)
    if tools:
        out["tools"] = tools
    if choice:
        out["tool_choice"] = choice
    stream = req.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise _bad("stream", f"expected a boolean, got {_kind(stream)}", "send true or false")
    if stream:
        out["stream"] = True
    return _encode(out), bool(stream)


def stream_include_usage(body: bytes) -> bool:
    """Whether an OpenAI request asks for the usage chunk (``stream_options.include_usage``)."""
    options = _decode_request(body).get("stream_options")
    return isinstance(options, dict) and options.get("include_usage") is True


def _decode_request(body: bytes) -> dict[str, Any]:
    try:
        req = msgspec.json.decode(body)
    except msgspec.DecodeError as exc:
        raise _bad("request body", f"not valid JSON ({exc})", "send a JSON object") from None
    return _object(req, "request body", "send a JSON object with model and messages")


def _messages(raw: object) -> tuple[str, list[dict[str, Any]]]:
    fix = "send a non-empty array of {role, content} objects"
    if not isinstance(raw, list) or not raw:
        raise _bad("messages", "empty" if raw == [] else f"got {_kind(raw)}", fix)
    system: list[str] = []
    out: list[dict[str, Any]] = []
    for i, msg in enumerate(raw):
        path = f"messages[{i}]"
        role = _object(msg, path, "send {role, content}").get("role")
        if role in ("system", "developer"):
            system.append(_text(msg.get("content"), f"{path}.content"))
            continue
        if role == "user":
            blocks = _user_blocks(msg.get("content"), f"{path}.content")
        elif role == "assistant":
            blocks = _assistant_blocks(msg, path)
        elif role == "tool":
            role, blocks = "user", [_tool_result(msg, path)]
        else:
            raise _bad(f"{path}.role", f"got {role!r}", "use system, user, assistant or tool")
        if blocks and out and out[-1]["role"] == role:  # Anthropic needs alternating roles
            out[-1]["content"].extend(blocks)
        elif blocks:
            out.append({"role": role, "content": blocks})
    if out and out[-1]["role"] == "assistant" and out[-1]["content"][-1]["type"] == "text":
        last = out[-1]["content"]  # a final assistant prefill may not end with whitespace
        last[-1]["text"] = last[-1]["text"].rstrip()
        if not last[-1]["text"]:
            last.pop()
            if not last:
                out.pop()
    if not out:
        raise _bad("messages", "no user or assistant message has content", fix)
    for msg in out:  # tool results must open their user turn
        if msg["role"] == "user" and len(msg["content"]) > 1:
            msg["content"].sort(key=lambda block: block["type"] != "tool_result")
    return "\n\n".join(text for text in system if text), out


def _parts(content: object, path: str) -> list[dict[str, Any]]:
    if not isinstance(content, list):
        got = f"expected a string or an array of content parts, got {_kind(content)}"
        raise _bad(path, got, "send a string or [{type: text, text}] parts")
    return [_object(part, f"{path}[{j}]", "send {type, ...}") for j, part in enumerate(content)]


def _part_text(part: dict[str, Any], path: str, allowed: str) -> str:
    kind = part.get("type")
    key = "refusal" if kind == "refusal" and "refusal" in allowed else "text"
    if kind != key:
        raise _bad(f"{path}.type", f"{kind!r} parts are not supported", f"send {allowed} parts")
    text = part.get(key)
    if not isinstance(text, str):
        raise _bad(f"{path}.{key}", f"expected a string, got {_kind(text)}", "send the text")
    return text


def _text(content: object, path: str) -> str:
    if isinstance(content, str):
        return content
    parts = _parts(content, path)
    return "\n".join(_part_text(part, f"{path}[{j}]", "text") for j, part in enumerate(parts))


def _user_blocks(content: object, path: str) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    blocks: list[dict[str, Any]] = []
    for j, part in enumerate(_parts(content, path)):
        if part.get("type") == "image_url":
            blocks.append(_image(part.get("image_url"), f"{path}[{j}].image_url"))
        elif text := _part_text(part, f"{path}[{j}]", "text or image_url"):
            blocks.append({"type": "text", "text": text})
    return blocks


def _image(value: object, path: str) -> dict[str, Any]:
    if isinstance(value, dict):
        value, path = value.get("url"), f"{path}.url"
    fix = "send a data:image/...;base64,... URL or an http(s) URL"
    url = _string(value, path, fix)
    if url.startswith(("http://", "https://")):
        return {"type": "image", "source": {"type": "url", "url": url}}
    if not url.startswith("data:"):
        raise _bad(path, "unsupported URL scheme", fix)
    header, _, data = url[5:].partition(",")
    media, *params = header.split(";")
    media = media.strip().lower()
    if "base64" not in params or not data:
        raise _bad(path, "the data: URL is not base64-encoded", fix)
    if media not in _IMAGE_TYPES:
        raise _bad(path, f"image type {media!r} is not supported", f"use {'/'.join(_IMAGE_TYPES)}")
    return {"type": "image", "source": {"type": "base64", "media_type": media, "data": data}}


def _assistant_blocks(msg: dict[str, Any], path: str) -> list[dict[str, Any]]:
    if msg.get("function_call") is not None:
        raise _bad(f"{path}.function_call", "legacy function calls are not supported", "use tools")
    content, where = msg.get("content"), f"{path}.content"
    texts = [content] if isinstance(content, str) else [] if content is None else None
    if texts is None:
        parts = _parts(content, where)
        texts = [_part_text(p, f"{where}[{j}]", "text or refusal") for j, p in enumerate(parts)]
    blocks: list[dict[str, Any]] = [{"type": "text", "text": text} for text in texts if text]
    calls = msg.get("tool_calls")
    if calls is not None and not isinstance(calls, list):
        raise _bad(f"{path}.tool_calls", f"expected an array, got {_kind(calls)}", "send calls")
    for j, call in enumerate(calls or ()):
        where = f"{path}.tool_calls[{j}]"
        call = _object(call, where, "send {id, type: function, function: {name, arguments}}")
        if call.get("type", "function") != "function":
            raise _bad(f"{where}.type", f"got {call.get('type')!r}", 'send "function"')
        fn = _object(call.get("function"), f"{where}.function", "send {name, arguments}")
        block = {"type": "tool_use", "id": _string(call.get("id"), f"{where}.id", "send its id")}
        block["name"] = _string(fn.get("name"), f"{where}.function.name", "name the tool")
        block["input"] = _arguments(fn.get("arguments"), f"{where}.function.arguments")
        blocks.append(block)
    return blocks


def _arguments(raw: object, path: str) -> Any:
    fix = 'send a JSON object encoded as a string, e.g. "{}"'
    if raw is None or raw == "" or isinstance(raw, dict):
        return raw or {}
    if not isinstance(raw, str):
        raise _bad(path, f"expected a string, got {_kind(raw)}", fix)
    try:
        value = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        raise _bad(path, "not valid JSON", fix) from None
    return _object(value, path, fix)


def _tool_result(msg: dict[str, Any], path: str) -> dict[str, Any]:
    fix = "send the id of the assistant tool call this message answers"
    call_id = _string(msg.get("tool_call_id"), f"{path}.tool_call_id", fix)
    block = {"type": "tool_result", "tool_use_id": call_id}
    if text := _text(msg.get("content"), f"{path}.content"):
        block["content"] = text
    return block


def _tools(req: dict[str, Any]) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    raw = req.get("tools")
    if raw is not None and not isinstance(raw, list):
        raise _bad("tools", f"expected an array, got {_kind(raw)}", "send function tools")
    tools: list[dict[str, Any]] = []
    for k, tool in enumerate(raw or ()):
        path = f"tools[{k}]"
        tool = _object(tool, path, "send {type: function, function: {name, parameters}}")
        if tool.get("type") != "function":
            raise _bad(f"{path}.type", f"got {tool.get('type')!r}", "send function tools only")
        fn = _object(tool.get("function"), f"{path}.function", "send {name, parameters}")
        name = _string(fn.get("name"), f"{path}.function.name", "name the tool")
        out: dict[str, Any] = {"name": name}
        description = fn.get("description")
        if description is not None and not isinstance(description, str):
            raise _bad(f"{path}.function.description", f"got {_kind(description)}", "send text")
        if description:
            out["description"] = description
        schema = fn.get("parameters")
        schema = {"type": "object", "properties": {}} if schema is None else schema
        out["input_schema"] = _object(schema, f"{path}.function.parameters", "send a JSON Schema")
        tools.append(out)
    choice = _tool_choice(req.get("tool_choice"), {tool["name"] for tool in tools})
    parallel = req.get("parallel_tool_calls")
    if parallel is not None and not isinstance(parallel, bool):
        raise _bad("parallel_tool_calls", f"got {_kind(parallel)}", "send true or false")
    if parallel is False and tools:
        choice = choice or {"type": "auto"}
        if choice["type"] != "none":
            choice["disable_parallel_tool_use"] = True
    return tools, choice


def _tool_choice(raw: object, names: set[str]) -> dict[str, Any] | None:
    if raw is None or (not names and raw in ("auto", "none")):
        return None
    fix = 'send "auto", "none", "required" or {"type": "function", "function": {"name"}}'
    if raw in ("auto", "none", "required"):
        choice: dict[str, Any] = {"type": "any" if raw == "required" else raw}
    elif isinstance(raw, dict) and raw.get("type") == "function":
        fn = _object(raw.get("function"), "tool_choice.function", fix)
        name = _string(fn.get("name"), "tool_choice.function.name", fix)
        if names and name not in names:
            raise _bad("tool_choice.function.name", f"no tool named {name!r}", "name one of tools")
        choice = {"type": "tool", "name": name}
    else:
        raise _bad("tool_choice", f"got {raw!r}", fix)
    if not names:
        raise _bad("tool_choice", f"{raw!r} needs tools", "send tools or drop tool_choice")
    return choice


# --- responses ------------------------------------------------------------------------------
