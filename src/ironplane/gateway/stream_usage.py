"""Token usage of OpenAI-style answers, and of streams whose client did not ask for it.

Budgets and ``tpm`` limits need every request's real token counts. A JSON answer carries
``usage``; a stream carries it only in a last chunk (``choices: []``) that the client asks for
with ``stream_options.include_usage``. So when a client streams from an OpenAI-compatible or
Azure target without asking, the gateway asks on its behalf (:func:`ask_for_usage`: the one
case where the body is re-encoded although the model name stays), reads the usage chunk and
takes it out of what the client receives (:func:`take_usage`), so the client gets exactly the
stream it asked for. Bodies that do not stream, or streams that already ask, pass through
untouched.
"""

from __future__ import annotations

import msgspec

_decode_fields = msgspec.json.Decoder(dict[str, msgspec.Raw]).decode
_decode_options = msgspec.json.Decoder(dict[str, msgspec.Raw] | None).decode
_encode = msgspec.json.Encoder().encode

_TRUE = msgspec.Raw(b"true")
USAGE_MARK = b'"prompt_tokens"'
"""In a read of a stream only where a usage object with counts is (``"usage": null`` in the
other chunks, and the same words quoted inside a string, do not match)."""
HOLD_AT_MOST = 16384
"""Bytes of an unfinished event kept back while the gateway strips usage (a usage chunk is a
few hundred bytes; a longer unfinished event is content and goes on at once)."""


class _Usage(msgspec.Struct):
    prompt_tokens: int | float | None = 0
    completion_tokens: int | float | None = 0


class _WithUsage(msgspec.Struct):
    usage: _Usage | None = None


class _Chunk(msgspec.Struct):
    usage: _Usage | None = None
    choices: list[msgspec.Raw] | None = None


usage_of = msgspec.json.Decoder(_WithUsage).decode
_chunk = msgspec.json.Decoder(_Chunk).decode


def counts(usage: _Usage) -> tuple[int, int]:
    return int(usage.prompt_tokens or 0), int(usage.completion_tokens or 0)


def ask_for_usage(body: bytes, model: str | None) -> bytes:
    """The body with ``stream_options.include_usage`` set (other stream options kept) and, when
    ``model`` is given, the top-level ``model`` replaced; every other field's bytes as sent."""
    fields = _decode_fields(body)
    if model is not None:
        fields["model"] = msgspec.Raw(_encode(model))
    raw = fields.get("stream_options")
    options = (_decode_options(raw) if raw is not None else None) or {}
    options["include_usage"] = _TRUE
    fields["stream_options"] = msgspec.Raw(_encode(options))
    return _encode(fields)


def take_usage(data: bytes, strip: bool) -> tuple[bytes, tuple[int, int] | None]:
    """The usage in one read of a stream (the last one found) and the read to relay: without
    its usage-only events (``choices: []``) when ``strip``. Call it only for reads holding
    :data:`USAGE_MARK`; lines that do not parse (an event cut by the read) are relayed."""
    found = None
    lines = data.split(b"\n")
    keep: list[bytes] = []
    dropped = False
    for line in lines:
        if dropped:
            dropped = False
            if line in (b"", b"\r"):  # the blank line that ended the dropped event
                continue
        if USAGE_MARK in line and line.startswith(b"data:"):
            try:
                chunk = _chunk(line[5:])
            except (msgspec.DecodeError, msgspec.ValidationError):
                keep.append(line)
                continue
            if chunk.usage is not None:
                found = counts(chunk.usage)
                if strip and chunk.choices is not None and not chunk.choices:
                    dropped = True
                    continue
        keep.append(line)
    if not strip or len(keep) == len(lines):
        return data, found
    return b"\n".join(keep), found


def complete_events(data: bytes) -> tuple[bytes, bytes]:
    """(the whole events of ``data``, the unfinished last one to hold back): an SSE event ends
    with a blank line. An unfinished part longer than :data:`HOLD_AT_MOST` is not held."""
    if data.endswith((b"\n\n", b"\n\r\n")):
        return data, b""
    lf, crlf = data.rfind(b"\n\n"), data.rfind(b"\n\r\n")
    end = max(lf + 2 if lf >= 0 else 0, crlf + 3 if crlf >= 0 else 0)
    if len(data) - end > HOLD_AT_MOST:
        return data, b""
    return data[:end], data[end:]
