"""Driving a multipart upload part by part: one implementation for the store's own `put` and the engine.

The caller passes how each request is attempted (the engine: its one retry policy, so a failed
part is sent again on its own; a plain `put`: once) and how memory is reserved for a part before
it is filled (the engine: its budget of bytes in flight).  The abort is registered the moment the
upload exists (s3transfer's rule): any failure or cancellation, including a check the caller
makes just before completing, leaves no parts behind to be billed.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any, TypeVar

from awscrt import checksums

from bucketshift.stores.base import Digests, MultipartUploads, ObjectInfo, UploadedPart, crc64nvme_text

__all__ = ["ABORT_ATTEMPTS", "PARTS_SETTLE_SECONDS", "Attempt", "Reserve", "once", "unreserved", "write_in_parts"]

T = TypeVar("T")
Attempt = Callable[[Callable[[], Awaitable[Any]]], Awaitable[Any]]
"""Runs one request (given as a function making it), retrying as its caller sees fit."""
Reserve = Callable[[int], Awaitable[Callable[[], None]]]
"""Waits until `n` more bytes may be held in memory; returns the function that gives them back."""

PARTS_SETTLE_SECONDS = 60.0
ABORT_ATTEMPTS = 3


async def once(request: Callable[[], Awaitable[T]]) -> T:
    return await request()


async def unreserved(_: int) -> Callable[[], None]:
    return lambda: None


async def _fill(chunks: AsyncIterator[bytes], carry: list[bytes], part_size: int, digests: Digests) -> bytearray:
    """The next part's bytes (shorter only at the end); chunks are hashed as they arrive.

    Each chunk is copied once into a buffer of the part's size and let go, so a part being
    filled holds one part's memory, not its chunks and a joined copy too.  `carry` holds what the
    last chunk brought beyond the part, for the next one."""
    part = bytearray(part_size)
    filled = 0
    with memoryview(part) as view:
        while filled < part_size:
            if carry:
                chunk = carry.pop()
            else:
                try:
                    chunk = await anext(chunks)
                except StopAsyncIteration:
                    break
                digests.update(chunk)
            take = min(len(chunk), part_size - filled)
            view[filled : filled + take] = chunk if take == len(chunk) else chunk[:take]
            filled += take
            if take < len(chunk):
                carry.append(chunk[take:])
    if filled < part_size:
        del part[filled:]
    return part


async def write_in_parts(
    store: MultipartUploads,
    bucket: str,
    key: str,
    chunks: AsyncIterator[bytes],
    *,
    size: int | None,
    describe: Mapping[str, Any],
    overwrite: bool,
    if_match: str | None,
    digests: Digests,
    attempt: Attempt = once,
    reserve: Reserve = unreserved,
    before_finish: Callable[[], None] | None = None,
) -> ObjectInfo:
    """Upload `chunks` as parts of at most `store.part_size_for(size)` bytes, `part_concurrency` at once.

    `describe` holds `start_upload`'s keyword arguments.  `before_finish` may raise to refuse the
    object (a checksum that does not match): the upload is then aborted, never completed.
    """
    part_size = store.part_size_for(size or 0)
    upload_id: str = await attempt(lambda: store.start_upload(bucket, key, **describe))
    in_flight: set[asyncio.Task[UploadedPart]] = set()
    parts: list[UploadedPart] = []

    async def send(number: int, data: bytearray, release: Callable[[], None]) -> UploadedPart:
        try:
            crc = crc64nvme_text(checksums.crc64nvme(data))
            return await attempt(lambda: store.upload_part(bucket, key, upload_id, number, data, crc64nvme=crc))  # type: ignore[no-any-return]
        finally:
            release()

    try:
        carry: list[bytes] = []
        number = 0
        while True:
            release = await reserve(part_size)
            try:
                data = await _fill(chunks, carry, part_size, digests)
            except BaseException:
                release()
                raise
            if not data and number:
                release()
                break
            number += 1
            in_flight.add(asyncio.create_task(send(number, data, release)))
            del data
            if len(in_flight) >= store.part_concurrency:
                finished, in_flight = await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
                parts.extend(task.result() for task in finished)
            if digests.size < number * part_size:
                break
        if in_flight:
            parts.extend(await asyncio.gather(*in_flight))
            in_flight = set()
        if before_finish is not None:
            before_finish()
        total = digests.size
        return await attempt(  # type: ignore[no-any-return]
            lambda: store.finish_upload(
                bucket,
                key,
                upload_id,
                parts,
                crc64nvme=digests.crc64nvme(),
                size=total,
                overwrite=overwrite,
                if_match=if_match,
            )
        )
    except BaseException:
        await asyncio.shield(_abort(store, bucket, key, upload_id, in_flight))
        raise


async def _abort(
    store: MultipartUploads, bucket: str, key: str, upload_id: str, in_flight: set[asyncio.Task[Any]]
) -> None:
    """Abort once the parts in flight have settled, trying again if the abort itself fails.

    A part still arriving when the upload is aborted may be kept by S3, and cancelling its task
    would not stop the thread sending it; so the parts get a bounded time to finish first.
    """
    if in_flight:
        settled, unsettled = await asyncio.wait(in_flight, timeout=PARTS_SETTLE_SECONDS)
        for task in unsettled:
            task.cancel()
        for task in settled:
            if not task.cancelled():
                task.exception()
    for attempt in range(ABORT_ATTEMPTS):
        try:
            await store.abort_upload(bucket, key, upload_id)
            return
        except Exception:  # the upload's own failure is what the caller must see
            await asyncio.sleep(0.25 * (attempt + 1))
