"""An app-shaped source (a fresh emulator per test) and S3 destination buckets in moto."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest

from bucketshift.config import Plan, load_plan
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
