"""The TCP connection under a request: reset it, close it, or see that the client left.

ASGI has no way to reset a connection, to stop in the middle of a body or to ask whether the
client is still there, and all three are what the fault switches need.  In uvicorn, ``send``
is a bound method of the per-request ``RequestResponseCycle``, which keeps the connection's
``transport`` and a ``disconnected`` flag; we reach through it.  Under another server the
transport is not found and the cutting functions raise ConnectionAborted instead, which that
server turns into a 500 or a closed connection.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

__all__ = [
    "RAW_SEND_KEY",
    "ConnectionAborted",
    "Message",
    "Send",
    "close_connection",
    "is_disconnected",
    "reset_connection",
    "wait_disconnected",
]

Message = MutableMapping[str, Any]
Send = Callable[[Message], Awaitable[None]]

# The server's own ``send`` callable, stored in the scope by the outermost app before any
# middleware wraps it; the functions below need the original bound method.
RAW_SEND_KEY = "bucketshift.raw_send"


class ConnectionAborted(Exception):
    """Raised through the app after the emulator cut a connection on purpose."""


def _transport(raw_send: Send | None) -> asyncio.Transport | None:
    """The TCP transport behind uvicorn's ``send``, or None under another server."""
    cycle = getattr(raw_send, "__self__", None)
    transport = getattr(cycle, "transport", None)
    # uvloop's transports do the same job without subclassing asyncio.Transport.
    usable = all(hasattr(transport, name) for name in ("abort", "close", "get_extra_info"))
    return transport if usable else None


def is_disconnected(raw_send: Send | None) -> bool:
    """Whether the server saw this request's connection go (False when it cannot tell)."""
    cycle = getattr(raw_send, "__self__", None)
    return bool(getattr(cycle, "disconnected", False))


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
