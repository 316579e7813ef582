"""The difference between desired and live state, per resource: create, change, remove or in place.

The diff is separate from the writes that act on it, so `plan` and `provision` share it and a
dry run is the diff alone.  Changes come out in the order they must be applied: the bucket,
then its settings, with Block Public Access relaxed before a public policy is put (AWS refuses
a public policy while BlockPublicPolicy is on) and tightened only after a public statement is gone.
The lifecycle change is about our abort rule alone (`old` and `new` are that rule); the other
rules of the bucket are never part of a change.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

from bucketshift.errors import ConfigError
from bucketshift.provision.desired import OWNERSHIP, SSE_S3, BucketDesired
from bucketshift.provision.lifecycle import abort_days, merge_rule, plan_abort_rule, rule_name, same_rule
from bucketshift.provision.live import LiveBucket
from bucketshift.provision.policies import bucket_policy, canonical_policy

__all__ = [
    "STRONGER_ENCRYPTION",
    "Change",
    "Kind",
    "bucket_changes",
    "canonical_cors",
    "lifecycle_change",
    "name_taken",
    "suggest_name",
]

Kind = Literal["create", "change", "remove", "in place"]
STRONGER_ENCRYPTION = frozenset({SSE_S3, "aws:kms", "aws:kms:dsse"})
"""Live default encryption that is kept: SSE-S3, or KMS someone chose on purpose."""


@dataclass(frozen=True)
class Change:
    """One resource's difference; `old` and `new` are plain JSON-able values (None: absent).
    `note` says what the values alone do not (why nothing is added, what is kept)."""

    target: str
    resource: str
    kind: Kind
    old: Any = None
    new: Any = None
    note: str | None = None

    @property
    def pending(self) -> bool:
        return self.kind != "in place"


def _compare(target: str, resource: str, old: Any, new: Any, same: bool) -> Change:
    if same:
        return Change(target, resource, "in place", old, new)
    if old is None:
        return Change(target, resource, "create", None, new)
    if new is None:
        return Change(target, resource, "remove", old, None)
    return Change(target, resource, "change", old, new)


def canonical_cors(rules: list[Mapping[str, Any]] | None) -> Any:
    """CORS rules compared without their IDs, list order or rule order."""
    if not rules:
        return None
    out = []
    for rule in rules:
        out.append(
            {
                key: sorted(value) if isinstance(value, list) else value
                for key, value in rule.items()
                if key != "ID" and value not in (None, [])
            }
        )
    return sorted(out, key=repr)


def suggest_name(name: str) -> str:
    """The taken name with a short random suffix, still a valid bucket name."""
    return f"{name[:56].rstrip('.-')}-{secrets.token_hex(3)}"


def name_taken(where: str, field: str, bucket: str) -> ConfigError:
    """The one sentence for a bucket name another account holds."""
    return ConfigError(
        f"{where}: {field}: bucket {bucket} belongs to another AWS account (bucket names are global); "
        f"choose another name, for example {suggest_name(bucket)}"
    )


def _blocked(desired: BucketDesired, live: LiveBucket, where: str) -> None:
    if live.exists and not live.owned:
        raise name_taken(where, desired.field, desired.name)
    if live.owned and live.region is not None and live.region != desired.region:
        raise ConfigError(
            f"{where}: destination.region: bucket {desired.name} already exists in {live.region}, "
            f"not {desired.region}; set region to {live.region} or choose another bucket name"
        )


def lifecycle_change(desired: BucketDesired, live: LiveBucket, where: str = "plan file") -> Change:
    """Our abort rule: create, change, remove or in place; another rule doing its job means in place."""
    name = desired.name
    planned = plan_abort_rule(live.lifecycle, desired.abort_uploads_after_days)
    if planned.clash is not None:
        raise ConfigError(
            f"{where}: {desired.abort_field}: bucket {name} has {rule_name(planned.clash)} aborting uploads in the "
            "old Prefix form, beside which S3 refuses another abort rule; rewrite the bucket's rules with "
            "Filter instead of Prefix, or set abort_incomplete_uploads_after_days = 0"
        )
    if planned.covered is not None:
        days = abort_days(planned.covered)
        note = f"{rule_name(planned.covered)} already aborts unfinished uploads after {days} days; none added"
        return Change(name, "lifecycle", "in place", planned.covered, planned.covered, note)
    change = _compare(name, "lifecycle", planned.live, planned.wanted, same_rule(planned.live, planned.wanted))
    others = len(merge_rule(live.lifecycle, None))
    if change.pending and others:
        return replace(change, note=f"{others} other rule{'s' if others > 1 else ''} kept untouched")
    if planned.wanted is None and planned.live is None:
        return replace(change, note="none asked for (abort_incomplete_uploads_after_days = 0)")
    return change


def bucket_changes(desired: BucketDesired, live: LiveBucket, where: str = "plan file") -> list[Change]:
    """The changes that make `live` into `desired`; a bucket we cannot own stops everything."""
    _blocked(desired, live, where)
    name = desired.name
    region = {"region": desired.region}
    bucket = _compare(name, "bucket", region if live.exists else None, region, live.exists)
    ownership = _compare(name, "ownership", live.ownership, OWNERSHIP, live.ownership == OWNERSHIP)
    kept = live.encryption in STRONGER_ENCRYPTION
    encryption = _compare(name, "encryption", live.encryption, live.encryption if kept else SSE_S3, kept)
    block = _compare(
        name,
        "public-access-block",
        live.public_access_block,
        desired.public_access_block,
        live.public_access_block == desired.public_access_block,
    )
    policy_new = bucket_policy(live.policy, name, desired.access, desired.partition)
    policy = _compare(
        name, "policy", live.policy, policy_new, canonical_policy(live.policy) == canonical_policy(policy_new)
    )
    cors = _compare(name, "cors", live.cors, desired.cors, canonical_cors(live.cors) == canonical_cors(desired.cors))
    exposure = [block, policy] if desired.access == "public-read" else [policy, block]
    return [bucket, ownership, encryption, *exposure, cors, lifecycle_change(desired, live, where)]
