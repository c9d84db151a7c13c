"""``ironplane fetch-weights``: fill a node-local cache from S3-compatible object storage.

Meant for an init container: it prints the directory (or file) the engine should load on
stdout, progress and notes on stderr. Credentials come from the standard AWS variables
``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY`` (for OCI Object Storage: a Customer Secret
Key's access key and secret), or any other source in boto3's chain.
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer


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
    from ironplane.weights import StderrProgress, fetch

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    result = fetch(
        source,
        dest,
        endpoint=endpoint,
        region=region,
        workers=workers,
        part_size=part_size * 1024 * 1024,
        progress=StderrProgress(),
        log=log,
    )
    if result.cached:
        log("cached")
    if link is not None:
        _point(link, Path(result.path))
    print(result.path, flush=True)


def _point(link: Path, target: Path) -> None:
    """Make ``link`` a symlink to ``target``, replacing what is there atomically."""
    import os

    link.parent.mkdir(parents=True, exist_ok=True)
    tmp = link.with_name(link.name + ".new")
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(target)
    os.replace(tmp, link)
