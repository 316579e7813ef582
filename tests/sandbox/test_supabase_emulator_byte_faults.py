"""Faults aimed at object bytes: corrupt and stall, fault_routes, per-object byte stats, opaque ETags.

These are the switches the copy engine's resumable reads, MD5 checks and read timeouts are
tested with, so each is checked here against a client that sees only the wire.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import random
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from tests.sandbox.supabase_emulator_helpers import new_bucket, storage_client

from bucketshift_sandbox.servers import EmulatorServer, run_emulator
from bucketshift_sandbox.supabase import create_app
from bucketshift_sandbox.supabase.__main__ import main as emulator_main
from bucketshift_sandbox.supabase.faults import FaultInjector
from bucketshift_sandbox.supabase.labels import ROUTE_LABELS, route_label
from bucketshift_sandbox.supabase.settings import DEFAULT_FAULTS, EmulatorSettings, SettingsError

# Odd, and longer than the emulator's 256 KiB read chunk: the middle byte sits in the second chunk.
SIZE = 700_001
DATA = random.Random(20240611).randbytes(SIZE)
HALF = SIZE // 2
HEX32 = re.compile(r'^"[0-9a-f]{32}"$')
READY = re.compile(r"^bucketshift-emulator listening on http://127\.0\.0\.1:(\d+)$")


def md5_etag(data: bytes) -> str:
    return f'"{hashlib.md5(data).hexdigest()}"'  # noqa: S324 - the ETag is an MD5 by definition


def read_until_cut(response: httpx.Response) -> bytes:
    """The body bytes that arrived before the connection closed; fails if the body was whole."""
    received = b""
    try:
        for chunk in response.iter_raw():
            received += chunk
    except httpx.RemoteProtocolError:
        return received
    raise AssertionError("the body should have been cut short")


def differing_offsets(a: bytes, b: bytes) -> list[int]:
    assert len(a) == len(b)
    return [i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y]


@pytest.fixture
def fresh(sandbox_emulator: EmulatorServer) -> Iterator[httpx.Client]:
    """A client of its own: faults break connections."""
    with storage_client(sandbox_emulator, sandbox_emulator.service_role_key) as client:
        yield client


@pytest.fixture
def seeded(service: httpx.Client) -> str:
    """A public bucket holding ``k.bin`` (DATA) and ``other.bin``, so every read route works."""
    bucket = new_bucket(service, public=True)
    assert service.post(f"/object/{bucket}/k.bin", content=DATA).status_code == 200
    assert service.post(f"/object/{bucket}/other.bin", content=DATA[:1000]).status_code == 200
    return bucket


def read_routes(client: httpx.Client, bucket: str) -> dict[str, httpx.Response]:
    """One GET of ``k.bin`` through each read route (the signed URL is made first, unfaulted)."""
    signed = client.post(f"/object/sign/{bucket}/k.bin", json={"expiresIn": 60}).json()["signedURL"]
    return {
        "object": client.get(f"/object/{bucket}/k.bin"),
        "authenticated": client.get(f"/object/authenticated/{bucket}/k.bin"),
        "public": client.get(f"/object/public/{bucket}/k.bin"),
        "sign": client.get(signed),
    }


# -- corrupt ---------------------------------------------------------------------------------


def test_corrupt_flips_one_byte_of_every_read_route_and_keeps_the_headers(
    admin: httpx.Client, fresh: httpx.Client, seeded: str
) -> None:
    admin.post("/stats/reset")
    admin.put("/settings", json={"fault_rate": 1, "faults": ["corrupt"]})
    for route, response in read_routes(fresh, seeded).items():
        assert response.status_code == 200, route
        assert response.headers["content-length"] == str(SIZE), route
        assert response.headers["etag"] == md5_etag(DATA), route
        assert differing_offsets(response.content, DATA) == [HALF], route
        assert response.content[HALF] == DATA[HALF] ^ 0x01, route
        assert md5_etag(response.content) != response.headers["etag"], route
    stats = admin.get("/stats").json()
    assert stats["faults_by_kind"] == {"corrupt": 4}
    assert stats["faults_injected"] == 4


def test_without_the_fault_every_read_route_gives_the_object(
    admin: httpx.Client, fresh: httpx.Client, seeded: str
) -> None:
    admin.post("/stats/reset")
    admin.put("/settings", json={"fault_rate": 0, "faults": ["corrupt"]})
    for route, response in read_routes(fresh, seeded).items():
        assert response.status_code == 200, route
        assert response.content == DATA, route
        assert md5_etag(response.content) == response.headers["etag"], route
    assert admin.get("/stats").json()["faults_injected"] == 0


@pytest.mark.parametrize("faulted", [True, False])
def test_a_ranged_read_can_be_corrupted(admin: httpx.Client, fresh: httpx.Client, seeded: str, faulted: bool) -> None:
    admin.put("/settings", json={"fault_rate": 1 if faulted else 0, "faults": ["corrupt"]})
    start, end = 100_000, 600_000
    response = fresh.get(f"/object/{seeded}/k.bin", headers={"Range": f"bytes={start}-{end}"})
    assert response.status_code == 206
    assert response.headers["content-range"] == f"bytes {start}-{end}/{SIZE}"
    assert response.headers["content-length"] == str(end - start + 1)
    expected = DATA[start : end + 1]
    if faulted:
        assert differing_offsets(response.content, expected) == [(end - start + 1) // 2]
    else:
        assert response.content == expected


def test_corrupt_is_not_drawn_off_the_read_routes(admin: httpx.Client, fresh: httpx.Client, seeded: str) -> None:
    admin.post("/stats/reset")
    admin.put("/settings", json={"fault_rate": 1, "faults": ["corrupt"]})
    head = fresh.head(f"/object/{seeded}/k.bin")
    assert (head.status_code, head.headers["etag"]) == (200, md5_etag(DATA))
    assert fresh.get(f"/object/info/{seeded}/k.bin").json()["size"] == SIZE
    assert [item["name"] for item in fresh.post(f"/object/list/{seeded}", json={"prefix": ""}).json()] == [
        "k.bin",
        "other.bin",
    ]
    assert len(fresh.post(f"/object/list-v2/{seeded}", json={}).json()["objects"]) == 2
    assert fresh.post(f"/object/{seeded}/new.bin", content=DATA).status_code == 200
    missing = fresh.get(f"/object/{seeded}/missing.bin")
    assert missing.json()["error"] == "not_found", "an error answer on a read route passes unchanged"
    assert admin.get("/stats").json()["faults_injected"] == 0
    assert fresh.get(f"/object/{seeded}/new.bin").content != DATA, "while a read of the bytes is corrupted"
    assert admin.get("/stats").json()["faults_by_kind"] == {"corrupt": 1}


def test_corrupt_is_not_drawn_rather_than_drawn_and_dropped() -> None:
    injector = FaultInjector(EmulatorSettings(fault_rate=1, faults=["corrupt", "500"], fault_seed=5))
    assert {injector.draw("POST object/list") for _ in range(50)} == {"500"}
    assert {injector.draw("GET object") for _ in range(50)} == {"corrupt", "500"}
    only_corrupt = FaultInjector(EmulatorSettings(fault_rate=1, faults=["corrupt"], fault_seed=5))
    assert {only_corrupt.draw("GET object/info") for _ in range(10)} == {None}
    assert {only_corrupt.draw("GET object/sign") for _ in range(10)} == {"corrupt"}


# -- stall -----------------------------------------------------------------------------------


def test_a_stall_times_out_a_short_read_timeout_while_other_requests_are_served(
    admin: httpx.Client, service: httpx.Client, sandbox_emulator: EmulatorServer, seeded: str
) -> None:
    admin.post("/stats/reset")
    admin.put(
        "/settings",
        json={"fault_rate": 1, "faults": ["stall"], "stall_seconds": 30, "fault_routes": ["GET object/authenticated"]},
    )
    timeout = httpx.Timeout(10.0, read=1.0)
    started = time.monotonic()
    with (
        storage_client(sandbox_emulator, sandbox_emulator.service_role_key) as impatient,
        impatient.stream("GET", f"/object/authenticated/{seeded}/k.bin", timeout=timeout) as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-length"] == str(SIZE)
        chunks = response.iter_raw()
        received = b""
        while len(received) < HALF:
            received += next(chunks)
        assert received == DATA[:HALF]
        during = time.monotonic()
        assert service.get(f"/object/info/{seeded}/k.bin").status_code == 200
        assert service.post(f"/object/list/{seeded}", json={"prefix": ""}).status_code == 200
        assert service.get(f"/object/{seeded}/other.bin").content == DATA[:1000]
        assert time.monotonic() - during < 5, "the stalled response must not hold up the others"
        with pytest.raises(httpx.ReadTimeout):
            next(chunks)
    assert time.monotonic() - started < 15, "the client gave up long before stall_seconds"
    stats = admin.get("/stats").json()
    assert stats["faults_by_kind"] == {"stall": 1}
    assert stats["object_bytes"][f"{seeded}/k.bin"] == HALF


def test_without_the_stall_a_short_read_timeout_reads_everything(
    admin: httpx.Client, sandbox_emulator: EmulatorServer, seeded: str
) -> None:
    admin.put("/settings", json={"fault_rate": 0, "faults": ["stall"], "stall_seconds": 30})
    with storage_client(sandbox_emulator, sandbox_emulator.service_role_key) as impatient:
        response = impatient.get(f"/object/authenticated/{seeded}/k.bin", timeout=httpx.Timeout(10.0, read=1.0))
    assert response.content == DATA


@pytest.mark.parametrize("stall_seconds", [3, 0])
def test_a_patient_client_waits_stall_seconds_then_sees_the_body_cut(
    admin: httpx.Client, fresh: httpx.Client, seeded: str, stall_seconds: int
) -> None:
    admin.put("/settings", json={"fault_rate": 1, "faults": ["stall"], "stall_seconds": stall_seconds})
    started = time.monotonic()
    with fresh.stream("GET", f"/object/{seeded}/k.bin", timeout=15) as response:
        assert response.status_code == 200
        received = read_until_cut(response)
    elapsed = time.monotonic() - started
    assert received == DATA[:HALF]
    if stall_seconds:
        assert stall_seconds <= elapsed < 15
    else:
        assert elapsed < 3


@pytest.mark.parametrize("faulted", [True, False])
def test_a_response_without_a_body_stalls_before_its_headers(
    admin: httpx.Client, fresh: httpx.Client, seeded: str, faulted: bool
) -> None:
    admin.put("/settings", json={"fault_rate": 1 if faulted else 0, "faults": ["stall"], "stall_seconds": 30})
    if faulted:
        with pytest.raises(httpx.ReadTimeout):
            fresh.head(f"/object/{seeded}/k.bin", timeout=httpx.Timeout(10.0, read=1.0))
    else:
        assert fresh.head(f"/object/{seeded}/k.bin", timeout=httpx.Timeout(10.0, read=1.0)).status_code == 200


def raw_get(port: int, path: str, key: str) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\n\r\n".encode())
    return sock


def read_head_and(sock: socket.socket, body_bytes: int) -> bytes:
    """Read a 200's head and at least ``body_bytes`` of its body; return the body bytes read."""
    data = b""
    while b"\r\n\r\n" not in data or len(data.partition(b"\r\n\r\n")[2]) < body_bytes:
        chunk = sock.recv(65536)
        assert chunk, "closed early"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    return body


