"""Small helpers shared by the emulator tests."""

from __future__ import annotations

import contextlib
import http.client
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import quote

import httpx
import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from bucketshift_sandbox.servers import EmulatorServer
from bucketshift_sandbox.supabase.settings import DEFAULT_FAULTS, DEFAULT_FILE_SIZE_LIMIT, DEFAULT_STALL_SECONDS

DEFAULT_SETTINGS = {
    "latency_ms": 0,
    "fault_rate": 0,
    "faults": list(DEFAULT_FAULTS),
    "fault_seed": None,
    "fault_routes": [],
    "stall_seconds": DEFAULT_STALL_SECONDS,
    "etag_style": "md5",
    "list_v2": True,
    "file_size_limit": DEFAULT_FILE_SIZE_LIMIT,
    "standard_upload_limit": None,
    "resumable": True,
}


def storage_client(server: EmulatorServer, key: str | None = None, **headers: str) -> httpx.Client:
    """A client of ``/storage/v1`` sending ``key`` as apikey and bearer token, as supabase clients do."""
    sent = dict(headers)
    if key is not None:
        sent.setdefault("apikey", key)
        sent.setdefault("Authorization", f"Bearer {key}")
    return httpx.Client(base_url=f"{server.url}/storage/v1", headers=sent, timeout=30)


def new_bucket(client: httpx.Client, *, public: bool = False, **extra: object) -> str:
    """A bucket with a unique name."""
    name = f"b-{uuid.uuid4().hex[:12]}"
    response = client.post("/bucket", json={"name": name, "public": public, **extra})
    assert response.status_code == 200, response.text
    return name


def error_body(status: int, code: str, error: str, message: str) -> dict[str, str]:
    """The error body the server sends."""
    return {"statusCode": str(status), "code": code, "error": error, "message": message}


def bulk_upload(server: EmulatorServer, bucket: str, keys: list[str], *, contents: bytes | None = None) -> None:
    """Upload many small objects through the real API, on keep-alive stdlib connections.

    httpx costs a few milliseconds of client CPU per request here; http.client costs a tenth.
    """
    host, port = server.url.removeprefix("http://").split(":")
    headers = {"Authorization": f"Bearer {server.service_role_key}", "Content-Type": "text/plain"}

    def run(part: list[str]) -> None:
        connection = http.client.HTTPConnection(host, int(port), timeout=30)
        try:
            for key in part:
                body = key.encode() if contents is None else contents
                connection.request("POST", f"/storage/v1/object/{bucket}/{quote(key)}", body=body, headers=headers)
                response = connection.getresponse()
                text = response.read()
                assert response.status == 200, text
        finally:
            connection.close()

    with ThreadPoolExecutor(2) as pool:
        list(pool.map(run, [keys[0::2], keys[1::2]]))


@contextlib.contextmanager
def scratch_database(dsn: str) -> Iterator[str]:
    """A new database for one emulator's catalog, dropped afterwards; yields its DSN.

    Its default collation is ICU en-US, where ``B`` sorts after ``a``: an emulator query that
    forgot ``COLLATE "C"`` would list out of byte order here.  A server where the role may not
    create databases gets the given database itself (emulators with distinct buckets share one).
    """
    name = f"emulator_{uuid.uuid4().hex[:12]}"
    create = sql.SQL("CREATE DATABASE {} TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C'")
    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(create.format(sql.Identifier(name)))
    except psycopg.errors.InsufficientPrivilege:
        yield dsn
        return
    try:
        yield make_conninfo(dsn, dbname=name)
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
