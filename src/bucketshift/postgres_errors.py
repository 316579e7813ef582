"""PostgreSQL connection failures in one sentence each: the application's database and a Supabase
project's own (`storage.objects`) fail the same ways, so both are told here.

Messages name the server (host and port), the database and the user, never the DSN as written or
its password.
"""

from __future__ import annotations

import re

import psycopg
from psycopg.conninfo import conninfo_to_dict

from bucketshift.errors import BucketshiftError, ConfigError, TransientError

__all__ = ["bad_dsn", "connection_failure"]

# libpq reports a failed connection in words (no SQLSTATE reaches the client for most of them):
# each pattern names one cause, the first that matches wins, and its sentence says what to fix.
_FAILURES: tuple[tuple[re.Pattern[str], type[BucketshiftError], str], ...] = tuple(
    (re.compile(pattern, re.IGNORECASE), cls, sentence)
    for pattern, cls, sentence in (
        (r"temporary failure in name resolution", TransientError,
         "host {host} could not be resolved for now; try again"),
        (r"could not translate host name|failed to resolve host|name or service not known", ConfigError,
         "host {host} does not resolve; check the host in {field}"),
        (r"connection refused", TransientError,
         "{server} refused the connection; check host and port in {field} and that PostgreSQL runs there"),
        (r"no password supplied", ConfigError, "{server} asks user {user} for a password and {field} has none; add it"),
        (r"authentication failed", ConfigError,
         "{server} refused user {user}: password authentication failed; check user and password in {field}"),
        (r'role "[^"]*" does not exist', ConfigError, "{server} has no role {user}; check the user name in {field}"),
        (r'database "[^"]*" does not exist', ConfigError,
         "{server} has no database {db}; check the database name in {field}"),
        (r"pg_hba\.conf.*no encryption", ConfigError,
         "{server} accepts only encrypted connections; add sslmode=require to {field}"),
        (r"server does not support ssl", ConfigError,
         "{server} does not support TLS but {field} requires it; remove sslmode from {field} or enable ssl there"),
        (r"no pg_hba\.conf entry|pg_hba\.conf rejects", ConfigError,
         "{server} does not let user {user} into database {db} from this machine (pg_hba.conf); check {field}"),
        (r"certificate|ssl error|ssl syscall", ConfigError,
         "TLS with {server} failed; check sslmode and the certificate settings in {field}"),
        (r"timeout expired|timed out", TransientError,
         "{server} did not answer in time (connection timed out); check host and port in {field} and the network"),
        (r"starting up|shutting down|recovery mode|too many clients|connection slots are reserved", TransientError,
         "{server} cannot take connections now (starting, stopping or full); try again"),
        (r"invalid port number", ConfigError, "the port in {field} is not a number from 1 to 65535; fix it"),
    )
)  # fmt: skip
_NAMED = (
    re.compile(r'connection to server at "(?P<host>[^"]+)"(?: \([^)]*\))?, port (?P<port>\d+)'),
    re.compile(r"""(?:resolve host|translate host name) ['"](?P<host>[^'"]+)['"]"""),
    re.compile(r'(?:for user|role|user) "(?P<user>[^"]+)"'),
    re.compile(r'database "(?P<db>[^"]+)"'),
)


def connection_failure(
    message: str, *, field: str, dsn: str | None = None, what: str = "the database"
) -> BucketshiftError | None:
    """The sentence for a connection the server or libpq refused, or None if `message` is not one.

    It names the cause and what in `field` to fix, and the server, database and user as the
    message or `dsn` give them: never the password, nor the DSN as written.
    """
    found = next(((cls, sentence) for pattern, cls, sentence in _FAILURES if pattern.search(message)), None)
    if found is None:
        return None
    named = {"host": "", "port": "", "user": "(default)", "db": "(default)"}
    if dsn is not None:
        try:
            parts = conninfo_to_dict(dsn)
        except psycopg.Error:
            parts = {}
        named.update({k: str(parts[c]) for k, c in (("host", "host"), ("port", "port"), ("user", "user"),
                                                      ("db", "dbname")) if parts.get(c)})  # fmt: skip
    for pattern in _NAMED:
        match = pattern.search(message)
        if match:
            named.update({k: v for k, v in match.groupdict().items() if v})
    server = ":".join(v for v in (named["host"], named["port"]) if v) or "the server"
    cls, sentence = found
    return cls(f"cannot connect to {what}: " + sentence.format(field=field, server=server, **named))


_OPTION = re.compile(r'invalid connection option "(?P<name>[A-Za-z_]+)"')


def bad_dsn(error: psycopg.Error, *, field: str) -> ConfigError:
    """A DSN libpq cannot parse; its own message may quote the whole DSN, password included, so
    only a recognised option name is repeated."""
    option = _OPTION.search(str(error))
    detail = f" (unknown option {option.group('name')})" if option else ""
    return ConfigError(
        f"{field} is not a PostgreSQL connection string{detail}; "
        "write it as postgresql://user:password@host:5432/database"
    )