def test_the_emulator_stops_at_once_while_a_stall_is_pending(tmp_path: Path) -> None:
    with run_emulator(tmp_path) as server, storage_client(server, server.service_role_key) as client:
        bucket = new_bucket(client)
        client.post(f"/object/{bucket}/k.bin", content=DATA)
        server.settings(fault_rate=1, faults=["stall"], stall_seconds=600, fault_routes=["GET object"])
        with raw_get(server.port, f"/storage/v1/object/{bucket}/k.bin", server.service_role_key) as sock:
            assert read_head_and(sock, HALF) == DATA[:HALF]
            sock.settimeout(1.0)
            with pytest.raises(TimeoutError):
                sock.recv(65536)
            stopping = time.monotonic()
            server.proc.send_signal(signal.SIGTERM)
            sock.settimeout(10)
            assert sock.recv(65536) == b"", "the stalled connection is closed, not left hanging"
            assert server.proc.wait(timeout=10) == 0
        assert time.monotonic() - stopping < 3, "well inside uvicorn's 5 s grace period"


# -- fault_routes ----------------------------------------------------------------------------


def other_routes(client: httpx.Client, bucket: str) -> list[int]:
    return [
        client.post(f"/object/list/{bucket}", json={"prefix": ""}).status_code,
        client.post(f"/object/list-v2/{bucket}", json={}).status_code,
        client.get(f"/object/info/{bucket}/k.bin").status_code,
        client.head(f"/object/{bucket}/k.bin").status_code,
        client.get(f"/object/{bucket}/other.bin").status_code,
    ]


