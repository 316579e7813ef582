"""What every data verb needs from a plan: both stores, the manifest and the bucket mappings."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from bucketshift.config import Plan, SupabaseEndpoint
from bucketshift.engine.diff import MappingSpec
from bucketshift.engine.manifest import Manifest
from bucketshift.errors import UsageError
from bucketshift.stores.base import ObjectStore
from bucketshift.stores.registry import open_store
from bucketshift.stores.supabase_keys import require_service_keys

__all__ = ["Context", "ListFrom", "listing_source", "manifest_path", "mapping_specs", "open_context"]

ListFrom = Literal["auto", "db", "api"]
"""Where the source is listed from: "auto" lists a Supabase project from its own `storage.objects`
when the plan gives its database (one query, user metadata included, so each object costs one
request, its read), else through the Storage API."""


def listing_source(plan: Plan, list_from: ListFrom) -> str:
    """ "db" or "api" for this plan (a "db" without `[source] dsn` is the store's error to say)."""
    if list_from != "auto":
        return list_from
    return "db" if isinstance(plan.source, SupabaseEndpoint) and plan.source.dsn is not None else "api"


def manifest_path(plan: Plan, state: Path | None = None) -> Path:
    """`--state` if given, else `<plan name>.manifest.sqlite3` beside the plan file."""
    if state is not None:
        return state
    if plan.path is None:
        return Path("bucketshift.manifest.sqlite3").resolve()
    return plan.path.with_name(f"{plan.path.stem}.manifest.sqlite3")


def mapping_specs(plan: Plan, only: list[str] | None = None) -> list[MappingSpec]:
    specs = [MappingSpec(m.source, m.destination, m.prefix, m.access) for m in plan.buckets]
    if not only:
        return specs
    known = {s.source_bucket for s in specs} | {s.dest_bucket for s in specs}
    unknown = [name for name in only if name not in known]
    if unknown:
        names = ", ".join(s.source_bucket for s in specs)
        raise UsageError(f"bucket '{unknown[0]}' is not in the plan file's [[buckets]]; use one of: {names}")
    return [s for s in specs if s.source_bucket in only or s.dest_bucket in only]


@dataclass
class Context:
    plan: Plan
    source: ObjectStore
    dest: ObjectStore
    manifest: Manifest
    specs: list[MappingSpec]


@asynccontextmanager
async def open_context(
    plan: Plan,
    *,
    state: Path | None = None,
    only: list[str] | None = None,
    preview: bool = False,
    list_from: ListFrom = "auto",
) -> AsyncIterator[Context]:
    """Open stores and manifest for one verb; `preview` never creates or writes the manifest.

    The plan's `[transfer]` settings (sizes, timeouts) reach both stores.  A verb that fails before
    it records any object leaves no new manifest behind (a bad plan or an unreachable store changes
    nothing).
    """
    require_service_keys(plan)
    specs = mapping_specs(plan, only)
    path = manifest_path(plan, state)
    new = not path.exists()
    manifest = Manifest.for_preview(path) if preview else Manifest(path)
    recorded = True
    try:
        source_store = open_store(plan.source, list_from=listing_source(plan, list_from), transfer=plan.transfer)
        async with source_store as source, open_store(plan.destination, transfer=plan.transfer) as dest:
            yield Context(plan, source, dest, manifest, specs)
    except BaseException:
        recorded = any(manifest.counts(spec.name) for spec in specs)
        raise
    finally:
        manifest.close()
        if new and not recorded and not preview:
            for leftover in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
                leftover.unlink(missing_ok=True)
