"""Where the manifest lives: a SQLite file (the default) or a PostgreSQL database workers share.

`--state` takes either, and a DSN is told from a path by its scheme alone (`postgresql://` or
`postgres://`, the two libpq accepts), never by trying to connect or looking at the disk: a path
may be any string a file system allows, a file that does not exist yet is a new manifest, and a
guess would turn a typo into a connection attempt (or a DSN into a file named after it, password
and all).  libpq's `key=value` form is not accepted here for the same reason: `host=db` is also
a file name.  A file whose name starts with `postgresql://` can still be given as `./postgresql:...`.
"""

from __future__ import annotations

from pathlib import Path

import psycopg
from psycopg.conninfo import conninfo_to_dict

from bucketshift.engine.manifest import Manifest, ManifestStore
from bucketshift.engine.manifest_postgres import DEFAULT_SCHEMA, PostgresManifest, describe

__all__ = ["DSN_SCHEMES", "describe_state", "is_dsn", "open_manifest", "same_database"]

DSN_SCHEMES = ("postgresql://", "postgres://")


def is_dsn(state: str | Path | None) -> bool:
    """Whether `state` names a PostgreSQL database rather than a file."""
    return isinstance(state, str) and state.lower().startswith(DSN_SCHEMES)


def open_manifest(
    state: str | Path | None, default_path: Path, *, read_only: bool = False, preview: bool = False
) -> ManifestStore:
    """The manifest `state` names (`default_path` when None): `preview` reads it if it exists and
    never creates or writes it (an empty one in memory otherwise); `read_only` refuses writes and
    an absent state."""
    if is_dsn(state):
        dsn = str(state)
        if preview:
            return PostgresManifest.for_preview(dsn)
        return PostgresManifest(dsn, read_only=read_only)
    path = default_path if state is None else Path(state)
    if preview:
        return Manifest.for_preview(path)
    return Manifest(path, read_only=read_only)


def describe_state(dsn: str) -> str:
    """What output may say of a state DSN: user, server and database, never the password."""
    return describe(dsn, DEFAULT_SCHEMA, "--state")


def same_database(dsn: str, other: str) -> bool:
    """Whether two DSNs name one database: same host, port and database name (user and password
    may differ; libpq's defaults fill what a DSN leaves out).  An unreadable DSN names nothing."""
    try:
        first, second = conninfo_to_dict(dsn), conninfo_to_dict(other)
    except psycopg.ProgrammingError:
        return False
    return _server(first) == _server(second)


def _server(parts: dict[str, object]) -> tuple[str, str, str]:
    host = str(parts.get("host") or parts.get("hostaddr") or "localhost").lower()
    port = str(parts.get("port") or "5432")
    user = str(parts.get("user") or "")
    return host, port, str(parts.get("dbname") or user)
