"""The S3 side: the client, listing a prefix, and turning botocore errors into Ironplane's.

Credentials are boto3's usual chain: ``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY`` (for OCI:
a Customer Secret Key's access key and secret), a profile, or an instance role.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ironplane.core.errors import (
    ForbiddenError,
    InvalidError,
    IronplaneError,
    NotFoundError,
    UnauthenticatedError,
    UnavailableError,
)
from ironplane.weights.source import Source

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

_AUTH_CODES = {
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "InvalidToken",
    "TokenRefreshRequired",
    "AuthorizationHeaderMalformed",
    "InvalidClientTokenId",
    "UnrecognizedClientException",
}
_CRED_HINT = "check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (for OCI: a Customer Secret Key)"


@dataclass(frozen=True)
class Object:
    key: str
    rel: str
    """The path below the cache directory (the key less the prefix)."""
    size: int
    etag: str


def make_client(src: Source, *, workers: int) -> S3Client:
    import boto3
    from botocore.config import Config

    config = Config(
        # OCI's compatibility API wants path-style addressing; AWS still accepts it too.
        s3={"addressing_style": "path" if src.endpoint else "auto"},
        retries={"max_attempts": 5, "mode": "standard"},
        max_pool_connections=workers + 2,
        connect_timeout=10,
        read_timeout=60,
        # Ranged GETs of a multi-part object carry no whole-object checksum to validate.
        response_checksum_validation="when_required",
    )
    # A fresh session: the default one caches the credentials it resolved first.
    session = boto3.session.Session()
    return session.client("s3", endpoint_url=src.endpoint, region_name=src.region, config=config)


def describe(exc: BaseException, src: Source, what: str) -> IronplaneError:
    """An Ironplane error for a boto3/botocore failure while doing ``what``."""
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        EndpointConnectionError,
        NoCredentialsError,
        PartialCredentialsError,
    )

    where = src.endpoint or "AWS S3"
    if isinstance(exc, IronplaneError):
        return exc
    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return UnauthenticatedError(f"{what}: no credentials for {where}: {_CRED_HINT}")
    if isinstance(exc, EndpointConnectionError):
        return UnavailableError(f"{what}: cannot reach {where}: {exc}")
    if isinstance(exc, ClientError):
        err: Any = exc.response.get("Error", {})
        code = str(err.get("Code", ""))
        message = str(err.get("Message", "")) or code
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if code == "NoSuchBucket":
            return NotFoundError(f"{what}: bucket {src.bucket!r} does not exist at {where}")
        if code in ("NoSuchKey", "NotFound") or status == 404:
            return NotFoundError(f"{what}: not found at {where} ({message})")
        if code in _AUTH_CODES or status == 401:
            return UnauthenticatedError(
                f"{what}: {where} refused the credentials ({code}): {_CRED_HINT}"
            )
        if code == "AccessDenied" or status == 403:
            return ForbiddenError(f"{what}: access denied by {where}: {message}")
        if code == "PreconditionFailed" or status == 412:
            return UnavailableError(f"{what}: the object changed while downloading; run again")
        if code in ("InvalidBucketName", "InvalidArgument"):
            return InvalidError(f"{what}: {message}")
        return UnavailableError(f"{what}: {where} answered {code or status}: {message}")
    if isinstance(exc, BotoCoreError):
        return UnavailableError(f"{what}: {exc}")
    raise exc


def list_objects(client: S3Client, src: Source) -> list[Object]:
    """The objects under the source: the key itself, or everything below ``prefix/``."""
    prefix = src.prefix
    out: list[Object] = []
    try:
        pages = client.get_paginator("list_objects_v2").paginate(Bucket=src.bucket, Prefix=prefix)
        for page in pages:
            for o in page.get("Contents", []):
                key = o["Key"]
                if key.endswith("/"):
                    continue  # a "directory" placeholder
                if not prefix:
                    rel = key
                elif key == prefix:
                    rel = key.rsplit("/", 1)[-1]
                elif prefix.endswith("/"):
                    rel = key[len(prefix) :]
                elif key.startswith(prefix + "/"):
                    rel = key[len(prefix) + 1 :]
                else:
                    continue  # s3://b/model matches model/... but not model-v2/...
                parts = rel.split("/")
                if any(p in ("", ".", "..") for p in parts):
                    raise InvalidError(f"{src.url}: refusing the object key {key!r}")
                out.append(Object(key, rel, int(o["Size"]), str(o["ETag"])))
    except Exception as exc:
        raise describe(exc, src, f"listing {src.url}") from None
    if not out:
        raise NotFoundError(f"{src.url}: no objects under this prefix at {src.endpoint or 'S3'}")
    exact = [o for o in out if o.key == prefix]
    return exact if exact else sorted(out, key=lambda o: o.rel)


def part_size_hint(client: S3Client, src: Source, obj: Object) -> int | None:
    """The upload part size of a multipart object, where the server tells (HEAD partNumber=1)."""
    if "-" not in obj.etag:
        return None
    try:
        head = client.head_object(Bucket=src.bucket, Key=obj.key, PartNumber=1)
    except Exception:
        return None
    length = int(head.get("ContentLength", 0))
    return length if 0 < length < obj.size else None
