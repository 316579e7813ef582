"""Request-rate and bandwidth limits, because hosted Supabase projects throttle.

Token buckets on a monotonic clock that is passed in; `None` means no limit.  A caller awaits
`acquire(n)` before sending n units (one request, or n bytes).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Protocol

__all__ = ["Pacer", "TokenBucket", "parse_rate"]

_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1000, "m": 1000**2, "mb": 1000**2, "g": 1000**3, "gb": 1000**3}
_UNITS |= {"kib": 1024, "mib": 1024**2, "gib": 1024**3}


def parse_rate(text: str) -> float:
    """'50MB/s', '800KiB', '1.5G' -> bytes per second (decimal units unless written KiB/MiB/GiB)."""
    value = text.strip().lower().removesuffix("/s").replace(" ", "")
    number = value.rstrip("abcdefghijklmnopqrstuvwxyz")
    unit = value[len(number) :]
    if unit not in _UNITS or not number:
        raise ValueError(f"'{text}' is not a rate; write it like 50MB/s or 800KiB/s")
    rate = float(number) * _UNITS[unit]
    if rate <= 0:
        raise ValueError(f"'{text}' must be more than zero")
    return rate


class Pacer(Protocol):
    """What a limit offers a sender: this bucket, or a run's shared one (`pacing_shared`)."""

    rate: float
    burst: float

    async def acquire(self, amount: float = 1.0) -> None: ...


class TokenBucket:
    """At most `rate` units per second on average, with bursts up to `burst` units."""

    def __init__(
        self,
        rate: float,
        burst: float | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.burst = burst if burst is not None else max(rate, 1.0)
        self._clock = clock
        self._sleep = sleep
        self._tokens = self.burst
        self._last = clock()
        self._lock = asyncio.Lock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
        self._last = now

    async def acquire(self, amount: float = 1.0) -> None:
        """Wait until `amount` units may pass; amounts above the burst pass alone, in debt."""
        async with self._lock:
            self._refill()
            need = min(amount, self.burst)
            while self._tokens < need - 1e-9:
                await self._sleep(max((need - self._tokens) / self.rate, 1e-6))
                self._refill()
            self._tokens -= amount
