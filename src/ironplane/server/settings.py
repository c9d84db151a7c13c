"""ServerSettings: every knob of the control plane, read once from the environment."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from ironplane.core.logs import LogFormat


def default_data_dir() -> Path:
    return Path.home() / ".local" / "share" / "ironplane"


class ServerSettings(BaseSettings):
    """Read from ``IRONPLANE_*`` environment variables; tests pass values directly."""

    model_config = SettingsConfigDict(env_prefix="IRONPLANE_", extra="ignore", frozen=True)

    data_dir: Path = Field(default_factory=default_data_dir)
    """Holds the SQLite database and the generated secret key in the embedded default."""
    database_url: str | None = Field(default=None, repr=False)
    """``postgresql://user@host/db`` in production; None: SQLite in ``data_dir``. It may hold a
    password, so it is left out of the settings' repr (and so of logs and tracebacks)."""
    secret_key: SecretStr | None = None
    """Fernet key (urlsafe base64 of 32 bytes) for secrets at rest; None: generated once and kept
    in ``data_dir/secret.key`` (mode 0600)."""
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    """0: any free port (the one bound is logged)."""
    max_body_bytes: int = Field(default=4 * 1024 * 1024, ge=1024)
    """Request bodies larger than this are refused with 413."""
    session_ttl_hours: int = Field(default=12, ge=1, le=24 * 30)
    """Lifetime of the token a password login returns."""
    login_max_failures: int = Field(default=5, ge=1)
    """Failed password logins per user name within ``login_window_s`` before 429."""
    login_max_failures_per_address: int = Field(default=50, ge=1)
    """Failed password logins per client address within the window before 429."""
    login_window_s: float = Field(default=300.0, gt=0)
    admin_name: str = "admin"
    bootstrap_token_file: Path | None = None
    """Where the first start writes the admin's one-time token (mode 0600), not to stdout."""
    agent_heartbeat_s: float = Field(default=15.0, gt=0)
    """Both sides ping this often; a peer silent for three intervals is dropped."""
    agent_poll_s: float = Field(default=30.0, gt=0)
    """How often a session re-checks its cluster's revision and token (commits wake it at once)."""
    agent_command_timeout_s: float = Field(default=15.0, gt=0, le=600)
    """How long an on-demand request to an agent (logs, restart, run, promote...) may take."""
    db_pool_size: int = Field(default=10, ge=1, le=200)
    sqlite_busy_timeout_s: float = Field(default=30.0, gt=0)
    log_format: LogFormat = "json"
    """``json``: one JSON object per line (ts, level, logger, msg, request_id...); ``text``."""
    metrics_public: bool = True
    """``GET /metrics`` (Prometheus) answers without a token; False: it needs any user or
    service-account token. It shows counts and latencies, never names of secrets or tokens."""
    telemetry_retention_hours: int = Field(default=48, ge=1, le=24 * 90)
    """How long the GPU and request telemetry the agents send is kept."""

    @property
    def sqlite_path(self) -> Path:
        return self.data_dir / "ironplane.db"

    def resolved_database_url(self) -> str:
        """The SQLAlchemy async URL for the configured database."""
        url = self.database_url
        if not url:
            return f"sqlite+aiosqlite:///{self.sqlite_path}"
        for prefix, driver in (
            ("postgresql://", "postgresql+asyncpg://"),
            ("postgres://", "postgresql+asyncpg://"),
            ("sqlite://", "sqlite+aiosqlite://"),
        ):
            if url.startswith(prefix):
                return driver + url[len(prefix) :]
        return url
