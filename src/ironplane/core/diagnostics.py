"""Diagnostics: one precise, located complaint about a user's input.

A diagnostic names where (file, line, column, field path), what was wrong, what was given, what
is allowed and, where one can be guessed, a hint such as the closest valid field name.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

PathItem = str | int
Path = tuple[PathItem, ...]


def format_path(path: Sequence[PathItem]) -> str:
    """Render a field path the way users write it: ``ports[0].expose.host``."""
    out = ""
    for item in path:
        if isinstance(item, int):
            out += f"[{item}]"
        else:
            out += f".{item}" if out else item
    return out or "(document)"


def closest(word: str, choices: Iterable[str]) -> str | None:
    """The valid name closest to a misspelt one, or None when nothing is close."""
    matches = difflib.get_close_matches(word, sorted(choices), n=1, cutoff=0.6)
    return matches[0] if matches else None


def show_value(value: object, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


@dataclass(frozen=True, slots=True)
class Diagnostic:
    message: str
    path: Path = ()
    source: str | None = None
    line: int | None = None
    column: int | None = None
    subject: str | None = None
    """The document the problem is in, e.g. ``Service 'chat-api'``."""
    given: str | None = None
    allowed: str | None = None
    hint: str | None = None

    def located(self, source: str | None, line: int | None, column: int | None) -> Diagnostic:
        return replace(self, source=source, line=line, column=column)

    def render(self) -> str:
        where = self.source or "<input>"
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        head = f"{where}: "
        if self.subject:
            head += f"{self.subject}: "
        head += f"{format_path(self.path)}: {self.message}"
        lines = [head]
        if self.given is not None:
            lines.append(f"    given:   {self.given}")
        if self.allowed is not None:
            lines.append(f"    allowed: {self.allowed}")
        if self.hint is not None:
            lines.append(f"    hint:    {self.hint}")
        return "\n".join(lines)
