"""The backends every contract test runs against, each on a real server or directory."""

from __future__ import annotations

import itertools
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from bucketshift.config import LocalEndpoint, S3Endpoint, SupabaseEndpoint
from bucketshift.stores.base import ObjectStore
from bucketshift.stores.registry import open_store
from bucketshift_sandbox.servers import EmulatorServer, MotoServer, _stop, _wait_for_port, free_port

CASES = ["local", "s3", "supabase-v2", "supabase-legacy"]
_names = itertools.count()


@dataclass
class StoreCase:
    """One backend under test and what the contract needs to know about it."""

    name: str
    store: ObjectStore
    enforces_access: bool

    async def new_bucket(self, *, public: bool = False) -> str:
        bucket = f"contract-{self.name}-{next(_names)}"
        await self.store.create_bucket(bucket, public=public)
        return bucket


@pytest.fixture(scope="session")
def static_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    """A plain static web server over the local store's root, as a user would publish an export."""
    root = tmp_path_factory.mktemp("local-store")
    port = free_port()
    log = root.parent / "http-server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", "--directory", str(root), str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_for_port(port, proc, "static web server", log)
        yield root, f"http://127.0.0.1:{port}"
    finally:
        _stop(proc)


@pytest.fixture(scope="session", params=CASES)
async def case(request: pytest.FixtureRequest) -> AsyncIterator[StoreCase]:
    name: str = request.param
    if name == "local":
        root, base_url = request.getfixturevalue("static_server")
        store = open_store(LocalEndpoint(type="local", path=root, public_base_url=base_url))
        yield StoreCase(name, store, enforces_access=False)
    elif name == "s3":
        moto: MotoServer = request.getfixturevalue("moto")
        store = open_store(S3Endpoint(type="s3", region="us-east-1", endpoint_url=moto.endpoint_url))
        yield StoreCase(name, store, enforces_access=True)
    else:
        emulator: EmulatorServer = request.getfixturevalue("emulator")
        api = "v2" if name == "supabase-v2" else "legacy"
        endpoint = SupabaseEndpoint(type="supabase", url=emulator.url, key=emulator.service_role_key, list_api=api)
        store = open_store(endpoint)
        yield StoreCase(name, store, enforces_access=True)
    await store.aclose()


@contextmanager
def _peak_rss() -> Iterator[dict[str, int]]:
    """Peak resident memory above the start, read from the kernel (all threads, C and Rust included)."""

    def status(field: str) -> int:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
        raise AssertionError(f"{field} missing from /proc/self/status")

    result: dict[str, int] = {}
    start = status("VmRSS")
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError as exc:
        raise AssertionError(f"cannot reset the peak RSS counter (/proc/self/clear_refs): {exc}") from exc
    yield result
    result["delta"] = status("VmHWM") - start


@pytest.fixture
def peak_rss() -> Callable[[], object]:
    return _peak_rss
