"""Connecting to the application's database, and turning driver errors into our own.

Messages name the server (host and port), the database, the user, tables and columns, never
the DSN itself or its password.
"""

from __future__ import annotations

import psycopg

from bucketshift.errors import AccessDenied, BucketshiftError, ConfigError, TransientError
from bucketshift.postgres_errors import bad_dsn, connection_failure

__all__ = ["DatabaseError", "connect", "translate"]

FIELD = "database.dsn"


class DatabaseError(BucketshiftError):
    """The application's database refused or failed a statement."""


def translate(error: psycopg.Error, doing: str, *, dsn: str | None = None) -> BucketshiftError:
    """Our error for a driver error met while trying to `doing`; `dsn` (if known) names the server."""
    if isinstance(error, psycopg.errors.InsufficientPrivilege):
        return AccessDenied(f"the database role is not allowed to {doing}; use a role that may")
    if isinstance(error, psycopg.errors.UndefinedTable | psycopg.errors.UndefinedColumn):
        return ConfigError(f"{doing}: {error.diag.message_primary or type(error).__name__}")
    if isinstance(error, psycopg.OperationalError):
        failure = connection_failure(str(error), field=FIELD, dsn=dsn)
        if failure is not None:
            return failure
        said = f": {error.diag.message_primary}" if error.diag.message_primary else ""
        return TransientError(f"the database failed while trying to {doing}{said}; try again")
    return DatabaseError(
        f"database error while trying to {doing}: {error.diag.message_primary or type(error).__name__}"
    )


def connect(dsn: str, *, doing: str = "connect") -> psycopg.Connection[tuple[object, ...]]:
    """A connection in transaction mode (callers commit each batch themselves)."""
    try:
        return psycopg.connect(dsn, connect_timeout=15, application_name="bucketshift")
    except psycopg.ProgrammingError as error:
        raise bad_dsn(error, field=FIELD) from None
    except psycopg.Error as error:
        raise translate(error, doing, dsn=dsn) from None
