"""Connecting to the application's database, and turning driver errors into our own.

Messages name tables and columns, never the DSN (it may hold a password).
"""

from __future__ import annotations

import psycopg

from bucketshift.errors import AccessDenied, BucketshiftError, ConfigError, TransientError

__all__ = ["DatabaseError", "connect", "translate"]


class DatabaseError(BucketshiftError):
    """The application's database refused or failed a statement."""


def translate(error: psycopg.Error, doing: str) -> BucketshiftError:
    if isinstance(error, psycopg.errors.InsufficientPrivilege):
        return AccessDenied(f"the database role is not allowed to {doing}; use a role that may")
    if isinstance(error, psycopg.errors.UndefinedTable | psycopg.errors.UndefinedColumn):
        return ConfigError(f"{doing}: {error.diag.message_primary or type(error).__name__}")
    if isinstance(error, psycopg.OperationalError):
        return TransientError(f"database connection failed while trying to {doing} ({type(error).__name__})")
    return DatabaseError(
        f"database error while trying to {doing}: {error.diag.message_primary or type(error).__name__}"
    )


def connect(dsn: str, *, doing: str = "connect") -> psycopg.Connection[tuple[object, ...]]:
    """A connection in transaction mode (callers commit each batch themselves)."""
    try:
        return psycopg.connect(dsn, connect_timeout=15, application_name="bucketshift")
    except psycopg.Error as error:
        raise translate(error, doing) from None
