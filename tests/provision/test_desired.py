"""Desired state, diff and posture from plain data: no server involved."""

from __future__ import annotations

import re
from typing import Any

import pytest

from bucketshift.config import S3Endpoint, parse_plan
from bucketshift.errors import ConfigError, UsageError
from bucketshift.provision.desired import (
    PRIVATE_BLOCK,
    PUBLIC_READ_BLOCK,
    check_region,
    desired_state,
    location_constraint,
)
from bucketshift.provision.diff import bucket_changes
from bucketshift.provision.lifecycle import abort_rule
from bucketshift.provision.live import LiveBucket
from bucketshift.provision.policies import bucket_policy
from bucketshift.provision.posture import bucket_posture

PLAN = """
[source]
type = "local"
path = "/srv/files"

[destination]
type = "s3"
region = "{region}"
endpoint_url = "http://127.0.0.1:9"

[[buckets]]
source = "images"
destination = "app-images"
access = "public-read"
{images}

[[buckets]]
source = "videos"
destination = "app-videos"
access = "private"
{videos}
"""


def plan(images: str = "", videos: str = "", region: str = "us-east-1") -> Any:
    return parse_plan(PLAN.format(images=images, videos=videos, region=region), where="plan.toml")


def test_us_east_1_takes_no_location_constraint_and_other_regions_must() -> None:
    assert location_constraint("us-east-1") is None
    assert location_constraint("eu-west-1") == {"LocationConstraint": "eu-west-1"}


def test_block_public_access_by_access() -> None:
    state = desired_state(plan())
    images, videos = state.buckets
    assert images.public_access_block == {
        "BlockPublicAcls": True,
        "IgnorePublicAcls": True,
        "BlockPublicPolicy": False,
        "RestrictPublicBuckets": False,
    }
    assert videos.public_access_block == dict.fromkeys(PRIVATE_BLOCK, True)
    assert images.public_access_block == PUBLIC_READ_BLOCK


def test_cors_reads_only_unless_browser_uploads() -> None:
    state = desired_state(
        plan(
            images='cors_origins = ["https://app.example.com", "https://www.example.com/"]',
            videos='cors_origins = ["https://app.example.com"]\nbrowser_uploads = true',
        )
    )
    images, videos = state.buckets
    assert images.cors is not None
    assert videos.cors is not None
    assert images.cors[0]["AllowedOrigins"] == ["https://app.example.com", "https://www.example.com"]
    assert images.cors[0]["AllowedMethods"] == ["GET", "HEAD"]
    assert videos.cors[0]["AllowedMethods"] == ["GET", "HEAD", "PUT", "POST"]
    assert videos.cors[0]["ExposeHeaders"] == ["ETag"]
    assert desired_state(plan()).buckets[0].cors is None


def test_wildcard_origin_with_writes_is_refused_unless_allowed_and_then_warned() -> None:
    text = {"videos": 'cors_origins = ["*"]\nbrowser_uploads = true'}
    with pytest.raises(UsageError) as refused:
        desired_state(plan(**text))
    assert "buckets[1].cors_origins: '*' with browser_uploads = true" in str(refused.value)
    assert "--allow-wildcard-writes" in str(refused.value)
    allowed = desired_state(plan(**text), allow_wildcard_writes=True)
    assert len(allowed.warnings) == 1
    assert "app-videos" in allowed.warnings[0]
    assert allowed.buckets[1].cors is not None
    assert allowed.buckets[1].cors[0]["AllowedOrigins"] == ["*"]


def test_wildcard_origin_for_reads_only_is_accepted_without_warning() -> None:
    state = desired_state(plan(images='cors_origins = ["*"]'))
    assert state.warnings == []


@pytest.mark.parametrize(
    ("images", "expected"),
    [
        ('cors_origins = ["app.example.com"]', "buckets[0].cors_origins: 'app.example.com' is not an origin"),
        ('cors_origins = ["https://app.example.com/upload"]', "without a path"),
        ("browser_uploads = true", "buckets[0].browser_uploads: browser uploads need the web app's origins"),
        ('cors_origin = ["https://a.example"]', "buckets[0].cors_origin: unknown field; did you mean 'cors_origins'?"),
    ],
)
def test_plan_file_mistakes_in_the_new_fields_are_one_sentence(images: str, expected: str) -> None:
    with pytest.raises(ConfigError) as raised:
        plan(images=images)
    message = str(raised.value)
    assert message.startswith("plan.toml: ")
    assert expected in message
    assert "\n" not in message


def test_a_region_unknown_to_aws_is_refused_before_any_request() -> None:
    with pytest.raises(ConfigError, match=r"destination\.region: 'us-est-1' is not an AWS region"):
        check_region(S3Endpoint(type="s3", region="us-est-1"), "plan.toml")
    check_region(S3Endpoint(type="s3", region="eu-west-1"))
    check_region(S3Endpoint(type="s3", region="auto", endpoint_url="https://r2.example.com"))


def test_a_local_destination_cannot_be_provisioned() -> None:
    text = PLAN.format(images="", videos="", region="us-east-1").replace(
        'type = "s3"\nregion = "us-east-1"\nendpoint_url = "http://127.0.0.1:9"', 'type = "local"\npath = "/tmp/x"'
    )
    with pytest.raises(UsageError, match="set it to 's3'"):
        desired_state(parse_plan(text))


# diff ------------------------------------------------------------------------------------------


