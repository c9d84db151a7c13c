"""Deleting rows past their retention without a scheduler: at most every so often per process
and database, after the request's own transaction, so that a failed clean-up loses nothing (it
is logged and tried again next time)."""

from __future__ import annotations

import logging
import time
import weakref

from sqlalchemy import Delete

from ironplane.server.db.engine import Database

LastPrune = weakref.WeakKeyDictionary[Database, float]
"""Monotonic time of each database's last clean-up in this process."""


async def delete_if_due(
    db: Database, last: LastPrune, every_s: float, stmt: Delete, *, log: logging.Logger, what: str
) -> int | None:
    """Run ``stmt`` in a session of its own unless ``db`` was cleaned up less than ``every_s``
    ago; the number of rows deleted, or None when not due or failed."""
    clock = time.monotonic()
    previous = last.get(db)
    if previous is not None and clock - previous < every_s:
        return None
    last[db] = clock
    try:
        async with db.session() as s:
            result = await s.execute(stmt)
    except Exception:
        log.exception("could not delete old %s", what)
        return None
    return int(getattr(result, "rowcount", 0) or 0)
