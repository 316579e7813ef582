"""Seed a store with an app shaped like our first users': the demo's data and the tests'.

Buckets `asset-images` and `images` (public) and `videos` (private), keys the way that app
writes them, one folder past the legacy listing's 1,500 cap, keys with every allowed special
character, a 0-byte object, dashboard placeholders and, optionally, one large video.
Everything is deterministic for a given seed.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from bucketshift.stores.base import PLACEHOLDER_NAME, ObjectStore

__all__ = ["APP_BUCKETS", "SeedPlan", "SeededObject", "large_body", "seed_app"]

APP_BUCKETS = {"asset-images": True, "images": True, "videos": False}
"""Bucket name -> public."""

SPECIAL_CHARACTERS = "!*'() &$=@;:+,?-_."
PNG_HEADER = b"\x89PNG\r\n\x1a\n"
MP4_HEADER = b"\x00\x00\x00\x18ftypmp42"


@dataclass(frozen=True)
class SeedPlan:
    projects: int = 2
    branches: int = 2
    assets_per_branch: int = 20
    frames_per_branch: int = 30
    videos_per_branch: int = 2
    big_folder_entries: int = 1600
    image_size: tuple[int, int] = (2_000, 20_000)
    video_size: tuple[int, int] = (200_000, 1_000_000)
    large_video_bytes: int = 0
    special_keys: bool = True
    seed: int = 2026


@dataclass(frozen=True)
class SeededObject:
    bucket: str
    key: str
    size: int
    content_type: str
    cache_control: str | None


@dataclass
class Seeded:
    objects: list[SeededObject] = field(default_factory=list)

    def keys(self, bucket: str) -> dict[str, SeededObject]:
        return {o.key: o for o in self.objects if o.bucket == bucket}


def _body(rng: random.Random, header: bytes, size: int) -> bytes:
    return (header + rng.randbytes(max(size - len(header), 0)))[:size]


async def large_body(size: int, chunk: int = 1 << 20, seed: int = 7) -> AsyncIterator[bytes]:
    """A large deterministic body produced chunk by chunk, never whole in memory."""
    block = random.Random(seed).randbytes(chunk)
    sent = 0
    index = 0
    while sent < size:
        piece = (index.to_bytes(8, "big") + block[8:])[: min(chunk, size - sent)]
        yield piece
        sent += len(piece)
        index += 1


def _plan_objects(plan: SeedPlan) -> list[tuple[SeededObject, bytes | None]]:
    rng = random.Random(plan.seed)
    out: list[tuple[SeededObject, bytes | None]] = []

    def add(bucket: str, key: str, size: int, kind: str, cache: str | None, header: bytes) -> None:
        out.append((SeededObject(bucket, key, size, kind, cache), _body(rng, header, size)))

    ts = 1_760_000_000
    for p in range(1, plan.projects + 1):
        for b in range(1, plan.branches + 1):
            base = f"project_{p}/branch_{b}"
            for a in range(plan.assets_per_branch):
                key = f"{base}/master-assets/asset{a}_{ts + a}_{rng.randrange(16**6):06x}.png"
                add("asset-images", key, rng.randint(*plan.image_size), "image/png", "max-age=3600", PNG_HEADER)
            for f in range(plan.frames_per_branch):
                key = f"{base}/frames/frame{f:04d}_{ts + f}_{rng.randrange(16**6):06x}.png"
                add("images", key, rng.randint(*plan.image_size), "image/png", "no-cache", PNG_HEADER)
            for v in range(plan.videos_per_branch):
                key = f"{base}/videos/job_{p}{b}{v:02d}.mp4"
                add("videos", key, rng.randint(*plan.video_size), "video/mp4", "private, max-age=0", MP4_HEADER)
            add("images", f"{base}/frames/{PLACEHOLDER_NAME}", 0, "application/octet-stream", "no-cache", b"")
    for i in range(plan.big_folder_entries):
        key = f"project_1/branch_1/generated/thumb_{i:05d}.png"
        add("images", key, rng.randint(200, 900), "image/png", "max-age=86400", PNG_HEADER)
    if plan.special_keys:
        for c in SPECIAL_CHARACTERS:
            add("asset-images", f"project_1/special/name{c}x.png", 300, "image/png", "max-age=60", PNG_HEADER)
        add("asset-images", f"project_1/special/all {SPECIAL_CHARACTERS}.png", 301, "image/png", None, PNG_HEADER)
        add("images", "project_1/empty/zero.png", 0, "image/png", "no-cache", b"")
    return out


async def seed_app(store: ObjectStore, plan: SeedPlan | None = None, *, concurrency: int = 32) -> Seeded:
    """Create the three buckets (if missing) and fill them; returns what was written."""
    plan = plan or SeedPlan()
    existing = {b.name for b in await store.list_buckets()}
    for bucket, public in APP_BUCKETS.items():
        if bucket not in existing:
            await store.create_bucket(bucket, public=public)
    gate = asyncio.Semaphore(concurrency)
    planned = _plan_objects(plan)

    async def put(obj: SeededObject, body: bytes | None) -> None:
        async with gate:
            await store.put(
                obj.bucket, obj.key, body or b"", content_type=obj.content_type, cache_control=obj.cache_control
            )

    await asyncio.gather(*(put(obj, body) for obj, body in planned))
    seeded = Seeded([obj for obj, _ in planned])
    if plan.large_video_bytes:
        key = "project_1/branch_1/videos/large_master.mp4"
        await store.put(
            "videos",
            key,
            large_body(plan.large_video_bytes),
            size=plan.large_video_bytes,
            content_type="video/mp4",
            cache_control="private, max-age=0",
        )
        seeded.objects.append(SeededObject("videos", key, plan.large_video_bytes, "video/mp4", "private, max-age=0"))
    return seeded
