"""Printing API results: a table for people, JSON or YAML for programs (``-o``).

rich is imported only when a table is printed, and pydantic never: this module is loaded with the
command registry, which must stay quick for ``ironplane --help``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, TypeVar

import typer

from ironplane.cli.output import to_yaml

if TYPE_CHECKING:
    from pydantic import BaseModel

T = TypeVar("T")
Model = TypeVar("Model", bound="BaseModel")


class Format(StrEnum):
    table = "table"
    json = "json"
    yaml = "yaml"


def output_option() -> Any:
    return typer.Option(Format.table, "-o", "--output", help="Output format.")


Column = tuple[str, Callable[[T], object]]


def cell(value: object) -> str:
    """One table cell: dates to the second, lists comma-joined, nothing as ``-``."""
    if value is None or value == [] or value == "":
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return str(value)


def short_hash(value: str, length: int = 12) -> str:
    algo, _, digest = value.partition(":")
    return digest[:length] if digest else algo[:length]


def print_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """A borderless table on stdout; as wide as it needs when stdout is not a terminal."""
    from rich.console import Console
    from rich.table import Table

    table = Table(box=None, pad_edge=False, show_edge=False, header_style="bold")
    for header in headers:
        table.add_column(header, overflow="fold")
    for row in rows:
        table.add_row(*(cell(v) for v in row))
    width = None if sys.stdout.isatty() else 10_000
    console = Console(file=sys.stdout, width=width, highlight=False, soft_wrap=False)
    with console.capture() as captured:
        console.print(table)
    sys.stdout.write("".join(line.rstrip() + "\n" for line in captured.get().splitlines()))


def jsonable(data: BaseModel | Sequence[BaseModel]) -> Any:
    if isinstance(data, Sequence):
        return [item.model_dump(mode="json") for item in data]
    return data.model_dump(mode="json")


def dump(data: BaseModel | Sequence[BaseModel], fmt: Format) -> bool:
    """Print ``data`` as JSON or YAML and return True; False for the table format."""
    if fmt is Format.json:
        print(json.dumps(jsonable(data), indent=2))
        return True
    if fmt is Format.yaml:
        sys.stdout.write(to_yaml(jsonable(data)))
        return True
    return False


def emit(
    items: Sequence[Model],
    fmt: Format,
    columns: Sequence[Column[Model]],
    *,
    empty: str = "nothing found",
) -> None:
    """Print a listing in the chosen format: a table of ``columns``, or every field."""
    if dump(items, fmt):
        return
    if not items:
        print(empty, file=sys.stderr)
        return
    print_table([h for h, _ in columns], [[get(item) for _, get in columns] for item in items])
