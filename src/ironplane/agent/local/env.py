"""Container environment: Kubernetes ``$(VAR)`` expansion and values from Secrets, ConfigMaps and
the pod's fields, resolved against the desired set of objects."""

from __future__ import annotations

import base64
import binascii
import socket
from collections.abc import Iterable, Mapping
from typing import Any

from ironplane.wire.agent_protocol import Object


class ConfigError(Exception):
    """The container cannot be configured from the objects at hand (a missing Secret…)."""


def expand(text: str, env: Mapping[str, str]) -> str:
    """Kubernetes ``$(VAR)`` expansion: unknown references stay as written, ``$$`` is ``$``."""
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        char = text[i]
        if char != "$" or i + 1 >= n:
            out.append(char)
            i += 1
            continue
        following = text[i + 1]
        if following == "$":
            out.append("$")
            i += 2
        elif following == "(":
            close = text.find(")", i + 2)
            if close < 0:
                out.append("$(")
                i += 2
            else:
                name = text[i + 2 : close]
                out.append(env.get(name, f"$({name})"))
                i = close + 1
        else:
            out.append("$" + following)
            i += 2
    return "".join(out)


class Sources:
    """Secrets and ConfigMaps of the desired set, by (namespace, name)."""

    def __init__(self, objects: Iterable[Object]) -> None:
        self.secrets: dict[tuple[str, str], dict[str, str]] = {}
        self.configmaps: dict[tuple[str, str], dict[str, str]] = {}
        for obj in objects:
            if obj.get("apiVersion") != "v1" or obj.get("kind") not in ("Secret", "ConfigMap"):
                continue
            meta = obj.get("metadata") or {}
            key = (str(meta.get("namespace", "")), str(meta.get("name", "")))
            if obj["kind"] == "ConfigMap":
                self.configmaps[key] = {str(k): str(v) for k, v in (obj.get("data") or {}).items()}
                continue
            values: dict[str, str] = {}
            for k, v in (obj.get("data") or {}).items():
                try:
                    values[str(k)] = base64.b64decode(str(v), validate=True).decode(
                        "utf-8", "replace"
                    )
                except (binascii.Error, ValueError):
                    values[str(k)] = ""
            values.update({str(k): str(v) for k, v in (obj.get("stringData") or {}).items()})
            self.secrets[key] = values

    def lookup(self, what: str, namespace: str, ref: Mapping[str, Any]) -> dict[str, str] | None:
        store = self.secrets if what == "Secret" else self.configmaps
        name = str(ref.get("name", ""))
        found = store.get((namespace, name))
        if found is None and not ref.get("optional"):
            raise ConfigError(f"{what} {namespace}/{name} is not in the desired state")
        return found

    def value(self, what: str, namespace: str, ref: Mapping[str, Any], var: str) -> str | None:
        found = self.lookup(what, namespace, ref)
        key = str(ref.get("key", ""))
        if found is not None and key in found:
            return found[key]
        if ref.get("optional"):
            return None
        name = str(ref.get("name", ""))
        raise ConfigError(f"env {var}: {what} {namespace}/{name} has no key {key!r}")


def resolve_env(
    container: Mapping[str, Any], namespace: str, name: str, sources: Sources
) -> tuple[tuple[str, str], ...]:
    values: dict[str, str] = {}
    for source in container.get("envFrom") or []:
        prefix = str(source.get("prefix", ""))
        for what, ref_key in (("Secret", "secretRef"), ("ConfigMap", "configMapRef")):
            if ref_key in source:
                found = sources.lookup(what, namespace, source[ref_key]) or {}
                values.update({prefix + k: v for k, v in found.items()})
    for item in container.get("env") or []:
        var = str(item.get("name", ""))
        ref = item.get("valueFrom")
        if ref is None:
            values[var] = str(item.get("value", ""))
            continue
        value: str | None
        if "secretKeyRef" in ref:
            value = sources.value("Secret", namespace, ref["secretKeyRef"], var)
        elif "configMapKeyRef" in ref:
            value = sources.value("ConfigMap", namespace, ref["configMapKeyRef"], var)
        elif "fieldRef" in ref:
            path = str(ref["fieldRef"].get("fieldPath", ""))
            fields = {
                "metadata.name": name,
                "metadata.namespace": namespace,
                "spec.nodeName": socket.gethostname(),
                "status.podIP": "127.0.0.1",
                "status.hostIP": "127.0.0.1",
            }
            if path not in fields:
                raise ConfigError(f"env {var}: fieldRef {path!r} is not supported locally")
            value = fields[path]
        else:
            raise ConfigError(f"env {var}: valueFrom {sorted(ref)} is not supported locally")
        if value is not None:
            values[var] = value
    return tuple(values.items())
