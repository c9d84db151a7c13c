"""The weights puller against a real S3-compatible server on loopback: moto's standalone server.

moto keeps every object in a spooled temporary file, but answers a ranged GET by reading the
whole object into memory and slicing it, so a multi-GB object would cost its size in RAM for
each of the parallel GETs. The big object below is therefore put straight into moto's backend as
a key backed by a sparse file that moto slices with ``pread`` (see ``_SparseKey``); listing,
HEAD, auth and the ranged GETs themselves still go over HTTP through moto's own S3 code.
"""

from __future__ import annotations

import errno
import fcntl
import filecmp
import hashlib
import io
import itertools
import json
import os
import resource
import shutil
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.s3.models import FakeKey, s3_backends
from moto.server import ThreadedMotoServer

from ironplane.cli.commands.fetch_weights import fetch_weights, verification_summary
from ironplane.core.errors import (
    InvalidError,
    NotFoundError,
    UnauthenticatedError,
    UnavailableError,
)
from ironplane.weights import Progress, StderrProgress, fetch, parse_source
from ironplane.weights.progress import JsonProgress
from ironplane.wire.pull_progress import PROGRESS_FILE_ENV, last_progress, parse_line

MIB = 1024 * 1024
BUCKET = "weights"
REGION = "us-east-1"
BIG_SIZE = 2 * 1024 * MIB + 12345  # 2 GiB and a bit: the last part is short
BIG_UPLOAD_PART = 64 * MIB


@dataclass
class Server:
    url: str
    key_id: str
    secret: str

    def client(self, *, key_id: str | None = None, secret: str | None = None) -> Any:
        return boto3.client(
            "s3",
            endpoint_url=self.url,
            region_name=REGION,
            aws_access_key_id=key_id or self.key_id,
            aws_secret_access_key=secret or self.secret,
        )


class _SparseValue:
    """What moto slices to answer a ranged GET: reads only the requested range."""

    def __init__(self, path: Path, size: int) -> None:
        self.path, self.size = path, size

    def __len__(self) -> int:
        return self.size

    def __bool__(self) -> bool:
        return self.size > 0

    def __getitem__(self, s: slice) -> bytes:
        start, stop, _ = s.indices(self.size)
        with open(self.path, "rb") as f:
            return os.pread(f.fileno(), stop - start, start)


class _SparseKey(FakeKey):
    sparse: _SparseValue | None = None

    @property
    def value(self) -> Any:
        return self.sparse if self.sparse is not None else FakeKey.value.fget(self)  # type: ignore[attr-defined]

    @value.setter
    def value(self, new: bytes) -> None:
        FakeKey.value.fset(self, new)  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    from moto import settings

    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    host, port = moto.get_host_and_port()
    url = f"http://{host}:{port}"
    iam = boto3.client(
        "iam",
        endpoint_url=url,
        region_name=REGION,
        aws_access_key_id="setup",
        aws_secret_access_key="setup",
    )
    iam.create_user(UserName="puller")
    policy = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
    }
    iam.put_user_policy(UserName="puller", PolicyName="s3", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName="puller")["AccessKey"]
    previous = settings.INITIAL_NO_AUTH_ACTION_COUNT
    # From here on moto checks signatures and IAM policies like S3 does.
    urllib.request.urlopen(
        urllib.request.Request(
            f"{url}/moto-api/reset-auth", data=b"0", headers={"Content-Type": "text/plain"}
        )
    )
    srv = Server(url, key["AccessKeyId"], key["SecretAccessKey"])
    srv.client().create_bucket(Bucket=BUCKET)
    try:
        yield srv
    finally:
        settings.INITIAL_NO_AUTH_ACTION_COUNT = previous
        urllib.request.urlopen(urllib.request.Request(f"{url}/moto-api/reset", data=b""))
        moto.stop()


@pytest.fixture(autouse=True)
def _credentials(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", server.key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", server.secret)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)


