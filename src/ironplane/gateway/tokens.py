"""Ironplane API tokens on the request path: ``ipt_<16 hex id>_<secret>``.

The control plane stores only ``sha256(secret)``; its snapshot gives the gateway one key entry
per active token with that hash and the token's id. A bearer that starts with ``ipt_`` is found
by its id (a dict lookup on a slice of the header, no parsing beyond that), its secret's SHA-256
compared in constant time, and its expiry checked: the same cost as a file key's lookup (one
SHA-256 of a short string) plus a clock read.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import TYPE_CHECKING

from ironplane.core.errors import UnauthenticatedError

if TYPE_CHECKING:
    from ironplane.gateway.state import KeyState

PREFIX = b"ipt_"
_ID_END = 4 + 16
_SEP = ord("_")


class Token:
    __slots__ = ("digest", "expires_at", "key")

    def __init__(self, digest: bytes, expires_at: float | None, key: KeyState) -> None:
        self.digest = digest
        """SHA-256 of the secret part (32 bytes)."""
        self.expires_at = expires_at
        self.key = key


def find(tokens: dict[bytes, Token], bearer: bytes) -> KeyState | None:
    """The key of an Ironplane token, None when no entry has its id (maybe a file key).

    Raises UnauthenticatedError for a known id with the wrong secret or past its expiry.
    """
    if len(bearer) <= _ID_END + 1 or bearer[_ID_END] != _SEP:
        return None
    token = tokens.get(bearer[4:_ID_END])
    if token is None:
        return None
    if not hmac.compare_digest(hashlib.sha256(bearer[_ID_END + 1 :]).digest(), token.digest):
        raise UnauthenticatedError("invalid API key")
    if token.expires_at is not None and time.time() >= token.expires_at:
        raise UnauthenticatedError(
            "this token has expired; create a new one (`ironplane tokens create`)"
        )
    return token.key
