"""Checking a downloaded object against what the server says it is.

Strategy (after the download, by reading the finished file once, sequentially):

* the size must equal the listed size (every ranged response is also checked for its length);
* a plain ETag (32 hex digits: a single-part upload) is the MD5 of the content: compare;
* a multipart ETag (``md5-of-part-md5s-N``) is recomputed with the upload's part size. That size
  comes from ``HEAD ?partNumber=1`` where the server answers it (AWS S3 does), else from the
  part sizes that uploaders use (``ceil(size/N)`` rounded up to a MiB, 5/8/16/.../512 MiB) that
  give exactly N parts: all candidates are hashed in the same single read pass;
  when no guess matches (and the server did not tell the part size) only the size is checked;
* any other ETag (some stores do not use MD5s) leaves the size as the only check: reported as
  ``"size"`` in the result.

A mismatch means corruption; the caller downloads the object once more, then gives up.
Every ranged GET also carries ``If-Match: <etag>``, so an object replaced mid-download fails
loudly instead of mixing two versions.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass

MIB = 1024 * 1024
_PLAIN = re.compile(r"^[0-9a-f]{32}$")
_MULTI = re.compile(r"^([0-9a-f]{32})-(\d+)$")
_COMMON_PART_SIZES = (5, 8, 10, 15, 16, 25, 32, 50, 64, 100, 128, 256, 512)
_READ = 8 * MIB


@dataclass(frozen=True)
class Expectation:
    kind: str
    """``md5`` (single-part), ``multipart-md5`` or ``size`` (the ETag is not an MD5)."""
    digest: str
    parts: int


def expectation(etag: str) -> Expectation:
    etag = etag.strip('"').lower()
    if _PLAIN.match(etag):
        return Expectation("md5", etag, 1)
    m = _MULTI.match(etag)
    if m:
        return Expectation("multipart-md5", m.group(1), int(m.group(2)))
    return Expectation("size", "", 0)


def _parts_for(size: int, part: int) -> int:
    return max(1, -(-size // part))


def candidate_part_sizes(size: int, parts: int, hint: int | None) -> list[int]:
    """Part sizes that split ``size`` bytes into exactly ``parts`` parts, likeliest first."""
    out: list[int] = []
    if hint and _parts_for(size, hint) == parts:
        return [hint]
    per_part = -(-size // parts)
    guess = -(-per_part // MIB) * MIB  # ceil(size / parts), rounded up to a MiB
    for p in (guess, *(c * MIB for c in _COMMON_PART_SIZES)):
        if _parts_for(size, p) == parts and p not in out:
            out.append(p)
    return out[:3]


def check(path: os.PathLike[str] | str, size: int, etag: str, part_hint: int | None) -> str | None:
    """Verify the file; return the method that passed, or ``None`` on a mismatch."""
    if os.path.getsize(path) != size:
        return None
    exp = expectation(etag)
    if exp.kind == "size":
        return "size"
    if exp.kind == "md5":
        h = hashlib.md5(usedforsecurity=False)
        with open(path, "rb") as f:
            while block := f.read(_READ):
                h.update(block)
        return "md5" if h.hexdigest() == exp.digest else None
    candidates = candidate_part_sizes(size, exp.parts, part_hint)
    if not candidates:
        return "size"
    # One pass over the file, one running composite per candidate part size.
    composites = [hashlib.md5(usedforsecurity=False) for _ in candidates]
    current = [hashlib.md5(usedforsecurity=False) for _ in candidates]
    filled = [0 for _ in candidates]
    with open(path, "rb") as f:
        while block := f.read(_READ):
            for i, p in enumerate(candidates):
                view = memoryview(block)
                while view:
                    take = min(len(view), p - filled[i])
                    current[i].update(view[:take])
                    filled[i] += take
                    view = view[take:]
                    if filled[i] == p:
                        composites[i].update(current[i].digest())
                        current[i] = hashlib.md5(usedforsecurity=False)
                        filled[i] = 0
    for i in range(len(candidates)):
        if filled[i]:
            composites[i].update(current[i].digest())
        if composites[i].hexdigest() == exp.digest:
            return "multipart-md5"
    # With the part size known from the server a mismatch is corruption; with guessed sizes
    # it may only mean an unusual uploader: the size is then all that was checked.
    known = part_hint is not None and _parts_for(size, part_hint) == exp.parts
    return None if known else "size"
