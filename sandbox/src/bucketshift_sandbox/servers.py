"""Start and stop the local servers the tests and the demo run against.

Each server is a child process on 127.0.0.1 and a free port: moto's S3/IAM server, our
Supabase Storage emulator, and a throw-away PostgreSQL cluster made with `initdb`/`pg_ctl`.
Every wait is bounded in time; every server is stopped by its context manager.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bucketshift.errors import BucketshiftError

__all__ = [
    "EmulatorServer",
    "MotoServer",
    "PostgresCluster",
    "ProxyServer",
    "ServerError",
    "free_port",
    "pg_bin",
    "postgres_cluster",
    "run_emulator",
    "run_moto",
    "run_s3_fault_proxy",
]

LOOPBACK = "127.0.0.1"
START_TIMEOUT = 60.0


class ServerError(BucketshiftError):
    """A local server could not be started."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def _wait_for_port(port: int, proc: subprocess.Popen[Any], name: str, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ServerError(f"{name} exited with status {proc.returncode} while starting; see {log}")
        try:
            socket.create_connection((LOOPBACK, port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise ServerError(f"{name} did not listen on {LOOPBACK}:{port} within {START_TIMEOUT:.0f}s; see {log}")


def _stop(proc: subprocess.Popen[Any]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


@contextlib.contextmanager
def _child(args: list[str], port: int, log: Path, name: str) -> Iterator[subprocess.Popen[Any]]:
    """A Python module as a child process logging to `log`, listening on `port`, stopped on exit."""
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", *args], stdout=out, stderr=subprocess.STDOUT)
    try:
        _wait_for_port(port, proc, name, log)
        yield proc
    finally:
        _stop(proc)


@dataclass
class MotoServer:
    """moto's server: S3 and IAM on one port, path-style addressing."""

    port: int
    proc: subprocess.Popen[Any]
    region: str = "us-east-1"

    @property
    def endpoint_url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def reset(self) -> None:
        """Forget every bucket and IAM entity (moto's own reset API)."""
        httpx.post(f"{self.endpoint_url}/moto-api/reset", timeout=30).raise_for_status()

    def checks(self) -> dict[str, int]:
        """What the S3 checks added to moto (`moto_s3`) have checked and refused so far."""
        response = httpx.get(f"{self.endpoint_url}/_bucketshift/stats", timeout=30)
        response.raise_for_status()
        return dict(response.json())


@contextlib.contextmanager
def run_moto(workdir: Path | None = None, *, s3_checks: bool = True) -> Iterator[MotoServer]:
    """moto's server in its own process (it is CPU-heavy and holds its own GIL), with the checks of
    S3 that moto leaves out (`moto_s3`: checksums checked and kept, If-Match on completing); without
    `s3_checks`, moto's own server as it is (a store that keeps no checksum it was sent)."""
    port = free_port()
    log = Path(workdir or tempfile.mkdtemp(prefix="bucketshift-moto-")) / "moto.log"
    module = "bucketshift_sandbox.moto_s3" if s3_checks else "moto.server"
    with _child([module, "-H", LOOPBACK, "-p", str(port)], port, log, "moto server") as proc:
        yield MotoServer(port, proc)


@dataclass
class EmulatorServer:
    """Our Supabase Storage emulator; `url` plays the part of SUPABASE_URL."""

    port: int
    proc: subprocess.Popen[Any]
    data_dir: Path
    service_role_key: str
    anon_key: str
    secret_key: str
    _client: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=30))

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def settings(self, **changes: Any) -> dict[str, Any]:
        """Read, or change then read, the latency and fault switches."""
        if changes:
            self._client.put(f"{self.url}/_emulator/settings", json=changes).raise_for_status()
        response = self._client.get(f"{self.url}/_emulator/settings")
        response.raise_for_status()
        return dict(response.json())

    def stats(self) -> dict[str, Any]:
        response = self._client.get(f"{self.url}/_emulator/stats")
        response.raise_for_status()
        return dict(response.json())

    def reset_stats(self) -> None:
        self._client.post(f"{self.url}/_emulator/stats/reset").raise_for_status()


@contextlib.contextmanager
def run_emulator(
    data_dir: Path | None = None,
    *,
    extra_args: list[str] | None = None,
    catalog_dsn: str | None = None,
    standard_upload_limit: int | None = None,
) -> Iterator[EmulatorServer]:
    """The emulator as a child process, as a user would run it.

    With `catalog_dsn` its rows live in that PostgreSQL database's `storage` schema
    (`--catalog-dsn`), where bucketshift can read `storage.objects` directly.  With
    `standard_upload_limit` a standard upload above that many bytes answers 413 (resumable
    uploads still go to the server-wide limit); `settings(standard_upload_limit=...)` changes it live.
    """
    from bucketshift_sandbox.supabase import keys

    data = Path(data_dir or tempfile.mkdtemp(prefix="bucketshift-emulator-"))
    data.mkdir(parents=True, exist_ok=True)
    port = free_port()
    args = ["bucketshift_sandbox.supabase", "--host", LOOPBACK, "--port", str(port), "--data", str(data)]
    args += ["--catalog-dsn", catalog_dsn] if catalog_dsn is not None else []
    args += ["--standard-upload-limit", str(standard_upload_limit)] if standard_upload_limit is not None else []
    args += extra_args or []
    with _child(args, port, data / "emulator.log", "Supabase Storage emulator") as proc:
        server = EmulatorServer(
            port=port,
            proc=proc,
            data_dir=data,
            service_role_key=keys.service_role_key(keys.DEFAULT_JWT_SECRET),
            anon_key=keys.anon_key(keys.DEFAULT_JWT_SECRET),
            secret_key=keys.DEFAULT_SECRET_KEY,
        )
        try:
            yield server
        finally:
            server._client.close()


@dataclass
class ProxyServer:
    """The SlowDown-injecting proxy in front of moto."""

    port: int
    proc: subprocess.Popen[Any]

    @property
    def endpoint_url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def settings(self, **changes: Any) -> dict[str, Any]:
        if changes:
            httpx.put(f"{self.endpoint_url}/_proxy/settings", json=changes, timeout=30).raise_for_status()
        response = httpx.get(f"{self.endpoint_url}/_proxy/settings", timeout=30)
        response.raise_for_status()
        return dict(response.json())


@contextlib.contextmanager
def run_s3_fault_proxy(
    upstream: str, *, slowdown_rate: float, seed: int = 1, workdir: Path | None = None, corrupt_rate: float = 0.0
) -> Iterator[ProxyServer]:
    port = free_port()
    log = Path(workdir or tempfile.mkdtemp(prefix="bucketshift-proxy-")) / "s3-proxy.log"
    args = ["bucketshift_sandbox.s3_fault_proxy", "--port", str(port), "--upstream", upstream]
    args += ["--slowdown-rate", str(slowdown_rate), "--seed", str(seed), "--corrupt-rate", str(corrupt_rate)]
    with _child(args, port, log, "S3 fault proxy") as proc:
        yield ProxyServer(port, proc)


def pg_bin(name: str, *, path: str | None = None, search_root: Path = Path("/usr/lib/postgresql")) -> str:
    """Where a PostgreSQL server program is: on PATH, or in Debian's versioned directories."""
    found = shutil.which(name, path=path)
    if found:
        return found
    for candidate in sorted(search_root.glob(f"*/bin/{name}"), reverse=True):
        return str(candidate)
    raise ServerError(
        f"PostgreSQL server program '{name}' not found; install the PostgreSQL server "
        "(Debian/Ubuntu: apt-get install postgresql; macOS: brew install postgresql) "
        "or set BUCKETSHIFT_TEST_DSN to a server you own"
    )


@dataclass
class PostgresCluster:
    """A running PostgreSQL server; `dsn` connects as its superuser."""

    dsn: str
    data_dir: Path | None = None


@contextlib.contextmanager
def postgres_cluster(workdir: Path | None = None) -> Iterator[PostgresCluster]:
    """A new cluster from `initdb`, on loopback, stopped and removed at the end.

    `initdb` refuses to run as root, so as root the directory is handed to the `postgres`
    OS user and the programs run through `runuser`; `workdir` must then be a directory that
    user can reach (the default, the system temp directory, is).
    """
    initdb, pg_ctl = pg_bin("initdb"), pg_bin("pg_ctl")
    base = Path(tempfile.mkdtemp(prefix="bucketshift-pg-", dir=workdir))
    data, sockets, log = base / "data", base / "sockets", base / "postgres.log"
    sockets.mkdir()
    prefix: list[str] = []
    if os.geteuid() == 0:
        runuser = shutil.which("runuser")
        if runuser is None:
            raise ServerError("running as root needs 'runuser' (util-linux) to start PostgreSQL as user postgres")
        try:
            shutil.chown(base, "postgres", "postgres")
            shutil.chown(sockets, "postgres", "postgres")
        except LookupError:
            raise ServerError(
                "running as root needs an OS user 'postgres' to own the cluster; install the postgresql package"
            ) from None
        prefix = [runuser, "-u", "postgres", "--"]
    port = free_port()

    def run(args: list[str], timeout: float = START_TIMEOUT) -> None:
        done = subprocess.run([*prefix, *args], capture_output=True, text=True, timeout=timeout, cwd=base)
        if done.returncode:
            tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            raise ServerError(f"{Path(args[0]).name} failed: {' / '.join(tail)}")

    run([initdb, "-D", str(data), "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync", "--locale=C"])
    options = f"-p {port} -k {sockets} -c listen_addresses={LOOPBACK} -c fsync=off -c full_page_writes=off"
    run([pg_ctl, "-D", str(data), "-l", str(log), "-o", options, "-w", "-t", "60", "start"], timeout=90)
    try:
        yield PostgresCluster(dsn=f"postgresql://postgres@{LOOPBACK}:{port}/postgres", data_dir=data)
    finally:
        with contextlib.suppress(ServerError, subprocess.TimeoutExpired):
            run([pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop"])
        shutil.rmtree(base, ignore_errors=True)
