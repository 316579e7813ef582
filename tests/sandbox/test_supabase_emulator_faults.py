"""Latency, injected faults, the admin routes and the command line of the emulator."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from tests.sandbox.supabase_emulator_helpers import new_bucket, storage_client

from bucketshift_sandbox.servers import EmulatorServer
from bucketshift_sandbox.supabase import DEFAULT_SECRET_KEY, service_role_key
from bucketshift_sandbox.supabase.__main__ import main as emulator_main

READY = re.compile(r"^bucketshift-emulator listening on http://127\.0\.0\.1:(\d+)$")


def read_until_closed(sock: socket.socket) -> None:
    while sock.recv(65536):
        pass


def read_body(response: httpx.Response) -> int:
    received = 0
    try:
        for chunk in response.iter_raw():
            received += len(chunk)
    except httpx.RemoteProtocolError:
        return received
    raise AssertionError("the body should have been cut short")


@pytest.fixture
def seeded(service: httpx.Client) -> str:
    bucket = new_bucket(service)
    service.post(f"/object/{bucket}/k.bin", content=bytes(range(256)) * 1024)
    return bucket


@pytest.fixture
def fresh(sandbox_emulator: EmulatorServer) -> Iterator[httpx.Client]:
    """A client of its own: faults break connections."""
    with storage_client(sandbox_emulator, sandbox_emulator.service_role_key) as client:
        yield client


@pytest.mark.parametrize(
    ("kind", "status", "code", "error", "message"),
    [
        ("500", 500, "InternalError", "InternalError", "Internal server error"),
        (
            "503",
            503,
            "DatabaseConnectionLimit",
            "DatabaseConnectionLimit",
            "The database has reached its maximum number of connections. Please try again later.",
        ),
        ("429", 429, "SlowDown", "too_many_connections", "Too many connections issued to the database"),
        ("544", 544, "DatabaseTimeout", "DatabaseTimeout", "The connection to the database timed out"),
    ],
)
def test_status_faults(
    admin: httpx.Client,
    fresh: httpx.Client,
    seeded: str,
    kind: str,
    status: int,
    code: str,
    error: str,
    message: str,
) -> None:
    admin.put("/settings", json={"fault_rate": 1, "faults": [kind]})
    response = fresh.get(f"/object/{seeded}/k.bin")
    assert response.status_code == status
    assert response.json() == {"statusCode": str(status), "code": code, "error": error, "message": message}
    upload = fresh.post(f"/object/{seeded}/blocked", content=b"x" * 100_000)
    assert upload.status_code == status
    head = fresh.head(f"/object/{seeded}/k.bin")
    assert head.status_code == status
    assert head.content == b""
    assert admin.get("/settings").status_code == 200


def test_reset_really_resets(
    sandbox_emulator: EmulatorServer, admin: httpx.Client, fresh: httpx.Client, seeded: str
) -> None:
    admin.put("/settings", json={"fault_rate": 1, "faults": ["reset"]})
    with pytest.raises((httpx.ReadError, httpx.RemoteProtocolError)):
        fresh.get(f"/object/{seeded}/k.bin")
    with pytest.raises(httpx.TransportError):
        fresh.post(f"/object/{seeded}/reset-upload", content=b"y" * 200_000)
    host, port = sandbox_emulator.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(f"GET /storage/v1/object/{seeded}/k.bin HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        with pytest.raises(ConnectionResetError):
            read_until_closed(sock)
    assert admin.get("/settings").json()["fault_rate"] == 1
    admin.put("/settings", json={"fault_rate": 0})
    assert fresh.get(f"/object/{seeded}/k.bin").status_code == 200


def test_truncate_sends_a_short_body(admin: httpx.Client, fresh: httpx.Client, seeded: str) -> None:
    admin.put("/settings", json={"fault_rate": 1, "faults": ["truncate"]})
    with fresh.stream("GET", f"/object/{seeded}/k.bin") as response:
        assert response.status_code == 200
        assert response.headers["content-length"] == str(256 * 1024)
        received = read_body(response)
    assert 0 < received < 256 * 1024


def test_truncate_falls_back_to_reset(admin: httpx.Client, fresh: httpx.Client, seeded: str) -> None:
    admin.put("/settings", json={"fault_rate": 1, "faults": ["truncate"]})
    with pytest.raises(httpx.TransportError):
        fresh.post(f"/object/list/{seeded}", json={"prefix": ""})
    with pytest.raises(httpx.TransportError):
        fresh.get(f"/object/{seeded}/missing")


def test_faults_are_repeatable_with_a_seed(admin: httpx.Client, fresh: httpx.Client, seeded: str) -> None:
    def run() -> list[int]:
        admin.put("/settings", json={"fault_rate": 0.5, "faults": ["500", "429"], "fault_seed": 1234})
        return [fresh.get(f"/object/info/{seeded}/k.bin").status_code for _ in range(24)]

    first = run()
    assert set(first) == {200, 500, 429}
    assert run() == first


def test_latency(admin: httpx.Client, fresh: httpx.Client, seeded: str) -> None:
    admin.put("/settings", json={"latency_ms": 250})
    started = time.monotonic()
    assert fresh.get(f"/object/info/{seeded}/k.bin").status_code == 200
    assert time.monotonic() - started >= 0.25
    started = time.monotonic()
    admin.get("/stats")
    assert time.monotonic() - started < 0.25


def test_stats(admin: httpx.Client, fresh: httpx.Client, anon: httpx.Client, seeded: str) -> None:
    assert admin.post("/stats/reset").json() == {
        "requests": 0,
        "by_route": {},
        "object_reads": {},
        "ranged_reads": {},
        "object_bytes": {},
        "faults_injected": 0,
        "faults_by_kind": {},
    }
    fresh.get(f"/object/{seeded}/k.bin")
    fresh.get(f"/object/authenticated/{seeded}/k.bin", headers={"Range": "bytes=0-9"})
    fresh.head(f"/object/{seeded}/k.bin")
    fresh.get(f"/object/{seeded}/missing")
    fresh.post(f"/object/list/{seeded}", json={"prefix": ""})
    signed = fresh.post(f"/object/sign/{seeded}/k.bin", json={"expiresIn": 60}).json()["signedURL"]
    anon.get(signed)
    stats = admin.get("/stats").json()
    assert stats["requests"] == 7
    assert stats["by_route"] == {
        "GET object": 2,
        "GET object/authenticated": 1,
        "GET object/sign": 1,
        "HEAD object": 1,
        "POST object/list": 1,
        "POST object/sign": 1,
    }
    assert stats["object_reads"] == {f"{seeded}/k.bin": 3}


def test_settings_round_trip_and_validation(admin: httpx.Client) -> None:
    current = admin.get("/settings").json()
    assert set(current) == {
        "latency_ms",
        "fault_rate",
        "faults",
        "fault_seed",
        "fault_routes",
        "stall_seconds",
        "etag_style",
        "list_v2",
        "file_size_limit",
        "standard_upload_limit",
        "resumable",
    }
    changed = admin.put("/settings", json={"latency_ms": 5, "faults": ["reset", "500"], "fault_seed": 9}).json()
    assert changed["latency_ms"] == 5
    assert changed["faults"] == ["reset", "500"]
    assert changed["fault_seed"] == 9
    for bad in ({"fault_rate": 2}, {"faults": ["boom"]}, {"latency": 1}, {"list_v2": "no"}, []):
        response = admin.put("/settings", json=bad)
        assert response.status_code == 400
        assert "error" in response.json()
    assert admin.get("/settings").json() == changed


def test_server_upload_limit_setting(admin: httpx.Client, service: httpx.Client, bucket: str) -> None:
    admin.put("/settings", json={"file_size_limit": 1000})
    assert service.post(f"/object/{bucket}/ok", content=b"x" * 1000).status_code == 200
    assert service.post(f"/object/{bucket}/big", content=b"x" * 1001).json()["code"] == "EntityTooLarge"


def start(tmp_path: Path, *args: str) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "bucketshift_sandbox.supabase", "--port", "0", "--data", str(tmp_path), *args],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline().strip()
    match = READY.match(line)
    assert match, line
    return process, f"http://127.0.0.1:{match.group(1)}"


def test_command_line_flags(tmp_path: Path) -> None:
    secret = "a-different-jwt-secret-of-enough-length-0123456789"
    process, url = start(
        tmp_path,
        "--host",
        "127.0.0.1",
        "--latency-ms",
        "3",
        "--fault-rate",
        "0.25",
        "--faults",
        "500,reset",
        "--fault-seed",
        "7",
        "--no-list-v2",
        "--jwt-secret",
        secret,
        "--secret-key",
        "sb_secret_othertestkey",
        "--publishable-key",
        "sb_publishable_othertestkey",
        "--file-size-limit",
        "4096",
    )
    try:
        assert httpx.get(f"{url}/_emulator/settings").json() == {
            "latency_ms": 3.0,
            "fault_rate": 0.25,
            "faults": ["500", "reset"],
            "fault_seed": 7,
            "fault_routes": [],
            "stall_seconds": 30.0,
            "etag_style": "md5",
            "list_v2": False,
            "file_size_limit": 4096,
            "standard_upload_limit": None,
            "resumable": True,
        }
        httpx.put(f"{url}/_emulator/settings", json={"fault_rate": 0})
        storage = f"{url}/storage/v1"
        with httpx.Client(base_url=storage, headers={"apikey": "sb_secret_othertestkey"}) as client:
            assert client.post("/bucket", json={"name": "cli"}).status_code == 200
            assert client.post("/object/list-v2/cli", json={}).json()["code"] == "FeatureNotEnabled"
        own = service_role_key(secret)
        assert httpx.get(f"{storage}/bucket", headers={"Authorization": f"Bearer {own}"}).json()[0]["name"] == "cli"
        default = httpx.get(f"{storage}/bucket", headers={"Authorization": f"Bearer {service_role_key()}"})
        assert default.json()["message"] == "signature verification failed"
        assert httpx.get(f"{storage}/bucket", headers={"apikey": DEFAULT_SECRET_KEY}).status_code == 401
        assert httpx.get(f"{storage}/bucket", headers={"apikey": "sb_publishable_othertestkey"}).json() == []
        with httpx.Client(base_url=storage, headers={"apikey": "sb_secret_othertestkey"}) as client:
            assert client.post("/object/cli/kept.txt", content=b"kept").status_code == 200
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=15) == 0
    assert (tmp_path / "catalog.sqlite3").exists()

    process, url = start(tmp_path)
    try:
        kept = httpx.get(f"{url}/storage/v1/object/cli/kept.txt", headers={"apikey": DEFAULT_SECRET_KEY})
        assert kept.content == b"kept", "rows and bytes survive a restart on the same --data"
    finally:
        process.terminate()
        assert process.wait(timeout=15) == 0


@pytest.mark.parametrize(
    "args",
    [["--faults", "500,boom"], ["--fault-rate", "3"], ["--secret-key", "nope"], ["--publishable-key", "pk_x"]],
)
def test_bad_flags_exit_2(tmp_path: Path, args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert emulator_main(["--data", str(tmp_path), *args]) == 2
    assert capsys.readouterr().err.startswith("bucketshift-emulator: ")
