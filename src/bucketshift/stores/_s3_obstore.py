"""obstore's side of the S3 backend: which keys it can carry, credentials, reads and attributes.

obstore (Rust `object_store`) costs a quarter of boto3's CPU per request, but its paths are
not S3 keys: `obstore_can_hold` says which keys pass unchanged.  Object attributes travel as
one dict in which the standard headers have fixed names and anything else is user metadata.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Mapping
from typing import Any

from obstore.exceptions import BaseError

from bucketshift.errors import TransientError
from bucketshift.stores._s3_errors import from_obstore
from bucketshift.stores.base import ObjectInfo, ObjectReader, short_body, split_reserved, strip_etag

__all__ = [
    "ERRORS",
    "ObstoreReader",
    "StaticCredentials",
    "attributes_for",
    "info_from_result",
    "metadata_collides",
    "obstore_can_hold",
]

ERRORS = (BaseError, OSError, ValueError)
"""What obstore raises: its own classes, FileNotFoundError for a 404, ValueError for a path."""

_NOT_OBSTORE_KEY = re.compile(r"(?:^|/)\.{0,2}(?:/|$)|[\x00-\x1f\x7f]")
_STANDARD = ("Content-Type", "Cache-Control", "Content-Disposition", "Content-Encoding", "Content-Language")
_STANDARD_NAMES = frozenset((*_STANDARD, "Storage-Class"))
_RESERVED_METADATA = frozenset(name.lower() for name in _STANDARD_NAMES)


def obstore_can_hold(key: str) -> bool:
    """Whether obstore sends `key` unchanged.

    Its paths have no empty, `.` or `..` segment and no control character, and it silently
    drops a trailing `/` (`x/` would become `x`); such keys take the boto3 path instead.
    """
    return _NOT_OBSTORE_KEY.search(key) is None


def metadata_collides(metadata: Mapping[str, str]) -> bool:
    """A user metadata name obstore would take for a header (it matches names case-blind)."""
    return not _RESERVED_METADATA.isdisjoint(metadata)


def attributes_for(args: Mapping[str, Any]) -> dict[str, str]:
    """obstore's attributes from a put's boto3-style parameters (`_s3_fallback.write_args`):
    standard headers under their header names, then lower-case user metadata."""
    attributes = {header: args[header.replace("-", "")] for header in _STANDARD if args.get(header.replace("-", ""))}
    attributes.update(args.get("Metadata") or {})
    return attributes


def info_from_result(key: str, meta: Mapping[str, Any], attributes: Mapping[str, str]) -> ObjectInfo:
    """An ObjectInfo from a GET or HEAD answer (standard headers come back capitalized)."""
    metadata, copied_from = split_reserved({k.lower(): v for k, v in attributes.items() if k not in _STANDARD_NAMES})
    etag = strip_etag(meta.get("e_tag"))
    return ObjectInfo(
        key=key,
        size=int(meta["size"]),
        etag=etag,
        last_modified=meta.get("last_modified"),
        content_type=attributes.get("Content-Type"),
        cache_control=attributes.get("Cache-Control"),
        content_disposition=attributes.get("Content-Disposition"),
        content_encoding=attributes.get("Content-Encoding"),
        content_language=attributes.get("Content-Language"),
        metadata=metadata,
        copied_from=copied_from,
    )


class StaticCredentials:
    """Explicit keys handed to obstore as a provider, so stray AWS_* variables cannot mix in."""

    def __init__(self, access_key_id: str, secret_access_key: str) -> None:
        self._access_key_id = access_key_id
        self._secret_access_key = secret_access_key

    def __call__(self) -> dict[str, Any]:
        return {
            "access_key_id": self._access_key_id,
            "secret_access_key": self._secret_access_key,
            "token": None,
            "expires_at": None,
        }

    def __repr__(self) -> str:
        return "StaticCredentials(***)"


class ObstoreReader(ObjectReader):
    """An obstore GET streamed in chunks; fewer bytes than Content-Length is a TransientError."""

    def __init__(
        self, info: ObjectInfo, result: Any, bucket: str, chunk_size: int, offset: int = 0, *, idle_timeout: float
    ) -> None:
        self.info = info
        self._result = result
        self._bucket = bucket
        self._chunk_size = chunk_size
        self._expected = info.size - offset
        self._idle = idle_timeout

    async def __aiter__(self) -> AsyncIterator[bytes]:
        received = 0
        stream = self._result.stream(min_chunk_size=self._chunk_size)
        while True:
            try:
                async with asyncio.timeout(self._idle):
                    chunk = await anext(stream)
            except StopAsyncIteration:
                break
            except TimeoutError:
                raise TransientError(
                    f"read object {self.info.key!r} in bucket {self._bucket}: no byte for {self._idle:g}s",
                    bucket=self._bucket,
                    key=self.info.key,
                ) from None
            except (BaseError, OSError) as exc:
                raise from_obstore(exc, "read", bucket=self._bucket, key=self.info.key) from exc
            received += len(chunk)
            yield chunk
        if received != self._expected:
            raise short_body(self._bucket, self.info.key, received, self._expected)
