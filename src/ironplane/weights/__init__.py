"""The weights puller: ``ironplane fetch-weights`` and the library behind it.

It fills a node-local, content-keyed cache from S3-compatible object storage (OCI Object Storage
through its S3 compatibility endpoint, AWS S3, MinIO, ...) with parallel ranged GETs that resume
after a crash and are verified before they are published. See :func:`fetch`.
"""

from __future__ import annotations

from ironplane.weights.fetch import Result, fetch
from ironplane.weights.progress import Progress, StderrProgress
from ironplane.weights.source import Source, parse_source

__all__ = ["Progress", "Result", "Source", "StderrProgress", "fetch", "parse_source"]
