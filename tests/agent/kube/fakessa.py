"""Pure helpers of the FAKE Kubernetes API server (``fakeapi``): field ownership, merging and
label selectors. Test code, a model of the real thing, not the real thing.

Server-side apply here tracks ownership per (manager, operation) as sets of *leaf paths*: the
path of every scalar, list or empty map in the applied object (maps are descended into, lists
are atomic — the real server merges lists of maps by key, e.g. containers by name; this fake
replaces them whole). That is enough to model what the agent relies on: a field a manager stops
sending is removed when no other manager owns it, a field another manager owns with a different
value is a conflict unless the apply is forced, and an Update (merge patch) by another manager
keeps the fields it set across later applies.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator, Mapping
from typing import Any

Path = tuple[str, ...]
Owner = tuple[str, str]  # (manager, operation): operation is "Apply" or "Update"
Managers = dict[Owner, set[Path]]

# Fields the server owns: never tracked, never removed, never taken from the request.
IDENTITY_META = {
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "managedFields",
    "selfLink",
}


def user_fields(obj: Mapping[str, Any]) -> dict[str, Any]:
    """The part of an object that managers own: everything but identity, status and typing."""
    out: dict[str, Any] = {}
    for key, value in obj.items():
        if key in ("apiVersion", "kind", "status"):
            continue
        if key == "metadata" and isinstance(value, Mapping):
            meta = {k: v for k, v in value.items() if k not in IDENTITY_META}
            if meta:
                out["metadata"] = meta
            continue
        out[key] = value
    return out


def leaf_paths(obj: Mapping[str, Any], prefix: Path = ()) -> Iterator[tuple[Path, Any]]:
    for key, value in obj.items():
        path = (*prefix, str(key))
        if isinstance(value, Mapping) and value:
            yield from leaf_paths(value, path)
        else:
            yield path, value


def get_path(obj: Any, path: Path) -> tuple[bool, Any]:
    for key in path:
        if not isinstance(obj, Mapping) or key not in obj:
            return False, None
        obj = obj[key]
    return True, obj


def _related(a: Path, b: Path) -> bool:
    """One path is the other or contains it."""
    shorter = min(len(a), len(b))
    return a[:shorter] == b[:shorter]


def delete_path(obj: dict[str, Any], path: Path, keep: set[Path]) -> None:
    """Remove the field at ``path``, then parent maps it leaves empty (unless owned: ``keep``)."""
    chain: list[dict[str, Any]] = [obj]
    node: Any = obj
    for key in path[:-1]:
        if not isinstance(node, dict) or key not in node:
            return
        node = node[key]
        chain.append(node)
    if not isinstance(node, dict) or path[-1] not in node:
        return
    del node[path[-1]]
    for depth in range(len(path) - 1, 0, -1):
        parent, child_key = chain[depth - 1], path[depth - 1]
        child = parent.get(child_key)
        if isinstance(child, dict) and not child and path[:depth] not in keep:
            del parent[child_key]
        else:
            break


def deep_merge(into: dict[str, Any], patch: Mapping[str, Any]) -> None:
    """Apply semantics: maps merge key by key, everything else (lists included) replaces."""
    for key, value in patch.items():
        current = into.get(key)
        if isinstance(value, Mapping) and isinstance(current, dict):
            deep_merge(current, value)
        else:
            into[key] = copy.deepcopy(value)


def merge_patch(into: dict[str, Any], patch: Mapping[str, Any]) -> None:
    """RFC 7386 JSON merge patch: ``null`` deletes, maps merge, the rest replaces."""
    for key, value in patch.items():
        if value is None:
            into.pop(key, None)
        elif isinstance(value, Mapping):
            current = into.get(key)
            if not isinstance(current, dict):
                current = into[key] = {}
            merge_patch(current, value)
        else:
            into[key] = copy.deepcopy(value)


class ApplyConflict(Exception):
    def __init__(self, conflicts: list[tuple[str, Path]]) -> None:
        self.conflicts = conflicts
        noun = "conflict" if len(conflicts) == 1 else "conflicts"
        lines = "\n".join(f'- conflict with "{m}": .{".".join(p)}' for m, p in conflicts)
        super().__init__(f"Apply failed with {len(conflicts)} {noun}:\n{lines}")


def _conflict(
    owned: Path, applied: Path, current: Mapping[str, Any], body: Mapping[str, Any]
) -> bool:
    """Does applying the leaf ``applied`` take the field ``owned`` (another manager's) away?"""
    if owned == applied:
        return get_path(current, owned) != get_path(body, applied)
    if owned[: len(applied)] == applied:  # we set a shallower leaf: fine if it is just a map
        return get_path(body, applied)[1] != {}
    if applied[: len(owned)] == owned:  # we go deeper than their leaf: fine if theirs is a map
        return not isinstance(get_path(current, owned)[1], Mapping)
    return False


def apply(
    live: Mapping[str, Any] | None,
    applied: Mapping[str, Any],
    managers: Managers,
    manager: str,
    *,
    force: bool,
) -> tuple[dict[str, Any], Managers]:
    """Server-side apply of ``applied`` by ``manager`` onto ``live``: the new user fields and
    the new ownership. Raises ``ApplyConflict`` when not forced and another manager owns a field
    with a different value."""
    body = user_fields(applied)
    new_paths = dict(leaf_paths(body))
    current = user_fields(live or {})
    me: Owner = (manager, "Apply")
    owners = {owner: set(paths) for owner, paths in managers.items()}

    # Another manager's field that the applied object sets to a different value (or replaces
    # with a map, or drops a parent of) is a conflict; the same value is shared ownership.
    conflicts: list[tuple[Owner, Path]] = []
    for owner, paths in owners.items():
        if owner == me:
            continue
        for owned in paths:
            if any(_conflict(owned, path, current, body) for path in new_paths):
                conflicts.append((owner, owned))
    if conflicts and not force:
        raise ApplyConflict(sorted({(owner[0], path) for owner, path in conflicts}))
    for owner, path in conflicts:  # forced: the applier takes them
        owners[owner].discard(path)

    result = copy.deepcopy(current)
    others: set[Path] = set().union(*(p for o, p in owners.items() if o != me))
    for path in sorted(owners.get(me, set()) - new_paths.keys(), key=len, reverse=True):
        if not any(_related(path, other) for other in others):
            delete_path(result, path, keep=others | set(new_paths))
    deep_merge(result, body)
    owners[me] = set(new_paths)
    return result, {o: p for o, p in owners.items() if p}


def update(
    live: Mapping[str, Any],
    patch: Mapping[str, Any],
    managers: Managers,
    manager: str,
) -> tuple[dict[str, Any], Managers]:
    """A merge patch by ``manager`` (operation Update): it owns what it set, never conflicts."""
    result = copy.deepcopy(user_fields(live))
    merge_patch(result, user_fields(patch))
    me: Owner = (manager, "Update")
    owners = {owner: set(paths) for owner, paths in managers.items()}
    touched = {p for p, _ in leaf_paths(user_fields(patch))}
    set_paths = {p for p, v in leaf_paths(user_fields(patch)) if v is not None}
    for owner, paths in owners.items():
        if owner != me:
            paths.difference_update({o for o in paths if any(_related(o, t) for t in touched)})
    owners.setdefault(me, set()).update(set_paths)
    owners[me].difference_update(touched - set_paths)
    return result, {o: p for o, p in owners.items() if p}


def fields_v1(paths: set[Path]) -> dict[str, Any]:
    """The ``fieldsV1`` rendering of a set of paths (``f:`` prefixed keys, ``{}`` leaves)."""
    root: dict[str, Any] = {}
    for path in sorted(paths):
        node = root
        for key in path:
            node = node.setdefault(f"f:{key}", {})
    return root


# --- label selectors --------------------------------------------------------------------------

_KEY = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9_./]*[A-Za-z0-9])?")
_VALUE = re.compile(r"([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?")
_SET_EXPR = re.compile(r"^\s*([^\s!=,()]+)\s+(in|notin)\s+\(([^)]*)\)\s*$")


