"""Object bytes as plain files under ``DIR/blobs``.

Each write streams into a temporary file and is renamed into place on commit, so a reader
never sees half an object and memory stays flat whatever the size.  A file is named after the
row's ``version`` (a fresh UUID on every write, as the real server's versioned S3 keys are)
rather than the object id, which survives overwrites: an overwrite lands next to the old
bytes, the catalog row switches from one version to the other in one statement, and only then
is the old file removed, so no reader ever pairs new metadata with old bytes or the reverse.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import shutil
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

__all__ = ["BlobStore", "IncomingBlob"]

WRITE_BATCH = 1024 * 1024
READ_CHUNK = 256 * 1024
INLINE_READ = 64 * 1024


@dataclass
class IncomingBlob:
    """A body received into a temporary file, not yet visible as an object."""

    path: Path
    size: int
    md5: str
    exceeded: bool


class BlobStore:
    """The byte store; file operations are short, big reads and writes go to a worker thread."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._tmp = root / ".incoming"
        self._tmp.mkdir(parents=True, exist_ok=True)
        for leftover in self._tmp.iterdir():
            leftover.unlink(missing_ok=True)

    def path_for(self, version: str) -> Path:
        """Where the bytes of one object version live."""
        return self.root / version

    async def receive(self, chunks: AsyncIterator[bytes], *, limit: int) -> IncomingBlob:
        """Stream chunks to a temporary file; past ``limit`` bytes, keep reading but stop writing."""
        path = self._tmp / uuid.uuid4().hex
        digest = hashlib.md5(usedforsecurity=False)
        size = 0
        exceeded = False
        pending: list[bytes] = []
        pending_size = 0
        handle = path.open("wb")
        try:
            async for chunk in chunks:
                size += len(chunk)
                if exceeded or size > limit:
                    exceeded = True
                    continue
                pending.append(chunk)
                pending_size += len(chunk)
                if pending_size >= WRITE_BATCH:
                    await asyncio.to_thread(_write_batch, handle, digest, pending)
                    pending, pending_size = [], 0
            if pending and not exceeded:
                # The tail is under a batch: writing it inline is cheaper than a thread hop.
                _write_batch(handle, digest, pending)
        except BaseException:
            handle.close()
            path.unlink(missing_ok=True)
            raise
        handle.close()
        return IncomingBlob(path=path, size=size, md5=digest.hexdigest(), exceeded=exceeded)

    def commit(self, incoming: IncomingBlob, version: str) -> Path:
        """Make received bytes the content of an object version."""
        target = self.path_for(version)
        os.replace(incoming.path, target)
        return target

    def discard(self, incoming: IncomingBlob) -> None:
        """Forget a received body (refused upload)."""
        incoming.path.unlink(missing_ok=True)

    def remove(self, version: str | None) -> None:
        """Delete an object version's bytes; a missing file is not an error."""
        if version:
            self.path_for(version).unlink(missing_ok=True)

    def duplicate(self, version: str, new_version: str) -> None:
        """Give the same bytes a second name: a hard link when possible (files are never rewritten)."""
        source = self.path_for(version)
        target = self.path_for(new_version)
        try:
            os.link(source, target)
        except OSError:
            shutil.copyfile(source, target)

    def open(self, version: str) -> BinaryIO:
        """Open an object version for reading; FileNotFoundError when its bytes are gone."""
        return self.path_for(version).open("rb")

    async def read_range(self, handle: BinaryIO, start: int, length: int) -> AsyncIterator[bytes]:
        """Yield ``length`` bytes from ``start`` in chunks, closing the file at the end."""
        try:
            handle.seek(start)
            remaining = length
            while remaining > 0:
                size = min(READ_CHUNK, remaining)
                # Small reads come from the page cache faster than a hop to a worker thread.
                chunk = handle.read(size) if size <= INLINE_READ else await asyncio.to_thread(handle.read, size)
                if not chunk:
                    break
                remaining -= len(chunk)
                yield chunk
        finally:
            with contextlib.suppress(OSError):
                handle.close()


def _write_batch(handle: BinaryIO, digest: hashlib._Hash, pending: list[bytes]) -> None:
    for chunk in pending:
        digest.update(chunk)
        handle.write(chunk)
