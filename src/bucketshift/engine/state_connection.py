"""Connections to the PostgreSQL state, and its errors in our words, for everything that keeps state
there: the manifest, the shared run's coordination and its pacing limits each hold a connection of
their own (none may slip a statement into another's transaction), opened and translated here once.

Messages name the server, database and user (`--state`), never the DSN as written or its password.
"""

from __future__ import annotations

from typing import Any

import psycopg

from bucketshift.database.connection import translate
from bucketshift.errors import BucketshiftError
from bucketshift.postgres_errors import bad_dsn, connection_failure

__all__ = ["connect_state", "state_error"]


def connect_state(dsn: str, *, field: str = "--state", name: str = "bucketshift") -> psycopg.Connection[Any]:
    """An autocommit connection (every statement stands alone unless a transaction is opened)."""
    try:
        return psycopg.connect(dsn, autocommit=True, connect_timeout=15, application_name=name)
    except psycopg.ProgrammingError as error:
        raise bad_dsn(error, field=field) from None
    except psycopg.Error as error:
        raise state_error(error, "connect", dsn=dsn, field=field) from None


def state_error(error: psycopg.Error, doing: str, *, dsn: str, field: str = "--state") -> BucketshiftError:
    """A driver error met while trying to `doing` against the state."""
    if isinstance(error, psycopg.OperationalError):
        failure = connection_failure(str(error), field=field, dsn=dsn, what="the state database")
        if failure is not None:
            return failure
    return translate(error, doing)
