"""The one place that decides whether and when to try a request again.

Only `Retryable` errors are retried (429, 5xx, 544, S3 SlowDown, resets, truncated bodies);
AccessDenied, InvalidKey, NotFound and the rest fail at once.  Backoff is exponential with
full jitter and a cap, and the number of attempts is bounded.  The sleep function and the
random source are passed in, so tests control time.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from bucketshift.errors import Retryable, Throttled

__all__ = ["RetryPolicy", "with_retries"]

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """How many attempts, and how long to wait between them."""

    max_attempts: int = 8
    base_delay: float = 0.2
    max_delay: float = 20.0
    throttle_floor: float = 1.0
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    rng: random.Random = field(default_factory=random.Random)

    def delay(self, attempt: int, error: BaseException) -> float:
        """Full jitter over an exponential ceiling; throttling waits at least `throttle_floor`."""
        ceiling = min(self.max_delay, self.base_delay * (2 ** (attempt - 1)))
        wait = self.rng.uniform(0, ceiling)
        if isinstance(error, Throttled):
            wait = max(wait, self.rng.uniform(self.throttle_floor / 2, self.throttle_floor))
        return wait


async def with_retries(
    action: Callable[[], Awaitable[T]],
    policy: RetryPolicy,
    *,
    on_retry: Callable[[int, Retryable, float], None] | None = None,
) -> tuple[T, int]:
    """Run `action` until it succeeds or fails for good; returns its result and the attempts used."""
    attempt = 1
    while True:
        try:
            return await action(), attempt
        except Retryable as error:
            if attempt >= policy.max_attempts:
                raise
            wait = policy.delay(attempt, error)
            if on_retry is not None:
                on_retry(attempt, error, wait)
            await policy.sleep(wait)
            attempt += 1
