"""The demo's application: the reference media service writing new files while the phase runs.

`examples/media_service` (a clone's, not the installed tool's) is started as its own process on a
free loopback port, configured the way a user configures theirs: the block `bucketshift app-env`
prints from the demo's plan, plus the secrets a real deployment takes from its secret store.  It
then stores a generated frame and a generated video through its HTTP API, as the app would, and
the demo looks where each one landed: on S3, on Supabase, or both.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import aiohttp

from bucketshift.config import SupabaseEndpoint
from bucketshift.errors import NotFound, UsageError
from bucketshift.operations.app_env import app_environment
from bucketshift.operations.demo import DemoEnvironment, sandbox
from bucketshift.stores.base import ObjectStore
from bucketshift.stores.registry import open_store

__all__ = ["AppUpload", "media_service", "repository_examples", "upload_through_service"]

SERVICE = "examples.media_service.app:create_app"
START_SECONDS = 60.0
"""How long the service may take to answer its health check before the demo gives up on it."""
DEMO_AWS = {
    "AWS_ACCESS_KEY_ID": "demo",
    "AWS_SECRET_ACCESS_KEY": "moto-accepts-any-key",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    "AWS_EC2_METADATA_DISABLED": "true",
}
"""Moto takes any key; the service finds these through the AWS default chain, as it would a task role's."""

Backend = Literal["s3", "supabase", "mirror"]


def repository_examples() -> Path | None:
    """The clone this bucketshift runs from, when it holds the reference service (`./dev demo`)."""
    root = Path(__file__).resolve().parents[3]
    return root if (root / "examples" / "media_service" / "app.py").is_file() else None


@contextmanager
def media_service(
    env: DemoEnvironment, backend: Backend, primary: Literal["s3", "supabase"] | None = None
) -> Iterator[str]:
    """The service running with `backend`, at the URL yielded; stopped on exit."""
    root = repository_examples()
    if root is None:
        raise UsageError("the reference media service is not here (it lives in a clone's examples/)")
    if env.database_dsn is None:
        raise UsageError("the reference media service needs the demo's PostgreSQL")
    port = sandbox("servers").free_port()
    variables = app_environment(env.plan_path, backend=backend, primary=primary).variables
    process_env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SUPABASE_", "STORAGE_"))},
        **variables,
        **DEMO_AWS,
        "DATABASE_URL": env.database_dsn,
        "SUPABASE_URL": env.emulator.url,
        "SUPABASE_SERVICE_ROLE_KEY": env.emulator.service_role_key,
    }
    log_path = env.workdir / f"media-service-{backend}{'-' + primary if primary else ''}.log"
    command = [sys.executable, "-m", "uvicorn", "--factory", SERVICE, "--host", "127.0.0.1", "--port", str(port),
               "--log-level", "warning"]  # fmt: skip
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, cwd=root, env=process_env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(base, process, log_path)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _wait_healthy(base: str, process: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            with urllib.request.urlopen(f"{base}/health", timeout=2) as answer:  # noqa: S310 - loopback only
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    tail = log_path.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-1:] or ["no output"]
    raise UsageError(f"the reference media service did not start ({tail[0]}); its log is {log_path}")


@dataclass(frozen=True)
class AppUpload:
    """One file the app stored, the value its row now holds, and where the bytes are."""

    what: str
    bucket: str
    key: str
    size: int
    stored_value: str
    on_s3: bool
    on_supabase: bool


async def upload_through_service(base: str, env: DemoEnvironment, number: int) -> list[AppUpload]:
    """A generated frame and a generated video stored through the service, as the app stores them."""
    seed = sandbox("seed")
    rng = random.Random(number)  # noqa: S311 - test data, not secrets
    frame = seed.PNG_HEADER + rng.randbytes(40_000 + number)
    video = seed.MP4_HEADER + rng.randbytes(2_000_000 + number)
    stored: list[tuple[str, str, dict[str, object]]] = []
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as http:
        for what, bucket, path, body in (
            ("frame", "images", f"/projects/demo/branches/main/frames/{900_000 + number}", frame),
            ("video", "videos", f"/projects/demo/videos/{900_000 + number}", video),
        ):
            async with http.put(base + path, data=body) as answer:
                document = await answer.json(content_type=None)
                if answer.status != 201:
                    raise UsageError(f"the media service refused the demo's {what}: {document.get('error')}")
            stored.append((what, bucket, document))
    return [await _where(env, what, bucket, document) for what, bucket, document in stored]


async def _where(env: DemoEnvironment, what: str, bucket: str, document: dict[str, object]) -> AppUpload:
    key, size = str(document["key"]), int(str(document["size"]))
    destination = next(m.destination for m in env.plan.buckets if m.source == bucket)
    source = SupabaseEndpoint(type="supabase", url=env.emulator.url, key=env.emulator.service_role_key)
    async with open_store(env.plan.destination) as s3, open_store(source) as supabase:
        on_s3 = await _has(s3, destination, key)
        on_supabase = await _has(supabase, bucket, key)
    return AppUpload(what, bucket, key, size, str(document["stored_value"]), on_s3, on_supabase)


async def _has(store: ObjectStore, bucket: str, key: str) -> bool:
    try:
        await store.head(bucket, key)
    except NotFound:
        return False
    return True
