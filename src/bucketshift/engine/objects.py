"""Copying one object: read it once, check it, write it under its condition.

A small object (up to the destination's multipart threshold) is read whole into memory and
written in one request; a failed write is sent again from memory, never read again.  A large one
goes part by part through the destination's `MultipartUploads`: a failed part is sent again on
its own, a broken read resumes at its byte (`SourceRead`), and memory holds a few parts.  A large
one bound for a destination without multipart uploads (Supabase, which takes a large body through
its own chunked, resumable upload inside `put`) is streamed: the read flows straight into `put`,
and memory holds about one chunk of it, whatever the object's size.

Checksums end to end: the bytes read are hashed once (sha256 for the manifest, CRC64NVME for S3)
and, where the source's ETag claims to be the body's MD5 (Supabase's is, for a single-part
upload), compared with it, so a corrupted read fails before anything is written.  A store whose
ETag only looks like an MD5 (S3 with SSE-KMS, say) is told apart: the same bytes read twice,
both differing from it, are accepted and counted, not retried for ever.  The write itself sends
a checksum the destination checks the body against.  A streamed copy holds its last chunk back
until the whole body's MD5 is checked, so a corrupted read fails before the write can complete
and never becomes an object.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from bucketshift.engine.budget import MemoryBudget
from bucketshift.engine.diff import MappingSpec, Write
from bucketshift.engine.pacing import Pacer
from bucketshift.engine.reading import SourceRead
from bucketshift.errors import ChecksumMismatch, Retryable
from bucketshift.retry import RetryPolicy, with_retries
from bucketshift.stores.base import Digests, MultipartUploads, ObjectInfo, ObjectStore, SourceVersion
from bucketshift.stores.multipart import write_in_parts

__all__ = ["Copied", "ObjectCopier", "Tallies"]


async def _replay(chunks: list[bytes]) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk


def _sha256(chunks: list[bytes]) -> str:
    hashed = hashlib.sha256()
    for chunk in chunks:
        hashed.update(chunk)
    return hashed.hexdigest()


NOT_MD5_LIMIT = 3
LARGE_OBJECT_ATTEMPTS = 2
"""Whole passes over a large object: a second only when the first failed beyond what part retries
and resumed reads could mend (or its MD5 did not match), since each pass costs its egress."""
STREAM_HOLD = 8 * 1024 * 1024
"""What a streamed copy holds at once, and reserves from the budget: Supabase's resumable upload
fills and sends 6 MiB per request, plus the read chunk held back and the one it carries over.  An
object larger than this (or than the whole budget) is streamed, as holding it whole would cost more."""


@dataclass(frozen=True)
class Copied:
    """What one copy wrote: the destination's answer, the version read, and the bytes' checksums."""

    written: ObjectInfo
    version: ObjectInfo
    sha256: str
    crc64nvme: str
    attempts: int


@dataclass
class Tallies:
    """Counters the copier keeps for its mapping (the transfer's stats read them)."""

    source_requests: int = 0
    retries: int = 0
    resumed_reads: int = 0
    md5_matches: int = 0
    md5_mismatches: int = 0
    etag_not_md5: int = 0
    bytes_moved: int = 0

    @property
    def md5_trusted(self) -> bool:
        """Whether the source's MD5-looking ETags are worth checking: not once three objects in a row
        showed theirs is no MD5 (a store with SSE-KMS), lest every object be read twice."""
        return self.md5_matches > 0 or self.etag_not_md5 < NOT_MD5_LIMIT


class ObjectCopier:
    """Copies objects of one mapping from `source` to `dest` under a shared memory budget."""

    def __init__(
        self,
        source: ObjectStore,
        dest: ObjectStore,
        spec: MappingSpec,
        *,
        retry: RetryPolicy,
        budget: MemoryBudget,
        tallies: Tallies,
        requests: Pacer | None = None,
        bandwidth: Pacer | None = None,
        describe: Callable[[ObjectInfo], Any] | None = None,
    ) -> None:
        self.source, self.dest, self.spec = source, dest, spec
        self.retry, self.budget, self.tallies = retry, budget, tallies
        self.requests, self.bandwidth = requests, bandwidth
        self.describe = describe
        self.multipart = dest if isinstance(dest, MultipartUploads) else None
        self.stream_above = min(STREAM_HOLD, budget.limit)
        """Above this size an object bound for a destination without multipart uploads is streamed."""

    # shared pieces ------------------------------------------------------------------------

    def _retried(self, attempt: int, error: Retryable, wait: float) -> None:
        self.tallies.retries += 1

    def _requested(self) -> None:
        self.tallies.source_requests += 1

    def _moved(self, n: int) -> None:
        self.tallies.bytes_moved += n

    def _read(self, key: str) -> SourceRead:
        return SourceRead(
            self.source,
            self.spec.source_bucket,
            key,
            self.retry,
            requests=self.requests,
            bandwidth=self.bandwidth,
            on_request=self._requested,
            on_retry=self._retried,
            on_bytes=self._moved,
        )

    def _check_md5(
        self, claimed: str | None, md5: str | None, sha256: Callable[[], str], earlier: list[str], key: str
    ) -> None:
        """Raise ChecksumMismatch (retryable) unless the bytes match the MD5 the source claims.

        `earlier` holds the sha256 (`sha256()`, asked only on a mismatch) of earlier reads that did
        not match: the same bytes again mean the claim is not an MD5 of this body, and the read is good."""
        if claimed is None:
            return
        if md5 == claimed:
            self.tallies.md5_matches += 1
            return
        self.tallies.md5_mismatches += 1
        sha = sha256()
        if sha in earlier:
            self.tallies.etag_not_md5 += 1
            return
        earlier.append(sha)
        raise ChecksumMismatch(
            f"read object {key!r} in bucket {self.spec.source_bucket}: the bytes read do not match the source's "
            f"MD5 ({claimed}); reading it again",
            bucket=self.spec.source_bucket,
            key=key,
        )

    async def _attributes(self, info: ObjectInfo, version: ObjectInfo) -> dict[str, Any]:
        """What the write carries besides the bytes: type, caching, disposition, user metadata."""
        described = info if self.describe is None else await self.describe(info)
        return {
            "content_type": version.content_type or described.content_type,
            "cache_control": version.cache_control or described.cache_control,
            "content_disposition": version.content_disposition or described.content_disposition,
            "content_encoding": version.content_encoding or described.content_encoding,
            "content_language": version.content_language or described.content_language,
            "metadata": dict(described.metadata or version.metadata),
        }

    # one object ---------------------------------------------------------------------------

    async def copy(self, info: ObjectInfo, write: Write) -> Copied:
        """Copy `info` to the mapping's destination key under `write`'s condition: the write path is
        chosen here, in one place (part by part, streamed, or whole from memory)."""
        if self.multipart is not None and info.size > self.multipart.multipart_threshold:
            return await self._whole_passes(info, write, self._copy_large)
        if self.multipart is None and info.size > self.stream_above:
            return await self._whole_passes(info, write, self._copy_streamed)
        return await self._copy_small(info, write)

    async def _whole_passes(
        self, info: ObjectInfo, write: Write, one_pass: Callable[[ObjectInfo, Write, list[str]], Awaitable[Copied]]
    ) -> Copied:
        """A large object's passes, each from its first byte (`LARGE_OBJECT_ATTEMPTS`)."""
        policy = dataclasses.replace(self.retry, max_attempts=LARGE_OBJECT_ATTEMPTS)
        earlier: list[str] = []
        copied, attempts = await with_retries(lambda: one_pass(info, write, earlier), policy, on_retry=self._retried)
        return dataclasses.replace(copied, attempts=attempts)

    async def _copy_small(self, info: ObjectInfo, write: Write) -> Copied:
        """Read whole (checked against the source's MD5), then written from memory, chunks as they
        came.  The sha256 and CRC64NVME of the bytes are the ones the store computed while writing
        them (once, not twice)."""
        release = await self.budget.reserve(max(info.size, 1))
        try:
            earlier: list[str] = []
            (chunks, version), _ = await with_retries(
                lambda: self._read_whole(info, earlier), self.retry, on_retry=self._retried
            )
            attributes = await self._attributes(info, version)
            mark = SourceVersion(version.etag, version.size)
            size = sum(len(chunk) for chunk in chunks)
            written, _ = await with_retries(
                lambda: self.dest.put(
                    self.spec.dest_bucket,
                    self.spec.dest_key(info.key),
                    chunks[0] if len(chunks) == 1 else _replay(chunks),
                    size=size,
                    overwrite=write.overwrite,
                    if_match=write.if_match,
                    copied_from=mark,
                    **attributes,
                ),
                self.retry,
                on_retry=self._retried,
            )
        finally:
            release()
        if written.sha256 is None or written.crc64nvme is None:
            digests = Digests()
            for chunk in chunks:
                digests.update(chunk)
            written = dataclasses.replace(written, sha256=digests.sha256(), crc64nvme=digests.crc64nvme())
        return Copied(written, version, written.sha256 or "", written.crc64nvme or "", 1)

    async def _read_whole(self, info: ObjectInfo, earlier: list[str]) -> tuple[list[bytes], ObjectInfo]:
        """One whole read, checked against the source's MD5 (a read that fails it is retried)."""
        reading = self._read(info.key)
        chunks: list[bytes] = []
        checks = info.md5 is not None and self.tallies.md5_trusted
        hashed = hashlib.md5(usedforsecurity=False) if checks else None
        stream = reading.chunks()
        try:
            async for chunk in stream:
                chunks.append(chunk)
                if hashed is not None:
                    hashed.update(chunk)
        finally:
            await stream.aclose()
        version = reading.version or info
        if hashed is not None:
            self._check_md5(version.md5, hashed.hexdigest(), lambda: _sha256(chunks), earlier, info.key)
        return chunks or [b""], version

    async def _copy_large(self, info: ObjectInfo, write: Write, earlier: list[str]) -> Copied:
        assert self.multipart is not None
        # The first part's memory is held before the source is opened, so a large object waiting
        # for room never has an open answer filling buffers meanwhile.
        held = [await self.budget.reserve(self.multipart.part_size_for(info.size))]

        async def reserve(amount: int) -> Callable[[], None]:
            return held.pop() if held else await self.budget.reserve(amount)

        reading = self._read(info.key)
        checks = info.md5 is not None and self.tallies.md5_trusted
        digests = Digests(md5=checks)
        stream = reading.chunks()

        def check() -> None:
            version = reading.version or info
            self._check_md5(version.md5 if checks else None, digests.md5(), digests.sha256, earlier, info.key)

        async def attempt(request: Callable[[], Any]) -> Any:
            result, _ = await with_retries(request, self.retry, on_retry=self._retried)
            return result

        async def everything() -> Any:
            if first:
                yield first
            async for chunk in stream:
                yield chunk

        try:
            first = await anext(stream, b"")
            version = reading.version or info
            attributes = await self._attributes(info, version)
            written = await write_in_parts(
                self.multipart,
                self.spec.dest_bucket,
                self.spec.dest_key(info.key),
                everything(),
                size=version.size,
                describe={**attributes, "copied_from": SourceVersion(version.etag, version.size)},
                overwrite=write.overwrite,
                if_match=write.if_match,
                digests=digests,
                attempt=attempt,
                reserve=reserve,
                before_finish=check,
            )
        finally:
            for release in held:
                release()
            await stream.aclose()
            self.tallies.resumed_reads += reading.resumed
        return Copied(written, version, digests.sha256(), digests.crc64nvme(), 1)

    async def _copy_streamed(self, info: ObjectInfo, write: Write, earlier: list[str]) -> Copied:
        """One pass: the source's chunks go straight into the destination's `put` as they are read.

        Each chunk is handed on only once the next one has arrived, so the last is still in hand
        when the read ends: the MD5 of the whole body is checked then, and a mismatch raises from
        inside the body, before its last bytes reach the store (a `put` whose body fails abandons
        the write; Supabase's resumable upload is terminated), so no corrupted object is made.
        """
        release = await self.budget.reserve(min(info.size, STREAM_HOLD))
        reading = self._read(info.key)
        checks = info.md5 is not None and self.tallies.md5_trusted
        digests = Digests(md5=checks)
        stream = reading.chunks()
        body: AsyncGenerator[bytes, None] | None = None
        try:
            first = await anext(stream, b"")
            version = reading.version or info

            async def held_back() -> AsyncGenerator[bytes, None]:
                held = first
                async for chunk in stream:
                    digests.update(held)
                    yield held
                    held = chunk
                digests.update(held)
                self._check_md5(version.md5 if checks else None, digests.md5(), digests.sha256, earlier, info.key)
                yield held

            attributes = await self._attributes(info, version)
            body = held_back()
            written = await self.dest.put(
                self.spec.dest_bucket,
                self.spec.dest_key(info.key),
                body,
                size=version.size,
                overwrite=write.overwrite,
                if_match=write.if_match,
                copied_from=SourceVersion(version.etag, version.size),
                **attributes,
            )
        finally:
            release()
            if body is not None:
                await body.aclose()
            await stream.aclose()
            self.tallies.resumed_reads += reading.resumed
        return Copied(written, version, digests.sha256(), digests.crc64nvme(), 1)
