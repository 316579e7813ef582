"""Resumable (tus) uploads in progress: a data file and a JSON record each, under ``DIR/blobs/.resumable``.

As the server's tus file store keeps them: the offset is the size of the data file, so the bytes
a PATCH wrote before its connection broke count, and the client resumes from what HEAD says;
the record survives a restart of the emulator.  A finished upload hands its data file to the
blob store and keeps its record, marked complete, so HEAD still answers its offset and a
DELETE is refused (``disableTerminationForFinishedUploads``).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

__all__ = ["AppendResult", "ResumableUpload", "ResumableUploads"]

WRITE_INLINE = 256 * 1024
HASH_CHUNK = 1024 * 1024


@dataclass
class ResumableUpload:
    """One upload: where it goes, how long it is (None while deferred), and its tus metadata."""

    bucket: str
    name: str
    version: str
    size: int | None
    metadata: dict[str, str | None] | None
    created_at: str
    complete: bool = False
    offset: int = field(default=0, compare=False)


@dataclass
class AppendResult:
    """What a PATCH body did: the new offset, and whether it ran past the bytes it may add."""

    offset: int
    exceeded: bool


class ResumableUploads:
    """The uploads of one emulator; every method is short file work except ``append`` and ``md5``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        self._locks: dict[str, asyncio.Lock] = {}

    def _record(self, version: str) -> Path:
        return self.root / f"{version}.json"

    def data_path(self, version: str) -> Path:
        """The bytes received so far of an upload in progress."""
        return self.root / f"{version}.part"

    def lock(self, version: str) -> asyncio.Lock:
        """One request at a time writes an upload (the server's locker)."""
        return self._locks.setdefault(version, asyncio.Lock())

    def create(self, upload: ResumableUpload) -> None:
        """Record a new, empty upload."""
        self.data_path(upload.version).touch()
        self.save(upload)

    def save(self, upload: ResumableUpload) -> None:
        """Write the record (a declared length, or completion)."""
        fields = asdict(upload)
        del fields["offset"]
        temporary = self._record(upload.version).with_suffix(".tmp")
        temporary.write_text(json.dumps(fields))
        temporary.replace(self._record(upload.version))

    def get(self, version: str) -> ResumableUpload | None:
        """The upload with its current offset, or None when there is none by that version."""
        if not version or "/" in version or version.startswith("."):
            return None
        try:
            fields: dict[str, Any] = json.loads(self._record(version).read_text())
        except (OSError, ValueError):
            return None
        upload = ResumableUpload(**fields)
        if upload.complete:
            upload.offset = upload.size or 0
        else:
            try:
                upload.offset = self.data_path(version).stat().st_size
            except OSError:
                return None
        return upload

    async def append(self, upload: ResumableUpload, chunks: AsyncIterator[bytes], *, limit: int) -> AppendResult:
        """Add a PATCH body at the end; at most ``limit`` bytes, the rest is read but not kept.

        Each piece is written as it arrives (HEAD sees it at once), so what came before the body
        broke off stays, as the server's stores keep it; the caller re-raises the break.
        """
        written = 0
        exceeded = False
        with self.data_path(upload.version).open("ab") as handle:
            async for chunk in chunks:
                if exceeded:
                    continue
                if len(chunk) > limit - written:
                    exceeded = True
                    chunk = chunk[: limit - written]
                if len(chunk) >= WRITE_INLINE:
                    await asyncio.to_thread(_write, handle, chunk)
                else:
                    _write(handle, chunk)
                written += len(chunk)
        return AppendResult(upload.offset + written, exceeded)

    async def md5(self, version: str) -> str:
        """The hex MD5 of the received bytes (the ETag of a standard upload of the same body)."""
        return await asyncio.to_thread(_md5_of, self.data_path(version))

    def mark_complete(self, upload: ResumableUpload) -> None:
        """The bytes became an object: keep the record only."""
        upload.complete = True
        self.save(upload)
        self.data_path(upload.version).unlink(missing_ok=True)
        self._locks.pop(upload.version, None)

    def remove(self, version: str) -> None:
        """Forget an upload (terminated, or refused when it finished)."""
        self.data_path(version).unlink(missing_ok=True)
        self._record(version).unlink(missing_ok=True)
        self._locks.pop(version, None)


def _write(handle: BinaryIO, chunk: bytes) -> None:
    handle.write(chunk)
    handle.flush()


def _md5_of(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as handle:
        while chunk := handle.read(HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
