"""The generated policies, read as documents: real actions, exact resources, one public grant."""

from __future__ import annotations

from typing import Any

import pytest

from bucketshift.provision.policies import (
    PUBLIC_READ_SID,
    VALID_S3_ACTIONS,
    app_policy,
    bucket_policy,
    canonical_policy,
    check_actions,
    is_public_statement,
    partition_for,
)

BUCKETS = ["app-asset-images", "app-images", "app-videos"]


def statements(document: dict[str, Any] | None) -> list[dict[str, Any]]:
    return list((document or {}).get("Statement", []))


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def every_generated_document() -> list[tuple[str, dict[str, Any]]]:
    out = []
    for partition in ("aws", "aws-cn"):
        out.append(("app", app_policy(BUCKETS, partition)))
        for bucket in BUCKETS:
            document = bucket_policy(None, bucket, "public-read", partition)
            assert document is not None
            out.append((bucket, document))
    return out


def test_head_object_is_not_an_action_and_is_refused() -> None:
    assert "s3:HeadObject" not in VALID_S3_ACTIONS
    assert {"s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:ListBucket"} <= VALID_S3_ACTIONS
    with pytest.raises(ValueError, match="s3:HeadObject"):
        check_actions({"Statement": [{"Effect": "Allow", "Action": ["s3:GetObject", "s3:HeadObject"]}]})
    with pytest.raises(ValueError, match="s3:getobject"):
        check_actions({"Statement": [{"Effect": "Allow", "Action": "s3:getobject"}]})


@pytest.mark.parametrize(("name", "document"), every_generated_document())
def test_every_generated_document_names_only_valid_actions(name: str, document: dict[str, Any]) -> None:
    check_actions(document)
    for statement in statements(document):
        for action in as_list(statement["Action"]):
            assert action in VALID_S3_ACTIONS, (name, action)
        assert "*" not in "".join(as_list(statement["Action"])), "no wildcard actions"


@pytest.mark.parametrize(("name", "document"), every_generated_document())
def test_the_only_wildcard_principal_is_the_public_get_object_statement(name: str, document: dict[str, Any]) -> None:
    public = [s for s in statements(document) if is_public_statement(s)]
    assert len(public) == (0 if name == "app" else 1)
    for statement in statements(document):
        if "Principal" not in statement:
            continue
        if is_public_statement(statement):
            assert statement["Sid"] == PUBLIC_READ_SID
            assert as_list(statement["Action"]) == ["s3:GetObject"]
            assert as_list(statement["Resource"]) == [f"arn:{partition_of(statement)}:s3:::{name}/*"]
            assert "Condition" not in statement


def partition_of(statement: dict[str, Any]) -> str:
    return as_list(statement["Resource"])[0].split(":")[1]


def test_app_policy_is_least_privilege_with_exact_resources() -> None:
    document = app_policy(BUCKETS)
    assert document["Version"] == "2012-10-17"
    objects, listing = statements(document)
    assert objects["Effect"] == listing["Effect"] == "Allow"
    assert sorted(objects["Action"]) == ["s3:DeleteObject", "s3:GetObject", "s3:PutObject"]
    assert objects["Resource"] == [f"arn:aws:s3:::{b}/*" for b in BUCKETS]
    assert listing["Action"] == ["s3:ListBucket"]
    assert listing["Resource"] == [f"arn:aws:s3:::{b}" for b in BUCKETS]
    assert all("Principal" not in s and "NotAction" not in s and "NotResource" not in s for s in statements(document))


def test_partition_follows_the_region() -> None:
    assert partition_for("us-east-1") == "aws"
    assert partition_for("cn-north-1") == "aws-cn"
    assert partition_for("us-gov-west-1") == "aws-us-gov"
    assert app_policy(["b-one"], "aws-cn")["Statement"][1]["Resource"] == ["arn:aws-cn:s3:::b-one"]


def test_public_read_policy_is_exactly_one_get_object_statement() -> None:
    document = bucket_policy(None, "app-images", "public-read")
    assert document == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": PUBLIC_READ_SID,
                "Effect": "Allow",
                "Principal": "*",
                "Action": "s3:GetObject",
                "Resource": "arn:aws:s3:::app-images/*",
            }
        ],
    }


def test_private_bucket_has_no_policy_of_its_own() -> None:
    assert bucket_policy(None, "app-videos", "private") is None


CLOUDFRONT = {
    "Sid": "AllowCloudFront",
    "Effect": "Allow",
    "Principal": {"Service": "cloudfront.amazonaws.com"},
    "Action": "s3:GetObject",
    "Resource": "arn:aws:s3:::app-videos/*",
}
PUBLIC_LIST = {"Sid": "Oops", "Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "s3:ListBucket", "Resource": "*"}
PUBLIC_GET = {"Effect": "Allow", "Principal": "*", "Action": ["s3:GetObject"], "Resource": "arn:aws:s3:::app-videos/*"}


def test_someone_elses_non_public_statements_are_kept_and_public_ones_dropped() -> None:
    live = {"Version": "2012-10-17", "Statement": [CLOUDFRONT, PUBLIC_LIST, PUBLIC_GET]}
    assert bucket_policy(live, "app-videos", "private") == {"Version": "2012-10-17", "Statement": [CLOUDFRONT]}
    public = bucket_policy(live, "app-videos", "public-read")
    assert public is not None
    assert [s.get("Sid") for s in statements(public)] == ["AllowCloudFront", PUBLIC_READ_SID]


def test_only_public_statements_removed_leaves_no_policy() -> None:
    assert bucket_policy({"Statement": [PUBLIC_LIST, PUBLIC_GET]}, "app-videos", "private") is None


def test_public_means_allow_to_everyone() -> None:
    assert is_public_statement(PUBLIC_GET)
    assert is_public_statement(PUBLIC_LIST)
    assert is_public_statement({"Effect": "Allow", "Principal": {"AWS": ["arn:aws:iam::1:root", "*"]}})
    assert not is_public_statement(CLOUDFRONT)
    assert not is_public_statement({**PUBLIC_GET, "Effect": "Deny"})


def test_equivalent_documents_compare_equal() -> None:
    one = {"Version": "2012-10-17", "Statement": [CLOUDFRONT, PUBLIC_GET]}
    two = {
        "Version": "2012-10-17",
        "Statement": [{**PUBLIC_GET, "Action": "s3:GetObject", "Principal": {"AWS": "*"}}, CLOUDFRONT],
    }
    assert canonical_policy(one) == canonical_policy(two)
    assert canonical_policy(one) != canonical_policy({"Statement": [CLOUDFRONT]})
    assert canonical_policy(None) is None
