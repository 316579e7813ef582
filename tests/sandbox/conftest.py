"""An emulator of our own for these tests (faults and stats must not leak into other suites)."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from tests.sandbox.supabase_emulator_helpers import DEFAULT_SETTINGS, new_bucket, scratch_database, storage_client

from bucketshift_sandbox.servers import EmulatorServer, PostgresCluster, run_emulator


def _scratch_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tmpfs when there is one: creating thousands of small files on a busy shared disk is slow."""
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK):
        return Path(tempfile.mkdtemp(prefix="bucketshift-emulator-", dir=shm))
    return tmp_path_factory.mktemp("supabase-emulator")


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def sandbox_catalog(request: pytest.FixtureRequest) -> Iterator[str | None]:
    """Where the emulator keeps its rows: None for its SQLite file, else a scratch PostgreSQL database's DSN."""
    if request.param == "sqlite":
        yield None
        return
    cluster: PostgresCluster = request.getfixturevalue("postgres")
    with scratch_database(cluster.dsn) as dsn:
        yield dsn


@pytest.fixture(scope="session")
def sandbox_emulator(sandbox_catalog: str | None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorServer]:
    """The emulator with each catalog: every test of it must pass on SQLite and on PostgreSQL rows."""
    data_dir = _scratch_root(tmp_path_factory)
    try:
        with run_emulator(data_dir, catalog_dsn=sandbox_catalog) as server:
            yield server
        assert server.proc.returncode == 0, "the emulator should exit 0 on SIGTERM"
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def service(sandbox_emulator: EmulatorServer) -> Iterator[httpx.Client]:
    """A service-role client, shared (httpx clients are costly to create); fault tests use their own."""
    with storage_client(sandbox_emulator, sandbox_emulator.service_role_key) as client:
        yield client


@pytest.fixture(scope="session")
def anon(sandbox_emulator: EmulatorServer) -> Iterator[httpx.Client]:
    """A client with the anon key."""
    with storage_client(sandbox_emulator, sandbox_emulator.anon_key) as client:
        yield client


@pytest.fixture
def admin(sandbox_emulator: EmulatorServer) -> Iterator[httpx.Client]:
    """The admin routes; every switch goes back to its default afterwards."""
    with httpx.Client(base_url=f"{sandbox_emulator.url}/_emulator", timeout=30) as client:
        yield client
        assert client.put("/settings", json=DEFAULT_SETTINGS).status_code == 200


@pytest.fixture
def bucket(service: httpx.Client) -> str:
    return new_bucket(service)


@pytest.fixture
def public_bucket(service: httpx.Client) -> str:
    return new_bucket(service, public=True)
