"""`demo`: a whole migration on this machine, against local servers, before production.

Starts our Supabase Storage emulator and moto (S3) on free loopback ports, seeds an app shaped
like our first users' (public `asset-images` and `images`, private `videos`), writes a plan file
naming all of it.  With the PostgreSQL server programs on this machine it also starts a throw-away
cluster holding the app's own database, whose stored URLs the phase then moves.  The caller runs the
same operations a user runs against production: `migrate`, `status`, `rollback`.
"""

from __future__ import annotations

import importlib
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from bucketshift import eventloop
from bucketshift.config import Plan, SupabaseEndpoint, load_plan
from bucketshift.errors import UsageError
from bucketshift.stores.registry import open_store

if TYPE_CHECKING:
    from bucketshift_sandbox.seed import Seeded, SeedPlan
    from bucketshift_sandbox.servers import EmulatorServer, MotoServer

__all__ = ["DEMO_SEED", "DemoEnvironment", "Landing", "demo_environment", "demo_landing", "sandbox"]

SANDBOX_MISSING = (
    "bucketshift demo runs on local stand-in servers that the installed tool does not carry; "
    "install them with pip install 'bucketshift[demo]' (from a clone: ./dev demo)"
)

DEMO_SEED: dict[str, Any] = {
    "projects": 3,
    "branches": 2,
    "assets_per_branch": 25,
    "frames_per_branch": 40,
    "videos_per_branch": 2,
    "big_folder_entries": 1600,
    "image_size": (20_000, 120_000),
    "video_size": (1_000_000, 4_000_000),
}
"""The demo app's shape (`bucketshift_sandbox.seed.SeedPlan` fields)."""


def sandbox(module: str) -> ModuleType:
    """A module of the local servers' package, imported only when the demo runs."""
    try:
        importlib.import_module("moto")
        return importlib.import_module(f"bucketshift_sandbox.{module}")
    except ImportError:
        raise UsageError(SANDBOX_MISSING) from None


PLAN = """# Written by `bucketshift demo`: the local emulator stands in for Supabase, moto for S3.
[source]
type = "supabase"
url = "{url}"
key = "${{DEMO_SUPABASE_SERVICE_ROLE_KEY}}"

[destination]
type = "s3"
region = "us-east-1"
endpoint_url = "{endpoint}"
access_key_id = "demo"                      # moto accepts any key; on AWS leave both out
secret_access_key = "moto-accepts-any-key"  # and use the default credential chain

[[buckets]]
source = "asset-images"
destination = "demo-asset-images"
access = "public-read"
cors_origins = ["http://localhost:3000"]    # the web app that shows the images

[[buckets]]
source = "images"
destination = "demo-images"
access = "public-read"
cors_origins = ["http://localhost:3000"]

[[buckets]]
source = "videos"
destination = "demo-videos"
access = "private"
cors_origins = ["http://localhost:3000"]
browser_uploads = true                      # the app uploads videos through pre-signed URLs

[transfer]
concurrency = 32
"""

DATABASE = """
[database]                                  # the app's Postgres (a throw-away cluster here)
dsn = "{dsn}"
columns = [{columns}]
"""


@dataclass
class DemoEnvironment:
    workdir: Path
    plan_path: Path
    plan: Plan
    emulator: EmulatorServer
    moto: MotoServer
    seeded: Seeded
    database_rows: dict[str, int]
    """Rows per URL column of the app's database; empty when there is none."""
    database_dsn: str | None = None
    no_database: str | None = None
    """Why the demo has no app database (no PostgreSQL server programs here)."""


async def _seed(emulator: EmulatorServer, seed: SeedPlan) -> Seeded:
    source = SupabaseEndpoint(type="supabase", url=emulator.url, key=emulator.service_role_key)
    async with open_store(source) as store:
        return await sandbox("seed").seed_app(store, seed)  # type: ignore[no-any-return]


@contextmanager
def demo_environment(workdir: Path | None = None, seed: SeedPlan | None = None) -> Iterator[DemoEnvironment]:
    """Servers up, data seeded, plan written (`migrate` provisions from it); all stopped on exit."""
    servers, app_database = sandbox("servers"), sandbox("app_database")
    seed = seed if seed is not None else sandbox("seed").SeedPlan(**DEMO_SEED)
    base = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="bucketshift-demo-"))
    base.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        emulator = stack.enter_context(servers.run_emulator(base / "supabase"))
        moto = stack.enter_context(servers.run_moto(base))
        seeded = eventloop.run(_seed(emulator, seed))
        text = PLAN.format(url=emulator.url, endpoint=moto.endpoint_url)
        rows: dict[str, int] = {}
        dsn: str | None = None
        no_database = _no_postgres(servers)
        if no_database is None:
            cluster = stack.enter_context(servers.postgres_cluster())
            dsn = cluster.dsn
            rows = app_database.seed_app_database(cluster.dsn, emulator.url, seeded)
            columns = ", ".join(f'"{c}"' for c in app_database.URL_COLUMNS)
            text += DATABASE.format(dsn=cluster.dsn, columns=columns)
        plan_path = base / "bucketshift.toml"
        plan_path.write_text(text, encoding="utf-8")
        plan = load_plan(plan_path, env={"DEMO_SUPABASE_SERVICE_ROLE_KEY": emulator.service_role_key})
        yield DemoEnvironment(base, plan_path, plan, emulator, moto, seeded, rows, dsn, no_database)


def _no_postgres(servers: ModuleType) -> str | None:
    try:
        servers.pg_bin("initdb")
    except servers.ServerError as error:
        return str(error.message)
    return None


@dataclass(frozen=True)
class Landing:
    """Where one bucket's objects landed, with one URL to try."""

    source: str
    destination: str
    access: str
    objects: int
    total_bytes: int
    sample_url: str | None


async def demo_landing(env: DemoEnvironment) -> list[Landing]:
    """Count each destination bucket and give one URL: public for images, signed for videos."""
    out = []
    async with open_store(env.plan.destination) as dest:
        for mapping in env.plan.buckets:
            count = total = 0
            sample: str | None = None
            async for info in dest.list(mapping.destination):
                count += 1
                total += info.size
                if sample is None and info.size:
                    sample = info.key
            url = None
            if sample is not None:
                if mapping.access == "private":
                    url = await dest.signed_url(mapping.destination, sample, 3600)
                else:
                    url = dest.public_url(mapping.destination, sample)
            out.append(Landing(mapping.source, mapping.destination, mapping.access, count, total, url))
    return out
