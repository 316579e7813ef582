"""Bodies the service reads from someone else (a request, a source URL), counted against a limit.

A body remembers why it stopped (too large, cut off) so the answer names that cause even when the
storage client reports the aborted upload in its own words.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator

from .errors import ServiceError


class BoundedBody:
    """Chunks read once, at most `limit` bytes; `peek` looks at the start without losing it."""

    def __init__(
        self,
        chunks: AsyncIterable[bytes],
        *,
        limit: int,
        what: str,
        broken: tuple[type[BaseException], ...] = (),
        broken_status: int = 400,
        too_large_status: int = 413,
    ) -> None:
        """`broken`: the errors of a sender that stopped sending (answered `broken_status`); a body
        over the limit is answered `too_large_status` (413 for a request's own body)."""
        self._chunks = aiter(chunks)
        self._head = bytearray()
        self.limit = limit
        self.what = what
        self.broken = broken
        self.broken_status = broken_status
        self.too_large_status = too_large_status
        self.size = 0
        self.failure: ServiceError | None = None

    async def _next(self) -> bytes | None:
        """The next non-empty chunk, counted; None at the end."""
        while True:
            try:
                chunk = await anext(self._chunks)
            except StopAsyncIteration:
                return None
            except self.broken as error:
                self.failure = ServiceError(
                    self.broken_status,
                    f"{self.what} broke off after {self.size} bytes ({type(error).__name__}); try again",
                )
                raise self.failure from None
            if not chunk:
                continue
            self.size += len(chunk)
            if self.size > self.limit:
                self.failure = self._too_large()
                raise self.failure
            return bytes(chunk)

    async def peek(self, count: int) -> bytes:
        """Up to `count` bytes from the start; they are still given by iteration."""
        while len(self._head) < count:
            chunk = await self._next()
            if chunk is None:
                break
            self._head += chunk
        return bytes(self._head[:count])

    async def __aiter__(self) -> AsyncIterator[bytes]:
        if self._head:
            head, self._head = bytes(self._head), bytearray()
            yield head
        while (chunk := await self._next()) is not None:
            yield chunk

    async def read_all(self) -> bytes:
        """The whole body, for bodies small enough to hold (the limit says how small)."""
        return b"".join([chunk async for chunk in self])

    def check_announced(self, length: str | None) -> None:
        """Refuse at once a body whose announced length is already over the limit."""
        if length is not None and length.isdigit() and int(length) > self.limit:
            raise self._too_large()

    def _too_large(self) -> ServiceError:
        return ServiceError(
            self.too_large_status, f"{self.what} is larger than the {self.limit} bytes this service takes"
        )
