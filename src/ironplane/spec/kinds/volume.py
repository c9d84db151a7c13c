"""Volume: persistent storage in a workspace."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ironplane.spec.base import Name, Quantity, SpecModel


class VolumeSpec(SpecModel):
    kind: Literal["Volume"]
    name: Name
    workspace: Name | None = None
    type: Literal["fss", "block", "local-nvme"] = Field(
        description="fss: RWX file storage; block: ReadOnlyMany multi-attach; local-nvme: node disk"
    )
    size: Quantity
    storage_class: str | None = Field(
        default=None, pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$", description="override"
    )
