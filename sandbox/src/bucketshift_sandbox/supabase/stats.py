"""Request counters, so tests and benchmarks can see what a client actually asked for."""

from __future__ import annotations

from collections import Counter
from typing import Any

__all__ = ["Stats", "route_label"]

_OBJECT_SUBROUTES = frozenset({"public", "authenticated", "sign", "info", "list", "list-v2", "move", "copy", "upload"})


def route_label(method: str, path: str) -> str:
    """A short route name such as ``GET object`` or ``POST object/list-v2`` for a storage path."""
    parts = [part for part in path.split("/") if part]
    if not parts:
        return f"{method} /"
    head = parts[0]
    if head == "bucket":
        if len(parts) >= 3 and parts[2] == "empty":
            return f"{method} bucket/empty"
        return f"{method} bucket"
    if head == "object" and len(parts) >= 2:
        sub = parts[1]
        if sub == "upload" and len(parts) >= 3 and parts[2] == "sign":
            return f"{method} object/upload/sign"
        if sub in _OBJECT_SUBROUTES:
            return f"{method} object/{sub}"
        return f"{method} object"
    return f"{method} {head}"


class Stats:
    """Totals since start or the last reset; single-threaded (the event loop) by design."""

    def __init__(self) -> None:
        self.requests = 0
        self.by_route: Counter[str] = Counter()
        self.object_reads: Counter[str] = Counter()

    def record_request(self, label: str) -> None:
        """Count one storage request under its route label."""
        self.requests += 1
        self.by_route[label] += 1

    def record_read(self, bucket: str, key: str) -> None:
        """Count one GET that started sending an object's bytes."""
        self.object_reads[f"{bucket}/{key}"] += 1

    def snapshot(self) -> dict[str, Any]:
        """The counters as the admin route returns them."""
        return {
            "requests": self.requests,
            "by_route": dict(sorted(self.by_route.items())),
            "object_reads": dict(sorted(self.object_reads.items())),
        }

    def reset(self) -> None:
        """Start counting from zero."""
        self.requests = 0
        self.by_route.clear()
        self.object_reads.clear()
