"""What each destination bucket should be, read from the plan file alone (no request is made).

Every bucket: in the destination region, Object Ownership BucketOwnerEnforced (ACLs off),
default encryption SSE-S3, and a lifecycle rule that aborts multipart uploads left unfinished
after `abort_incomplete_uploads_after_days` (0: none).  By `access`: public-read relaxes only the two policy switches of
Block Public Access and gets one policy statement letting anyone GET an object; private keeps
all four switches on and no public statement.  CORS comes from the mapping's `cors_origins`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import boto3

from bucketshift.config import BucketMapping, Plan, S3Endpoint
from bucketshift.errors import ConfigError, UsageError
from bucketshift.provision.policies import app_policy, partition_for

__all__ = [
    "OWNERSHIP",
    "PRIVATE_BLOCK",
    "PUBLIC_READ_BLOCK",
    "SSE_S3",
    "BucketDesired",
    "DesiredState",
    "check_region",
    "cors_rules",
    "desired_state",
    "location_constraint",
    "s3_destination",
]

OWNERSHIP = "BucketOwnerEnforced"
SSE_S3 = "AES256"
READ_METHODS = ("GET", "HEAD")
WRITE_METHODS = ("PUT", "POST")
CORS_MAX_AGE = 3000
PRIVATE_BLOCK: dict[str, bool] = {
    "BlockPublicAcls": True,
    "IgnorePublicAcls": True,
    "BlockPublicPolicy": True,
    "RestrictPublicBuckets": True,
}
PUBLIC_READ_BLOCK: dict[str, bool] = {**PRIVATE_BLOCK, "BlockPublicPolicy": False, "RestrictPublicBuckets": False}
"""ACLs stay blocked (no ACL is needed with BucketOwnerEnforced); only a public policy is let through."""


@dataclass(frozen=True)
class BucketDesired:
    """One destination bucket as the plan wants it; `index` is its place in `[[buckets]]`."""

    name: str
    access: str
    region: str
    partition: str
    index: int
    public_access_block: dict[str, bool]
    cors: list[dict[str, Any]] | None
    abort_uploads_after_days: int | None = None
    """None: the plan asks for no abort rule (the field is 0)."""

    @property
    def field(self) -> str:
        return f"buckets[{self.index}].destination"

    @property
    def abort_field(self) -> str:
        return f"buckets[{self.index}].abort_incomplete_uploads_after_days"


@dataclass(frozen=True)
class DesiredState:
    region: str
    partition: str
    buckets: list[BucketDesired]
    app_policy: dict[str, Any]
    warnings: list[str] = field(default_factory=list)


def s3_destination(plan: Plan) -> S3Endpoint:
    if not isinstance(plan.destination, S3Endpoint):
        raise UsageError(
            f"provisioning creates S3 buckets, and the plan's [destination] type is '{plan.destination.type}'; "
            "set it to 's3'"
        )
    return plan.destination


def check_region(endpoint: S3Endpoint, where: str = "plan file") -> None:
    """On AWS itself a region botocore does not know is a typo; custom endpoints name their own."""
    if endpoint.endpoint_url is not None:
        return
    session = boto3.session.Session()
    known: set[str] = set()
    for partition in session.get_available_partitions():
        known.update(session.get_available_regions("s3", partition_name=partition))
    if endpoint.region not in known:
        raise ConfigError(
            f"{where}: destination.region: '{endpoint.region}' is not an AWS region; "
            "set it to the region the buckets should live in, such as us-east-1 or eu-west-1"
        )


def location_constraint(region: str) -> dict[str, str] | None:
    """S3's quirk: us-east-1 takes no LocationConstraint (naming it is an error); every other region must."""
    if region == "us-east-1":
        return None
    return {"LocationConstraint": region}


def _is_wildcard(origin: str) -> bool:
    return origin == "*" or origin.endswith("://*")


def cors_rules(mapping: BucketMapping) -> list[dict[str, Any]] | None:
    """One CORS rule for the mapping's origins: GET and HEAD, plus PUT and POST for browser uploads."""
    if not mapping.cors_origins:
        return None
    methods = [*READ_METHODS, *(WRITE_METHODS if mapping.browser_uploads else ())]
    rule: dict[str, Any] = {
        "AllowedOrigins": sorted(set(mapping.cors_origins)),
        "AllowedMethods": methods,
        "AllowedHeaders": ["*"],
        "MaxAgeSeconds": CORS_MAX_AGE,
    }
    if mapping.browser_uploads:
        rule["ExposeHeaders"] = ["ETag"]
    return [rule]


def _wildcard_writes(plan: Plan, where: str, allow: bool) -> list[str]:
    warnings = []
    for index, mapping in enumerate(plan.buckets):
        if not mapping.browser_uploads or not any(_is_wildcard(o) for o in mapping.cors_origins):
            continue
        if not allow:
            raise UsageError(
                f"{where}: buckets[{index}].cors_origins: '*' with browser_uploads = true lets any web site "
                f"upload to {mapping.destination} from its visitors' browsers; list your app's origins instead, "
                "or pass --allow-wildcard-writes"
            )
        warnings.append(
            f"{mapping.destination}: CORS lets any web site send PUT and POST (allowed by --allow-wildcard-writes)"
        )
    return warnings


def desired_state(plan: Plan, *, allow_wildcard_writes: bool = False) -> DesiredState:
    """The whole desired state; refuses wildcard write origins unless `allow_wildcard_writes`."""
    endpoint = s3_destination(plan)
    where = str(plan.path) if plan.path else "plan file"
    check_region(endpoint, where)
    partition = partition_for(endpoint.region)
    warnings = _wildcard_writes(plan, where, allow_wildcard_writes)
    buckets = [
        BucketDesired(
            name=mapping.destination,
            access=mapping.access,
            region=endpoint.region,
            partition=partition,
            index=index,
            public_access_block=dict(PUBLIC_READ_BLOCK if mapping.access == "public-read" else PRIVATE_BLOCK),
            cors=cors_rules(mapping),
            abort_uploads_after_days=mapping.abort_incomplete_uploads_after_days or None,
        )
        for index, mapping in enumerate(plan.buckets)
    ]
    return DesiredState(
        region=endpoint.region,
        partition=partition,
        buckets=buckets,
        app_policy=app_policy([b.name for b in buckets], partition),
        warnings=warnings,
    )
