"""URLs made safe to show: in config errors, /healthz (``config.reload_error``,
``control_plane.error``) and the log.

/healthz needs no key, so nothing it shows may carry a secret. A URL can: ``user:password@``
(a Redis password, basic auth to an upstream) or a query (``?api_key=...``). Both are masked
before a URL is quoted anywhere; the scheme, host, port and path stay, which is what a reader
needs to find the mistake.
"""

from __future__ import annotations

MASK = "***"


def url(text: str) -> str:
    """``text`` with its user-info and query masked: ``redis://***@cache:6379/0``.

    Works on strings that are not valid URLs too (that is when they get quoted): everything
    up to the last ``@`` of the authority goes, even where a password holds ``/`` or ``#``.
    """
    scheme, sep, rest = text.partition("://")
    if not sep:
        scheme, rest = "", text
    if "@" in rest:
        rest = MASK + "@" + rest.rpartition("@")[2]
    for mark in ("?", "#"):
        if mark in rest:
            rest = rest.partition(mark)[0] + mark + MASK
    return f"{scheme}{sep}{rest}"
