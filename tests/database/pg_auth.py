"""Roles that make the throw-away cluster refuse connections the ways a real server does.

The session cluster trusts every local connection, so a wrong password would never be asked
for.  `refusing_roles` adds, for the time of a test module, a role that must give its password
(`scram-sha-256`) and a role the server accepts only over TLS (`hostnossl ... reject`), by
putting two lines first in pg_hba.conf; every other role keeps its trust.  The file is written
through the server (`lo_export`, as its superuser), so this also works with BUCKETSHIFT_TEST_DSN,
and it is put back as it was at the end.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

__all__ = ["RefusingRoles", "refusing_roles"]


@dataclass(frozen=True)
class RefusingRoles:
    host: str
    port: str
    database: str
    password_role: str
    password: str
    tls_role: str

    def dsn(self, *, user: str | None = None, password: str | None = None, database: str | None = None,
            **options: str) -> str:  # fmt: skip
        """A URI to this server (host, port and database of the cluster unless given)."""
        auth = user or self.password_role
        if password is not None:
            auth += f":{password}"
        query = "&".join(f"{k}={v}" for k, v in options.items())
        return f"postgresql://{auth}@{self.host}:{self.port}/{database or self.database}" + (
            f"?{query}" if query else ""
        )


def _write_server_file(conn: psycopg.Connection[tuple[object, ...]], path: str, text: str) -> None:
    oid = conn.execute("SELECT lo_from_bytea(0, convert_to(%s, 'UTF8'))", (text,)).fetchone()
    assert oid is not None
    conn.execute("SELECT lo_export(%s, %s)", (oid[0], path))
    conn.execute("SELECT lo_unlink(%s)", (oid[0],))
    conn.execute("SELECT pg_reload_conf()")


@contextmanager
def refusing_roles(superuser_dsn: str) -> Iterator[RefusingRoles]:
    suffix = secrets.token_hex(3)
    password_role, tls_role = f"bucketshift_pw_{suffix}", f"bucketshift_tls_{suffix}"
    parts = conninfo_to_dict(superuser_dsn)
    with psycopg.connect(superuser_dsn, autocommit=True) as conn:
        row = conn.execute("SELECT current_setting('hba_file'), current_database()").fetchone()
        assert row is not None
        hba_file, database = str(row[0]), str(row[1])
        found = conn.execute("SELECT pg_read_file(%s)", (hba_file,)).fetchone()
        assert found is not None
        original = str(found[0])
        roles = RefusingRoles(
            host=str(parts.get("host") or "127.0.0.1"),
            port=str(parts.get("port") or "5432"),
            database=database,
            password_role=password_role,
            password=f"right-password-{suffix}",
            tls_role=tls_role,
        )
        conn.execute(
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                sql.Identifier(password_role), sql.Literal(roles.password)
            )
        )
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(tls_role)))
        first = f"host all {password_role} all scram-sha-256\nhostnossl all {tls_role} all reject\n"
        _write_server_file(conn, hba_file, first + original)
        try:
            yield roles
        finally:
            _write_server_file(conn, hba_file, original)
            for role in (password_role, tls_role):
                conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))
