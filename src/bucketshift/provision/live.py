"""The live state of the destination buckets and the IAM user, read with boto3 (reads only).

Ownership is decided from our own ListBuckets: HeadBucket answers 200 for someone else's bucket
when it lets us in (and moto always does), so "it exists" and "it is ours" are separate facts.
A missing configuration (no policy, no CORS...) is None, never an error.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from bucketshift.errors import AccessDenied, NotFound
from bucketshift.stores._s3_errors import WrongRegion, from_botocore

__all__ = ["ABSENT_CODES", "LiveBucket", "call", "read_buckets", "read_lifecycle"]

ABSENT_CODES = {
    "NoSuchPublicAccessBlockConfiguration",
    "NoSuchBucketPolicy",
    "NoSuchCORSConfiguration",
    "OwnershipControlsNotFoundError",
    "ServerSideEncryptionConfigurationNotFoundError",
    "NoSuchLifecycleConfiguration",
}


@dataclass(frozen=True)
class LiveBucket:
    """What S3 says about one bucket; settings are None when the bucket has none (or is not ours)."""

    name: str
    exists: bool
    owned: bool
    region: str | None = None
    public_access_block: dict[str, bool] | None = None
    policy: dict[str, Any] | None = None
    cors: list[dict[str, Any]] | None = None
    ownership: str | None = None
    encryption: str | None = None
    lifecycle: list[dict[str, Any]] | None = None
    """Every lifecycle rule, ours and others', as S3 returned them."""


def call(client: Any, method: str, action: str, *, bucket: str | None = None, **kwargs: Any) -> Any:
    """One SDK call; an absent configuration gives None, any other failure a shared error."""
    try:
        return getattr(client, method)(**kwargs)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ABSENT_CODES:
            return None
        raise from_botocore(exc, action, bucket=bucket) from None
    except Exception as exc:
        raise from_botocore(exc, action, bucket=bucket) from None


def _our_buckets(s3: Any) -> set[str] | None:
    """Names of the buckets our account owns; None when the credentials may not list them."""
    try:
        names: set[str] = set()
        for page in s3.get_paginator("list_buckets").paginate():
            names.update(entry["Name"] for entry in page.get("Buckets", ()))
        return names
    except ClientError as exc:
        error = from_botocore(exc, "list buckets of", bucket=None)
        if isinstance(error, AccessDenied):
            return None
        raise error from None
    except Exception as exc:
        raise from_botocore(exc, "list buckets of", bucket=None) from None


def _region_header(response: dict[str, Any]) -> str | None:
    headers = response.get("ResponseMetadata", {}).get("HTTPHeaders", {})
    return headers.get("x-amz-bucket-region")


def _head(s3: Any, bucket: str) -> tuple[bool, bool, str | None]:
    """(exists, readable, region) from HeadBucket: 404 absent, 403 someone else's, 301 elsewhere."""
    try:
        response = s3.head_bucket(Bucket=bucket)
        return True, True, _region_header(response) or response.get("BucketRegion")
    except ClientError as exc:
        error = from_botocore(exc, "look up", bucket=bucket)
        if isinstance(error, NotFound):
            return False, False, None
        if isinstance(error, AccessDenied):
            return True, False, None
        if isinstance(error, WrongRegion):
            return True, True, _region_header(exc.response)
        raise error from None
    except Exception as exc:
        raise from_botocore(exc, "look up", bucket=bucket) from None


def read_lifecycle(s3: Any, bucket: str) -> dict[str, Any] | None:
    """The lifecycle configuration as S3 returned it (rules and their document-wide settings)."""
    found = call(s3, "get_bucket_lifecycle_configuration", "read the lifecycle rules of", bucket=bucket, Bucket=bucket)
    if found is None:
        return None
    return {k: v for k, v in found.items() if k != "ResponseMetadata"}


def _settings(s3: Any, bucket: str) -> dict[str, Any]:
    block = call(s3, "get_public_access_block", "read Block Public Access of", bucket=bucket, Bucket=bucket)
    policy = call(s3, "get_bucket_policy", "read the policy of", bucket=bucket, Bucket=bucket)
    cors = call(s3, "get_bucket_cors", "read CORS of", bucket=bucket, Bucket=bucket)
    ownership = call(s3, "get_bucket_ownership_controls", "read ownership of", bucket=bucket, Bucket=bucket)
    encryption = call(s3, "get_bucket_encryption", "read encryption of", bucket=bucket, Bucket=bucket)
    lifecycle = read_lifecycle(s3, bucket)
    rules = (ownership or {}).get("OwnershipControls", {}).get("Rules", [])
    sse = (encryption or {}).get("ServerSideEncryptionConfiguration", {}).get("Rules", [])
    return {
        "public_access_block": dict(block["PublicAccessBlockConfiguration"]) if block else None,
        "policy": json.loads(policy["Policy"]) if policy else None,
        "cors": list(cors.get("CORSRules", [])) if cors else None,
        "ownership": rules[0].get("ObjectOwnership") if rules else None,
        "encryption": sse[0].get("ApplyServerSideEncryptionByDefault", {}).get("SSEAlgorithm") if sse else None,
        "lifecycle": list(lifecycle.get("Rules", [])) if lifecycle else None,
    }


def _one(s3: Any, bucket: str, ours: set[str] | None, region: str) -> LiveBucket:
    exists, readable, found_in = _head(s3, bucket)
    if not exists:
        return LiveBucket(bucket, exists=False, owned=False)
    owned = readable and (ours is None or bucket in ours)
    if not owned or (found_in is not None and found_in != region):
        return LiveBucket(bucket, exists=True, owned=owned, region=found_in)
    return LiveBucket(bucket, exists=True, owned=True, region=found_in, **_settings(s3, bucket))


def read_buckets(s3: Any, names: list[str], *, region: str, threads: int = 8) -> dict[str, LiveBucket]:
    """Every named bucket's live state, read concurrently (boto3 clients are thread-safe).

    The settings of a bucket in another region than `region` are not read: the client's
    requests would be redirected, and the plan stops on the region anyway.
    """
    ours = _our_buckets(s3)
    with ThreadPoolExecutor(max_workers=max(1, min(threads, len(names)))) as pool:
        found = list(pool.map(lambda name: _one(s3, name, ours, region), names))
    return {live.name: live for live in found}
