"""Pacing limits for a whole run of many workers: the token bucket kept in a PostgreSQL row.

`--max-requests-per-second` and `--bandwidth` bound what the run sends, not what each worker
sends, so N workers must draw from one bucket.  The bucket is a row of `pacing` in the state
schema (the coordinator creates the table); a grant is one statement (one round trip) that
refills the row by the time elapsed on the server's clock, capped at the burst, and takes
`min(asked, available)` under the row's lock.

A worker does not ask once per request: it asks for about `rate * share_seconds` units at a time
and spends them locally, so each worker makes at most about 1/share_seconds round trips a second.
Units granted to a worker that dies (or closes) before spending them are lost capacity: the run
then sends less than the limit, never more.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import psycopg
from psycopg import sql

from bucketshift.database.connection import translate
from bucketshift.engine.state_connection import connect_state, state_error
from bucketshift.errors import BucketshiftError, ConfigError

__all__ = ["SharedTokenBucket", "create_limit"]

_EPSILON = 1e-9
_MIN_SLEEP = 0.001
_MAX_SLEEP = 5.0
"""A sleep longer than this is cut short to look again: the row may have been given a new rate."""

_CREATE = """
INSERT INTO {table} (shared_run, name, rate, burst, tokens)
VALUES (%(run)s, %(name)s, %(rate)s, %(burst)s, %(burst)s)
ON CONFLICT (shared_run, name) DO NOTHING
"""

# `force` takes the whole ask even into debt (an amount above the burst); otherwise never below zero.
_GRANT = """
WITH cur AS (
    SELECT shared_run, name, rate, burst, tokens, at, clock_timestamp() AS now
    FROM {table}
    WHERE shared_run = %(run)s AND name = %(name)s
    FOR UPDATE
), took AS (
    SELECT shared_run, name, rate, burst, now,
           LEAST(burst, tokens + rate * GREATEST(EXTRACT(EPOCH FROM now - at)::double precision, 0)) AS avail
    FROM cur
), granted AS (
    SELECT took.*,
           CASE WHEN %(force)s THEN %(want)s ELSE GREATEST(LEAST(%(want)s, avail), 0) END AS amount
    FROM took
)
UPDATE {table} AS p
SET tokens = granted.avail - granted.amount, at = granted.now
FROM granted
WHERE p.shared_run = granted.shared_run AND p.name = granted.name
RETURNING granted.amount, granted.rate, granted.burst
"""


def create_limit(
    conn: psycopg.Connection[Any], schema: str, shared_run: int, name: str, *, rate: float, burst: float
) -> None:
    """The run's bucket `name`, full; the first worker of a run creates it, later ones keep it as
    it is (a late worker neither refills it nor changes its rate)."""
    _check(rate, burst)
    query = sql.SQL(_CREATE).format(table=sql.Identifier(schema, "pacing"))
    try:
        conn.execute(query, {"run": shared_run, "name": name, "rate": rate, "burst": burst})
    except psycopg.Error as error:
        raise translate(error, f"create the pacing limit {name}") from None


class SharedTokenBucket:
    """At most `rate` units per second on average over all workers of `shared_run`, bursts up to
    `burst`; the same `acquire` contract as `TokenBucket`.

    The row's rate and burst win over the ones given here (the first worker set them).  Units a
    worker was granted and did not spend when it died or closed are lost, never given twice.
    """

    def __init__(
        self,
        dsn: str,
        schema: str,
        shared_run: int,
        name: str,
        *,
        rate: float,
        burst: float,
        share_seconds: float = 0.1,
    ) -> None:
        _check(rate, burst)
        if share_seconds < 0:
            raise ValueError("share_seconds must not be negative")
        self.rate = rate
        self.burst = burst
        self.share_seconds = share_seconds
        self.grants = 0
        """Round trips made to ask for units (one statement each)."""
        self._dsn = dsn
        self._schema = schema
        self._run = shared_run
        self._name = name
        self._tokens = 0.0
        self._next_grant = 0.0
        self._conn: psycopg.Connection[Any] | None = None
        self._grant = sql.SQL(_GRANT).format(table=sql.Identifier(schema, "pacing"))
        self._lock = asyncio.Lock()

    async def acquire(self, amount: float = 1.0) -> None:
        """Wait until `amount` units may pass; amounts above the burst pass alone, in debt: once a
        full burst is gathered the rest is taken from the row, which goes below zero, so everyone
        waits it off and the run's average holds."""
        async with self._lock:
            # The burst is re-read on each pass: the first grant may tell a smaller one (the row's).
            while self._tokens < (need := min(amount, self.burst)) - _EPSILON:
                wait = self._next_grant - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(min(wait, _MAX_SLEEP))
                ask = min(self.burst, max(need - self._tokens, self.rate * self.share_seconds))
                got = await asyncio.to_thread(self._take, ask, False)
                self._tokens += got
                # Ask again only once the row can have refilled what it did not give: a worker
                # that gets little (the others took the rest) makes no more round trips for it.
                short = max(min(ask, self.burst) - got, 0.0)
                self._next_grant = time.monotonic() + (max(short / self.rate, _MIN_SLEEP) if short else 0.0)
            self._tokens -= amount
            if self._tokens < -_EPSILON:
                await asyncio.to_thread(self._take, -self._tokens, True)
                self._tokens = 0.0

    def close(self) -> None:
        """Drop the connection; units granted and not spent are lost (the run stays under its limit)."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _take(self, want: float, force: bool) -> float:
        """One grant: the units the row gives now (all of `want` when forced)."""
        conn = self._connect()
        self.grants += 1
        try:
            row = conn.execute(
                self._grant, {"run": self._run, "name": self._name, "want": want, "force": force}
            ).fetchone()
        except psycopg.Error as error:
            self.close()
            raise self._error(error, f"take units from the pacing limit {self._name}") from None
        if row is None:
            raise ConfigError(
                f"the pacing limit {self._name} of run {self._run} is missing from schema {self._schema} of the state"
            )
        amount, self.rate, self.burst = float(row[0]), float(row[1]), float(row[2])
        return amount

    def _connect(self) -> psycopg.Connection[Any]:
        """Our own connection, opened on first use; the row is created if this worker is the first."""
        if self._conn is not None:
            return self._conn
        conn = connect_state(self._dsn)
        try:
            create_limit(conn, self._schema, self._run, self._name, rate=self.rate, burst=self.burst)
        except BaseException:
            conn.close()
            raise
        self._conn = conn
        return conn

    def _error(self, error: psycopg.Error, doing: str) -> BucketshiftError:
        return state_error(error, doing, dsn=self._dsn)


def _check(rate: float, burst: float) -> None:
    if rate <= 0:
        raise ValueError("rate must be positive")
    if burst <= 0:
        raise ValueError("burst must be positive")