class Counting:
    """Wraps the boto3 client: records every GET's range, can crash or corrupt on cue."""

    def __init__(
        self,
        inner: Any,
        *,
        fail_after: int | None = None,
        corrupt: Callable[[dict[str, Any], int], bool] | None = None,
    ) -> None:
        self.inner = inner
        self.gets: list[tuple[str, str]] = []
        self.fail_after = fail_after
        self.corrupt = corrupt
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def get_object(self, **kw: Any) -> Any:
        with self._lock:
            n = len(self.gets)
            self.gets.append((kw["Key"], kw["Range"]))
        if self.fail_after is not None and n >= self.fail_after:
            raise RuntimeError("injected crash")
        resp = self.inner.get_object(**kw)
        if self.corrupt is not None and self.corrupt(kw, n):
            data = bytearray(resp["Body"].read())
            data[len(data) // 2] ^= 0xFF
            resp["Body"] = io.BytesIO(bytes(data))
        return resp


def put(server: Server, key: str, data: bytes) -> None:
    server.client().put_object(Bucket=BUCKET, Key=key, Body=data)


def src(key: str) -> str:
    return f"s3://{BUCKET}/{key}"


def run(server: Server, key: str, dest: Path, **kw: Any) -> Any:
    kw.setdefault("part_size", MIB)
    kw.setdefault("workers", 4)
    return fetch(src(key), dest, endpoint=server.url, region=REGION, **kw)


def test_prefix_download_is_byte_identical(server: Server, tmp_path: Path) -> None:
    rnd = os.urandom(3 * MIB + 17)
    put(server, "m1/config.json", b'{"a": 1}')
    put(server, "m1/sub/weights.bin", rnd)
    put(server, "m1/empty", b"")
    put(server, "m1-other/x", b"not mine")
    c = server.client()
    up = c.create_multipart_upload(Bucket=BUCKET, Key="m1/multi.bin")
    parts = [os.urandom(5 * MIB), os.urandom(5 * MIB), os.urandom(MIB + 3)]
    etags = [
        c.upload_part(
            Bucket=BUCKET, Key="m1/multi.bin", UploadId=up["UploadId"], PartNumber=i + 1, Body=p
        )["ETag"]
        for i, p in enumerate(parts)
    ]
    c.complete_multipart_upload(
        Bucket=BUCKET,
        Key="m1/multi.bin",
        UploadId=up["UploadId"],
        MultipartUpload={"Parts": [{"ETag": e, "PartNumber": i + 1} for i, e in enumerate(etags)]},
    )
    counter = Counting(server.client())
    result = run(server, "m1", tmp_path, client=counter)
    assert not result.cached and result.path == tmp_path / result.cache_key
    assert sorted(
        p.relative_to(result.path).as_posix() for p in result.path.rglob("*") if p.is_file()
    ) == ["COMPLETE", "config.json", "empty", "multi.bin", "sub/weights.bin"]
    assert (result.path / "sub/weights.bin").read_bytes() == rnd
    assert (result.path / "multi.bin").read_bytes() == b"".join(parts)
    assert (result.path / "config.json").read_bytes() == b'{"a": 1}'
    assert (result.path / "empty").read_bytes() == b""
    assert result.verified == {
        "config.json": "md5",
        "empty": "md5",
        "multi.bin": "multipart-md5",
        "sub/weights.bin": "md5",
    }
    # 1 MiB ranged GETs: 1 + 4 + 12; none for the empty object.
    assert len(counter.gets) == 17
    assert all(r.startswith("bytes=") for _, r in counter.gets)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        result.cache_key,
        f"{result.cache_key}.lock",
    ]
    # One object by its key: the path printed is the file itself.
    one = run(server, "m1/sub/weights.bin", tmp_path / "one")
    assert one.path.read_bytes() == rnd and one.path.name == "weights.bin"


