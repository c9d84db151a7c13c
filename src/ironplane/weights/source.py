"""Where the weights come from: ``s3://bucket/prefix`` or ``oci://namespace/bucket/prefix``."""

from __future__ import annotations

import os
from dataclasses import dataclass

from ironplane.core.errors import InvalidError


@dataclass(frozen=True)
class Source:
    bucket: str
    prefix: str
    #: The S3 API endpoint; ``None`` means AWS S3 (boto3's own resolution, ``AWS_ENDPOINT_URL``).
    endpoint: str | None
    region: str | None

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"


def oci_endpoint(namespace: str, region: str) -> str:
    """The S3 compatibility endpoint of OCI Object Storage for a tenancy's namespace."""
    return f"https://{namespace}.compat.objectstorage.{region}.oraclecloud.com"


def parse_source(source: str, *, endpoint: str | None, region: str | None) -> Source:
    """Parse a source URL; for ``oci://`` the endpoint defaults to the OCI compat URL.

    The region falls back to ``AWS_REGION`` / ``AWS_DEFAULT_REGION`` (and ``OCI_REGION`` for
    ``oci://``); OCI needs one to build its endpoint.
    """
    region = region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    scheme, sep, rest = source.partition("://")
    if not sep or scheme not in ("s3", "oci"):
        raise InvalidError(
            f"{source!r}: expected s3://BUCKET/PREFIX or oci://NAMESPACE/BUCKET/PREFIX"
        )
    parts = rest.split("/", 2 if scheme == "oci" else 1)
    if scheme == "oci":
        if len(parts) < 2 or not parts[0] or not parts[1]:
            raise InvalidError(f"{source!r}: expected oci://NAMESPACE/BUCKET/PREFIX")
        namespace, bucket = parts[0], parts[1]
        prefix = parts[2] if len(parts) > 2 else ""
        region = region or os.environ.get("OCI_REGION")
        if endpoint is None:
            if not region:
                raise InvalidError(
                    f"{source!r}: an oci:// source needs a region (--region, or env AWS_REGION)"
                )
            endpoint = oci_endpoint(namespace, region)
    else:
        bucket = parts[0]
        prefix = parts[1] if len(parts) > 1 else ""
        if not bucket:
            raise InvalidError(f"{source!r}: the bucket is missing")
    if any(p in ("..", ".") for p in prefix.split("/")):
        raise InvalidError(f"{source!r}: the prefix may not hold '.' or '..' segments")
    return Source(
        bucket=bucket,
        prefix=prefix,
        endpoint=endpoint.rstrip("/") if endpoint else None,
        region=region,
    )
