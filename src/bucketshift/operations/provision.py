"""`plan`, `provision` and the posture check: the destination made to match the plan file.

`plan` reads the live state and returns the difference; `provision` applies exactly that
difference (a second run finds nothing to do and writes nothing); `posture` judges each bucket's
live exposure against its `access`.  Any reason the plan cannot be carried out as written (no
credentials, a bucket in another region or owned by another account) is raised before the first
write, so nothing is half-made.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bucketshift.config import Plan
from bucketshift.provision.apply import apply_bucket_changes
from bucketshift.provision.clients import Clients, clients_for
from bucketshift.provision.desired import DesiredState, desired_state, s3_destination
from bucketshift.provision.diff import Change, bucket_changes
from bucketshift.provision.iam import (
    CreatedKey,
    apply_iam,
    check_key_file,
    check_user_name,
    iam_changes,
    read_iam,
)
from bucketshift.provision.live import LiveBucket, read_buckets
from bucketshift.provision.posture import BucketPosture, bucket_posture

__all__ = ["PostureReport", "ProvisionPlan", "ProvisionResult", "default_key_file", "plan", "posture", "provision"]


@dataclass(frozen=True)
class ProvisionPlan:
    """The difference between the plan file and the destination, resource by resource."""

    region: str
    endpoint: str
    changes: list[Change]
    app_policy: dict[str, Any]
    postures: list[BucketPosture]
    warnings: list[str] = field(default_factory=list)
    iam_user: str | None = None
    key_file: Path | None = None

    @property
    def pending(self) -> list[Change]:
        return [c for c in self.changes if c.pending]


@dataclass(frozen=True)
class ProvisionResult:
    plan: ProvisionPlan
    applied: list[Change]
    created_key: CreatedKey | None = None


@dataclass(frozen=True)
class PostureReport:
    buckets: list[BucketPosture]

    @property
    def ok(self) -> bool:
        return all(b.ok for b in self.buckets)


def default_key_file(config: Plan, user: str) -> Path:
    """`<user>.aws-key.env` beside the plan file."""
    base = config.path.parent if config.path else Path.cwd()
    return base / f"{user}.aws-key.env"


def _where(config: Plan) -> str:
    return str(config.path) if config.path else "plan file"


@contextmanager
def _clients(config: Plan, given: Clients | None, *, iam: bool) -> Iterator[Clients]:
    if given is not None:
        yield given
        return
    made = clients_for(s3_destination(config), iam=iam)
    try:
        yield made
    finally:
        made.close()


def _read(desired: DesiredState, clients: Clients) -> dict[str, LiveBucket]:
    return read_buckets(clients.s3, [b.name for b in desired.buckets], region=desired.region)


def plan(
    config: Plan,
    *,
    iam_user: str | None = None,
    key_file: Path | None = None,
    allow_wildcard_writes: bool = False,
    clients: Clients | None = None,
) -> ProvisionPlan:
    """Read the live state (reads only) and return what `provision` would change."""
    desired = desired_state(config, allow_wildcard_writes=allow_wildcard_writes)
    if iam_user is not None:
        check_user_name(iam_user)
        key_file = key_file or default_key_file(config, iam_user)
        check_key_file(key_file)
    with _clients(config, clients, iam=iam_user is not None) as opened:
        live = _read(desired, opened)
        changes = [c for b in desired.buckets for c in bucket_changes(b, live[b.name], _where(config))]
        postures = [bucket_posture(b, live[b.name]) for b in desired.buckets]
        if iam_user is not None and key_file is not None:
            changes += iam_changes(read_iam(opened.iam, iam_user), desired.app_policy, key_file)
    endpoint = s3_destination(config).endpoint_url or "AWS"
    return ProvisionPlan(
        region=desired.region,
        endpoint=endpoint,
        changes=changes,
        app_policy=desired.app_policy,
        postures=postures,
        warnings=desired.warnings,
        iam_user=iam_user,
        key_file=key_file if iam_user is not None else None,
    )


def provision(
    config: Plan,
    *,
    iam_user: str | None = None,
    key_file: Path | None = None,
    allow_wildcard_writes: bool = False,
    planned: ProvisionPlan | None = None,
    clients: Clients | None = None,
    on_applied: Callable[[Change], None] | None = None,
) -> ProvisionResult:
    """Apply the plan's pending changes (`planned`, if already shown to the user, else a fresh one)."""
    if planned is None:
        planned = plan(
            config, iam_user=iam_user, key_file=key_file, allow_wildcard_writes=allow_wildcard_writes, clients=clients
        )
    if not planned.pending:
        return ProvisionResult(planned, [])
    if planned.key_file is not None:
        check_key_file(planned.key_file)
    fields = {m.destination: f"buckets[{i}].destination" for i, m in enumerate(config.buckets)}
    bucket_part = [c for c in planned.changes if not c.target.startswith("iam user ")]
    iam_part = [c for c in planned.changes if c.target.startswith("iam user ")]
    with _clients(config, clients, iam=bool(iam_part)) as opened:
        applied = apply_bucket_changes(
            opened.s3, bucket_part, region=planned.region, where=_where(config), fields=fields, on_applied=on_applied
        )
        created = None
        if iam_part and planned.key_file is not None:
            created = apply_iam(opened.iam, iam_part, planned.app_policy, planned.key_file, on_applied=on_applied)
            applied += [c for c in iam_part if c.pending]
    return ProvisionResult(planned, applied, created)


def posture(config: Plan, *, clients: Clients | None = None) -> PostureReport:
    """Each bucket's live exposure against its `access` (reads only)."""
    desired = desired_state(config, allow_wildcard_writes=True)
    with _clients(config, clients, iam=False) as opened:
        live = _read(desired, opened)
    return PostureReport([bucket_posture(b, live[b.name]) for b in desired.buckets])
