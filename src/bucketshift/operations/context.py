"""What every data verb needs from a plan: both stores, the manifest and the bucket mappings."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from bucketshift.config import Plan, SupabaseEndpoint
from bucketshift.engine.diff import MappingSpec
from bucketshift.engine.manifest import ManifestStore
from bucketshift.engine.state import describe_state, is_dsn, open_manifest, same_database
from bucketshift.errors import UsageError
from bucketshift.stores.base import ObjectStore
from bucketshift.stores.registry import open_store
from bucketshift.stores.supabase_keys import require_service_keys

__all__ = [
    "Context",
    "ListFrom",
    "listing_source",
    "manifest_path",
    "mapping_specs",
    "open_context",
    "open_state",
    "state_exists",
    "state_of",
    "state_warning",
    "state_where",
]

ListFrom = Literal["auto", "db", "api"]
"""Where the source is listed from: "auto" lists a Supabase project from its own `storage.objects`
when the plan gives its database (one query, user metadata included, so each object costs one
request, its read), else through the Storage API."""


def listing_source(plan: Plan, list_from: ListFrom) -> str:
    """ "db" or "api" for this plan (a "db" without `[source] dsn` is the store's error to say)."""
    if list_from != "auto":
        return list_from
    return "db" if isinstance(plan.source, SupabaseEndpoint) and plan.source.dsn is not None else "api"


def manifest_path(plan: Plan, state: str | Path | None = None) -> Path:
    """The SQLite file: `--state` if given, else `<plan name>.manifest.sqlite3` beside the plan file."""
    if state is not None:
        return Path(state)
    if plan.path is None:
        return Path("bucketshift.manifest.sqlite3").resolve()
    return plan.path.with_name(f"{plan.path.stem}.manifest.sqlite3")


def state_of(plan: Plan, state: str | Path | None = None) -> str | Path:
    """Where this plan's manifest lives: a PostgreSQL DSN as given, else the SQLite file.  Every
    verb asks here, so the choice between the two is made in one place."""
    return str(state) if is_dsn(state) else manifest_path(plan, state)


def state_where(plan: Plan, state: str | Path | None = None) -> str:
    """The state as output may name it: the file, or the DSN without its password."""
    chosen = state_of(plan, state)
    return describe_state(chosen) if isinstance(chosen, str) else str(chosen)


def open_state(
    plan: Plan, state: str | Path | None = None, *, read_only: bool = False, preview: bool = False
) -> ManifestStore:
    """The plan's manifest, SQLite or PostgreSQL (see `engine.state.open_manifest`)."""
    return open_manifest(state_of(plan, state), manifest_path(plan), read_only=read_only, preview=preview)


def state_exists(plan: Plan, state: str | Path | None = None) -> bool:
    """Whether anything was recorded yet: the file exists, or the database holds a bucketshift state."""
    chosen = state_of(plan, state)
    if isinstance(chosen, Path):
        return chosen.exists()
    with open_manifest(chosen, manifest_path(plan), preview=True) as manifest:
        return manifest.where != ":memory:"  # an absent state previews as an empty one in memory


def state_warning(plan: Plan, state: str | Path | None = None) -> str | None:
    """One line when the state is kept in the source project's own database: Storage serves every
    request through that database's connection pool, the one that answers 429 and 544 under load,
    so the manifest's writes would compete with the copy's reads."""
    chosen = state_of(plan, state)
    source_dsn = plan.source.dsn if isinstance(plan.source, SupabaseEndpoint) else None
    if not isinstance(chosen, str) or source_dsn is None:
        return None
    if not same_database(chosen, source_dsn.get_secret_value()):
        return None
    return (
        f"the state {describe_state(chosen)} is the source project's own database: Supabase Storage shares its "
        "connection pool (the one that answers 429 and 544 under load); keep the state in another database"
    )


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
    manifest: ManifestStore
    specs: list[MappingSpec]


@asynccontextmanager
async def open_context(
    plan: Plan,
    *,
    state: str | Path | None = None,
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
    chosen = state_of(plan, state)
    new = isinstance(chosen, Path) and not chosen.exists()
    manifest = open_state(plan, state, preview=preview)
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
        if new and not recorded and not preview and isinstance(chosen, Path):
            for leftover in (chosen, chosen.with_name(chosen.name + "-wal"), chosen.with_name(chosen.name + "-shm")):
                leftover.unlink(missing_ok=True)
