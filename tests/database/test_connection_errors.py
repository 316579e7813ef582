"""A database that cannot be reached is said as what it is: refused, unknown host, wrong password,
no such role or database, TLS, timeout; never with the password or the DSN as written.

Every failure comes from the real throw-away PostgreSQL (or libpq itself), never a made-up
message; each has its twin that connects.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import psycopg
import pytest
from tests.database.pg_auth import RefusingRoles, refusing_roles

from bucketshift.database.connection import connect, translate
from bucketshift.errors import BucketshiftError, ConfigError, TransientError
from bucketshift.stores.supabase_catalog import StorageCatalog
from bucketshift_sandbox.servers import PostgresCluster, free_port

WRONG = "WRONG-pg-password-never-shown-5d1"
NO_SUCH_HOST = ".".join(["x" * 60] * 4) + ".yy.invalid"
"""254 characters: longer than a DNS name may be, so the resolver fails it here without asking
any server (and `.invalid` never resolves anywhere, RFC 6761)."""


@pytest.fixture(scope="module")
def roles(postgres: PostgresCluster) -> Iterator[RefusingRoles]:
    with refusing_roles(postgres.dsn) as made:
        yield made


def connect_error(dsn: str) -> BucketshiftError:
    with pytest.raises(BucketshiftError) as caught:
        connect(dsn).close()
    return caught.value


def test_the_right_password_connects(roles: RefusingRoles) -> None:
    with connect(roles.dsn(password=roles.password)) as conn:
        assert conn.execute("SELECT current_user").fetchone() == (roles.password_role,)


def test_wrong_password_is_authentication_failed_and_never_shows_it(roles: RefusingRoles) -> None:
    error = connect_error(roles.dsn(password=WRONG))
    assert isinstance(error, ConfigError)
    assert f"{roles.host}:{roles.port} refused user {roles.password_role}" in error.message
    assert "password authentication failed; check user and password in database.dsn" in error.message
    assert WRONG not in error.message
    assert roles.password not in error.message


def test_no_password_given_is_said(roles: RefusingRoles) -> None:
    error = connect_error(roles.dsn())
    assert isinstance(error, ConfigError)
    assert f"asks user {roles.password_role} for a password and database.dsn has none" in error.message


def test_no_such_role_is_said_and_an_existing_one_connects(roles: RefusingRoles) -> None:
    error = connect_error(roles.dsn(user="nobody_here_at_all"))
    assert isinstance(error, ConfigError)
    assert f"{roles.host}:{roles.port} has no role nobody_here_at_all; check the user name" in error.message
    connect(roles.dsn(user="postgres")).close()


def test_no_such_database_is_said_and_an_existing_one_connects(roles: RefusingRoles) -> None:
    error = connect_error(roles.dsn(user="postgres", database="no_such_db_here"))
    assert isinstance(error, ConfigError)
    assert f"{roles.host}:{roles.port} has no database no_such_db_here; check the database name" in error.message
    connect(roles.dsn(user="postgres", database=roles.database)).close()


def test_refused_port_names_host_and_port() -> None:
    port = free_port()
    error = connect_error(f"postgresql://u:{WRONG}@127.0.0.1:{port}/db")
    assert isinstance(error, TransientError)
    assert f"127.0.0.1:{port} refused the connection; check host and port in database.dsn" in error.message
    assert WRONG not in error.message


def test_unknown_host_is_said() -> None:
    error = connect_error(f"postgresql://u:{WRONG}@{NO_SUCH_HOST}:5432/db")
    assert isinstance(error, ConfigError)
    assert f"host {NO_SUCH_HOST} does not resolve; check the host in database.dsn" in error.message


def test_a_server_that_wants_tls_says_so_and_without_that_rule_the_role_connects(roles: RefusingRoles) -> None:
    error = connect_error(roles.dsn(user=roles.tls_role))
    assert isinstance(error, ConfigError)
    assert "accepts only encrypted connections; add sslmode=require to database.dsn" in error.message
    connect(roles.dsn(password=roles.password)).close()


def test_tls_required_by_the_dsn_but_not_offered_is_said(roles: RefusingRoles) -> None:
    error = connect_error(roles.dsn(user="postgres", sslmode="require"))
    assert isinstance(error, ConfigError)
    assert "does not support TLS but database.dsn requires it" in error.message
    connect(roles.dsn(user="postgres", sslmode="prefer")).close()


def test_a_server_that_never_answers_is_a_timeout() -> None:
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)
    port = silent.getsockname()[1]
    dsn = f"postgresql://u:{WRONG}@127.0.0.1:{port}/db"
    try:
        with pytest.raises(psycopg.OperationalError) as caught:
            psycopg.connect(dsn, connect_timeout=1)
    finally:
        silent.close()
    error = translate(caught.value, "connect", dsn=dsn)
    assert isinstance(error, TransientError)
    assert f"127.0.0.1:{port} did not answer in time (connection timed out)" in error.message
    assert WRONG not in error.message


@pytest.mark.parametrize(
    ("dsn", "detail"),
    [
        (f"mysql://root:{WRONG}@127.0.0.1/app", ""),
        (f"host=127.0.0.1 password={WRONG} nosuchoption=1", " (unknown option nosuchoption)"),
        (f"postgresql://u:{WRONG}@[::1", ""),
    ],
    ids=["other-scheme", "unknown-option", "unclosed-bracket"],
)
def test_a_dsn_libpq_cannot_read_is_said_without_repeating_it(dsn: str, detail: str) -> None:
    error = connect_error(dsn)
    assert isinstance(error, ConfigError)
    assert error.message == (
        f"database.dsn is not a PostgreSQL connection string{detail}; "
        "write it as postgresql://user:password@host:5432/database"
    )


def test_a_port_out_of_range_is_said() -> None:
    error = connect_error(f"postgresql://u:{WRONG}@127.0.0.1:99999/db")
    assert isinstance(error, ConfigError)
    assert "the port in database.dsn is not a number from 1 to 65535" in error.message


# The Supabase project's own database, read by the source store (source.dsn).


async def catalog_error(dsn: str) -> BucketshiftError:
    catalog = StorageCatalog(dsn)
    try:
        with pytest.raises(BucketshiftError) as caught:
            await catalog.list_page("images")
    finally:
        await catalog.aclose()
    return caught.value


async def test_catalog_wrong_password_names_source_dsn(roles: RefusingRoles) -> None:
    error = await catalog_error(roles.dsn(password=WRONG))
    assert isinstance(error, ConfigError)
    assert error.message == (
        f"cannot connect to the Supabase project's database: {roles.host}:{roles.port} refused user "
        f"{roles.password_role}: password authentication failed; check user and password in source.dsn"
    )


async def test_catalog_with_the_right_password_reaches_the_server(roles: RefusingRoles) -> None:
    error = await catalog_error(roles.dsn(password=roles.password))
    assert "source.dsn has no storage.objects table" in error.message, "connected, then found no storage schema"


async def test_catalog_refused_unknown_database_and_garbage(roles: RefusingRoles) -> None:
    port = free_port()
    refused = await catalog_error(f"postgresql://u:{WRONG}@127.0.0.1:{port}/db")
    assert isinstance(refused, TransientError)
    assert f"127.0.0.1:{port} refused the connection; check host and port in source.dsn" in refused.message
    missing = await catalog_error(roles.dsn(user="postgres", database="no_such_db_here"))
    assert isinstance(missing, ConfigError)
    assert "has no database no_such_db_here; check the database name in source.dsn" in missing.message
    garbage = await catalog_error(f"mysql://root:{WRONG}@127.0.0.1/app")
    assert isinstance(garbage, ConfigError)
    assert garbage.message.startswith("source.dsn is not a PostgreSQL connection string;")
    assert all(WRONG not in e.message for e in (refused, missing, garbage))
