"""The rate a progress row shows: recent while it moves, its own whole average once it is done.

A rate over the last second drops to nothing the moment a row finishes, and a rate over the whole
command dilutes a bucket that waited for others: a finished bar then shows `0 B/s`, or a rate far
below what its bucket really moved at.  So each row keeps its own clock, from the last moment it
was seen at zero (it had not begun) to the moment it was first seen complete.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

WINDOW = 3.0
"""Seconds of recent samples a moving row's rate is taken over."""


@dataclass
class Pace:
    """One row's clock; `sample` it with the row's amount, ask `rate` for what to show."""

    began: float | None = None
    ended: float | None = None
    final: int = 0
    _idle_since: float | None = None
    _samples: deque[tuple[float, int]] = field(default_factory=deque)

    def sample(self, now: float, amount: int, *, complete: bool) -> None:
        if self.ended is not None:
            return
        if amount <= 0 and not complete:
            self._idle_since = now
            return
        if self.began is None:
            self.began = self._idle_since if self._idle_since is not None else now
        self._samples.append((now, amount))
        while len(self._samples) > 2 and now - self._samples[1][0] >= WINDOW:
            self._samples.popleft()
        if complete:
            self.ended = now
            self.final = amount

    def rate(self, now: float) -> float:
        """Amount per second: the row's whole average once complete, else over the recent window."""
        if self.began is None or not self._samples:
            return 0.0
        if self.ended is not None:
            span = self.ended - self.began
            return self.final / span if span > 0 else 0.0
        first_at, first = self._samples[0]
        last_at, last = self._samples[-1]
        if last_at - first_at >= 1.0:
            return (last - first) / (last_at - first_at)
        span = now - self.began
        return last / span if span > 0 else 0.0