def test_fault_routes_aim_the_faults_at_the_named_routes(admin: httpx.Client, fresh: httpx.Client, seeded: str) -> None:
    admin.post("/stats/reset")
    admin.put("/settings", json={"fault_rate": 1, "faults": ["500"], "fault_routes": ["GET object/authenticated"]})
    assert other_routes(fresh, seeded) == [200] * 5
    reads = [fresh.get(f"/object/authenticated/{seeded}/k.bin").status_code for _ in range(5)]
    assert reads == [500] * 5
    assert admin.get("/stats").json()["faults_by_kind"] == {"500": 5}


def test_without_fault_routes_every_route_is_faulted(admin: httpx.Client, fresh: httpx.Client, seeded: str) -> None:
    admin.put("/settings", json={"fault_rate": 1, "faults": ["500"], "fault_routes": []})
    assert other_routes(fresh, seeded) == [500] * 5


def test_aimed_faults_follow_the_seed_whatever_comes_between(
    admin: httpx.Client, fresh: httpx.Client, seeded: str
) -> None:
    def run(seed: int, *, interleave: bool) -> list[int]:
        admin.put(
            "/settings",
            json={
                "fault_rate": 0.5,
                "faults": ["500"],
                "fault_seed": seed,
                "fault_routes": ["GET object/authenticated"],
            },
        )
        statuses = []
        for _ in range(24):
            if interleave:
                assert other_routes(fresh, seeded) == [200] * 5
            statuses.append(fresh.get(f"/object/authenticated/{seeded}/other.bin").status_code)
        return statuses

    alone = run(1234, interleave=False)
    assert set(alone) == {200, 500}
    assert run(1234, interleave=True) == alone
    assert run(4321, interleave=False) != alone, "another seed, another sequence"