class SelectorError(ValueError):
    pass


def _split_requirements(text: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return [p.strip() for p in parts if p.strip()]


def parse_selector(text: str | None) -> list[tuple[str, str, set[str]]]:
    """``k=v``, ``k==v``, ``k!=v``, ``k``, ``!k``, ``k in (a,b)``, ``k notin (a,b)``, comma-joined:
    a list of (key, op, values) requirements, all of which must hold."""
    reqs: list[tuple[str, str, set[str]]] = []
    for part in _split_requirements(text or ""):
        if match := _SET_EXPR.match(part):
            values = {v.strip() for v in match.group(3).split(",") if v.strip()}
            reqs.append((match.group(1), match.group(2), values))
        elif "!=" in part:
            key, value = part.split("!=", 1)
            reqs.append((key.strip(), "!=", {value.strip()}))
        elif "=" in part:
            key, value = part.split("==", 1) if "==" in part else part.split("=", 1)
            reqs.append((key.strip(), "=", {value.strip()}))
        elif part.startswith("!"):
            reqs.append((part[1:].strip(), "!", set()))
        elif re.fullmatch(r"[A-Za-z0-9./_-]+", part):
            reqs.append((part, "exists", set()))
        else:
            raise SelectorError(f"unable to parse requirement: {part!r}")
    for key, _, values in reqs:
        if not _KEY.fullmatch(key) or not all(_VALUE.fullmatch(v) for v in values):
            raise SelectorError(f"invalid label key or value in {text!r}")
    return reqs


def selector_matches(reqs: list[tuple[str, str, set[str]]], labels: Mapping[str, str]) -> bool:
    for key, op, values in reqs:
        present = key in labels
        value = labels.get(key)
        ok = {
            "=": present and value in values,
            "in": present and value in values,
            "!=": not present or value not in values,
            "notin": not present or value not in values,
            "exists": present,
            "!": not present,
        }[op]
        if not ok:
            return False
    return True
