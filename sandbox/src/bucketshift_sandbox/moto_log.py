"""What moto served, read from its request log (werkzeug writes one line per request: method, path
and query), counted by S3 operation: how the benchmarks and tests count requests at the S3 side."""

from __future__ import annotations

import re
import time
from collections import Counter
from pathlib import Path

__all__ = ["s3_requests", "settled_size"]

_LINE = re.compile(r'"(GET|PUT|POST|HEAD|DELETE) (\S+) HTTP/1\.[01]" \d{3}')


def s3_requests(log: Path, start: int) -> Counter[str]:
    """moto's requests logged after byte `start` of its log, by S3 operation (`<METHOD> other` for the rest)."""
    counts: Counter[str] = Counter()
    text = log.read_bytes()[start:].decode("utf-8", "replace")
    for method, target in _LINE.findall(text):
        path, _, query = target.partition("?")
        params = {p.split("=", 1)[0] for p in query.split("&") if p}
        bucket_only = "/" not in path.strip("/")
        if method == "GET" and bucket_only and "list-type" in params:
            counts["ListObjectsV2"] += 1
        elif method == "HEAD" and bucket_only:
            counts["HeadBucket"] += 1
        elif method == "HEAD":
            counts["HeadObject"] += 1
        elif method == "POST" and "uploads" in params:
            counts["CreateMultipartUpload"] += 1
        elif method == "PUT" and "partNumber" in params:
            counts["UploadPart"] += 1
        elif method == "POST" and "uploadId" in params:
            counts["CompleteMultipartUpload"] += 1
        elif method == "PUT":
            counts["PutObject"] += 1
        else:
            counts[f"{method} other"] += 1
    return counts


def settled_size(log: Path, within: float = 2.0) -> int:
    """The log's size once moto has written the lines of the requests already answered (at most `within` s)."""
    size, deadline = log.stat().st_size, time.monotonic() + within
    while time.monotonic() < deadline:
        time.sleep(0.1)
        now = log.stat().st_size
        if now == size:
            return size
        size = now
    return size
