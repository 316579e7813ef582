"""The application's two sides on loopback: S3 buckets in moto (public-read images, private videos,
fresh names per test) and a Supabase emulator of this package's own with the same three buckets."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
from tests.storage.storage_helpers import LOGICAL, Sides, suffixes

from bucketshift.config import S3Endpoint, SupabaseEndpoint
from bucketshift.stores.registry import open_store
from bucketshift_sandbox.servers import EmulatorServer, MotoServer, run_emulator


@pytest.fixture(scope="module")
def supabase_side(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorServer]:
    """An emulator of the module's own (the session one is shared by tests that use these bucket names)."""
    with run_emulator(tmp_path_factory.mktemp("app-emulator")) as server:
        yield server


@pytest.fixture
async def sides(moto: MotoServer, supabase_side: EmulatorServer) -> AsyncIterator[Sides]:
    n = next(suffixes)
    s3 = open_store(S3Endpoint(type="s3", region="us-east-1", endpoint_url=moto.endpoint_url))
    supabase = open_store(SupabaseEndpoint(type="supabase", url=supabase_side.url, key=supabase_side.service_role_key))
    buckets = {name: f"app-{name}-{n}" for name in LOGICAL}
    for name, public in LOGICAL.items():
        await s3.create_bucket(buckets[name], public=public)
        if name not in {b.name for b in await supabase.list_buckets()}:
            await supabase.create_bucket(name, public=public)
    world = Sides(moto, supabase_side, buckets, f"t{n}-{uuid.uuid4().hex[:6]}", s3, supabase)
    try:
        yield world
    finally:
        for made in world.opened:
            await made.aclose()
        await s3.aclose()
        await supabase.aclose()
