"""Run the media service on this machine against local servers: moto (S3), the Supabase Storage
emulator and a throw-away PostgreSQL, all on 127.0.0.1 and all stopped when the service stops.

    .venv/bin/python -m examples.media_service.run_local --backend mirror --primary supabase

Fake AWS credentials are set for this process only (moto takes any); nothing here can reach a
real account or project.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import tempfile
from contextlib import ExitStack
from pathlib import Path

import uvicorn

from bucketshift.stores.supabase import SupabaseStore
from bucketshift_sandbox.servers import free_port, postgres_cluster, run_emulator, run_moto

from .app import create_app
from .local import BUCKETS, create_s3_buckets, create_supabase_buckets, service_env, tiny_png

LOCAL_AWS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    "AWS_EC2_METADATA_DISABLED": "true",
}
SAMPLE_KEY = "samples/source.png"


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m examples.media_service.run_local", description=__doc__.split(".")[0]
    )
    parser.add_argument("--backend", choices=("s3", "supabase", "mirror"), default="mirror")
    parser.add_argument("--primary", choices=("s3", "supabase"), default=None,
                        help="with --backend mirror: the side reads and URLs come from (default supabase)")  # fmt: skip
    parser.add_argument("--port", type=int, default=0, help="the service's port (default: a free one)")
    args = parser.parse_args(argv)
    if args.backend != "mirror" and args.primary is not None:
        parser.error("--primary goes with --backend mirror only")
    if args.backend == "mirror" and args.primary is None:
        args.primary = "supabase"
    return args


async def _sample_source(url: str, key: str) -> str:
    """A PNG in the emulator's public bucket to localize from (a URL on this machine, not the internet)."""
    store = SupabaseStore(url, key)
    try:
        await store.put("asset-images", SAMPLE_KEY, tiny_png(), content_type="image/png")
        return store.public_url("asset-images", SAMPLE_KEY)
    finally:
        await store.aclose()


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    os.environ.update(LOCAL_AWS)
    os.environ.pop("AWS_PROFILE", None)
    port = args.port or free_port()
    work = Path(tempfile.mkdtemp(prefix="media-service-"))
    with ExitStack() as stack:
        stack.callback(shutil.rmtree, work, ignore_errors=True)
        moto = stack.enter_context(run_moto(work))
        emulator = stack.enter_context(run_emulator(work / "emulator"))
        postgres = stack.enter_context(postgres_cluster())
        s3_buckets = {name: f"aiuteur-{name}" for name in BUCKETS}
        asyncio.run(create_s3_buckets(moto.endpoint_url, "us-east-1", s3_buckets))
        asyncio.run(create_supabase_buckets(emulator.url, emulator.service_role_key))
        source = asyncio.run(_sample_source(emulator.url, emulator.service_role_key))
        env = service_env(
            backend=args.backend, primary=args.primary, database_url=postgres.dsn, s3_endpoint=moto.endpoint_url,
            s3_buckets=s3_buckets, supabase_url=emulator.url, supabase_key=emulator.service_role_key,
        )  # fmt: skip
        os.environ.update(env)
        base = f"http://127.0.0.1:{port}"
        mode = args.backend + (f" (primary {args.primary})" if args.primary else "")
        print(f"media service, STORAGE_BACKEND={mode}, on {base}  (Ctrl-C stops it and the servers)")
        print(f"  S3 (moto): {moto.endpoint_url}  Supabase Storage (emulator): {emulator.url}")
        print(f"  PostgreSQL: {postgres.dsn}")
        print(f"  an image to localize: {source}")
        uvicorn.run(create_app(), host="127.0.0.1", port=port, log_level="info")


if __name__ == "__main__":
    main()