def test_from_nothing_every_resource_is_created_in_a_safe_order() -> None:
    images, videos = desired_state(plan(images='cors_origins = ["https://a.example"]')).buckets
    public = bucket_changes(images, LiveBucket("app-images", exists=False, owned=False))
    assert [(c.resource, c.kind) for c in public] == [
        ("bucket", "create"),
        ("ownership", "create"),
        ("encryption", "create"),
        ("public-access-block", "create"),
        ("policy", "create"),
        ("cors", "create"),
        ("lifecycle", "create"),
    ]
    private = bucket_changes(videos, LiveBucket("app-videos", exists=False, owned=False))
    assert [c.resource for c in private] == [
        "bucket",
        "ownership",
        "encryption",
        "policy",
        "public-access-block",
        "cors",
        "lifecycle",
    ]
    assert [c.kind for c in private if c.resource in ("policy", "cors")] == ["in place", "in place"]


def provisioned(name: str, access: str, **changes: Any) -> LiveBucket:
    fields: dict[str, Any] = {
        "region": "us-east-1",
        "public_access_block": dict(PUBLIC_READ_BLOCK if access == "public-read" else PRIVATE_BLOCK),
        "policy": bucket_policy(None, name, access),
        "cors": None,
        "ownership": "BucketOwnerEnforced",
        "encryption": "AES256",
        "lifecycle": [abort_rule(7)],
    }
    return LiveBucket(name, exists=True, owned=True, **{**fields, **changes})


def test_what_matches_is_in_place() -> None:
    images, videos = desired_state(plan()).buckets
    for desired, live in (
        (images, provisioned("app-images", "public-read")),
        (videos, provisioned("app-videos", "private")),
    ):
        assert [c for c in bucket_changes(desired, live) if c.pending] == []
        assert bucket_posture(desired, live).findings == []


def test_drift_is_a_change_with_old_and_new() -> None:
    _, videos = desired_state(plan()).buckets
    exposed = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::app-videos/*"}
        ],
    }
    open_block = dict.fromkeys(PRIVATE_BLOCK, False)
    live = provisioned("app-videos", "private", policy=exposed, public_access_block=open_block)
    changes = {c.resource: c for c in bucket_changes(videos, live)}
    assert changes["policy"].kind == "remove"
    assert changes["policy"].old == exposed
    assert changes["public-access-block"].kind == "change"
    assert changes["public-access-block"].old == open_block
    assert changes["public-access-block"].new == PRIVATE_BLOCK
    findings = bucket_posture(videos, live).findings
    assert any("Block Public Access off" in f for f in findings)
    assert any("grants to everyone" in f for f in findings)


def test_kms_encryption_chosen_on_purpose_is_kept() -> None:
    images, _ = desired_state(plan()).buckets
    live = provisioned("app-images", "public-read", encryption="aws:kms")
    assert {c.resource: c.kind for c in bucket_changes(images, live)}["encryption"] == "in place"


def test_someone_elses_bucket_stops_the_plan_with_a_suggested_name() -> None:
    images, _ = desired_state(plan()).buckets
    with pytest.raises(ConfigError) as raised:
        bucket_changes(images, LiveBucket("app-images", exists=True, owned=False), "plan.toml")
    message = str(raised.value)
    assert message.startswith("plan.toml: buckets[0].destination: bucket app-images belongs to another AWS account")
    assert re.search(r"for example app-images-[0-9a-f]{6}$", message)


def test_a_bucket_of_ours_in_another_region_stops_the_plan() -> None:
    images, _ = desired_state(plan()).buckets
    live = provisioned("app-images", "public-read", region="eu-west-1")
    with pytest.raises(ConfigError, match="already exists in eu-west-1, not us-east-1; set region to eu-west-1"):
        bucket_changes(images, live, "plan.toml")


# posture ---------------------------------------------------------------------------------------


def test_public_read_posture_flags_more_or_less_than_get_object() -> None:
    images, _ = desired_state(plan(images='cors_origins = ["https://a.example"]')).buckets
    listing = {
        "Sid": "L",
        "Effect": "Allow",
        "Principal": "*",
        "Action": "s3:ListBucket",
        "Resource": "arn:aws:s3:::app-images",
    }
    wide = provisioned(
        "app-images",
        "public-read",
        policy={"Statement": [*bucket_policy(None, "app-images", "public-read")["Statement"], listing]},  # type: ignore[index]
        cors=[{"AllowedOrigins": ["*"], "AllowedMethods": ["GET", "PUT"]}],
        ownership="ObjectWriter",
    )
    findings = bucket_posture(images, wide).findings
    assert any("grants more to everyone" in f and "s3:ListBucket" in f for f in findings)
    assert any("origins the plan does not list: *" in f for f in findings)
    assert any("write methods the plan does not: PUT" in f for f in findings)
    assert any("ACLs are enabled" in f for f in findings)
    closed = provisioned("app-images", "public-read", policy=None, public_access_block=dict(PRIVATE_BLOCK))
    findings = bucket_posture(images, closed).findings
    assert any("not readable by everyone" in f for f in findings)
    assert any("without the policy statement" in f for f in findings)


def test_an_equivalent_public_grant_under_another_sid_is_not_a_finding() -> None:
    images, _ = desired_state(plan()).buckets
    statement = {
        "Sid": "PublicRead",
        "Effect": "Allow",
        "Principal": "*",
        "Action": "s3:GetObject",
        "Resource": "arn:aws:s3:::app-images/*",
    }
    live = provisioned("app-images", "public-read", policy={"Statement": [statement]})
    assert bucket_posture(images, live).findings == []
    assert {c.resource: c.kind for c in bucket_changes(images, live)}["policy"] == "change"
