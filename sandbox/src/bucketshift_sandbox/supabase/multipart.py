"""A streaming ``multipart/form-data`` reader for uploads.

The server takes the first file part of a form (plus the text fields sent before it) and
streams it to the backend.  Starlette's own form parser needs the python-multipart package
and spools whole files; this reader yields the file's bytes as they arrive instead.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from email.message import Message

__all__ = ["FilePart", "MultipartError", "boundary_of", "read_form"]

MAX_HEADER_BYTES = 16 * 1024
MAX_FIELD_BYTES = 2 * 1024 * 1024


class MultipartError(ValueError):
    """The body is not a well-formed multipart form."""


@dataclass
class FilePart:
    """The first file part: the fields that came before it, its headers, and its bytes."""

    fields: dict[str, str]
    name: str
    filename: str
    content_type: str | None
    data: AsyncIterator[bytes] = field(repr=False)


def boundary_of(content_type: str) -> str | None:
    """The boundary parameter of a multipart Content-Type, if any."""
    message = Message()
    message["content-type"] = content_type
    boundary = message.get_param("boundary")
    return boundary if isinstance(boundary, str) and boundary else None


def _disposition(headers: Message) -> tuple[str, str | None]:
    name = headers.get_param("name", header="content-disposition")
    filename = headers.get_param("filename", header="content-disposition")
    return (name if isinstance(name, str) else ""), (filename if isinstance(filename, str) else None)


class _Reader:
    """Splits the body stream at boundaries while holding only a small tail in memory."""

    def __init__(self, stream: AsyncIterator[bytes], boundary: str) -> None:
        self._stream = stream
        self._buffer = bytearray(b"\r\n")
        self._delimiter = b"\r\n--" + boundary.encode("latin-1")
        self._eof = False

    async def _fill(self) -> bool:
        while not self._eof:
            try:
                chunk = await anext(self._stream)
            except StopAsyncIteration:
                self._eof = True
            else:
                if chunk:
                    self._buffer += chunk
                    return True
        return False

    async def drain(self) -> None:
        """Read and drop whatever is left of the body (the epilogue)."""
        while await self._fill():
            self._buffer.clear()

    async def skip_preamble(self) -> bool:
        """Move past the first delimiter; False when the form has no parts at all."""
        while (index := self._buffer.find(self._delimiter)) < 0:
            keep = len(self._delimiter) - 1
            del self._buffer[: max(0, len(self._buffer) - keep)]
            if not await self._fill():
                raise MultipartError("multipart body has no boundary")
        del self._buffer[: index + len(self._delimiter)]
        return await self._after_delimiter()

    async def _after_delimiter(self) -> bool:
        while len(self._buffer) < 2:
            if not await self._fill():
                raise MultipartError("multipart body ends inside a boundary")
        if self._buffer[:2] == b"--":
            return False
        while (end := self._buffer.find(b"\r\n")) < 0:
            if not await self._fill():
                raise MultipartError("multipart body ends inside a boundary line")
        del self._buffer[: end + 2]
        return True

    async def headers(self) -> Message:
        """The headers of the part that starts here."""
        while (end := self._buffer.find(b"\r\n\r\n")) < 0:
            if len(self._buffer) > MAX_HEADER_BYTES:
                raise MultipartError("multipart part headers are too long")
            if not await self._fill():
                raise MultipartError("multipart body ends inside part headers")
        raw = bytes(self._buffer[:end]).decode("utf-8", errors="replace")
        del self._buffer[: end + 4]
        message = Message()
        for line in raw.split("\r\n"):
            name, sep, value = line.partition(":")
            if sep:
                message[name.strip()] = value.strip()
        return message

    async def body(self) -> AsyncIterator[bytes]:
        """The current part's bytes; afterwards the reader stands at the next part (or the end)."""
        keep = len(self._delimiter) - 1
        while True:
            index = self._buffer.find(self._delimiter)
            if index >= 0:
                if index:
                    yield bytes(self._buffer[:index])
                del self._buffer[: index + len(self._delimiter)]
                return
            if len(self._buffer) > keep:
                cut = len(self._buffer) - keep
                yield bytes(self._buffer[:cut])
                del self._buffer[:cut]
            if not await self._fill():
                raise MultipartError("multipart body ends inside a part")

    async def next_part(self) -> bool:
        """After a part's body: True when another part follows."""
        return await self._after_delimiter()


async def read_form(stream: AsyncIterator[bytes], boundary: str) -> FilePart | None:
    """Read text fields up to the first file part and return it, its bytes still unread.

    None when the form holds no file part.  The caller must consume ``FilePart.data`` (which
    also drains whatever follows the file) before the request is answered.
    """
    reader = _Reader(stream, boundary)
    fields: dict[str, str] = {}
    more = await reader.skip_preamble()
    while more:
        headers = await reader.headers()
        name, filename = _disposition(headers)
        if filename is not None:
            return FilePart(
                fields=fields,
                name=name,
                filename=filename,
                content_type=headers.get("content-type"),
                data=_file_then_drain(reader),
            )
        value = bytearray()
        async for chunk in reader.body():
            if len(value) <= MAX_FIELD_BYTES:
                value += chunk
        fields.setdefault(name, value.decode("utf-8", errors="replace"))
        more = await reader.next_part()
    return None


async def _file_then_drain(reader: _Reader) -> AsyncIterator[bytes]:
    async for chunk in reader.body():
        yield chunk
    more = await reader.next_part()
    while more:
        await reader.headers()
        async for _ in reader.body():
            pass
        more = await reader.next_part()
    await reader.drain()
