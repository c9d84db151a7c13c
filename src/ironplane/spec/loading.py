"""Load spec documents from YAML files: parse, fill CLI defaults, validate, locate errors."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from ironplane.core.diagnostics import Diagnostic, closest
from ironplane.core.errors import InvalidError, SpecError
from ironplane.spec.errors import from_pydantic
from ironplane.spec.kinds import KINDS, Spec
from ironplane.yamlsource import Mark, SourceMap, read_documents

WORKSPACED = ("Service", "Model", "Job", "TrainingJob", "Volume")


@dataclass(frozen=True, slots=True)
class Document:
    """One parsed spec and where it came from."""

    spec: Spec
    where: SourceMap
    index: int

    @property
    def subject(self) -> str:
        return f"{self.spec.kind} {self.spec.name!r}"

    def problem(self, diagnostic: Diagnostic) -> Diagnostic:
        """Attach this document's file, line and subject to a path-only diagnostic."""
        located = self.where.locate(diagnostic)
        return located if located.subject else replace(located, subject=self.subject)


def _subject(data: dict[str, Any]) -> str:
    name = data.get("name")
    kind = data.get("kind", "document")
    return f"{kind} {name!r}" if isinstance(name, str) else str(kind)


def _kind_problem(data: Any, where: SourceMap) -> Diagnostic | None:
    allowed = ", ".join(KINDS)
    if not isinstance(data, dict):
        return where.locate(
            Diagnostic(
                f"a spec document must be a mapping, not a {type(data).__name__}",
                allowed="a mapping with kind, name and the kind's fields",
            )
        )
    kind = data.get("kind")
    if kind is None:
        return where.locate(Diagnostic("required field 'kind' is missing", allowed=allowed))
    if not isinstance(kind, str) or kind not in KINDS:
        guess = closest(str(kind), KINDS)
        hint = f"did you mean {guess!r}?" if guess else None
        if isinstance(data.get("apiVersion"), str):
            hint = "this looks like a Kubernetes manifest; check those with `ironplane validate`"
        return where.locate(
            Diagnostic("unknown kind", path=("kind",), given=repr(kind), allowed=allowed, hint=hint)
        )
    return None


def load_documents(
    text: str, source: str, *, default_workspace: str | None = None
) -> tuple[list[Document], list[Diagnostic]]:
    """Every valid document of a YAML stream, and a diagnostic for each problem found."""
    docs: list[Document] = []
    problems: list[Diagnostic] = []
    try:
        raws = list(read_documents(text, source))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (None, None)
        problems.append(
            Diagnostic(
                f"YAML syntax error: {exc.problem or exc}",
                source=source,
                line=line,
                column=col,
                hint=str(exc.context) if exc.context else None,
            )
        )
        return docs, problems
    except yaml.reader.ReaderError as exc:
        # The reader refuses control characters before parsing; it gives an offset, not a mark.
        at = max(0, min(exc.position, len(text)))
        code = (
            exc.character if isinstance(exc.character, int) else ord(str(exc.character)[:1] or " ")
        )
        problems.append(
            Diagnostic(
                f"YAML syntax error: {exc.reason} (character {code:#04x})",
                source=source,
                line=text.count("\n", 0, at) + 1,
                column=at - text.rfind("\n", 0, at),
                hint="remove the control character; YAML allows tabs, newlines and printable text",
            )
        )
        return docs, problems
    for raw in raws:
        problems.extend(raw.problems)
        bad_kind = _kind_problem(raw.data, raw.where)
        if bad_kind is not None:
            problems.append(bad_kind)
            continue
        data = dict(raw.data)
        model = KINDS[data["kind"]]
        if default_workspace and data["kind"] in WORKSPACED and "workspace" not in data:
            data["workspace"] = default_workspace
        try:
            spec = model.model_validate(data)
        except ValidationError as exc:
            problems.extend(from_pydantic(exc, model, raw.where, _subject(data)))
            continue
        docs.append(Document(spec=spec, where=raw.where, index=raw.index))
    return docs, problems


def _expand(paths: Iterable[Path | str]) -> list[Path | str]:
    out: list[Path | str] = []
    for entry in paths:
        if entry == "-":
            out.append(entry)
            continue
        path = Path(entry)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml"))
            if not found:
                raise InvalidError(f"{path}: directory holds no .yaml or .yml file")
            out.extend(found)
        else:
            out.append(path)
    return out


def load_texts(
    texts: Iterable[tuple[str, str]], *, default_workspace: str | None = None
) -> list[Document]:
    """Load and check every document of every (source, text); raise ``SpecError`` listing all."""
    docs: list[Document] = []
    problems: list[Diagnostic] = []
    for source, text in texts:
        found, bad = load_documents(text, source, default_workspace=default_workspace)
        docs.extend(found)
        problems.extend(bad)
    problems.extend(_duplicates(docs))
    if problems:
        raise SpecError(problems, summary=_summary(problems))
    return docs


def _read(entry: Path | str) -> tuple[str, str]:
    if entry == "-":
        return "<stdin>", sys.stdin.read()
    path = Path(entry)
    try:
        return str(path), path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InvalidError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidError(f"{path}: cannot read: {exc}") from None


def load_files(
    paths: Sequence[Path | str], *, default_workspace: str | None = None
) -> list[Document]:
    """Load and check every document of every file; raise ``SpecError`` listing all problems."""
    return load_texts([_read(e) for e in _expand(paths)], default_workspace=default_workspace)


def _summary(problems: Sequence[Diagnostic]) -> str:
    n = len(problems)
    return f"{n} problem{'s' if n != 1 else ''} in the specs:"


def _duplicates(docs: Sequence[Document]) -> list[Diagnostic]:
    seen: dict[tuple[str, str | None, str], Document] = {}
    problems: list[Diagnostic] = []
    for doc in docs:
        key = (doc.spec.kind, getattr(doc.spec, "workspace", None), doc.spec.name)
        first = seen.get(key)
        if first is not None:
            mark: Mark = first.where.start
            problems.append(
                doc.problem(
                    Diagnostic(
                        f"defined twice (first in {first.where.source}:{mark.line})",
                        path=("name",),
                        given=repr(doc.spec.name),
                        hint="give each object of a kind a unique name in its workspace",
                    )
                )
            )
        else:
            seen[key] = doc
    return problems