def _make_big(path: Path) -> tuple[str, list[tuple[int, bytes]]]:
    """A sparse 2 GiB file with random blocks (one across a part boundary); its multipart ETag."""
    blocks = [
        (0, os.urandom(MIB)),
        (3 * BIG_UPLOAD_PART - MIB // 2, os.urandom(MIB)),
        (BIG_SIZE - MIB - 5, os.urandom(MIB + 5)),
    ]
    with open(path, "wb") as f:
        f.truncate(BIG_SIZE)
        for off, data in blocks:
            f.seek(off)
            f.write(data)
    digests = []
    zero_md5 = hashlib.md5(bytes(BIG_UPLOAD_PART)).digest()
    with open(path, "rb") as f:
        for start in range(0, BIG_SIZE, BIG_UPLOAD_PART):
            end = min(start + BIG_UPLOAD_PART, BIG_SIZE)
            touched = any(o < end and o + len(d) > start for o, d in blocks)
            if touched or end - start != BIG_UPLOAD_PART:
                digests.append(hashlib.md5(os.pread(f.fileno(), end - start, start)).digest())
            else:
                digests.append(zero_md5)
    etag = f"{hashlib.md5(b''.join(digests)).hexdigest()}-{len(digests)}"
    return etag, blocks


def test_big_sparse_object_parallel_ranged_download(
    server: Server, tmp_path_factory: pytest.TempPathFactory
) -> None:
    origin = tmp_path_factory.mktemp("origin") / "big.bin"
    etag, _ = _make_big(origin)
    key = _SparseKey(
        "big/model.safetensors", b"", DEFAULT_ACCOUNT_ID, REGION, etag=etag, bucket_name=BUCKET
    )
    key.sparse = _SparseValue(origin, BIG_SIZE)
    key.contentsize = BIG_SIZE
    s3_backends[DEFAULT_ACCOUNT_ID]["aws"].get_bucket(BUCKET).keys[key.name] = key
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    seen: list[tuple[float, Progress]] = []
    counter = Counting(server.client())
    dest = tmp_path_factory.mktemp("cache")
    t0 = time.monotonic()
    result = run(
        server,
        "big",
        dest,
        client=counter,
        part_size=64 * MIB,
        workers=4,
        progress=lambda p: seen.append((time.monotonic(), p)),
    )
    elapsed = time.monotonic() - t0
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"2 GiB fetch: {elapsed:.1f}s, peak RSS {rss_before // 1024} -> {rss_after // 1024} MiB")
    out = result.path / "model.safetensors"
    assert out.stat().st_size == BIG_SIZE
    assert filecmp.cmp(origin, out, shallow=False)
    assert result.verified == {"model.safetensors": "multipart-md5"}  # part size guessed: 64 MiB
    assert len(counter.gets) == 33 and len(set(counter.gets)) == 33
    # Progress: monotonic, at most every 0.5 s, ending at the total.
    assert seen[-1][1].done == seen[-1][1].total == BIG_SIZE
    dones = [p.done for _, p in seen]
    assert dones == sorted(dones)
    times = [t for t, _ in seen]
    assert all(b - a >= 0.45 for a, b in itertools.pairwise(times[:-1]))  # the last: final
    assert rss_after - rss_before < 1536 * 1024  # KiB: well under the object's size


def test_resume_after_crash_fetches_only_missing_parts(server: Server, tmp_path: Path) -> None:
    data = os.urandom(8 * MIB)
    put(server, "resume/w.bin", data)
    crashing = Counting(server.client(), fail_after=3)
    with pytest.raises(RuntimeError, match="injected crash"):
        run(server, "resume", tmp_path, client=crashing, workers=2)
    staging = next(tmp_path.glob("*.partial"))
    assert not (tmp_path / staging.name.removesuffix(".partial")).exists()
    state = json.loads((staging / "w.bin.part.state").read_text())
    done = set(state["completed"])
    assert 0 < len(done) <= 3 and state["size"] == 8 * MIB
    part = staging / "w.bin.part"
    assert part.stat().st_size == 8 * MIB
    assert part.stat().st_blocks * 512 < 8 * MIB  # sparse: holes where parts are missing
    counter = Counting(server.client())
    result = run(server, "resume", tmp_path, client=counter, workers=2)
    wanted = {f"bytes={i * MIB}-{(i + 1) * MIB - 1}" for i in range(8) if i not in done}
    assert sorted(r for _, r in counter.gets) == sorted(wanted)
    assert result.downloaded == (8 - len(done)) * MIB
    assert (result.path / "w.bin").read_bytes() == data
    assert not staging.exists()


def test_corrupted_part_is_detected_and_downloaded_again(server: Server, tmp_path: Path) -> None:
    data = os.urandom(4 * MIB)
    put(server, "corrupt/w.bin", data)
    messages: list[str] = []
    counter = Counting(server.client(), corrupt=lambda kw, n: n == 1)
    result = run(server, "corrupt", tmp_path, client=counter, log=messages.append)
    assert (result.path / "w.bin").read_bytes() == data
    assert len(counter.gets) == 8
    assert any("checksum mismatch" in m for m in messages)


def test_persistent_corruption_is_reported(server: Server, tmp_path: Path) -> None:
    put(server, "corrupt2/w.bin", os.urandom(2 * MIB))
    counter = Counting(server.client(), corrupt=lambda kw, n: True)
    with pytest.raises(UnavailableError, match="checksum does not match"):
        run(server, "corrupt2", tmp_path, client=counter)
    assert [p.name for p in tmp_path.iterdir() if not p.name.endswith((".lock", ".partial"))] == []


