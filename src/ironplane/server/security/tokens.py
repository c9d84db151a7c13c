"""Bearer tokens: ``ipt_<id>_<secret>``. The id finds the row; only a hash of the secret is kept.

The secret has 256 bits of entropy, so a single SHA-256 is enough (no stretching needed, unlike
passwords); it is compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

PREFIX = "ipt_"


@dataclass(frozen=True, slots=True)
class Minted:
    id: str
    secret: str
    """The whole bearer token, shown once."""
    secret_hash: str


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def mint() -> Minted:
    token_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    return Minted(id=token_id, secret=f"{PREFIX}{token_id}_{secret}", secret_hash=_digest(secret))


def parse(bearer: str) -> tuple[str, str] | None:
    """(id, secret) of a well-formed token, else None."""
    if not bearer.startswith(PREFIX) or len(bearer) > 200:
        return None
    token_id, sep, secret = bearer[len(PREFIX) :].partition("_")
    if not sep or len(token_id) != 16 or not secret:
        return None
    return token_id, secret


def matches(secret: str, secret_hash: str) -> bool:
    return hmac.compare_digest(_digest(secret), secret_hash)
