"""Listings that survive a flaky store: each page is retried on its own, with the same token,
so a fault on page 40 of 50 costs one request again, not the whole listing."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

from bucketshift.errors import BucketNotFound, Retryable
from bucketshift.retry import RetryPolicy, with_retries
from bucketshift.stores.base import ListPage, ObjectInfo, ObjectStore

__all__ = ["PageFetcher", "destination_index", "list_all", "list_pages"]


PageFetcher = Callable[[str, str, str | None], Awaitable[ListPage]]


async def list_all(
    store: ObjectStore,
    bucket: str,
    prefix: str,
    policy: RetryPolicy,
    *,
    on_retry: Callable[[int, Retryable, float], None] | None = None,
) -> AsyncIterator[ObjectInfo]:
    async for info in list_pages(store.list_page, bucket, prefix, policy, on_retry=on_retry):
        yield info


async def list_pages(
    fetch_page: PageFetcher,
    bucket: str,
    prefix: str,
    policy: RetryPolicy,
    *,
    on_retry: Callable[[int, Retryable, float], None] | None = None,
) -> AsyncIterator[ObjectInfo]:
    """Every object from any page-fetching function, each page retried on its own."""
    token: str | None = None
    while True:

        def fetch(at: str | None = token) -> Awaitable[ListPage]:
            return fetch_page(bucket, prefix, at)

        page, _ = await with_retries(fetch, policy, on_retry=on_retry)
        for info in page.objects:
            yield info
        if page.next_token is None:
            return
        token = page.next_token


async def destination_index(
    dest: ObjectStore, bucket: str, prefix: str, policy: RetryPolicy, *, purpose: str
) -> dict[str, ObjectInfo]:
    """Every destination object under `prefix`, by key; a missing bucket says what it blocks."""
    try:
        return {info.key: info async for info in list_all(dest, bucket, prefix, policy)}
    except BucketNotFound:
        raise BucketNotFound(f"destination bucket {bucket} does not exist; {purpose}", bucket=bucket) from None
