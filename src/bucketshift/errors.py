"""The one exception hierarchy every layer shares.

Backends translate their SDK and HTTP errors into these classes at their boundary, so the
engine decides retries from the class alone and the CLI turns any of them into one sentence
and an exit code.  Messages never contain secrets: they name buckets, keys, files and fields.
"""

from __future__ import annotations

__all__ = [
    "AccessDenied",
    "AlreadyExists",
    "BucketNotEmpty",
    "BucketNotFound",
    "BucketshiftError",
    "ChecksumMismatch",
    "ConfigError",
    "Conflict",
    "InvalidKey",
    "NotFound",
    "PreconditionFailed",
    "Retryable",
    "SourceChanged",
    "Stopped",
    "StoreError",
    "StoredValueError",
    "Throttled",
    "TooLarge",
    "TransientError",
    "UsageError",
]

EXIT_FAILURES = 1
EXIT_USAGE = 2
EXIT_TERMINATED = 143
"""128 + SIGTERM, as a shell reports a process SIGTERM ended."""


class BucketshiftError(Exception):
    """Base of every error bucketshift raises on purpose."""

    exit_code: int = EXIT_FAILURES

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class Stopped(BucketshiftError):
    """SIGTERM (a container stopped, a pod evicted) ended the work, after it unwound cleanly."""

    exit_code = EXIT_TERMINATED


class ConfigError(BucketshiftError):
    """The plan file or an environment variable it names is missing or wrong."""

    exit_code = EXIT_USAGE


class StoredValueError(BucketshiftError):
    """A value the application kept in a row names no object of the application's buckets."""


class UsageError(BucketshiftError):
    """The command line asks for something that cannot be done as asked."""

    exit_code = EXIT_USAGE


class StoreError(BucketshiftError):
    """An object store refused or failed a request."""

    def __init__(self, message: str, *, bucket: str | None = None, key: str | None = None) -> None:
        super().__init__(message)
        self.bucket = bucket
        self.key = key


class NotFound(StoreError):
    """The object (or its bucket) does not exist."""


class BucketNotFound(NotFound):
    """The bucket itself does not exist."""


class Conflict(StoreError):
    """The request contradicts the store's current state."""


class AlreadyExists(Conflict):
    """A create-only write or bucket creation met an existing one."""


class PreconditionFailed(Conflict):
    """A write meant to replace one version of an object found another there (someone else wrote it)."""


class SourceChanged(Conflict):
    """The source object changed while it was being read; the listing it was planned from is stale."""


class BucketNotEmpty(Conflict):
    """A bucket cannot be deleted while it holds objects."""


class AccessDenied(StoreError):
    """The credentials are valid but not allowed to do this; retrying will not help."""


class InvalidKey(StoreError):
    """The store cannot hold an object under this key."""


class TooLarge(StoreError):
    """The object is larger than the store or bucket accepts."""


class Retryable(StoreError):
    """A failure that may succeed if the same request is sent again later."""


class Throttled(Retryable):
    """The store asked us to slow down (429, 503 SlowDown, 544)."""


class TransientError(Retryable):
    """A server error, a reset connection or a truncated body."""


class ChecksumMismatch(TransientError):
    """The bytes that arrived are not the bytes that were sent (a read or a transfer was corrupted).

    Retryable: a corruption in transit does not repeat; the engine tells a store whose checksum
    claim is simply not a checksum (the same bytes read twice, both differing) from a bad read."""
