"""Secret groups: named sets of key/value secrets in a workspace, encrypted at rest."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field, SecretStr

from ironplane.api.common import Request, Response

MAX_KEYS = 200
"""The most keys a secret group holds."""


class SecretGroupPut(Request):
    values: dict[str, SecretStr] = Field(min_length=1, max_length=MAX_KEYS)


class SecretGroupPatch(Request):
    values: dict[str, SecretStr | None] = Field(min_length=1, max_length=MAX_KEYS)
    """Keys to set, and keys to delete (``null``); the group's other keys are kept."""


class SecretGroup(Response):
    workspace: str
    name: str
    keys: list[str]
    updated_at: datetime


class SecretGroupValues(SecretGroup):
    values: dict[str, str]
