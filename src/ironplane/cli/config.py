"""The CLI's connection settings: a small YAML file, overridden by environment variables.

The file is ``$IRONPLANE_CONFIG``, else ``$XDG_CONFIG_HOME/ironplane/config.yaml``, else
``~/.config/ironplane/config.yaml``; it holds ``url`` and ``token`` and is written by
``ironplane login`` with mode 0600. ``IRONPLANE_URL`` and ``IRONPLANE_TOKEN`` override it. This
module is the only one that reads those variables.

The file's token belongs to the file's server: with ``IRONPLANE_URL`` naming another server it is
not used (it would be sent to that server), and ``IRONPLANE_TOKEN`` must give one.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ironplane.core.errors import InvalidError, UnauthenticatedError
from ironplane.core.files import write_private

ENV_CONFIG = "IRONPLANE_CONFIG"
ENV_URL = "IRONPLANE_URL"
ENV_TOKEN = "IRONPLANE_TOKEN"
_LOGIN = "run `ironplane login --url URL` (or set IRONPLANE_URL and IRONPLANE_TOKEN)"


@dataclass(frozen=True, slots=True)
class CliConfig:
    path: Path
    """The config file (which may not exist)."""
    url: str | None = None
    token: str | None = field(default=None, repr=False)
    env_overrides: tuple[str, ...] = ()
    """The environment variables that replaced values of the file."""
    withheld_for: str | None = None
    """The file's server, when its token was held back because IRONPLANE_URL names another."""

    def remote(self) -> tuple[str, str]:
        """The server URL and the token, or an error telling how to log in."""
        if not self.url:
            raise UnauthenticatedError(f"no Ironplane server configured: {_LOGIN}")
        if not self.token:
            why = (
                f" (the saved token is for {self.withheld_for}, not sent to another server; "
                f"set {ENV_TOKEN} too)"
                if self.withheld_for
                else ""
            )
            raise UnauthenticatedError(f"not logged in to {self.url}{why}: {_LOGIN}")
        return self.url, self.token


def config_path(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    if env.get(ENV_CONFIG):
        return Path(env[ENV_CONFIG]).expanduser()
    base = env.get("XDG_CONFIG_HOME") or ""
    root = Path(base) if Path(base).is_absolute() else Path.home() / ".config"
    return root / "ironplane" / "config.yaml"


def _read(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidError(f"config file {path}: cannot read: {exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InvalidError(f"config file {path}: not valid YAML: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InvalidError(f"config file {path}: must be a mapping with url and token")
    for key in ("url", "token"):
        if data.get(key) is not None and not isinstance(data[key], str):
            raise InvalidError(f"config file {path}: {key} must be a string")
    return data


def load_config(env: Mapping[str, str] | None = None) -> CliConfig:
    """The file's values with the environment's on top."""
    env = os.environ if env is None else env
    path = config_path(env)
    data = _read(path)
    file_url, token = data.get("url") or None, data.get("token") or None
    url = file_url
    overrides = []
    withheld = None
    if env.get(ENV_URL):
        url = env[ENV_URL]
        overrides.append(ENV_URL)
    if env.get(ENV_TOKEN):
        token = env[ENV_TOKEN]
        overrides.append(ENV_TOKEN)
    elif token and not same_server(url, file_url):
        # The file's token is for the file's server only: never send it anywhere else.
        token, withheld = None, file_url
    return CliConfig(
        path=path,
        url=url or None,
        token=token or None,
        env_overrides=tuple(overrides),
        withheld_for=withheld,
    )


def same_server(a: str | None, b: str | None) -> bool:
    """Whether two server URLs are the same, up to trailing slashes."""
    return a is not None and b is not None and a.rstrip("/") == b.rstrip("/")


def save_config(path: Path, *, url: str, token: str) -> None:
    """Write ``url`` and ``token`` (keeping any other keys) atomically, readable by the owner only.

    The new file is written beside the old one with mode 0600 and renamed over it, so a reader
    never sees half a file and the token is never readable by others, not even for a moment.
    """
    data = _read(path)
    data.update(url=url, token=token)
    text = yaml.safe_dump(data, sort_keys=False, default_flow_style=False)
    write_private(path, text)
