"""`reconcile`: does the Storage API list what the project's `storage.objects` holds?

Runs before a copy whenever the plan's `[source]` gives the project's database (`dsn`), and
on its own as a verb.  Read-only on both sides.
"""

from __future__ import annotations

from bucketshift.config import Plan
from bucketshift.engine.diff import MappingSpec
from bucketshift.engine.listing import list_pages
from bucketshift.engine.reconcile import ReconcileReport, reconcile
from bucketshift.errors import UsageError
from bucketshift.operations.context import open_context
from bucketshift.retry import RetryPolicy
from bucketshift.stores.base import DatabaseListing, ObjectStore

__all__ = ["can_reconcile", "reconcile_buckets", "reconcile_plan"]


def can_reconcile(store: ObjectStore) -> bool:
    return isinstance(store, DatabaseListing) and store.has_database


async def reconcile_buckets(store: ObjectStore, specs: list[MappingSpec], policy: RetryPolicy) -> list[ReconcileReport]:
    """One report per mapping; an empty list when the store has no database to compare with."""
    if not isinstance(store, DatabaseListing) or not store.has_database:
        return []
    reports = []
    for spec in specs:
        api = list_pages(store.api_list_page, spec.source_bucket, "", policy)
        rows = list_pages(store.database_list_page, spec.source_bucket, "", policy)
        reports.append(await reconcile(spec.source_bucket, api, rows))
    return reports


async def reconcile_plan(plan: Plan, buckets: list[str] | None = None) -> list[ReconcileReport]:
    async with open_context(plan, only=buckets, preview=True) as ctx:
        if not can_reconcile(ctx.source):
            raise UsageError("reconcile needs the source project's database: set [source] dsn in the plan file")
        return await reconcile_buckets(ctx.source, ctx.specs, RetryPolicy())
