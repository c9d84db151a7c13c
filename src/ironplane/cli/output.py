"""Printing for the CLI: YAML streams, diagnostics, and the atomic write of a render directory."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ironplane.core.diagnostics import Diagnostic
from ironplane.core.errors import InvalidError
from ironplane.yamlsource import to_yaml as to_yaml  # the CLI's commands take it from here

MARKER = ".ironplane-render"


def yaml_stream(objects: Iterable[Any]) -> str:
    return "---\n".join(to_yaml(o) for o in objects)


def warn(diagnostics: Sequence[Diagnostic]) -> None:
    for d in diagnostics:
        print("warning: " + d.render(), file=sys.stderr)


def object_filename(index: int, obj: dict[str, Any]) -> str:
    meta = obj.get("metadata", {})
    ns = meta.get("namespace")
    parts = [f"{index:03d}", str(obj.get("kind", "object")).lower()]
    if ns:
        parts.append(ns)
    parts.append(str(meta.get("name", "unnamed")))
    return "-".join(parts) + ".yaml"


def write_directory(target: Path, objects: Sequence[dict[str, Any]]) -> None:
    """Write one file per object; all or nothing, and never over a directory we did not make."""
    write_files(
        target,
        {object_filename(i, obj): to_yaml(obj) for i, obj in enumerate(objects)},
        writer="ironplane render",
    )


def check_output_directory(target: Path, *, writer: str = "ironplane") -> None:
    """Refuse a target that is not a directory, or a non-empty one Ironplane did not write
    (callers check before doing anything else, so that a refusal changes nothing)."""
    if target.exists():
        if not target.is_dir():
            raise InvalidError(f"{target}: exists and is not a directory")
        if any(target.iterdir()) and not (target / MARKER).exists():
            raise InvalidError(
                f"{target}: directory is not empty and was not written by `{writer}`; "
                "choose an empty or new directory"
            )


def write_files(target: Path, files: Mapping[str, str], *, writer: str = "ironplane") -> None:
    """Write ``name → text`` files into ``target``: all or nothing, and never over a directory
    Ironplane did not write.

    The files are written into a fresh sibling directory (mode 0700) which then takes the
    target's place, so a failure leaves the previous contents intact and a reader never sees
    half of them.
    """
    check_output_directory(target, writer=writer)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        for name, text in files.items():
            if "/" in name or name in ("", ".", "..", MARKER):
                raise InvalidError(f"{name!r}: not a plain file name")
            (staging / name).write_text(text, encoding="utf-8")
        (staging / MARKER).write_text(f"written by {writer}; safe to replace\n")
        if target.exists():
            old = target.with_name(f".{target.name}.old-{os.getpid()}")
            target.rename(old)
            staging.rename(target)
            shutil.rmtree(old)
        else:
            staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
