"""``ironplane fetch-weights``: fill a node-local cache from S3-compatible object storage.

Meant for an init container: it prints the directory (or file) the engine should load on
stdout, progress and notes on stderr: progress is one line rewritten in place on a terminal,
else JSON lines (``ironplane.wire.pull_progress``) that the Kubernetes agent reads from the
container's log; ``IRONPLANE_PROGRESS_FILE`` also keeps the last one in a file. Credentials
come from the standard AWS variables ``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY`` (for OCI
Object Storage: a Customer Secret Key's access key and secret), or any other source in boto3's
chain.
"""

from __future__ import annotations

import os
import sys
from collections import Counter
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from ironplane.weights.progress import Progress


def fetch_weights(
    source: str = typer.Argument(
        ..., help="s3://BUCKET/PREFIX or oci://NAMESPACE/BUCKET/PREFIX (a prefix or one object)."
    ),
    dest: Path = typer.Option(
        ..., "--dest", help="The cache directory (a node-local disk); content goes to DEST/<key>/."
    ),
    endpoint: str | None = typer.Option(
        None,
        "--endpoint",
        help="S3 API endpoint [oci://: https://NAMESPACE.compat.objectstorage.REGION"
        ".oraclecloud.com; s3://: AWS, or env AWS_ENDPOINT_URL].",
    ),
    region: str | None = typer.Option(
        None, "--region", help="Region [env AWS_REGION / AWS_DEFAULT_REGION]."
    ),
    workers: int = typer.Option(8, "--workers", min=1, help="Parallel ranged GETs."),
    part_size: int = typer.Option(
        64, "--part-size", min=1, help="Size of each ranged GET, in MiB."
    ),
    link: Path | None = typer.Option(
        None,
        "--link",
        help="Also point this symlink at the result: a fixed path for the engine to load, "
        "whatever the content key.",
    ),
) -> None:
    """Download weights once per node: parallel, resumable, checksum-verified; print the path.

    Credentials: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (for OCI, a Customer Secret Key).
    """
    from ironplane.weights import fetch

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    result = fetch(
        source,
        dest,
        endpoint=endpoint,
        region=region,
        workers=workers,
        part_size=part_size * 1024 * 1024,
        progress=progress_reporter(),
        log=log,
    )
    if result.cached:
        log("cached")
    elif result.verified:
        log(verification_summary(result.verified))
    if link is not None:
        _point(link, Path(result.path))
    print(result.path, flush=True)


def verification_summary(verified: Mapping[str, str]) -> str:
    """How the files were checked, e.g. ``verified: 3 by md5, 1 by size only (its ETag is not an
    MD5)``: a store whose ETags are not MD5s leaves only sizes, which the reader should know."""
    counts = Counter(verified.values())
    parts = [f"{counts[how]} by {how}" for how in ("md5", "multipart-md5") if counts[how]]
    if counts["size"]:
        parts.append(f"{counts['size']} by size only (the ETag is not an MD5)")
    return "verified: " + ", ".join(parts)


def progress_reporter() -> Callable[[Progress], None]:
    """A line rewritten in place on a terminal; else JSON lines (``wire.pull_progress``), which
    the Kubernetes agent reads from the init container's log. With ``IRONPLANE_PROGRESS_FILE``
    set, the last line is also kept in that file."""
    from ironplane.weights.progress import Both, JsonProgress, StderrProgress
    from ironplane.wire.pull_progress import PROGRESS_FILE_ENV

    where = os.environ.get(PROGRESS_FILE_ENV)
    on_file = JsonProgress(path=Path(where)) if where else None
    shown: Callable[[Progress], None] = (
        StderrProgress() if sys.stderr.isatty() else JsonProgress(sys.stderr)
    )
    return Both(shown, on_file) if on_file is not None else shown


def _point(link: Path, target: Path) -> None:
    """Make ``link`` a symlink to ``target``, replacing what is there atomically."""
    link.parent.mkdir(parents=True, exist_ok=True)
    tmp = link.with_name(link.name + ".new")
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(target)
    os.replace(tmp, link)
