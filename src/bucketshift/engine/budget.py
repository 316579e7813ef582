"""A budget of bytes held in memory at once, shared by every worker of a copy.

Concurrency bounds how many objects are in flight; it does not bound memory when objects are
large (64 workers each holding a 20 MB video is over a gigabyte).  Every body or part reserves
its size here before it is read and gives it back once it is written, so peak memory follows the
budget whatever the concurrency.  Waiters are served in order, so a part-sized reservation is not
starved by a stream of small ones; a reservation above the whole budget is cut to it (it then
runs alone).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable

__all__ = ["MemoryBudget"]


class MemoryBudget:
    """At most `limit` bytes reserved at a time."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("a memory budget must be at least one byte")
        self.limit = limit
        self.used = 0
        self.peak = 0
        self._waiters: deque[tuple[int, asyncio.Future[None]]] = deque()

    async def reserve(self, amount: int) -> Callable[[], None]:
        """Wait until `amount` bytes fit; returns the function that gives them back (once)."""
        amount = max(0, min(amount, self.limit))
        if not self._waiters and self.used + amount <= self.limit:
            self._take(amount)
        else:
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append((amount, waiter))
            try:
                await waiter
            except BaseException:
                if waiter.done() and not waiter.cancelled():
                    self._give(amount)
                else:
                    with contextlib.suppress(ValueError):
                        self._waiters.remove((amount, waiter))
                    self._wake()
                raise
        released = False

        def release() -> None:
            nonlocal released
            if not released:
                released = True
                self._give(amount)

        return release

    def _take(self, amount: int) -> None:
        self.used += amount
        self.peak = max(self.peak, self.used)

    def _give(self, amount: int) -> None:
        self.used -= amount
        self._wake()

    def _wake(self) -> None:
        while self._waiters and self.used + self._waiters[0][0] <= self.limit:
            amount, waiter = self._waiters.popleft()
            if waiter.done():
                continue
            self._take(amount)
            waiter.set_result(None)