# -- per-object byte stats -------------------------------------------------------------------


def test_object_bytes_and_ranged_reads_count_exactly(admin: httpx.Client, fresh: httpx.Client, seeded: str) -> None:
    key = f"{seeded}/k.bin"
    assert admin.post("/stats/reset").json()["object_bytes"] == {}
    assert fresh.get(f"/object/{seeded}/k.bin").content == DATA
    assert len(fresh.get(f"/object/{seeded}/k.bin", headers={"Range": "bytes=10-109"}).content) == 100
    assert len(fresh.get(f"/object/public/{seeded}/k.bin", headers={"Range": "bytes=-7"}).content) == 7
    several = fresh.get(f"/object/{seeded}/k.bin", headers={"Range": "bytes=0-1,5-6"})
    assert (several.status_code, len(several.content)) == (200, SIZE), "several ranges: the whole object, a 200"
    assert fresh.get(f"/object/{seeded}/k.bin", headers={"Range": f"bytes={SIZE}-"}).status_code == 416
    assert fresh.head(f"/object/{seeded}/k.bin", headers={"Range": "bytes=0-9"}).status_code == 200
    stats = admin.get("/stats").json()
    assert stats["object_reads"] == {key: 4}
    assert stats["ranged_reads"] == {key: 2}
    assert stats["object_bytes"] == {key: SIZE + 100 + 7 + SIZE}

    admin.put("/settings", json={"fault_rate": 1, "faults": ["truncate"]})
    with fresh.stream("GET", f"/object/{seeded}/k.bin") as response:
        assert read_until_cut(response) == DATA[:HALF]
    with fresh.stream("GET", f"/object/{seeded}/k.bin", headers={"Range": "bytes=1000-1999"}) as response:
        assert read_until_cut(response) == DATA[1000:1500]
    stats = admin.get("/stats").json()
    assert stats["faults_by_kind"] == {"truncate": 2}
    assert stats["object_reads"] == {key: 6}
    assert stats["ranged_reads"] == {key: 3}
    assert stats["object_bytes"] == {key: SIZE + 100 + 7 + SIZE + HALF + 500}, "a cut read counts what went out"

    reset = admin.post("/stats/reset").json()
    assert (reset["object_reads"], reset["ranged_reads"], reset["object_bytes"]) == ({}, {}, {})
    assert (reset["faults_injected"], reset["faults_by_kind"]) == (0, {})