def test_second_fetch_is_a_cache_hit(
    server: Server, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    put(server, "cached/a.bin", os.urandom(MIB + 1))
    args: dict[str, Any] = {
        "dest": tmp_path,
        "endpoint": server.url,
        "region": REGION,
        "workers": 2,
        "part_size": 1,
        "link": None,  # called directly, not through Typer: every option explicit
    }
    fetch_weights(src("cached"), **args)
    first = capsys.readouterr()
    path = first.out.strip()
    assert Path(path).is_dir() and (Path(path) / "COMPLETE").is_file()
    assert "cached" not in first.err
    # Progress went to stderr, as JSON lines (stderr is no terminal here), ending complete.
    last = last_progress(first.err.splitlines())
    assert last is not None and last.done == last.total == MIB + 1
    fetch_weights(src("cached"), **args)
    second = capsys.readouterr()
    assert second.out.strip() == path
    assert second.err.strip() == "cached"
    counter = Counting(server.client())
    again = run(server, "cached", tmp_path, client=counter)
    assert again.cached and counter.gets == [] and again.downloaded == 0
    # --link: a fixed path for the engine, pointed at the content-keyed result (and re-pointed).
    link = tmp_path / "pod" / "model"
    fetch_weights(src("cached"), **{**args, "link": link})
    capsys.readouterr()
    assert link.is_symlink() and link.resolve() == Path(path).resolve()
    fetch_weights(src("cached"), **{**args, "link": link})
    assert link.resolve() == Path(path).resolve()


def test_lock_serializes_fetches_of_the_same_content(server: Server, tmp_path: Path) -> None:
    put(server, "locked/a.bin", os.urandom(2 * MIB))
    key = run(server, "locked", tmp_path / "probe").cache_key
    dest = tmp_path / "cache"
    dest.mkdir()
    results: list[Any] = []
    counters = [Counting(server.client()) for _ in range(2)]
    with open(dest / f"{key}.lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        threads = [
            threading.Thread(
                target=lambda c=c: results.append(run(server, "locked", dest, client=c))
            )
            for c in counters
        ]
        for t in threads:
            t.start()
        time.sleep(0.5)
        assert all(t.is_alive() for t in threads) and not any(c.gets for c in counters)
        fcntl.flock(held, fcntl.LOCK_UN)
    for t in threads:
        t.join(10)
    assert sorted(r.cached for r in results) == [False, True]
    assert sum(len(c.gets) for c in counters) == 2


def test_missing_bucket_and_prefix(server: Server, tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="bucket 'nope' does not exist"):
        fetch("s3://nope/x", tmp_path, endpoint=server.url, region=REGION)
    with pytest.raises(NotFoundError, match="no objects under this prefix"):
        fetch(src("no/such/prefix"), tmp_path, endpoint=server.url, region=REGION)
    assert list(tmp_path.iterdir()) == []


def test_bad_credentials(server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    put(server, "auth/a.bin", b"x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong")
    with pytest.raises(UnauthenticatedError, match=r"SignatureDoesNotMatch.*AWS_ACCESS_KEY_ID"):
        fetch(src("auth"), tmp_path, endpoint=server.url, region=REGION)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAUNKNOWN000000000")
    with pytest.raises(UnauthenticatedError, match="InvalidAccessKeyId"):
        fetch(src("auth"), tmp_path, endpoint=server.url, region=REGION)
    assert list(tmp_path.iterdir()) == []


def test_disk_full(server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    put(server, "full/a.bin", os.urandom(2 * MIB))

    def no_space(fd: int, data: bytes, offset: int) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with monkeypatch.context() as m:
        m.setattr(os, "pwrite", no_space)
        with pytest.raises(UnavailableError, match="disk full writing"):
            run(server, "full", tmp_path)
    with monkeypatch.context() as m:
        usage = shutil.disk_usage(tmp_path)._replace(free=1)
        m.setattr(shutil, "disk_usage", lambda p: usage)
        with pytest.raises(UnavailableError, match=r"disk full: .* has 1 B free"):
            run(server, "full", tmp_path)
    assert [p for p in tmp_path.iterdir() if p.suffix not in (".lock", ".partial")] == []
    assert run(server, "full", tmp_path).verified == {"a.bin": "md5"}  # resumes afterwards


def test_sources(monkeypatch: pytest.MonkeyPatch) -> None:
    s = parse_source("oci://ns/bkt/models/llama", endpoint=None, region="eu-frankfurt-1")
    assert (s.bucket, s.prefix) == ("bkt", "models/llama")
    assert s.endpoint == "https://ns.compat.objectstorage.eu-frankfurt-1.oraclecloud.com"
    assert parse_source("s3://b", endpoint="http://x/", region=None).endpoint == "http://x"
    for var in ("AWS_REGION", "AWS_DEFAULT_REGION", "OCI_REGION"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(InvalidError, match="needs a region"):
        parse_source("oci://ns/bkt/p", endpoint=None, region=None)
    for bad in ("http://b/p", "s3://", "oci://ns", "s3://b/../x"):
        with pytest.raises(InvalidError, match=r"expected|missing|prefix"):
            parse_source(bad, endpoint=None, region=None)


def test_stderr_progress_lines() -> None:
    out = io.StringIO()
    render = StderrProgress(out)
    render(Progress(MIB, 2 * MIB, 1024.0, 1024.0, 0, 1))
    render(Progress(2 * MIB, 2 * MIB, 1024.0, 0.0, 1, 1))
    lines = out.getvalue().splitlines()
    assert lines == [
        "1.0 MiB / 2.0 MiB (50%)  1.0 KiB/s  ETA 1024s  files 0/1",
        "2.0 MiB / 2.0 MiB (100%)  1.0 KiB/s  ETA 0s  files 1/1",
    ]


def test_stderr_progress_on_a_terminal_rewrites_one_line() -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    out = Tty()
    render = StderrProgress(out)
    render(Progress(MIB, 2 * MIB, 1024.0, None, 0, 1))
    render(Progress(2 * MIB, 2 * MIB, 1024.0, 0.0, 1, 1))
    text = out.getvalue()
    assert text.count("\r") == 2 and text.endswith("files 1/1\n") and "ETA --" in text


def test_json_progress_lines_are_throttled_and_kept_in_a_file(tmp_path: Path) -> None:
    out = io.StringIO()
    now = [0.0]
    target = tmp_path / "progress.json"
    render = JsonProgress(out, path=target, every_s=2.0, clock=lambda: now[0])
    for t, done in ((0.0, MIB), (0.5, 2 * MIB), (2.5, 3 * MIB), (2.6, 4 * MIB)):
        now[0] = t
        render(Progress(done, 4 * MIB, 1024.0, None if done == MIB else 1.0, done // MIB, 4))
    lines = out.getvalue().splitlines()
    # The first report, the first one 2 s later, and the complete one whatever the time.
    assert [json.loads(line)["done"] for line in lines] == [MIB, 3 * MIB, 4 * MIB]
    first = json.loads(lines[0])
    assert first == {
        "type": "weights-progress",
        "done": MIB,
        "total": 4 * MIB,
        "rate": 1024.0,
        "eta": None,
        "files_done": 1,
        "files_total": 4,
    }
    # The file holds the last report whole (written atomically), throttled or not.
    assert target.read_text() == lines[-1] + "\n"
    assert [p.name for p in tmp_path.iterdir()] == ["progress.json"]


def test_the_puller_keeps_its_progress_in_the_file_named_by_the_environment(
    server: Server,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    put(server, "progress/a.bin", os.urandom(3 * MIB))
    target = tmp_path / "run" / "progress.json"
    target.parent.mkdir()
    monkeypatch.setenv(PROGRESS_FILE_ENV, str(target))
    fetch_weights(
        src("progress"),
        dest=tmp_path / "cache",
        endpoint=server.url,
        region=REGION,
        workers=2,
        part_size=1,
        link=None,
    )
    captured = capsys.readouterr()
    got = parse_line(target.read_text())
    assert got is not None and (got.done, got.total, got.files_done) == (3 * MIB, 3 * MIB, 1)
    assert last_progress(captured.err.splitlines()) == got
    assert Path(captured.out.strip()).is_dir()  # stdout still holds just the path
    assert "verified: 1 by md5" in captured.err.splitlines()


def test_the_summary_says_when_only_sizes_were_checked() -> None:
    summary = verification_summary({"a": "md5", "b": "size", "c": "multipart-md5", "d": "md5"})
    assert (
        summary == "verified: 2 by md5, 1 by multipart-md5, 1 by size only (the ETag is not an MD5)"
    )
