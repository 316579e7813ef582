"""An app-shaped source (a fresh emulator per test) and S3 destination buckets in moto."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import boto3
import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from bucketshift.config import Plan, load_plan
from bucketshift.engine.diff import MappingSpec
from bucketshift.engine.state import open_manifest
from bucketshift_sandbox.seed import APP_BUCKETS
from bucketshift_sandbox.servers import EmulatorServer, MotoServer, run_emulator

_suffix = itertools.count(1)

PLAN = """
[source]
type = "supabase"
url = "{url}"
key = "{key}"
list_api = "{list_api}"

[destination]
type = "s3"
region = "us-east-1"
endpoint_url = "{endpoint}"

[[buckets]]
source = "asset-images"
destination = "asset-images-{n}"
access = "public-read"

[[buckets]]
source = "images"
destination = "images-{n}"
access = "public-read"

[[buckets]]
source = "videos"
destination = "videos-{n}"
access = "private"

[transfer]
concurrency = {concurrency}
{transfer}
"""


@dataclass
class Migration:
    """One test's world: a source emulator, destination buckets and a plan file naming both."""

    emulator: EmulatorServer
    moto: MotoServer
    plan_path: Path
    suffix: int
    endpoint: str

    @property
    def plan(self) -> Plan:
        return load_plan(self.plan_path)

    def dest(self, bucket: str) -> str:
        return f"{bucket}-{self.suffix}"

    def s3(self):
        return boto3.client("s3", endpoint_url=self.moto.endpoint_url, region_name="us-east-1")

    def write_plan(
        self, *, endpoint: str | None = None, concurrency: int = 16, list_api: str = "auto", transfer: str = ""
    ) -> None:
        """`transfer` adds lines to the plan's `[transfer]` table (multipart sizes, timeouts)."""
        self.plan_path.write_text(
            PLAN.format(
                url=self.emulator.url,
                key=self.emulator.service_role_key,
                endpoint=endpoint or self.endpoint,
                n=self.suffix,
                concurrency=concurrency,
                list_api=list_api,
                transfer=transfer,
            ),
            encoding="utf-8",
        )


@pytest.fixture
def migration(tmp_path: Path, moto: MotoServer) -> Iterator[Migration]:
    n = next(_suffix)
    with run_emulator(tmp_path / "emulator") as emulator:
        world = Migration(emulator, moto, tmp_path / "plan.toml", n, moto.endpoint_url)
        world.write_plan()
        client = world.s3()
        for bucket in APP_BUCKETS:
            client.create_bucket(Bucket=world.dest(bucket))
        yield world


STATE_PASSWORD = "state-secret-3f9c"
"""Carried in every test state DSN (the test cluster trusts loopback, so it is never checked):
output must never show it."""


@dataclass(frozen=True)
class StateUnderTest:
    """The manifest a test runs on: the SQLite file beside the plan (`arg` None) or a fresh PostgreSQL database."""

    kind: str
    arg: str | None
    default_path: Path

    @property
    def cli_args(self) -> list[str]:
        return [] if self.arg is None else ["--state", self.arg]

    def rows(self, mapping_prefix: str) -> dict[str, tuple[str, str | None]]:
        """key -> (state, last error) of the mappings whose name starts with `mapping_prefix`."""
        plan = load_plan(self.default_path.with_name("plan.toml"))
        names = [MappingSpec(m.source, m.destination, m.prefix, m.access).name for m in plan.buckets]
        with open_manifest(self.arg, self.default_path, read_only=True) as manifest:
            return {
                r.key: (str(r.state), r.last_error)
                for name in names
                if name.startswith(mapping_prefix)
                for r in manifest.iter_records(name)
            }


@contextmanager
def state_database(postgres) -> Iterator[str]:
    """A fresh database of the test's own on the test cluster; its DSN carries `STATE_PASSWORD`."""
    name = f"state_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(postgres.dsn, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    parts = conninfo_to_dict(postgres.dsn)
    user = parts.get("user", "postgres")
    try:
        yield f"postgresql://{user}:{STATE_PASSWORD}@{parts['host']}:{parts['port']}/{name}"
    finally:
        with psycopg.connect(postgres.dsn, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture(params=["sqlite", "postgres"])
def state(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StateUnderTest]:
    """Runs the test on each manifest store; a PostgreSQL state is a database of the test's own."""
    default = tmp_path / "plan.manifest.sqlite3"
    if request.param == "sqlite":
        yield StateUnderTest("sqlite", None, default)
        return
    with state_database(request.getfixturevalue("postgres")) as dsn:
        yield StateUnderTest("postgres", dsn, default)


@pytest.fixture
def pg_state(tmp_path: Path, postgres) -> Iterator[StateUnderTest]:
    """A PostgreSQL state only (what workers share)."""
    with state_database(postgres) as dsn:
        yield StateUnderTest("postgres", dsn, tmp_path / "plan.manifest.sqlite3")
