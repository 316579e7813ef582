"""What an application hands `upload`: bytes, a path, an open binary file, or a stream of chunks.

A payload says its size when that is known without reading it all (bytes, a path, a seekable
file), so a large one goes part by part from its first byte; and whether it can be read again
from its start, so a failed write can be sent again whole and a mirror can write it twice.  A
one-pass stream (an async iterator, a generator, a pipe) is read once; where a second reading is
needed (the mirror's other side), it is kept in a spool file as it passes: in memory up to
`SPOOL_MEMORY`, on disk beyond, never whole in memory.
"""

from __future__ import annotations

import asyncio
import io
import os
import tempfile
from collections.abc import AsyncIterable, AsyncIterator, Iterable
from pathlib import Path
from typing import IO, Union

__all__ = ["CHUNK", "SPOOL_MEMORY", "Data", "Payload", "payload_of"]

CHUNK = 1 << 20
"""Bytes read from a file or spool at a time."""
SPOOL_MEMORY = 8 << 20
"""A kept stream stays in memory up to this many bytes, then moves to a temporary file."""
READ_WHOLE = 8 << 20
"""A file up to this size is read in one call; a larger one is read chunk by chunk off the event loop."""

Data = Union[bytes, bytearray, memoryview, "os.PathLike[str]", IO[bytes], AsyncIterable[bytes], Iterable[bytes]]
"""What `upload` accepts (a `str` is refused: it could be a path or the content itself)."""


class Payload:
    """One upload's bytes, readable as chunks from the start; `size` None where it is not known yet."""

    size: int | None = None
    replayable = True

    def whole(self) -> bytes | None:
        """All the bytes, where they are already in memory."""
        return None

    def chunks(self) -> AsyncIterator[bytes]:
        raise NotImplementedError

    def kept(self) -> Payload:
        """A payload that reads the same bytes again after `chunks` has been read through."""
        return self

    def keep(self) -> None:
        """Ask a one-pass payload to keep what passes, for `kept`."""

    def close(self) -> None:
        """Give back any file this payload opened or spooled into."""


class _Bytes(Payload):
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.size = len(data)

    def whole(self) -> bytes:
        return self.data

    async def chunks(self) -> AsyncIterator[bytes]:
        view = memoryview(self.data)
        for start in range(0, len(view), CHUNK):
            yield bytes(view[start : start + CHUNK])


class _File(Payload):
    """A seekable binary file, read from where it stood when given (and again from there)."""

    def __init__(self, file: IO[bytes], *, owned: bool) -> None:
        self.file = file
        self.owned = owned
        self.start = file.tell()
        self.size = file.seek(0, io.SEEK_END) - self.start
        file.seek(self.start)

    async def chunks(self) -> AsyncIterator[bytes]:
        self.file.seek(self.start)
        left = self.size or 0
        while left > 0:
            want = min(CHUNK, left)
            chunk = self.file.read(want) if left <= READ_WHOLE else await asyncio.to_thread(self.file.read, want)
            if not chunk:
                raise OSError(f"the file ended {left} bytes before its size when it was given to upload")
            left -= len(chunk)
            yield chunk

    def close(self) -> None:
        if self.owned:
            self.file.close()


class _Stream(Payload):
    """Chunks that can be read once; kept in a spool file as they pass when `keep` was asked."""

    replayable = False

    def __init__(self, source: AsyncIterable[bytes] | Iterable[bytes] | IO[bytes], size: int | None) -> None:
        self.source = source
        self.size = size
        self.spool: tempfile.SpooledTemporaryFile[bytes] | None = None
        self.read_through = False

    def keep(self) -> None:
        if self.spool is None:
            self.spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY)  # noqa: SIM115 - closed by close()

    async def _raw(self) -> AsyncIterator[bytes]:
        source = self.source
        if isinstance(source, AsyncIterable):
            async for chunk in source:
                yield chunk
        elif hasattr(source, "read"):
            while chunk := await asyncio.to_thread(source.read, CHUNK):  # type: ignore[union-attr]
                yield chunk
        else:
            for chunk in source:  # type: ignore[union-attr]
                yield chunk

    async def chunks(self) -> AsyncIterator[bytes]:
        if self.read_through:
            raise RuntimeError("a one-pass stream was read twice; read the kept copy")
        self.read_through = True
        async for chunk in self._raw():
            if not chunk:
                continue
            chunk = bytes(chunk)
            if self.spool is not None:
                self.spool.write(chunk)
            yield chunk

    def kept(self) -> Payload:
        if self.spool is None:
            raise RuntimeError("keep() was not asked before the stream was read")
        self.spool.seek(0)
        return _File(self.spool, owned=False)

    def close(self) -> None:
        if self.spool is not None:
            self.spool.close()


def _seekable(file: IO[bytes]) -> bool:
    try:
        return file.seekable()
    except (AttributeError, OSError, ValueError):
        return False


def payload_of(data: Data, size: int | None = None) -> Payload:
    """The payload for what the application gave; TypeError for anything that is not bytes.

    `size` is a stream's length when the caller knows it (a request's Content-Length), so a large
    stream goes part by part from its first byte; for a body whose size is known it must agree."""
    if size is not None and size < 0:
        raise ValueError(f"size is {size}; give the body's length in bytes, or None")
    payload = _payload(data, size)
    if size is not None and payload.size != size:
        payload.close()
        raise ValueError(f"size says {size} bytes but the body holds {payload.size}")
    return payload


def _payload(data: Data, size: int | None) -> Payload:
    if isinstance(data, str):
        raise TypeError("upload takes bytes, a pathlib.Path, a binary file or a stream of bytes, not a str")
    if isinstance(data, bytes | bytearray | memoryview):
        return _Bytes(bytes(data))
    if isinstance(data, os.PathLike):
        path = Path(data)
        if path.stat().st_size <= READ_WHOLE:
            return _Bytes(path.read_bytes())
        return _File(path.open("rb"), owned=True)
    if isinstance(data, io.TextIOBase):
        raise TypeError("upload takes a file opened in binary mode ('rb'), not a text file")
    if hasattr(data, "read"):
        if _seekable(data):  # type: ignore[arg-type]
            return _File(data, owned=False)  # type: ignore[arg-type]
        return _Stream(data, size)  # type: ignore[arg-type]
    if isinstance(data, AsyncIterable | Iterable):
        return _Stream(data, size)
    raise TypeError(f"upload cannot read a {type(data).__name__}; give bytes, a Path, a binary file or a stream")
