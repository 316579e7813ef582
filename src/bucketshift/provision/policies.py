"""The generated policy documents: each bucket's policy and the application's IAM policy.

They are plain data, built here and nowhere else, so tests can read them as documents: every
action is checked against `VALID_S3_ACTIONS` (a name IAM does not know is silently useless, such
as `s3:HeadObject`, which is covered by `s3:GetObject`), resources are exact ARNs, and the only
wildcard principal is the public-read statement that allows `s3:GetObject` on `BUCKET/*`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = [
    "APP_OBJECT_ACTIONS",
    "POLICY_VERSION",
    "PUBLIC_READ_SID",
    "VALID_S3_ACTIONS",
    "app_policy",
    "bucket_arn",
    "bucket_policy",
    "canonical_policy",
    "check_actions",
    "is_public_statement",
    "object_arn",
    "partition_for",
    "public_read_statement",
    "public_statements",
]

POLICY_VERSION = "2012-10-17"
PUBLIC_READ_SID = "BucketshiftPublicRead"
APP_OBJECTS_SID = "BucketshiftAppObjects"
APP_LIST_SID = "BucketshiftAppList"
APP_OBJECT_ACTIONS = ("s3:DeleteObject", "s3:GetObject", "s3:PutObject")
APP_BUCKET_ACTIONS = ("s3:ListBucket",)

VALID_S3_ACTIONS: frozenset[str] = frozenset(
    "s3:" + name
    for name in (
        "AbortMultipartUpload",
        "BypassGovernanceRetention",
        "CreateAccessPoint",
        "CreateBucket",
        "CreateJob",
        "DeleteAccessPoint",
        "DeleteAccessPointPolicy",
        "DeleteBucket",
        "DeleteBucketPolicy",
        "DeleteBucketWebsite",
        "DeleteObject",
        "DeleteObjectTagging",
        "DeleteObjectVersion",
        "DeleteObjectVersionTagging",
        "GetAccelerateConfiguration",
        "GetAccessPoint",
        "GetAccessPointPolicy",
        "GetAccountPublicAccessBlock",
        "GetAnalyticsConfiguration",
        "GetBucketAcl",
        "GetBucketCORS",
        "GetBucketLocation",
        "GetBucketLogging",
        "GetBucketNotification",
        "GetBucketObjectLockConfiguration",
        "GetBucketOwnershipControls",
        "GetBucketPolicy",
        "GetBucketPolicyStatus",
        "GetBucketPublicAccessBlock",
        "GetBucketRequestPayment",
        "GetBucketTagging",
        "GetBucketVersioning",
        "GetBucketWebsite",
        "GetEncryptionConfiguration",
        "GetInventoryConfiguration",
        "GetLifecycleConfiguration",
        "GetMetricsConfiguration",
        "GetObject",
        "GetObjectAcl",
        "GetObjectAttributes",
        "GetObjectLegalHold",
        "GetObjectRetention",
        "GetObjectTagging",
        "GetObjectTorrent",
        "GetObjectVersion",
        "GetObjectVersionAcl",
        "GetObjectVersionAttributes",
        "GetObjectVersionTagging",
        "GetReplicationConfiguration",
        "ListAccessPoints",
        "ListAllMyBuckets",
        "ListBucket",
        "ListBucketMultipartUploads",
        "ListBucketVersions",
        "ListJobs",
        "ListMultipartUploadParts",
        "PutAccelerateConfiguration",
        "PutAccessPointPolicy",
        "PutAccountPublicAccessBlock",
        "PutAnalyticsConfiguration",
        "PutBucketAcl",
        "PutBucketCORS",
        "PutBucketLogging",
        "PutBucketNotification",
        "PutBucketObjectLockConfiguration",
        "PutBucketOwnershipControls",
        "PutBucketPolicy",
        "PutBucketPublicAccessBlock",
        "PutBucketRequestPayment",
        "PutBucketTagging",
        "PutBucketVersioning",
        "PutBucketWebsite",
        "PutEncryptionConfiguration",
        "PutInventoryConfiguration",
        "PutLifecycleConfiguration",
        "PutMetricsConfiguration",
        "PutObject",
        "PutObjectAcl",
        "PutObjectLegalHold",
        "PutObjectRetention",
        "PutObjectTagging",
        "PutObjectVersionAcl",
        "PutObjectVersionTagging",
        "PutReplicationConfiguration",
        "ReplicateDelete",
        "ReplicateObject",
        "ReplicateTags",
        "RestoreObject",
    )
)
"""S3 action names as IAM knows them (the Service Authorization Reference); not exhaustive, but
every name in it is real, and every document generated here uses only names from it."""


def partition_for(region: str) -> str:
    """The ARN partition of a region: China and GovCloud buckets are not `arn:aws:`."""
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def bucket_arn(bucket: str, partition: str = "aws") -> str:
    return f"arn:{partition}:s3:::{bucket}"


def object_arn(bucket: str, partition: str = "aws") -> str:
    """Every object of the bucket (not the bucket itself)."""
    return f"arn:{partition}:s3:::{bucket}/*"


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def check_actions(document: Mapping[str, Any]) -> None:
    """Refuse a document naming an S3 action IAM does not have (a typo grants nothing and hides)."""
    for statement in _as_list(document.get("Statement")):
        for action in _as_list(statement.get("Action")) + _as_list(statement.get("NotAction")):
            if action not in VALID_S3_ACTIONS:
                raise ValueError(f"{action!r} is not an S3 action name; see VALID_S3_ACTIONS")


def public_read_statement(bucket: str, partition: str = "aws") -> dict[str, Any]:
    """Anyone may read any object by its exact key; nobody may list, write or delete."""
    return {
        "Sid": PUBLIC_READ_SID,
        "Effect": "Allow",
        "Principal": "*",
        "Action": "s3:GetObject",
        "Resource": object_arn(bucket, partition),
    }


def _wildcard_principal(principal: Any) -> bool:
    if principal == "*":
        return True
    if isinstance(principal, Mapping):
        return "*" in _as_list(principal.get("AWS"))
    return False


def is_public_statement(statement: Mapping[str, Any]) -> bool:
    """An Allow to everyone.  Conditions are not weighed: a conditional grant to `*` is still
    reported and replaced, the cautious reading for a migration tool."""
    return statement.get("Effect") == "Allow" and _wildcard_principal(statement.get("Principal"))


def public_statements(document: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    if not document:
        return []
    return [dict(s) for s in _as_list(document.get("Statement")) if is_public_statement(s)]


def bucket_policy(
    live: Mapping[str, Any] | None, bucket: str, access: str, partition: str = "aws"
) -> dict[str, Any] | None:
    """The bucket policy to have: the live one's own statements kept, public grants replaced.

    Statements someone else added that grant nothing to everyone (a CloudFront origin access
    control, a deny on plain HTTP) stay as they are; every Allow to everyone goes, and a
    public-read bucket gets exactly `public_read_statement`.  None means no policy at all.
    """
    kept = [
        dict(s)
        for s in _as_list((live or {}).get("Statement"))
        if not is_public_statement(s) and s.get("Sid") != PUBLIC_READ_SID
    ]
    if access == "public-read":
        kept.append(public_read_statement(bucket, partition))
    if not kept:
        return None
    document = {"Version": (live or {}).get("Version", POLICY_VERSION), "Statement": kept}
    check_actions({"Statement": [s for s in kept if str(s.get("Sid", "")).startswith("Bucketshift")]})
    return document


def app_policy(buckets: Iterable[str], partition: str = "aws") -> dict[str, Any]:
    """The application's least-privilege identity policy: objects read/write/delete, and listing."""
    names = sorted(set(buckets))
    document = {
        "Version": POLICY_VERSION,
        "Statement": [
            {
                "Sid": APP_OBJECTS_SID,
                "Effect": "Allow",
                "Action": list(APP_OBJECT_ACTIONS),
                "Resource": [object_arn(b, partition) for b in names],
            },
            {
                "Sid": APP_LIST_SID,
                "Effect": "Allow",
                "Action": list(APP_BUCKET_ACTIONS),
                "Resource": [bucket_arn(b, partition) for b in names],
            },
        ],
    }
    check_actions(document)
    return document


def _canonical_statement(statement: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in statement.items():
        if key in ("Action", "NotAction", "Resource", "NotResource"):
            out[key] = sorted(_as_list(value))
        elif key in ("Principal", "NotPrincipal") and isinstance(value, Mapping):
            out[key] = {k: sorted(_as_list(v)) for k, v in value.items()}
        elif key == "Principal" and value == "*":
            out[key] = {"AWS": ["*"]}
        else:
            out[key] = value
    return out


def canonical_policy(document: Mapping[str, Any] | None) -> Any:
    """A form where two documents that mean the same compare equal (order, one-item lists)."""
    if not document:
        return None
    statements = [_canonical_statement(s) for s in _as_list(document.get("Statement"))]
    statements.sort(key=lambda s: json.dumps(s, sort_keys=True))
    return {"Version": document.get("Version", POLICY_VERSION), "Statement": statements}
