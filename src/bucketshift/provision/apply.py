"""Apply bucket changes: one S3 write per pending change, none for what is in place.

The lifecycle configuration is one document shared with other people's rules, so our rule is
merged into it as it is at the moment of writing (one more read), not as it was when planned:
a rule someone added while the plan waited for a yes is kept too.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from bucketshift.provision.desired import location_constraint
from bucketshift.provision.diff import Change, name_taken
from bucketshift.provision.lifecycle import merge_rule
from bucketshift.provision.live import call, read_lifecycle
from bucketshift.stores._s3_errors import from_botocore

__all__ = ["apply_bucket_changes"]


def _create_bucket(s3: Any, bucket: str, region: str, where: str, field: str) -> None:
    args: dict[str, Any] = {"Bucket": bucket}
    constraint = location_constraint(region)
    if constraint is not None:
        args["CreateBucketConfiguration"] = constraint
    try:
        s3.create_bucket(**args)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code")
        if code == "BucketAlreadyOwnedByYou":
            return
        if code == "BucketAlreadyExists":
            raise name_taken(where, field, bucket) from None
        raise from_botocore(exc, "create", bucket=bucket) from None
    except Exception as exc:
        raise from_botocore(exc, "create", bucket=bucket) from None


def _put_lifecycle(s3: Any, bucket: str, ours: dict[str, Any] | None) -> None:
    """Our rule put in (or taken out of) the live document; every other rule and setting kept."""
    current = read_lifecycle(s3, bucket) or {}
    before = list(current.get("Rules") or [])
    rules = merge_rule(before, ours)
    if rules == before:
        return
    if not rules:
        call(s3, "delete_bucket_lifecycle", "remove the lifecycle rules of", bucket=bucket, Bucket=bucket)
        return
    kept = {k: v for k, v in current.items() if k == "TransitionDefaultMinimumObjectSize"}
    call(s3, "put_bucket_lifecycle_configuration", "set the lifecycle rules of", bucket=bucket, Bucket=bucket,
         LifecycleConfiguration={"Rules": rules}, **kept)  # fmt: skip


def _put(s3: Any, change: Change) -> None:
    bucket, new = change.target, change.new
    if change.resource == "ownership":
        call(s3, "put_bucket_ownership_controls", "set ownership of", bucket=bucket, Bucket=bucket,
             OwnershipControls={"Rules": [{"ObjectOwnership": new}]})  # fmt: skip
    elif change.resource == "encryption":
        rule = {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": new}}
        call(s3, "put_bucket_encryption", "set default encryption of", bucket=bucket, Bucket=bucket,
             ServerSideEncryptionConfiguration={"Rules": [rule]})  # fmt: skip
    elif change.resource == "public-access-block":
        call(s3, "put_public_access_block", "set Block Public Access of", bucket=bucket, Bucket=bucket,
             PublicAccessBlockConfiguration=new)  # fmt: skip
    elif change.resource == "policy" and new is None:
        call(s3, "delete_bucket_policy", "remove the policy of", bucket=bucket, Bucket=bucket)
    elif change.resource == "policy":
        call(s3, "put_bucket_policy", "set the policy of", bucket=bucket, Bucket=bucket, Policy=json.dumps(new))
    elif change.resource == "cors" and new is None:
        call(s3, "delete_bucket_cors", "remove CORS of", bucket=bucket, Bucket=bucket)
    elif change.resource == "cors":
        call(s3, "put_bucket_cors", "set CORS of", bucket=bucket, Bucket=bucket, CORSConfiguration={"CORSRules": new})
    elif change.resource == "lifecycle":
        _put_lifecycle(s3, bucket, new)
    else:
        raise ValueError(f"no way to apply {change.resource}")


def apply_bucket_changes(
    s3: Any,
    changes: list[Change],
    *,
    region: str,
    where: str = "plan file",
    fields: dict[str, str] | None = None,
    on_applied: Callable[[Change], None] | None = None,
) -> list[Change]:
    """Write each pending change in order; returns those written.  In place means no request."""
    done = []
    for change in changes:
        if not change.pending:
            continue
        if change.resource == "bucket":
            field = (fields or {}).get(change.target, "buckets[].destination")
            _create_bucket(s3, change.target, region, where, field)
        else:
            _put(s3, change)
        done.append(change)
        if on_applied is not None:
            on_applied(change)
    return done
