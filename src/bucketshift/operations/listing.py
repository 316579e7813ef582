"""`ls`: what one side of the plan holds in a bucket, as the tool itself sees it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from bucketshift.config import Plan
from bucketshift.errors import UsageError
from bucketshift.stores.base import ObjectInfo
from bucketshift.stores.registry import open_store
from bucketshift.stores.supabase_keys import require_service_keys

__all__ = ["ListResult", "list_objects"]

Side = Literal["source", "destination"]


@dataclass(frozen=True)
class ListResult:
    side: Side
    bucket: str
    prefix: str
    count: int
    total_bytes: int
    shown: list[ObjectInfo] = field(default_factory=list)


def _bucket_for(plan: Plan, side: Side, name: str) -> str:
    """Accept either side's bucket name, so `ls asset-images --side destination` finds its mapping."""
    for mapping in plan.buckets:
        if name in (mapping.source, mapping.destination):
            return mapping.source if side == "source" else mapping.destination
    known = ", ".join(m.source for m in plan.buckets)
    raise UsageError(f"bucket '{name}' is not in the plan file's [[buckets]]; use one of: {known}")


async def list_objects(plan: Plan, side: Side, bucket: str, prefix: str = "", limit: int = 50) -> ListResult:
    """Count every object under the prefix and keep the first `limit` for display."""
    name = _bucket_for(plan, side, bucket)
    count = total = 0
    shown: list[ObjectInfo] = []
    require_service_keys(plan)
    async with open_store(plan.source if side == "source" else plan.destination) as store:
        async for info in store.list(name, prefix):
            count += 1
            total += info.size
            if len(shown) < limit:
                shown.append(info)
    shown.sort(key=lambda info: info.key)
    return ListResult(side, name, prefix, count, total, shown)
