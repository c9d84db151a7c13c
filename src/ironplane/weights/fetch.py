"""``fetch``: download a prefix of an S3-compatible bucket into a node-local, content-keyed cache.

Cache layout under ``dest``::

    <key>/...            the objects, by their path below the prefix; published whole, by rename
    <key>/COMPLETE       JSON describing the content; written before the publishing rename
    <key>.lock           ``flock``-ed while a fetch works on ``<key>`` (one fetch per node)
    <key>.partial/       the work in progress: ``<rel>.part`` files (sparse, written with pwrite
                         at their offsets) and ``<rel>.part.state`` sidecars (JSON: etag, size,
                         part size, completed parts) that let a rerun skip finished parts

``<key>`` is a SHA-256 of the endpoint, bucket, prefix and every object's key, ETag and size:
new content gets a new directory, unchanged content is found and not fetched again.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ironplane.core.errors import InvalidError, IronplaneError, UnavailableError
from ironplane.core.quantities import human_bytes
from ironplane.weights import s3, verify
from ironplane.weights.progress import Meter, Progress
from ironplane.weights.source import Source, parse_source

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

MIB = 1024 * 1024
DEFAULT_PART_SIZE = 64 * MIB
COMPLETE = "COMPLETE"
_CHUNK = MIB
_PART_ATTEMPTS = 3


@dataclass(frozen=True)
class Result:
    path: Path
    """What the engine should load: the cache directory, or the file for a single-object source."""
    directory: Path
    cache_key: str
    cached: bool
    files: int
    bytes: int
    downloaded: int
    """Bytes fetched by this run (0 on a cache hit; less than ``bytes`` after a resume)."""
    verified: dict[str, str] = field(default_factory=dict)
    """Per file, the check that passed: ``md5``, ``multipart-md5`` or ``size``."""


def cache_key(src: Source, objects: list[s3.Object]) -> str:
    doc = {
        "endpoint": src.endpoint or f"aws:{src.region or ''}",
        "bucket": src.bucket,
        "prefix": src.prefix,
        "objects": [[o.key, o.etag.strip('"'), o.size] for o in objects],
    }
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:32]


@contextlib.contextmanager
def _locked(path: Path, log: Callable[[str], None]) -> Iterator[None]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log(f"waiting for another fetch of the same content ({path.name})")
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


class _Job:
    """One object: its ``.part`` file, its state sidecar and its parts."""

    def __init__(self, obj: s3.Object, staging: Path, part_size: int) -> None:
        self.obj = obj
        self.final = staging / obj.rel
        self.part = staging / f"{obj.rel}.part"
        self.state = staging / f"{obj.rel}.part.state"
        self.part_size = part_size
        self.nparts = -(-obj.size // part_size)
        self.done: set[int] = set()
        self.fd = -1
        self.attempt = 0

    def span(self, i: int) -> tuple[int, int]:
        start = i * self.part_size
        return start, min(self.obj.size, start + self.part_size)

    def bytes_done(self) -> int:
        return sum(self.span(i)[1] - self.span(i)[0] for i in self.done)

    def open(self, *, resume: bool) -> None:
        self.part.parent.mkdir(parents=True, exist_ok=True)
        self.done = set()
        if resume:
            self._resume()
        if not self.done:
            with contextlib.suppress(FileNotFoundError):
                self.part.unlink()
            self.state.unlink(missing_ok=True)
        self.fd = os.open(self.part, os.O_RDWR | os.O_CREAT, 0o644)
        os.ftruncate(self.fd, self.obj.size)  # sparse: no blocks until written

    def _resume(self) -> None:
        try:
            state = json.loads(self.state.read_text())
            same = (
                state["etag"] == self.obj.etag
                and state["size"] == self.obj.size
                and state["part_size"] == self.part_size
                and self.part.stat().st_size == self.obj.size
            )
            if same:
                self.done = {int(i) for i in state["completed"] if 0 <= int(i) < self.nparts}
        except (OSError, ValueError, KeyError, TypeError):
            self.done = set()

    def save(self) -> None:
        doc = {
            "etag": self.obj.etag,
            "size": self.obj.size,
            "part_size": self.part_size,
            "completed": sorted(self.done),
        }
        tmp = self.state.with_name(self.state.name + ".tmp")
        tmp.write_text(json.dumps(doc))
        os.replace(tmp, self.state)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def _get_part(client: S3Client, src: Source, job: _Job, i: int, meter: Meter) -> None:
    """Fetch part ``i`` with a ranged GET and write it at its offset; retried on short reads."""
    from botocore.exceptions import (
        ConnectionClosedError,
        IncompleteReadError,
        ReadTimeoutError,
        ResponseStreamingError,
    )

    start, end = job.span(i)
    counted = 0
    for attempt in range(1, _PART_ATTEMPTS + 1):
        pos = start
        try:
            resp = client.get_object(
                Bucket=src.bucket,
                Key=job.obj.key,
                Range=f"bytes={start}-{end - 1}",
                IfMatch=job.obj.etag,
            )
            body = resp["Body"]
            while pos < end:
                chunk = body.read(min(_CHUNK, end - pos))
                if not chunk:
                    break
                os.pwrite(job.fd, chunk, pos)
                pos += len(chunk)
                if pos - start > counted:
                    meter.add(pos - start - counted)
                    counted = pos - start
            if pos == end and not body.read(1):
                return
            problem = f"got {pos - start} bytes of {end - start}"
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise UnavailableError(f"disk full writing {job.part}: {exc.strerror}") from None
            if not isinstance(exc, ConnectionError | TimeoutError):
                raise UnavailableError(f"writing {job.part}: {exc}") from None
            problem = str(exc)
        except (
            ResponseStreamingError,
            IncompleteReadError,
            ReadTimeoutError,
            ConnectionClosedError,
        ) as exc:
            problem = str(exc)
        except Exception as exc:
            raise s3.describe(exc, src, f"downloading {job.obj.key} part {i + 1}") from None
        if attempt == _PART_ATTEMPTS:
            raise UnavailableError(
                f"downloading {job.obj.key} part {i + 1}: {problem} ({attempt} attempts)"
            )
        time.sleep(0.2 * attempt)
    raise AssertionError("unreachable")


def fetch(
    source: str,
    dest: Path,
    *,
    endpoint: str | None = None,
    region: str | None = None,
    workers: int = 8,
    part_size: int = DEFAULT_PART_SIZE,
    progress: Callable[[Progress], None] | None = None,
    log: Callable[[str], None] | None = None,
    client: S3Client | None = None,
) -> Result:
    """Fetch every object under ``source`` into ``dest/<cache key>/`` once per content.

    Listing, ranged downloads, resumption, verification and publishing are described in the
    module doc and :mod:`ironplane.weights.verify`. ``client`` replaces the boto3 client built
    from ``endpoint``/``region`` and the standard AWS credential variables (tests wrap it).
    """
    say = log or (lambda _msg: None)
    if workers < 1:
        raise InvalidError("workers must be at least 1")
    if part_size < 64 * 1024:
        raise InvalidError("the part size must be at least 64 KiB")
    src = parse_source(source, endpoint=endpoint, region=region)
    client = client or s3.make_client(src, workers=workers)
    objects = s3.list_objects(client, src)
    key = cache_key(src, objects)
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InvalidError(f"{dest}: cannot create the cache directory: {exc.strerror}") from None
    directory = dest / key
    single = len(objects) == 1 and objects[0].key == src.prefix
    path = directory / objects[0].rel if single else directory
    total = sum(o.size for o in objects)
    with _locked(dest / f"{key}.lock", say):
        if (directory / COMPLETE).is_file():
            return Result(path, directory, key, True, len(objects), total, 0)
        if directory.exists():  # not ours to trust: published without its marker
            shutil.rmtree(directory)
        staging = dest / f"{key}.partial"
        downloaded, verified = _download(
            client, src, objects, staging, workers, part_size, progress, say
        )
        marker = {
            "source": src.url,
            "endpoint": src.endpoint,
            "objects": [{"key": o.key, "etag": o.etag, "size": o.size} for o in objects],
            "verified": verified,
        }
        (staging / COMPLETE).write_text(json.dumps(marker, indent=1))
        os.replace(staging, directory)
        with contextlib.suppress(OSError):
            dfd = os.open(dest, os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
    return Result(path, directory, key, False, len(objects), total, downloaded, verified)


def _download(
    client: S3Client,
    src: Source,
    objects: list[s3.Object],
    staging: Path,
    workers: int,
    part_size: int,
    progress: Callable[[Progress], None] | None,
    say: Callable[[str], None],
) -> tuple[int, dict[str, str]]:
    jobs = [_Job(o, staging, part_size) for o in objects]
    try:
        staging.mkdir(parents=True, exist_ok=True)
        for job in jobs:
            job.open(resume=True)
    except OSError as exc:
        for job in jobs:
            job.close()
        raise UnavailableError(f"{staging}: {exc.strerror or exc}") from None
    resumed = sum(j.bytes_done() for j in jobs)
    total = sum(o.size for o in objects)
    if resumed:
        say(f"resuming: {human_bytes(resumed)} of {human_bytes(total)} already on disk")
    free = shutil.disk_usage(staging).free
    if free < total - resumed:
        for job in jobs:
            job.close()
        raise UnavailableError(
            f"disk full: {staging} has {human_bytes(free)} free, the download needs "
            f"{human_bytes(total - resumed)}"
        )
    meter = Meter(total, resumed, len(jobs), progress)
    verified: dict[str, str] = {}
    pending: dict[Future[None], tuple[_Job, int]] = {}
    with ThreadPoolExecutor(workers, thread_name_prefix="fetch") as pool:

        def submit(job: _Job) -> None:
            for i in range(job.nparts):
                if i not in job.done:
                    pending[pool.submit(_get_part, client, src, job, i, meter)] = (job, i)

        def finish(job: _Job) -> None:
            job.close()
            hint = s3.part_size_hint(client, src, job.obj)
            how = verify.check(job.part, job.obj.size, job.obj.etag, hint)
            if how is None:
                job.state.unlink(missing_ok=True)
                if job.attempt > 0:
                    raise UnavailableError(
                        f"{job.obj.key}: the checksum does not match the ETag "
                        f"{job.obj.etag} after downloading it twice"
                    )
                say(f"{job.obj.key}: checksum mismatch, downloading it again")
                job.attempt += 1
                job.open(resume=False)
                meter.grow(job.obj.size)
                if job.nparts == 0:
                    finish(job)
                submit(job)
                return
            if how == "size":
                say(f"{job.obj.key}: the ETag is no MD5 the server explains; checked the size")
            os.replace(job.part, job.final)
            job.state.unlink(missing_ok=True)
            verified[job.obj.rel] = how
            meter.file_done()

        try:
            for job in jobs:
                if len(job.done) == job.nparts:
                    finish(job)
                else:
                    submit(job)
            while pending:
                finished, _ = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
                for fut in finished:
                    job, i = pending.pop(fut)
                    fut.result()
                    job.done.add(i)
                    job.save()
                    if len(job.done) == job.nparts:
                        finish(job)
                meter.report()
        except BaseException as exc:
            for fut in pending:
                fut.cancel()
            wait(pending)
            for fut, (job, i) in pending.items():  # keep what finished while stopping
                if not fut.cancelled() and fut.exception() is None and job.fd >= 0:
                    job.done.add(i)
                    with contextlib.suppress(OSError):
                        job.save()
            for job in jobs:
                job.close()
            if isinstance(exc, OSError) and not isinstance(exc, IronplaneError):
                raise UnavailableError(f"{staging}: {exc.strerror or exc}") from None
            raise
    meter.report(final=True)
    return meter.done - resumed, verified
