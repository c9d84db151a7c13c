"""The call of the cluster bootstrap (the add-on stack through Argo CD)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ironplane.api.bootstrap import BootstrapRequest, BootstrapResult
from ironplane.sdk._call import Call, body, one, path


def clusters_bootstrap(
    name: str,
    *,
    profile: str | None = None,
    existing: Mapping[str, Mapping[str, Any]] | None = None,
    extras: Sequence[str] = (),
    skip: Sequence[str] = (),
    dry_run: bool = False,
) -> Call[BootstrapResult]:
    """Set the cluster's add-on stack: ``profile`` (oci-bare-metal or generic; default from the
    provider), ``existing`` add-ons (name → ``{"namespace": ..., "endpoint": ...}``), ``extras``
    to install as well (victoria-logs) and add-ons to ``skip``. The stored bootstrap section is
    replaced; its agent then installs Argo CD and the app-of-apps."""
    section: dict[str, Any] = {}
    if profile is not None:
        section["profile"] = profile
    if existing:
        section["existing"] = {k: dict(v) for k, v in existing.items()}
    if extras:
        section["extras"] = list(extras)
    if skip:
        section["skip"] = list(skip)
    data = body(BootstrapRequest, bootstrap=section, dry_run=dry_run)
    return Call("POST", path("clusters", name, "bootstrap"), one(BootstrapResult), json=data)
