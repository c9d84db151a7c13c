"""Writing files that hold secrets (tokens, keys): atomically, readable by the owner only."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically with mode 0600.

    The text goes to a fresh temporary file beside the target (``mkstemp``: created with
    ``O_EXCL`` and mode 0600, so never a stale or planted one), is synced, then renamed over the
    target: a reader never sees half a file, and no one else can read it, not even for a moment.
    """
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            os.fchmod(f.fileno(), 0o600)
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
