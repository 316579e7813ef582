"""What every data verb needs from a plan: both stores, the manifest and the bucket mappings."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from bucketshift.config import Plan
from bucketshift.engine.diff import MappingSpec
from bucketshift.engine.manifest import Manifest
from bucketshift.errors import UsageError
from bucketshift.stores.base import ObjectStore
from bucketshift.stores.registry import open_store

__all__ = ["Context", "manifest_path", "mapping_specs", "open_context"]


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
    list_from_db: bool = False,
) -> AsyncIterator[Context]:
    """Open stores and manifest for one verb; `preview` never creates or writes the manifest.

    `list_from_db` lists the source from its own database rows where the store can.
    """
    specs = mapping_specs(plan, only)
    path = manifest_path(plan, state)
    manifest = Manifest.for_preview(path) if preview else Manifest(path)
    try:
        source_store = open_store(plan.source, list_from="db") if list_from_db else open_store(plan.source)
        async with source_store as source, open_store(plan.destination) as dest:
            yield Context(plan, source, dest, manifest, specs)
    finally:
        manifest.close()
