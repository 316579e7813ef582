"""Malformed inputs, each run through the real command line as a user would.

Every case must end with exactly one line on stderr (no traceback, no "internal error", no
ExceptionGroup) naming the thing at fault, with the documented exit status (2: bad usage or
plan file; 1: a server failed), no secret anywhere in the output, and nothing changed: no
manifest or other file written beside the plan, no bucket created or written at the destination,
no schema created in the database.  Only 127.0.0.1 is contacted: an unknown host is a name of
254 characters under `.invalid`, which the resolver refuses here without sending a query.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import psycopg
import pytest
from tests.database.pg_auth import RefusingRoles, refusing_roles

from bucketshift.config import SupabaseEndpoint
from bucketshift.stores.registry import open_store
from bucketshift_sandbox.servers import EmulatorServer, MotoServer, PostgresCluster, free_port
from bucketshift_sandbox.supabase.keys import DEFAULT_PUBLISHABLE_KEY, anon_key, make_jwt, service_role_key

EXE = shutil.which("bucketshift", path=str(Path(sys.executable).parent)) or "bucketshift"

# Recognisable secrets: none may ever be printed.
AWS_SECRET = "AWS-SECRET-never-printed-7f3a9c"
PG_PASSWORD = "PG-PASSWORD-never-printed-91c2"
GARBAGE_KEY = "GARBAGE-KEY-never-printed-4e8b"
OTHER_PROJECT_KEY = service_role_key("another-projects-jwt-secret-of-32-chars!")
AUTHENTICATED_KEY = make_jwt("s" * 32, {"role": "authenticated", "sub": "user-1"})
NO_SUCH_HOST = ".".join(["x" * 60] * 4) + ".yy.invalid"
SOURCE, DESTINATION = "malformed-src", "malformed-dst"


@dataclass(frozen=True)
class World:
    emulator: EmulatorServer
    moto: MotoServer
    roles: RefusingRoles
    refused: int

    @property
    def secrets(self) -> list[str]:
        keys = [self.emulator.service_role_key, anon_key(), DEFAULT_PUBLISHABLE_KEY, OTHER_PROJECT_KEY]
        return [AWS_SECRET, PG_PASSWORD, GARBAGE_KEY, self.roles.password, AUTHENTICATED_KEY, *keys]


@pytest.fixture(scope="module")
def world(emulator: EmulatorServer, moto: MotoServer, postgres: PostgresCluster) -> Iterator[World]:
    async def seed() -> None:
        endpoint = SupabaseEndpoint(type="supabase", url=emulator.url, key=emulator.service_role_key)
        async with open_store(endpoint) as store:
            if SOURCE not in {b.name for b in await store.list_buckets()}:
                await store.create_bucket(SOURCE)
                await store.put(SOURCE, "a/one.txt", b"one", content_type="text/plain")

    asyncio.run(seed())
    s3 = moto_client(moto)
    if DESTINATION not in buckets_of(moto):
        s3.create_bucket(Bucket=DESTINATION)
    with refusing_roles(postgres.dsn) as roles:
        yield World(emulator, moto, roles, free_port())


def moto_client(moto: MotoServer) -> Any:
    return boto3.client("s3", endpoint_url=moto.endpoint_url, region_name="us-east-1")


def buckets_of(moto: MotoServer) -> dict[str, int]:
    """Every bucket at the destination, with how many objects it holds."""
    s3 = moto_client(moto)
    names = [b["Name"] for b in s3.list_buckets()["Buckets"]]
    return {n: s3.list_objects_v2(Bucket=n).get("KeyCount", 0) for n in names}


def schemas(roles: RefusingRoles) -> set[str]:
    with psycopg.connect(roles.dsn(user="postgres")) as conn:
        return {row[0] for row in conn.execute("SELECT nspname FROM pg_namespace")}


# Plan-file pieces ---------------------------------------------------------------------------


def supabase(url: str, key: str, extra: str = "") -> str:
    return f'[source]\ntype = "supabase"\nurl = "{url}"\nkey = "{key}"\n{extra}\n'


def s3(endpoint: str | None, extra: str = "") -> str:
    where = f'endpoint_url = "{endpoint}"\n' if endpoint else ""
    keys = f'access_key_id = "AKIAFAKEFAKEFAKE"\nsecret_access_key = "{AWS_SECRET}"\n' if endpoint else ""
    return f'[destination]\ntype = "s3"\nregion = "us-east-1"\n{where}{keys}{extra}\n'


def mapping(source: str = SOURCE, destination: str = DESTINATION, extra: str = "") -> str:
    return f'[[buckets]]\nsource = "{source}"\ndestination = "{destination}"\naccess = "private"\n{extra}\n'


def database(dsn: str) -> str:
    return f'[database]\ndsn = "{dsn}"\n'


def good_source(w: World, extra: str = "") -> str:
    return supabase(w.emulator.url, w.emulator.service_role_key, extra)


def good_destination(w: World) -> str:
    return s3(w.moto.endpoint_url)


def plan_with(
    source: Callable[[World], str] | None = None,
    destination: Callable[[World], str] | None = None,
    buckets: str | None = None,
    rest: Callable[[World], str] | None = None,
) -> Callable[[World], str]:
    """A sound plan against the test servers with one part replaced."""

    def text(w: World) -> str:
        parts = [(source or good_source)(w), (destination or good_destination)(w), buckets or mapping()]
        return "".join(parts) + (rest(w) if rest else "")

    return text


@dataclass(frozen=True)
class Case:
    args: tuple[str, ...]
    plan: Callable[[World], str] | None
    code: int
    says: Callable[[World], tuple[str, ...]]
    env: dict[str, str | None] = field(default_factory=dict)
    directory: str = "case"


def says(*parts: str) -> Callable[[World], tuple[str, ...]]:
    return lambda w: parts


COPY = ("copy", "--config", "{plan}")
DRY = ("copy", "--dry-run", "--config", "{plan}")
LS_SOURCE = ("ls", SOURCE, "--config", "{plan}")
LS_DESTINATION = ("ls", DESTINATION, "--destination", "--config", "{plan}")
DISCOVER = ("rewrite-urls", "--discover", "--config", "{plan}")
NO_AWS = {"AWS_ACCESS_KEY_ID": None, "AWS_SECRET_ACCESS_KEY": None, "AWS_SESSION_TOKEN": None, "AWS_PROFILE": None}


def dsn_case(dsn: Callable[[World], str], code: int, *parts: str) -> Case:
    return Case(DISCOVER, plan_with(rest=lambda w: database(dsn(w))), code, says(*parts))


CASES: dict[str, Case] = {
    # plan files
    "toml-syntax": Case(COPY, lambda w: "[source\n", 2, says("plan.toml: not valid TOML", "fix the syntax")),
    "unknown-field": Case(
        COPY,
        plan_with(source=lambda w: good_source(w, 'lst_api = "v2"')),
        2,
        says("source.lst_api: unknown field; did you mean 'list_api'?"),
    ),
    "wrong-type": Case(
        COPY,
        plan_with(buckets='[[buckets]]\nsource = 42\naccess = "private"\n'),
        2,
        says("buckets[0].source: Input should be a valid string"),
    ),
    "missing-env-var": Case(
        COPY,
        plan_with(source=lambda w: supabase(w.emulator.url, "${BUCKETSHIFT_TEST_UNSET_VAR}")),
        2,
        says("source.key: environment variable BUCKETSHIFT_TEST_UNSET_VAR is not set"),
        env={"BUCKETSHIFT_TEST_UNSET_VAR": None},
    ),
    "missing-section": Case(
        COPY, lambda w: good_source(w) + mapping(), 2, says("destination: required field is missing; add it")
    ),
    "unknown-store-type": Case(
        COPY,
        plan_with(destination=lambda w: '[destination]\ntype = "gcs"\n'),
        2,
        says("destination.type: must be one of 'supabase', 's3', 'local'"),
    ),
    "no-buckets": Case(
        COPY,
        lambda w: "buckets = []\n" + good_source(w) + good_destination(w),
        2,
        says("plan.toml: buckets: List should have at least 1 item"),
    ),
    "url-scheme": Case(
        COPY,
        plan_with(source=lambda w: supabase("ftp://127.0.0.1", w.emulator.service_role_key)),
        2,
        says("source.url: url must be an http(s) URL"),
    ),
    "url-with-path": Case(
        COPY,
        plan_with(source=lambda w: supabase(f"{w.emulator.url}/rest/v1", w.emulator.service_role_key)),
        2,
        says("source.url: url must be the project URL", "without a path"),
    ),
    "s3-endpoint-scheme": Case(
        COPY,
        plan_with(destination=lambda w: s3("s3://malformed-dst")),
        2,
        says("destination.endpoint_url: endpoint_url must be an http(s) URL"),
    ),
    "s3-bucket-name": Case(
        COPY,
        plan_with(buckets=mapping(destination="Malformed_Dst")),
        2,
        says("buckets[0].destination: 'Malformed_Dst' is not a valid S3 bucket name"),
    ),
    "supabase-bucket-name": Case(
        COPY,
        plan_with(buckets=mapping(source="a/b", destination="a-b")),
        2,
        says("buckets[0].source: 'a/b' is not a Supabase bucket name"),
    ),
    "duplicate-destination": Case(
        COPY,
        plan_with(buckets=mapping() + mapping(source="other")),
        2,
        says("buckets[1].destination: 'malformed-dst' is already the destination of buckets[0]"),
    ),
    "access-value": Case(
        COPY,
        plan_with(buckets=mapping().replace('"private"', '"public"')),
        2,
        says("buckets[0].access: must be", "(got 'public')"),
    ),
    "half-aws-keys": Case(
        COPY,
        plan_with(
            destination=lambda w: (
                f'[destination]\ntype = "s3"\nregion = "us-east-1"\nsecret_access_key = "{AWS_SECRET}"\n'
            )
        ),
        2,
        says("destination: ", "give both access_key_id and secret_access_key"),
    ),
    "cors-origin": Case(
        COPY,
        plan_with(buckets=mapping(extra='cors_origins = ["https://app.example.com/upload"]')),
        2,
        says("buckets[0].cors_origins", "'https://app.example.com/upload' is not an origin"),
    ),
    "plan-file-missing": Case(
        ("copy", "--config", "{dir}/absent.toml"), None, 2, says("absent.toml not found", "pass --config PATH")
    ),
    "plan-file-is-a-directory": Case(("copy", "--config", "{dir}"), None, 2, says("cannot be read", "check the path")),
    "markup-in-plan-path": Case(
        COPY,
        lambda w: "[source\n",
        2,
        says("/[red]x [bold]y/plan.toml: not valid TOML"),
        directory="[red]x [bold]y",
    ),
    # Supabase keys: named before any request is sent
    "key-empty": Case(
        COPY, plan_with(source=lambda w: supabase(w.emulator.url, "")), 2, says("source.key: key is empty")
    ),
    "key-anon-jwt": Case(
        COPY,
        plan_with(source=lambda w: supabase(w.emulator.url, anon_key())),
        2,
        says("source.key: this is the project's anon key", "use the project's service_role key"),
    ),
    "key-publishable": Case(
        COPY,
        plan_with(source=lambda w: supabase(w.emulator.url, DEFAULT_PUBLISHABLE_KEY)),
        2,
        says("source.key: this is a publishable key (sb_publishable_...)"),
    ),
    "key-authenticated-jwt": Case(
        COPY,
        plan_with(source=lambda w: supabase(w.emulator.url, AUTHENTICATED_KEY)),
        2,
        says("source.key: this is a JWT for role 'authenticated', not the service role"),
    ),
    # keys only the server can judge
    "key-garbage": Case(
        LS_SOURCE,
        plan_with(source=lambda w: supabase(w.emulator.url, GARBAGE_KEY)),
        1,
        says(
            f"Supabase Storage answered 403 AccessDenied for bucket {SOURCE}",
            "check that the plan's supabase key is this project's service_role key",
        ),
    ),
    "key-of-another-project": Case(
        LS_SOURCE,
        plan_with(source=lambda w: supabase(w.emulator.url, OTHER_PROJECT_KEY)),
        1,
        says("Supabase Storage answered 403 AccessDenied", "service_role key"),
    ),
    # endpoints
    "source-refused": Case(
        LS_SOURCE,
        plan_with(source=lambda w: supabase(f"http://127.0.0.1:{w.refused}", service_role_key())),
        1,
        lambda w: (
            f"cannot reach Supabase Storage at 127.0.0.1:{w.refused} for bucket {SOURCE}: connection refused",
            "check the supabase url in the plan file",
        ),
    ),
    "copy-with-source-unreachable": Case(
        DRY,
        plan_with(source=lambda w: supabase(f"http://127.0.0.1:{w.refused}", service_role_key())),
        1,
        lambda w: (f"cannot reach Supabase Storage at 127.0.0.1:{w.refused} for bucket {SOURCE}: connection refused",),
    ),
    "source-unknown-host": Case(
        LS_SOURCE,
        plan_with(source=lambda w: supabase(f"http://{NO_SUCH_HOST}:8000", service_role_key())),
        2,
        says(f"cannot reach Supabase Storage at {NO_SUCH_HOST}:8000", "its host name does not resolve"),
    ),
    "source-port-out-of-range": Case(
        LS_SOURCE,
        plan_with(source=lambda w: supabase("http://127.0.0.1:99999", service_role_key())),
        2,
        says("the supabase url http://127.0.0.1 has a port out of range (1-65535); fix url in the plan file"),
    ),
    "source-https-to-plain-http": Case(
        LS_SOURCE,
        plan_with(source=lambda w: supabase(w.moto.endpoint_url.replace("http:", "https:"), service_role_key())),
        2,
        says(
            "TLS failed (the server does not speak https)", "SUPABASE_URL for bucketshift.storage): http:// or https://"
        ),
    ),
    "destination-refused": Case(
        LS_DESTINATION,
        plan_with(destination=lambda w: s3(f"http://127.0.0.1:{w.refused}")),
        1,
        lambda w: (
            f"cannot reach the S3 endpoint 127.0.0.1:{w.refused} to list bucket {DESTINATION}: "
            "connection refused; check endpoint_url in the plan file",
        ),
    ),
    "destination-unknown-host": Case(
        LS_DESTINATION,
        plan_with(destination=lambda w: s3(f"http://{NO_SUCH_HOST}:9000")),
        2,
        says(f"cannot reach the S3 endpoint {NO_SUCH_HOST}:9000", "its host name does not resolve"),
    ),
    "destination-port-out-of-range": Case(
        DRY,
        plan_with(destination=lambda w: s3("http://127.0.0.1:99999")),
        2,
        says("endpoint_url http://127.0.0.1 cannot be used: its port is not a number from 1 to 65535"),
    ),
    "destination-https-to-plain-http": Case(
        LS_DESTINATION,
        plan_with(destination=lambda w: s3(w.emulator.url.replace("http:", "https:"))),
        2,
        says("cannot reach the S3 endpoint", "TLS failed; check endpoint_url in the plan file", "http:// or https://"),
    ),
    # the application's database
    "dsn-refused": dsn_case(
        lambda w: f"postgresql://app:{PG_PASSWORD}@127.0.0.1:{w.refused}/app",
        1,
        "refused the connection; check host and port in database.dsn",
    ),
    "dsn-unknown-host": dsn_case(
        lambda w: f"postgresql://app:{PG_PASSWORD}@{NO_SUCH_HOST}:5432/app",
        2,
        f"host {NO_SUCH_HOST} does not resolve; check the host in database.dsn",
    ),
    "dsn-wrong-password": dsn_case(
        lambda w: w.roles.dsn(password=PG_PASSWORD),
        2,
        "password authentication failed; check user and password in database.dsn",
    ),
    "dsn-no-such-database": dsn_case(
        lambda w: w.roles.dsn(password=w.roles.password, database="no_such_app_db"),
        2,
        "has no database no_such_app_db; check the database name in database.dsn",
    ),
    "dsn-no-such-role": dsn_case(
        lambda w: w.roles.dsn(user="no_such_app_role", password=PG_PASSWORD),
        2,
        "has no role no_such_app_role; check the user name in database.dsn",
    ),
    "dsn-garbage": dsn_case(
        lambda w: f"mysql://app:{PG_PASSWORD}@127.0.0.1/app", 2, "database.dsn is not a PostgreSQL connection string"
    ),
    "dsn-needs-tls": dsn_case(
        lambda w: w.roles.dsn(user=w.roles.tls_role),
        2,
        "accepts only encrypted connections; add sslmode=require to database.dsn",
    ),
    "source-dsn-wrong-password": Case(
        ("reconcile", "--config", "{plan}"),
        plan_with(source=lambda w: good_source(w, f'dsn = "{w.roles.dsn(password=PG_PASSWORD)}"')),
        2,
        says(
            "cannot connect to the Supabase project's database",
            "password authentication failed",
            "check user and password in source.dsn",
        ),
    ),
    # AWS credentials
    "aws-no-credentials": Case(
        DRY,
        plan_with(destination=lambda w: s3(None)),
        2,
        says("no AWS credentials found for the S3 endpoint"),
        env={**NO_AWS, "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null"},
    ),
    "aws-profile-in-plan-missing": Case(
        DRY,
        plan_with(destination=lambda w: s3(None, 'profile = "no-such-profile"')),
        2,
        says("AWS profile 'no-such-profile' is not in ~/.aws/config"),
        env={"AWS_CONFIG_FILE": "/dev/null"},
    ),
    "aws-profile-in-env-missing": Case(
        DRY,
        plan_with(destination=lambda w: s3(None)),
        2,
        says("AWS profile 'no-such-env-profile' is not in"),
        env={"AWS_PROFILE": "no-such-env-profile", "AWS_CONFIG_FILE": "/dev/null"},
    ),
}


def run(args: list[str], env: dict[str, str | None]) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "COLUMNS": "200"}
    for name, value in env.items():
        if value is None:
            full.pop(name, None)
        else:
            full[name] = value
    full.pop("BUCKETSHIFT_DEBUG", None)
    full.pop("BUCKETSHIFT_CONFIG", None)
    return subprocess.run([EXE, *args], capture_output=True, text=True, timeout=120, env=full)


@pytest.mark.parametrize("name", list(CASES))
def test_malformed_input_is_one_line_with_its_exit_status_and_changes_nothing(
    name: str, world: World, tmp_path: Path
) -> None:
    case = CASES[name]
    directory = tmp_path / case.directory
    directory.mkdir()
    plan = directory / "plan.toml"
    if case.plan is not None:
        plan.write_text(case.plan(world), encoding="utf-8")
    files_before = sorted(directory.rglob("*"))
    buckets_before = buckets_of(world.moto)
    schemas_before = schemas(world.roles)

    done = run([a.format(plan=plan, dir=directory) for a in case.args], case.env)

    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    line = lines[0]
    for bad in ("Traceback", "internal error", "ExceptionGroup"):
        assert bad not in done.stdout + done.stderr
    assert line.startswith("error: "), line
    for part in case.says(world):
        assert part in line
    assert done.returncode == case.code, line
    for secret in world.secrets:
        assert secret not in done.stdout + done.stderr
    assert sorted(directory.rglob("*")) == files_before, "no manifest or other file written"
    assert buckets_of(world.moto) == buckets_before, "no bucket created or written at the destination"
    assert schemas(world.roles) == schemas_before


def test_there_are_at_least_thirty_cases() -> None:
    assert len(CASES) >= 30


def test_the_unknown_host_fails_here_at_once() -> None:
    """The name is longer than DNS allows, so the resolver refuses it before sending any query."""
    import socket
    import time

    started = time.monotonic()
    with pytest.raises(socket.gaierror):
        socket.getaddrinfo(NO_SUCH_HOST, 80)
    assert time.monotonic() - started < 1.0
    assert len(NO_SUCH_HOST) == 254
