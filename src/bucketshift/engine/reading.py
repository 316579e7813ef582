"""Reading one source object so that a broken read costs only the bytes not yet read.

A failure in the middle of a large object (a reset, a 503, a stalled stream that the store's read
timeout ends) reopens the object at the byte where it stopped, with a Range request, under the
engine's one retry policy; the bytes already read are never fetched again.  The version is
checked on every reopening: a source object replaced in between is `SourceChanged`, not spliced.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

from bucketshift.engine.pacing import Pacer
from bucketshift.errors import Retryable, SourceChanged
from bucketshift.retry import RetryPolicy
from bucketshift.stores.base import ObjectInfo, ObjectStore

__all__ = ["SourceRead"]


class SourceRead:
    """One pass over a source object's bytes; `version` is what the first answer described."""

    def __init__(
        self,
        store: ObjectStore,
        bucket: str,
        key: str,
        policy: RetryPolicy,
        *,
        requests: Pacer | None = None,
        bandwidth: Pacer | None = None,
        on_request: Callable[[], None] | None = None,
        on_retry: Callable[[int, Retryable, float], None] | None = None,
        on_bytes: Callable[[int], None] | None = None,
    ) -> None:
        self.store, self.bucket, self.key, self.policy = store, bucket, key, policy
        self.requests, self.bandwidth = requests, bandwidth
        self.on_request, self.on_retry, self.on_bytes = on_request, on_retry, on_bytes
        self.version: ObjectInfo | None = None
        self.offset = 0
        self.resumed = 0

    def _check(self, info: ObjectInfo) -> None:
        first = self.version
        if first is None:
            self.version = info
            return
        if (first.etag and info.etag and first.etag != info.etag) or info.size != first.size:
            raise SourceChanged(
                f"object {self.key!r} in bucket {self.bucket} changed at the source while it was being read "
                "(run the copy again to take the new version)",
                bucket=self.bucket,
                key=self.key,
            )

    async def chunks(self) -> AsyncIterator[bytes]:
        """The object's bytes in order, each exactly once, whatever failed on the way."""
        attempt = 1
        while True:
            try:
                if self.requests is not None:
                    await self.requests.acquire()
                if self.on_request is not None:
                    self.on_request()
                async with self.store.open(self.bucket, self.key, offset=self.offset) as reader:
                    self._check(reader.info)
                    async for chunk in reader:
                        if self.bandwidth is not None:
                            await self.bandwidth.acquire(len(chunk))
                        self.offset += len(chunk)
                        if self.on_bytes is not None:
                            self.on_bytes(len(chunk))
                        yield chunk
                return
            except Retryable as error:
                if self.version is not None and self.offset >= self.version.size > 0:
                    return  # every byte arrived; only the end of the answer was lost
                if attempt >= self.policy.max_attempts:
                    raise
                wait = self.policy.delay(attempt, error)
                if self.on_retry is not None:
                    self.on_retry(attempt, error, wait)
                await self.policy.sleep(wait)
                attempt += 1
                if self.offset:
                    self.resumed += 1