def settled_bytes(admin: httpx.Client, key: str) -> int:
    """``object_bytes`` of ``key`` once it stopped growing (the response ended), within 20 s."""
    deadline = time.monotonic() + 20
    last = -1
    while time.monotonic() < deadline:
        now = admin.get("/stats").json()["object_bytes"].get(key, 0)
        if now == last:
            return now
        last = now
        time.sleep(0.3)
    raise AssertionError(f"object_bytes of {key} kept changing")


@pytest.mark.parametrize("hang_up", [True, False])
def test_a_client_that_hangs_up_is_counted_for_what_went_out(
    admin: httpx.Client, service: httpx.Client, sandbox_emulator: EmulatorServer, hang_up: bool
) -> None:
    bucket = new_bucket(service)
    big = DATA * 40
    assert service.post(f"/object/{bucket}/big.bin", content=big).status_code == 200
    admin.post("/stats/reset")
    with raw_get(
        sandbox_emulator.port, f"/storage/v1/object/{bucket}/big.bin", sandbox_emulator.service_role_key
    ) as sock:
        received = len(read_head_and(sock, 1 if hang_up else len(big)))
    sent = settled_bytes(admin, f"{bucket}/big.bin")
    if hang_up:
        assert received <= sent < len(big), "bytes the server dropped after the hang-up are not counted"
    else:
        assert sent == received == len(big)


# -- etag_style ------------------------------------------------------------------------------


def stored_etag(server: EmulatorServer, catalog_dsn: str | None, bucket: str, key: str) -> str:
    """``metadata.eTag`` of the row as the catalog holds it: SQLite file or ``storage.objects``."""
    if catalog_dsn is None:
        uri = f"file:{server.data_dir / 'catalog.sqlite3'}?mode=ro"
        with contextlib.closing(sqlite3.connect(uri, uri=True, timeout=10)) as db:
            (metadata,) = db.execute(
                "SELECT metadata FROM objects WHERE bucket_id = ? AND name = ?", (bucket, key)
            ).fetchone()
        return str(json.loads(metadata)["eTag"])
    with psycopg.connect(catalog_dsn, connect_timeout=10) as conn:
        row = conn.execute(
            "SELECT metadata->>'eTag' FROM storage.objects WHERE bucket_id = %s AND name = %s", (bucket, key)
        ).fetchone()
    assert row is not None
    return str(row[0])


def etags_everywhere(
    client: httpx.Client, server: EmulatorServer, catalog_dsn: str | None, bucket: str, key: str
) -> set[str]:
    """Every ETag the emulator shows for one object: headers, info, both listings, the row."""
    get = client.get(f"/object/{bucket}/{key}")
    assert get.content == DATA
    info = client.get(f"/object/info/{bucket}/{key}")
    legacy: list[dict[str, Any]] = client.post(f"/object/list/{bucket}", json={"prefix": ""}).json()
    v2: list[dict[str, Any]] = client.post(f"/object/list-v2/{bucket}", json={}).json()["objects"]
    return {
        get.headers["etag"],
        client.head(f"/object/{bucket}/{key}").headers["etag"],
        info.headers["etag"],
        info.json()["etag"],
        next(item["metadata"]["eTag"] for item in legacy if item["name"] == key),
        next(item["metadata"]["eTag"] for item in v2 if item["name"] == key),
        stored_etag(server, catalog_dsn, bucket, key),
    }


