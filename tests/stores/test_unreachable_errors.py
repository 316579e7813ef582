"""A request that gets no answer says which endpoint and what failed, in words.

Real sockets on 127.0.0.1 fail the way networks do: a port nobody listens on (refused), a server
that resets every connection, one that accepts and never answers (timeout).  Refused, unknown
host and TLS are also run through the CLI in tests/cli/test_malformed_inputs.py.
"""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Iterator

import aiohttp
import pytest

from bucketshift.config import S3Endpoint, SupabaseEndpoint
from bucketshift.errors import BucketshiftError, ConfigError, TransientError
from bucketshift.stores._supabase_http import transport_error
from bucketshift.stores.registry import open_store
from bucketshift.stores.s3 import S3Store
from bucketshift_sandbox.servers import free_port
from bucketshift_sandbox.supabase.keys import service_role_key


def serve(behaviour: str) -> Iterator[int]:
    """A port whose server resets every connection, or accepts and never says a word."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    held: list[socket.socket] = []

    def loop() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            if behaviour == "reset":
                conn.recv(1024)
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                conn.close()
            else:
                held.append(conn)

    threading.Thread(target=loop, daemon=True).start()
    yield listener.getsockname()[1]
    listener.close()
    for conn in held:
        conn.close()


@pytest.fixture
def resetting() -> Iterator[int]:
    yield from serve("reset")


@pytest.fixture
def silent() -> Iterator[int]:
    yield from serve("silent")


async def supabase_error(port: int) -> BucketshiftError:
    endpoint = SupabaseEndpoint(type="supabase", url=f"http://127.0.0.1:{port}", key=service_role_key(), timeout=1)
    async with open_store(endpoint) as store:
        with pytest.raises(BucketshiftError) as caught:
            await store.list_page("images")
    return caught.value


async def s3_error(port: int) -> BucketshiftError:
    endpoint = S3Endpoint(type="s3", region="us-east-1", endpoint_url=f"http://127.0.0.1:{port}")
    store = S3Store(endpoint, connect_timeout=1, read_timeout=1, request_timeout=2)
    try:
        with pytest.raises(BucketshiftError) as caught:
            await store.list_page("videos")
    finally:
        await store.aclose()
    return caught.value


async def test_supabase_refused_reset_and_silent(resetting: int, silent: int) -> None:
    port = free_port()
    refused = await supabase_error(port)
    assert isinstance(refused, TransientError)
    assert f"cannot reach Supabase Storage at 127.0.0.1:{port} for bucket images: connection refused" in str(refused)
    reset = await supabase_error(resetting)
    assert isinstance(reset, TransientError)
    assert "for bucket images: the connection was reset; try again later" in str(reset)
    slow = await supabase_error(silent)
    assert isinstance(slow, TransientError)
    assert "for bucket images: it did not answer in time (timed out)" in str(slow)


async def test_s3_refused_reset_and_silent(resetting: int, silent: int) -> None:
    port = free_port()
    refused = await s3_error(port)
    assert isinstance(refused, TransientError)
    assert str(refused) == (
        f"cannot reach the S3 endpoint 127.0.0.1:{port} to list bucket videos: connection refused; "
        "check endpoint_url in the plan file (AWS_ENDPOINT_URL_S3 for bucketshift.storage) and that the server is up"
    )
    reset = await s3_error(resetting)
    assert f"cannot reach the S3 endpoint 127.0.0.1:{resetting} to list bucket videos: the connection was reset" in (
        str(reset)
    )
    slow = await s3_error(silent)
    assert f"127.0.0.1:{silent} to list bucket videos: it did not answer in time (timed out)" in str(slow)


async def test_transport_error_names_host_and_port_only() -> None:
    port = free_port()
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.ClientConnectorError) as caught:
            await session.get(f"http://127.0.0.1:{port}/x")
    secret_url = f"http://user:PASSWORD-never-shown@127.0.0.1:{port}/storage/v1/object/sign/b/k?token=TOKEN-never-shown"
    error = transport_error(caught.value, "b", "k", endpoint=secret_url)
    assert str(error).startswith(f"cannot reach Supabase Storage at 127.0.0.1:{port} for b/k: connection refused")
    assert "never-shown" not in str(error)
    assert isinstance(error, TransientError), "a refused connection may be a server restarting: retried"


async def test_a_name_that_does_not_resolve_is_a_plan_error_not_retried() -> None:
    host = ".".join(["x" * 60] * 4) + ".yy.invalid"
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.ClientConnectorError) as caught:
            await session.get(f"http://{host}:8000/x")
    error = transport_error(caught.value, "b", None)
    assert isinstance(error, ConfigError)
    assert f"at {host}:8000 for bucket b: its host name does not resolve" in str(error)
