"""Encryption of secret values at rest (Fernet: AES-128-CBC with HMAC-SHA256)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from ironplane.core.errors import UnavailableError
from ironplane.server.settings import ServerSettings


class SecretBox:
    def __init__(self, key: bytes) -> None:
        try:
            self._fernet = Fernet(key)
        except ValueError as exc:
            raise UnavailableError(
                "IRONPLANE_SECRET_KEY is not a valid key: it must be 32 url-safe base64-encoded "
                "bytes (make one with `python -c 'from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())'`)"
            ) from exc

    @classmethod
    def from_settings(cls, settings: ServerSettings) -> SecretBox:
        if settings.secret_key is not None:
            return cls(settings.secret_key.get_secret_value().encode())
        return cls(_key_file(settings.data_dir / "secret.key"))

    def seal(self, values: dict[str, str]) -> bytes:
        return self._fernet.encrypt(json.dumps(values, sort_keys=True).encode())

    def open(self, sealed: bytes) -> dict[str, str]:
        try:
            data = json.loads(self._fernet.decrypt(sealed))
        except InvalidToken as exc:
            raise UnavailableError(
                "a secret group cannot be decrypted: the server's secret key changed since it "
                "was written"
            ) from exc
        assert isinstance(data, dict)
        return {str(k): str(v) for k, v in data.items()}


def _key_file(path: Path) -> bytes:
    """The embedded default's key: made once, readable only by its owner."""
    if path.exists():
        return path.read_bytes().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = Fernet.generate_key()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key + b"\n")
    return key
