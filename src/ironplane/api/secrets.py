"""Secret groups: named sets of key/value secrets in a workspace, encrypted at rest."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field, SecretStr

from ironplane.api.common import Request, Response


class SecretGroupPut(Request):
    values: dict[str, SecretStr] = Field(min_length=1, max_length=200)


class SecretGroup(Response):
    workspace: str
    name: str
    keys: list[str]
    updated_at: datetime


class SecretGroupValues(SecretGroup):
    values: dict[str, str]
