"""Request counters, so tests and benchmarks can see what a client actually asked for and got.

``GET /_emulator/stats`` shows them, ``POST /_emulator/stats/reset`` zeroes them all:

- ``requests``, ``by_route``: storage requests, in all and per route label.
- ``object_reads``: per ``bucket/key``, the GETs that started sending the object's bytes.
- ``ranged_reads``: per ``bucket/key``, those of them that carried a Range header and were
  answered 206.
- ``object_bytes``: per ``bucket/key``, the body bytes that actually went out to clients,
  counted as they go, so a read cut short (or stalled) counts what was sent before the cut.
- ``faults_injected``, ``faults_by_kind``: faults applied, in all and per kind, counted when
  they happen (a ``corrupt`` only when it changed a byte, a ``truncate`` that could not cut
  a body as the ``reset`` it became).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import MutableMapping
from typing import Any

from bucketshift_sandbox.supabase.connection import Message, Send, is_disconnected
from bucketshift_sandbox.supabase.labels import route_label

__all__ = ["SENDING_OBJECT_KEY", "ByteMeter", "Stats", "mark_sending", "route_label"]

# Set in a request's scope by the route that streams an object's bytes: whose bytes they are.
SENDING_OBJECT_KEY = "bucketshift.sending_object"


def mark_sending(scope: MutableMapping[str, Any], bucket: str, key: str) -> None:
    """Tell the byte meter that this response's body is the bytes of ``bucket/key``."""
    scope[SENDING_OBJECT_KEY] = f"{bucket}/{key}"


class Stats:
    """Totals since start or the last reset; single-threaded (the event loop) by design."""

    def __init__(self) -> None:
        self.requests = 0
        self.by_route: Counter[str] = Counter()
        self.object_reads: Counter[str] = Counter()
        self.ranged_reads: Counter[str] = Counter()
        self.object_bytes: Counter[str] = Counter()
        self.faults_by_kind: Counter[str] = Counter()

    def record_request(self, label: str) -> None:
        """Count one storage request under its route label."""
        self.requests += 1
        self.by_route[label] += 1

    def record_read(self, bucket: str, key: str, *, ranged: bool = False) -> None:
        """Count one GET that started sending an object's bytes (``ranged``: a 206 to a Range)."""
        self.object_reads[f"{bucket}/{key}"] += 1
        if ranged:
            self.ranged_reads[f"{bucket}/{key}"] += 1

    def record_bytes(self, target: str, count: int) -> None:
        """Count body bytes of ``bucket/key`` that went out."""
        self.object_bytes[target] += count

    def record_fault(self, kind: str) -> None:
        """Count one fault applied."""
        self.faults_by_kind[kind] += 1

    def snapshot(self) -> dict[str, Any]:
        """The counters as the admin route returns them."""
        return {
            "requests": self.requests,
            "by_route": dict(sorted(self.by_route.items())),
            "object_reads": dict(sorted(self.object_reads.items())),
            "ranged_reads": dict(sorted(self.ranged_reads.items())),
            "object_bytes": dict(sorted(self.object_bytes.items())),
            "faults_injected": sum(self.faults_by_kind.values()),
            "faults_by_kind": dict(sorted(self.faults_by_kind.items())),
        }

    def reset(self) -> None:
        """Start counting from zero."""
        self.requests = 0
        for counter in (self.by_route, self.object_reads, self.ranged_reads, self.object_bytes, self.faults_by_kind):
            counter.clear()


class ByteMeter:
    """The innermost ``send`` wrapper: counts the object bytes that reach the server's ``send``.

    Being innermost, it sees the body after any fault changed or cut it; a chunk counts once
    the server took it while the client was still connected (uvicorn drops what it is given
    after a disconnect).
    """

    def __init__(self, send: Send, raw_send: Send | None, scope: MutableMapping[str, Any], stats: Stats) -> None:
        self._send = send
        self._raw_send = raw_send
        self._scope = scope
        self._stats = stats

    async def __call__(self, message: Message) -> None:
        """Forward, then count."""
        await self._send(message)
        if message["type"] != "http.response.body":
            return
        target = self._scope.get(SENDING_OBJECT_KEY)
        body = message.get("body", b"")
        if target and body and not is_disconnected(self._raw_send):
            self._stats.record_bytes(target, len(body))
