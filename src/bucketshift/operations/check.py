"""`check`: is the plan file sound and can both sides be reached, before anything moves."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from bucketshift.config import Plan
from bucketshift.errors import BucketshiftError
from bucketshift.stores.base import BucketInfo, ObjectStore
from bucketshift.stores.registry import open_store
from bucketshift.stores.supabase_keys import require_service_keys

__all__ = ["BucketCheck", "CheckResult", "check"]


@dataclass(frozen=True)
class BucketCheck:
    """What was found for one bucket mapping."""

    source: str
    destination: str
    access: str
    source_exists: bool
    source_public: bool | None
    destination_exists: bool | None
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class CheckResult:
    source_type: str
    destination_type: str
    source_error: str | None
    destination_error: str | None
    buckets: list[BucketCheck] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        reachable = self.source_error is None and self.destination_error is None
        return reachable and all(b.source_exists for b in self.buckets)


async def _buckets(store: ObjectStore) -> tuple[dict[str, BucketInfo] | None, str | None]:
    try:
        return {b.name: b for b in await store.list_buckets()}, None
    except BucketshiftError as exc:
        return None, str(exc)


async def check(plan: Plan) -> CheckResult:
    """Reach both stores, list their buckets, and compare them with the plan's mappings."""
    require_service_keys(plan)
    async with open_store(plan.source) as source, open_store(plan.destination) as destination:
        (src, src_error), (dst, dst_error) = await asyncio.gather(_buckets(source), _buckets(destination))
    results = []
    for mapping in plan.buckets:
        found = (src or {}).get(mapping.source)
        warnings = []
        if found is not None and found.public is not None:
            if found.public and mapping.access == "private":
                warnings.append(f"{mapping.source} is public at the source but mapped as private")
            if not found.public and mapping.access == "public-read":
                warnings.append(f"{mapping.source} is private at the source but mapped as public-read")
        results.append(
            BucketCheck(
                source=mapping.source,
                destination=mapping.destination,
                access=mapping.access,
                source_exists=found is not None,
                source_public=found.public if found else None,
                destination_exists=None if dst is None else mapping.destination in dst,
                warnings=tuple(warnings),
            )
        )
    return CheckResult(plan.source.type, plan.destination.type, src_error, dst_error, results)
