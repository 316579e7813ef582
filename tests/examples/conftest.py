"""Fixtures of the media service's tests; the parts they use are in `media_world`."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import httpx
import pytest
from examples.media_service.app import create_app
from examples.media_service.local import BUCKETS, create_s3_buckets, create_supabase_buckets, service_env
from tests.examples.media_world import (
    BACKENDS,
    MAX_IMAGE_BYTES,
    MAX_VIDEO_BYTES,
    REGION,
    SourceServer,
    World,
    scratch_database,
    serve,
    source_server,
)

from bucketshift_sandbox.servers import EmulatorServer, MotoServer, PostgresCluster, run_emulator


@pytest.fixture(scope="module")
def media_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorServer]:
    """This module's own emulator with the app's three buckets (the session emulator is shared, and
    the service's bucket names are fixed); each test keeps to its own project's keys."""
    with run_emulator(tmp_path_factory.mktemp("media-emulator")) as server:
        asyncio.run(create_supabase_buckets(server.url, server.service_role_key))
        yield server


@pytest.fixture(scope="module")
def source() -> Iterator[SourceServer]:
    with source_server() as server:
        yield server


@pytest.fixture(params=list(BACKENDS))
def setting(
    request: pytest.FixtureRequest, moto: MotoServer, postgres: PostgresCluster, media_emulator: EmulatorServer
) -> Iterator[World]:
    """A world's own S3 buckets, database and environment, on each backend; the service not started."""
    backend, primary = BACKENDS[request.param]
    tag = uuid.uuid4().hex[:10]
    s3_buckets = {name: f"media-{tag}-{name}" for name in BUCKETS}
    asyncio.run(create_s3_buckets(moto.endpoint_url, REGION, s3_buckets))
    with scratch_database(postgres) as database_url:
        env = service_env(
            backend=backend, primary=primary, database_url=database_url, s3_endpoint=moto.endpoint_url,
            s3_buckets=s3_buckets, supabase_url=media_emulator.url, supabase_key=media_emulator.service_role_key,
            region=REGION,
        )  # fmt: skip
        env.update({"MEDIA_MAX_IMAGE_BYTES": str(MAX_IMAGE_BYTES), "MEDIA_MAX_VIDEO_BYTES": str(MAX_VIDEO_BYTES)})
        yield World(
            name=request.param, backend=backend, primary=primary or backend, env=env, moto=moto,
            emulator=media_emulator, s3_buckets=s3_buckets, database_url=database_url, project=f"t{tag}",
        )  # fmt: skip


@pytest.fixture
def world(setting: World) -> Iterator[World]:
    """The world with the service running in it."""
    with serve(create_app(setting.env)) as base_url, httpx.Client(base_url=base_url, timeout=30) as client:
        setting.client = client
        yield setting
        setting.client = None
