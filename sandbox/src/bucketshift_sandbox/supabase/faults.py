"""Added latency and injected faults, so retry and resume paths can be tested for real.

Status faults answer with the bodies the real server (or its gateway) sends.  ``reset`` and
``truncate`` need the TCP connection itself, which ASGI does not expose: see ``_transport``.
"""

from __future__ import annotations

import asyncio
import random
import socket
import struct
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from bucketshift_sandbox.supabase.errors import StorageError, internal_error
from bucketshift_sandbox.supabase.settings import EmulatorSettings

__all__ = [
    "RAW_SEND_KEY",
    "ConnectionAborted",
    "FaultInjector",
    "Truncator",
    "close_connection",
    "fault_error",
    "reset_connection",
    "wait_disconnected",
]

Message = MutableMapping[str, Any]
Send = Callable[[Message], Awaitable[None]]

# The server's own ``send`` callable, stored in the scope by the outermost app before any
# middleware wraps it; the connection hacks below need the original bound method.
RAW_SEND_KEY = "bucketshift.raw_send"


class ConnectionAborted(Exception):
    """Raised through the app after the emulator cut a connection on purpose."""


class FaultInjector:
    """Decides, request by request, whether to inject a fault; seeded, hence repeatable."""

    def __init__(self, settings: EmulatorSettings) -> None:
        self._settings = settings
        self._rng = random.Random(settings.fault_seed)

    def reseed(self) -> None:
        """Restart the decision sequence (after the settings changed)."""
        self._rng = random.Random(self._settings.fault_seed)

    def draw(self) -> str | None:
        """The fault kind for the next storage request, or None."""
        rate = self._settings.fault_rate
        if rate <= 0 or not self._settings.faults:
            return None
        if self._rng.random() >= rate:
            return None
        return self._rng.choice(self._settings.faults)

    async def delay(self) -> None:
        """The configured latency, added to every storage request."""
        if self._settings.latency_ms > 0:
            await asyncio.sleep(self._settings.latency_ms / 1000)


def fault_error(kind: str) -> StorageError:
    """The error a status fault answers with, HTTP status included."""
    if kind == "429":
        # error-handler.ts: database connection exhaustion, sent with a real 429.
        message = "Too many connections issued to the database"
        return StorageError(429, "SlowDown", message, error="too_many_connections", http_status=429)
    if kind == "544":
        # ERRORS.DatabaseTimeout is built withStatusCode(544): the one 5xx sent as itself.
        return StorageError(544, "DatabaseTimeout", "The connection to the database timed out", http_status=544)
    if kind == "503":
        return StorageError(
            503,
            "DatabaseConnectionLimit",
            "The database has reached its maximum number of connections. Please try again later.",
            http_status=503,
        )
    return internal_error()


def _transport(raw_send: Send | None) -> asyncio.Transport | None:
    """The TCP transport behind uvicorn's ``send``.

    ASGI has no way to reset a connection or to stop in the middle of a body, and both are
    exactly what a retrying client must survive.  In uvicorn, ``send`` is a bound method of
    the per-request ``RequestResponseCycle``, which keeps the connection's ``transport``; we
    reach through it.  Under another server this returns None and the faults degrade to
    raising, which that server turns into a 500 or a closed connection.
    """
    cycle = getattr(raw_send, "__self__", None)
    transport = getattr(cycle, "transport", None)
    # uvloop's transports do the same job without subclassing asyncio.Transport.
    usable = all(hasattr(transport, name) for name in ("abort", "close", "get_extra_info"))
    return transport if usable else None


async def wait_disconnected(raw_send: Send | None, patience: float = 1.0) -> None:
    """Let the server notice a connection we closed, so it does not try to answer on it."""
    cycle = getattr(raw_send, "__self__", None)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + patience
    # uvicorn flags the cycle from connection_lost, a callback we cannot await: poll briefly.
    while cycle is not None and not getattr(cycle, "disconnected", True) and loop.time() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.005)


async def reset_connection(raw_send: Send | None) -> None:
    """Abort the connection with a TCP RST before any response byte is sent.

    SO_LINGER with a zero timeout makes the kernel send RST instead of FIN on close, which is
    what a crashed proxy or an overloaded load balancer looks like to the client.
    """
    transport = _transport(raw_send)
    if transport is None:
        raise ConnectionAborted("cannot reach the connection to reset it")
    sock = transport.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()
    await wait_disconnected(raw_send)


async def close_connection(raw_send: Send | None) -> None:
    """Close the connection after flushing what was written (FIN, not RST)."""
    transport = _transport(raw_send)
    if transport is None:
        raise ConnectionAborted("cannot reach the connection to close it")
    transport.close()
    await wait_disconnected(raw_send)


class Truncator:
    """A ``send`` wrapper that lets the headers (full Content-Length) and half the body through.

    Only a successful response with a body can be truncated; anything else is reset instead,
    before its first byte.
    """

    def __init__(self, send: Send, raw_send: Send | None) -> None:
        self._send = send
        self._raw_send = raw_send
        self._remaining = 0

    async def __call__(self, message: Message) -> None:
        """Forward, cut or reset."""
        if message["type"] == "http.response.start":
            headers = {name.lower(): value for name, value in message.get("headers", [])}
            length = int(headers.get(b"content-length", b"0") or 0)
            if message["status"] not in (200, 206) or length <= 0:
                await reset_connection(self._raw_send)
                raise ConnectionAborted("reset instead of a response that cannot be truncated")
            self._remaining = length // 2
            await self._send(message)
            if self._remaining == 0:
                await self._cut()
            return
        if message["type"] == "http.response.body":
            body = message.get("body", b"")
            part = body[: self._remaining]
            if part:
                self._remaining -= len(part)
                await self._send({"type": "http.response.body", "body": part, "more_body": True})
            if self._remaining <= 0 or not message.get("more_body", False):
                await self._cut()
            return
        await self._send(message)

    async def _cut(self) -> None:
        await close_connection(self._raw_send)
        raise ConnectionAborted("response truncated on purpose")