def test_etag_style_opaque_is_32_hex_that_are_not_the_md5_everywhere_and_md5_is_the_md5(
    admin: httpx.Client,
    service: httpx.Client,
    sandbox_emulator: EmulatorServer,
    sandbox_catalog: str | None,
) -> None:
    bucket = new_bucket(service)
    admin.put("/settings", json={"etag_style": "opaque"})
    service.post(f"/object/{bucket}/opaque.bin", content=DATA)
    admin.put("/settings", json={"etag_style": "md5"})
    service.post(f"/object/{bucket}/md5.bin", content=DATA)

    (opaque,) = etags_everywhere(service, sandbox_emulator, sandbox_catalog, bucket, "opaque.bin")
    assert HEX32.match(opaque)
    assert opaque != md5_etag(DATA), "an opaque ETag is not the body's MD5"
    assert etags_everywhere(service, sandbox_emulator, sandbox_catalog, bucket, "md5.bin") == {md5_etag(DATA)}

    admin.put("/settings", json={"etag_style": "opaque"})
    service.put(f"/object/{bucket}/opaque.bin", content=DATA)
    (rewritten,) = etags_everywhere(service, sandbox_emulator, sandbox_catalog, bucket, "opaque.bin")
    assert HEX32.match(rewritten)
    assert rewritten not in (opaque, md5_etag(DATA)), "every write gets a new opaque ETag"
    assert etags_everywhere(service, sandbox_emulator, sandbox_catalog, bucket, "md5.bin") == {md5_etag(DATA)}, (
        "the style applies at upload: objects already stored keep theirs"
    )


# -- settings, labels and command line -------------------------------------------------------


def test_new_settings_defaults_and_bounds() -> None:
    settings = EmulatorSettings()
    assert (settings.stall_seconds, settings.fault_routes, settings.etag_style) == (30.0, [], "md5")
    assert settings.faults == list(DEFAULT_FAULTS)
    assert not {"corrupt", "stall"} & set(settings.faults)
    settings.update({"faults": "corrupt,stall", "fault_routes": "GET object, GET object/sign", "stall_seconds": 600})
    assert settings.faults == ["corrupt", "stall"]
    assert settings.fault_routes == ["GET object", "GET object/sign"]
    assert settings.stall_seconds == 600
    for bad in (
        {"stall_seconds": 600.5},
        {"stall_seconds": -1},
        {"stall_seconds": "5"},
        {"stall_seconds": True},
        {"fault_routes": ["GET object/authentcated"]},
        {"fault_routes": [3]},
        {"etag_style": "sha256"},
        {"etag_style": None},
    ):
        with pytest.raises(SettingsError):
            settings.update(bad)
    assert (settings.stall_seconds, settings.fault_routes, settings.etag_style) == (
        600,
        ["GET object", "GET object/sign"],
        "md5",
    )


def test_route_labels_are_exactly_the_labels_of_the_emulators_routes(tmp_path: Path) -> None:
    app = create_app(tmp_path, EmulatorSettings())
    try:
        gate = app.routes[0].app  # type: ignore[attr-defined]
        labels = {
            route_label(method, re.sub(r"\{[^}]*\}", "x", route.path))
            for route in gate.app.routes
            for method in route.methods
        }
    finally:
        asyncio.run(app.state.emulator.catalog.close())
    assert labels == ROUTE_LABELS
    assert "GET object/nope" not in ROUTE_LABELS


def test_command_line_flags_for_the_new_switches(tmp_path: Path) -> None:
    args = ["--faults", "corrupt,stall", "--fault-routes", "GET object,GET object/public"]
    args += ["--stall-seconds", "4.5", "--etag-style", "opaque"]
    process = subprocess.Popen(
        [sys.executable, "-m", "bucketshift_sandbox.supabase", "--port", "0", "--data", str(tmp_path), *args],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        match = READY.match(process.stdout.readline().strip())
        assert match
        shown = httpx.get(f"http://127.0.0.1:{match.group(1)}/_emulator/settings", timeout=10).json()
        assert shown["faults"] == ["corrupt", "stall"]
        assert shown["fault_routes"] == ["GET object", "GET object/public"]
        assert (shown["stall_seconds"], shown["etag_style"]) == (4.5, "opaque")
    finally:
        process.terminate()
        assert process.wait(timeout=15) == 0


@pytest.mark.parametrize(
    "args",
    [["--stall-seconds", "601"], ["--fault-routes", "GET nothing"], ["--etag-style", "crc"], ["--faults", "stall,x"]],
)
def test_bad_new_flags_exit_2(tmp_path: Path, args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert emulator_main(["--data", str(tmp_path), *args]) == 2
    assert capsys.readouterr().err.startswith("bucketshift-emulator: ")
