"""The emulator's pure parts: multipart reader, ranges, cursors, names, settings, route labels."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from bucketshift_sandbox.supabase.errors import StorageError
from bucketshift_sandbox.supabase.listing import common_prefix, decode_cursor, encode_cursor
from bucketshift_sandbox.supabase.multipart import FilePart, MultipartError, boundary_of, read_form
from bucketshift_sandbox.supabase.settings import EmulatorSettings, SettingsError
from bucketshift_sandbox.supabase.stats import route_label
from bucketshift_sandbox.supabase.transfer import parse_range
from bucketshift_sandbox.supabase.validation import is_valid_bucket_name, is_valid_key

BOUNDARY = "----boundary7MA4YWxkTrZu0gW"
FILE = bytes(range(256)) * 40 + b"\r\n------boundary7MA4YWxkTrZu0g almost a boundary\r\n--"


def form(*, file_first: bool = False) -> bytes:
    field = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="cacheControl"\r\n\r\n3600\r\n'
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="metadata"\r\n\r\n{{"a": 1}}\r\n'
    ).encode()
    file = (
        (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name=""; filename="blob"\r\n'
            "Content-Type: image/png\r\n\r\n"
        ).encode()
        + FILE
        + b"\r\n"
    )
    trailer = f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="late"\r\n\r\nx\r\n--{BOUNDARY}--\r\n'.encode()
    return b"preamble\r\n" + (file + field if file_first else field + file) + trailer


async def stream(data: bytes, size: int) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def read(data: bytes, size: int) -> tuple[FilePart | None, bytes]:
    part = await read_form(stream(data, size), BOUNDARY)
    body = b""
    if part is not None:
        async for chunk in part.data:
            body += chunk
    return part, body


@pytest.mark.parametrize("size", [1, 2, 3, 7, 31, 64, 1000, 100_000])
def test_multipart_reader_survives_any_chunking(size: int) -> None:
    part, body = asyncio.run(read(form(), size))
    assert part is not None
    assert part.fields == {"cacheControl": "3600", "metadata": '{"a": 1}'}
    assert part.filename == "blob"
    assert part.content_type == "image/png"
    assert body == FILE


def test_multipart_fields_after_the_file_are_not_seen() -> None:
    part, body = asyncio.run(read(form(file_first=True), 50))
    assert part is not None
    assert part.fields == {}
    assert body == FILE


def test_multipart_without_file_or_boundary() -> None:
    no_file = f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="a"\r\n\r\nb\r\n--{BOUNDARY}--\r\n'.encode()
    assert asyncio.run(read(no_file, 10)) == (None, b"")
    with pytest.raises(MultipartError):
        asyncio.run(read(b"just some bytes", 4))
    assert boundary_of(f'multipart/form-data; boundary="{BOUNDARY}"') == BOUNDARY
    assert boundary_of("multipart/form-data") is None


@pytest.mark.parametrize(
    ("header", "size", "expected"),
    [
        (None, 10, None),
        ("bytes=0-0", 10, (0, 0)),
        ("bytes=3-", 10, (3, 9)),
        ("bytes=-4", 10, (6, 9)),
        ("bytes=5-99", 10, (5, 9)),
        ("BYTES=1-2", 10, (1, 2)),
        ("items=1-2", 10, None),
        ("bytes=0-1,5-6", 10, None),
    ],
)
def test_parse_range(header: str | None, size: int, expected: tuple[int, int] | None) -> None:
    assert parse_range(header, size) == expected


@pytest.mark.parametrize(("header", "size"), [("bytes=10-", 10), ("bytes=-0", 10), ("bytes=-", 10), ("bytes=0-", 0)])
def test_unsatisfiable_range(header: str, size: int) -> None:
    with pytest.raises(StorageError) as caught:
        parse_range(header, size)
    assert caught.value.http_status == 416


def test_cursor_round_trip() -> None:
    token = encode_cursor({"startAfter": "a/b.txt", "sortOrder": "asc", "sortColumn": "name"})
    assert decode_cursor(token) == {"startAfter": "a/b.txt", "sortOrder": "asc"}
    token = encode_cursor({"startAfter": "x", "sortOrder": "desc", "sortColumn": "created_at", "sortColumnAfter": "t"})
    assert decode_cursor(token) == {
        "startAfter": "x",
        "sortOrder": "desc",
        "sortColumn": "created_at",
        "sortColumnAfter": "t",
    }
    with pytest.raises(StorageError):
        decode_cursor("%%%")


def test_common_prefix() -> None:
    assert common_prefix("a/b/c.txt", "a/") == "a/b/"
    assert common_prefix("a/b.txt", "a/") is None
    assert common_prefix("a/bc/d", "a/b") == "a/bc/"


def test_names() -> None:
    assert is_valid_key("folder/sub/file name (1)!.txt")
    assert not is_valid_key("")
    assert not is_valid_key("é")
    assert not is_valid_key("a#b")
    assert is_valid_bucket_name("x" * 100)
    assert not is_valid_bucket_name("x" * 101)
    assert not is_valid_bucket_name("a/b")


def test_settings_updates_are_all_or_nothing() -> None:
    settings = EmulatorSettings()
    settings.update({"latency_ms": 10, "faults": "500,reset"})
    assert settings.faults == ["500", "reset"]
    with pytest.raises(SettingsError):
        settings.update({"latency_ms": 20, "fault_rate": 5})
    assert settings.latency_ms == 10
    with pytest.raises(SettingsError):
        EmulatorSettings(secret_key="sk_live_x")


@pytest.mark.parametrize(
    ("method", "path", "label"),
    [
        ("GET", "/bucket", "GET bucket"),
        ("POST", "/bucket/x/empty", "POST bucket/empty"),
        ("GET", "/object/b/k/x.txt", "GET object"),
        ("GET", "/object/public/b/k", "GET object/public"),
        ("PUT", "/object/upload/sign/b/k", "PUT object/upload/sign"),
        ("POST", "/object/list-v2/b", "POST object/list-v2"),
        ("DELETE", "/object/b", "DELETE object"),
    ],
)
def test_route_labels(method: str, path: str, label: str) -> None:
    assert route_label(method, path) == label
