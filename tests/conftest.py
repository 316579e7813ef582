"""Session fixtures: real servers on loopback, started once, stopped at the end."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from hypothesis import settings

from bucketshift_sandbox.servers import (
    EmulatorServer,
    MotoServer,
    PostgresCluster,
    postgres_cluster,
    run_emulator,
    run_moto,
)

AWS_TEST_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_CONFIG_FILE": "/dev/null",
    "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
    "AWS_EC2_METADATA_DISABLED": "true",
}

# Property tests judge results, never speed: on a shared 2-core machine one slow example must
# not fail a run (hypothesis's default 200 ms deadline did, once).
settings.register_profile("bucketshift", deadline=None)
settings.load_profile("bucketshift")


@pytest.fixture(scope="session", autouse=True)
def aws_test_credentials() -> Iterator[None]:
    """Fake AWS credentials for moto; never a real account (also for child processes)."""
    saved = {name: os.environ.get(name) for name in AWS_TEST_ENV}
    os.environ.update(AWS_TEST_ENV)
    os.environ.pop("AWS_PROFILE", None)
    yield
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture(scope="session")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    with run_moto(tmp_path_factory.mktemp("moto")) as server:
        yield server


@pytest.fixture(scope="session")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorServer]:
    with run_emulator(tmp_path_factory.mktemp("emulator")) as server:
        yield server


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresCluster]:
    """A throw-away cluster, or the server named by BUCKETSHIFT_TEST_DSN.

    Missing PostgreSQL binaries make the tests that need this fail with a message naming the
    package to install; they are never skipped.
    """
    dsn = os.environ.get("BUCKETSHIFT_TEST_DSN")
    if dsn:
        yield PostgresCluster(dsn=dsn)
        return
    # Not under pytest's temp directory: that is private to root, and the server runs as postgres.
    with postgres_cluster() as cluster:
        yield cluster
