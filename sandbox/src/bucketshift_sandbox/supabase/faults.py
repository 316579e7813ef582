"""Added latency and the fault dice, so retry, resume and checksum paths can be tested for real.

The injector decides, request by request and from a seed, which fault (if any) a storage
request gets; the storage gate (``app.StorageGate``) applies it.  Status faults answer with the
bodies the real server (or its gateway) sends; ``reset`` needs the TCP connection itself
(``connection``); ``truncate``, ``stall`` and ``corrupt`` act on the response body
(``body_faults``).
"""

from __future__ import annotations

import asyncio
import random

from bucketshift_sandbox.supabase.errors import StorageError, internal_error
from bucketshift_sandbox.supabase.labels import READ_ROUTES
from bucketshift_sandbox.supabase.settings import EmulatorSettings

__all__ = ["FaultInjector", "applies_to", "fault_error"]


def applies_to(kind: str, label: str) -> bool:
    """Whether a fault kind can be drawn for a route: ``corrupt`` only for the object reads."""
    return kind != "corrupt" or label in READ_ROUTES


class FaultInjector:
    """Decides, request by request, whether to inject a fault; seeded, hence repeatable."""

    def __init__(self, settings: EmulatorSettings) -> None:
        self._settings = settings
        self._rng = random.Random(settings.fault_seed)

    def reseed(self) -> None:
        """Restart the decision sequence (after the settings changed)."""
        self._rng = random.Random(self._settings.fault_seed)

    def draw(self, label: str) -> str | None:
        """The fault kind for the next storage request (its route label), or None.

        A request outside ``fault_routes``, or one no listed kind applies to, gets no fault and
        does not roll the dice: the faults of the targeted requests depend on the seed and on
        their own order only, not on how many other requests came between them.
        """
        settings = self._settings
        if settings.fault_rate <= 0:
            return None
        if settings.fault_routes and label not in settings.fault_routes:
            return None
        kinds = [kind for kind in settings.faults if applies_to(kind, label)]
        if not kinds:
            return None
        if self._rng.random() >= settings.fault_rate:
            return None
        return self._rng.choice(kinds)

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
