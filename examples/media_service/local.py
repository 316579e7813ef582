"""The local servers' side of the example: their buckets, made as `bucketshift provision` makes
them (public-read images, private videos), and the environment that points the service at them.

Used by `run_local` and by the example's tests; nothing here runs in the service itself.
"""

from __future__ import annotations

import asyncio
import struct
import zlib
from collections.abc import Collection, Mapping

from bucketshift.config import S3Endpoint
from bucketshift.storage import bucket_variable
from bucketshift.stores.s3 import S3Store
from bucketshift.stores.supabase import SupabaseStore

BUCKETS = ("asset-images", "images", "videos")
PRIVATE = frozenset({"videos"})


async def create_s3_buckets(endpoint_url: str, region: str, buckets: Mapping[str, str],
                            private: Collection[str] = PRIVATE) -> None:  # fmt: skip
    """Each logical bucket's S3 bucket (`buckets` maps logical to S3 names); public-read unless private."""
    store = S3Store(S3Endpoint(type="s3", region=region, endpoint_url=endpoint_url))
    try:
        await asyncio.gather(
            *(store.create_bucket(physical, public=logical not in private) for logical, physical in buckets.items())
        )
    finally:
        await store.aclose()


async def create_supabase_buckets(url: str, service_role_key: str, private: Collection[str] = PRIVATE) -> None:
    """The three buckets under their own names, as the app's Supabase project has them."""
    store = SupabaseStore(url, service_role_key)
    try:
        for name in BUCKETS:
            await store.create_bucket(name, public=name not in private)
    finally:
        await store.aclose()


def service_env(
    *,
    backend: str,
    primary: str | None,
    database_url: str,
    s3_endpoint: str,
    s3_buckets: Mapping[str, str],
    supabase_url: str | None,
    supabase_key: str | None,
    region: str = "us-east-1",
) -> dict[str, str]:
    """The variables the service reads.  The S3 ones are set for every backend, so rows holding S3
    URLs still resolve after a roll-back to Supabase; the Supabase ones only where a side uses it."""
    env = {
        "STORAGE_BACKEND": backend,
        "DATABASE_URL": database_url,
        "AWS_REGION": region,
        "AWS_ENDPOINT_URL_S3": s3_endpoint,
        "STORAGE_PRIVATE_BUCKETS": ",".join(sorted(PRIVATE)),
    }
    env.update({bucket_variable(logical): name for logical, name in s3_buckets.items()})
    if primary is not None:
        env["STORAGE_PRIMARY"] = primary
    if backend != "s3" and supabase_url and supabase_key:
        env["SUPABASE_URL"] = supabase_url
        env["SUPABASE_SERVICE_ROLE_KEY"] = supabase_key
    return env


def tiny_png(width: int = 2, height: int = 2, rgb: tuple[int, int, int] = (200, 40, 90)) -> bytes:
    """A valid PNG of one colour, made here so the example needs no image file or library."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    row = b"\x00" + bytes(rgb) * width
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(row * height))
        + chunk(b"IEND", b"")
    )
