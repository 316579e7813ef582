"""Faults in a response's body: cut it, change a byte of it, or stall it.

Each is a ``send`` wrapper put between the routes and the server by the storage gate
(``app.StorageGate``), so the route answers as usual and the fault happens on the way out,
after the status and headers were decided: the client sees the real Content-Length and ETag,
and a body that does not match them, as a bad network or disk would deliver it.  Each reports
what it actually did through ``report`` (a fault kind), for the stats.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import NoReturn

from bucketshift_sandbox.supabase.connection import (
    ConnectionAborted,
    Message,
    Send,
    close_connection,
    is_disconnected,
    reset_connection,
)

__all__ = ["STALL_POLL", "Corrupter", "StallRelease", "Staller", "Truncator"]

Report = Callable[[str], None]
# How often a stall looks whether its client left or the emulator is stopping.
STALL_POLL = 0.02


def _content_length(message: Message) -> int | None:
    for name, value in message.get("headers", []):
        if name.lower() == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


class _Halfway:
    """Let the headers and the first half of the body (Content-Length // 2 bytes) through, then halt."""

    def __init__(self, send: Send, raw_send: Send | None, report: Report) -> None:
        self._send = send
        self._raw_send = raw_send
        self._report = report
        self._remaining = 0

    def _half(self, status: int, length: int | None) -> int | None:
        """How many body bytes to let through, or None when this response cannot be halved."""
        raise NotImplementedError

    async def _unhalvable(self) -> NoReturn:
        """Deal with a response that cannot be halved, before any of it is sent."""
        raise NotImplementedError

    async def _halt(self) -> NoReturn:
        """End the response after the half that went out."""
        raise NotImplementedError

    async def __call__(self, message: Message) -> None:
        """Forward, then halt halfway."""
        if message["type"] == "http.response.start":
            half = self._half(message["status"], _content_length(message))
            if half is None:
                await self._unhalvable()
            self._remaining = half
            await self._send(message)
            if self._remaining == 0:
                await self._halt()
            return
        if message["type"] == "http.response.body":
            part = message.get("body", b"")[: self._remaining]
            if part:
                self._remaining -= len(part)
                await self._send({"type": "http.response.body", "body": part, "more_body": True})
            if self._remaining <= 0 or not message.get("more_body", False):
                await self._halt()
            return
        await self._send(message)


class Truncator(_Halfway):
    """``truncate``: the headers (full Content-Length) and half the body, then the connection closes.

    Only a successful response with a body can be truncated; anything else is reset instead,
    before its first byte (and reported as ``reset``).
    """

    def _half(self, status: int, length: int | None) -> int | None:
        if status not in (200, 206) or not length or length <= 0:
            return None
        return length // 2

    async def _unhalvable(self) -> NoReturn:
        self._report("reset")
        await reset_connection(self._raw_send)
        raise ConnectionAborted("reset instead of a response that cannot be truncated")

    async def _halt(self) -> NoReturn:
        self._report("truncate")
        await close_connection(self._raw_send)
        raise ConnectionAborted("response truncated on purpose")


class StallRelease:
    """Set when the emulator stops, so that pending stalls end at once instead of holding it up."""

    def __init__(self) -> None:
        self.released = False

    def release(self) -> None:
        """End every pending stall (safe to call from a signal handler: it only sets a flag)."""
        self.released = True


class Staller(_Halfway):
    """``stall``: the headers and half the body, then nothing for ``seconds``, then the connection closes.

    Any status stalls; a response without a body to halve (HEAD, an empty body) stalls before
    its headers instead.  The stall ends early when the client goes away or the emulator stops
    (``release``), and it only sleeps, so the emulator's other requests go on meanwhile.
    """

    def __init__(
        self,
        send: Send,
        raw_send: Send | None,
        report: Report,
        *,
        seconds: float,
        release: StallRelease,
        has_body: bool,
    ) -> None:
        super().__init__(send, raw_send, report)
        self._seconds = seconds
        self._release = release
        self._has_body = has_body

    def _half(self, status: int, length: int | None) -> int | None:
        del status
        if not self._has_body or not length or length <= 0:
            return None
        return length // 2

    async def _unhalvable(self) -> NoReturn:
        await self._halt()

    async def _halt(self) -> NoReturn:
        self._report("stall")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._seconds
        while not self._release.released and not is_disconnected(self._raw_send):
            left = deadline - loop.time()
            if left <= 0:
                break
            await asyncio.sleep(min(STALL_POLL, left))
        await close_connection(self._raw_send)
        raise ConnectionAborted("response stalled on purpose")


class Corrupter:
    """``corrupt``: a 200 or 206 body goes out whole, with the lowest bit of its middle byte flipped.

    The byte is the one at offset Content-Length // 2 of this response's body (of the range,
    for a 206).  Headers are untouched, so Content-Length and ETag still describe the real
    object.  Any other response (an error, a 304, an empty body) passes unchanged, unreported.
    """

    def __init__(self, send: Send, report: Report) -> None:
        self._send = send
        self._report = report
        self._target = -1
        self._offset = 0

    async def __call__(self, message: Message) -> None:
        """Forward, flipping one bit on the way."""
        if message["type"] == "http.response.start":
            length = _content_length(message)
            if message["status"] in (200, 206) and length:
                self._target = length // 2
        elif message["type"] == "http.response.body" and self._target >= 0:
            body = message.get("body", b"")
            end = self._offset + len(body)
            if self._offset <= self._target < end:
                changed = bytearray(body)
                changed[self._target - self._offset] ^= 0x01
                message = {**message, "body": bytes(changed)}
                self._target = -1
                self._report("corrupt")
            self._offset = end
        await self._send(message)
