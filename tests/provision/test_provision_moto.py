"""Provisioning against moto's S3 and IAM: from nothing, again (no writes), drift, refusals."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.provision.provision_helpers import (
    ORIGIN,
    OTHER_ACCOUNT,
    counting_clients,
    make_drift,
    make_plan,
    raw_iam,
    raw_s3,
)

from bucketshift.errors import ConfigError
from bucketshift.operations.provision import plan, posture, provision
from bucketshift.provision.iam import POLICY_NAME
from bucketshift.provision.policies import app_policy, canonical_policy
from bucketshift_sandbox.servers import MotoServer


def exists(s3: Any, bucket: str) -> bool:
    return bucket in {b["Name"] for b in s3.list_buckets()["Buckets"]}


def anonymous_status(moto: MotoServer, bucket: str, key: str) -> int:
    return httpx.get(f"{moto.endpoint_url}/{bucket}/{key}", timeout=30).status_code


def test_from_nothing_every_bucket_gets_its_settings(moto: MotoServer, tmp_path: Path) -> None:
    config, names = make_plan(tmp_path, moto)
    clients, log = counting_clients(moto)
    result = provision(config, clients=clients)
    assert {c.target for c in result.applied} == set(names.all)
    assert log.writes.count("CreateBucket") == 3
    s3 = raw_s3(moto)
    for bucket in names.all:
        assert exists(s3, bucket)
        ownership = s3.get_bucket_ownership_controls(Bucket=bucket)["OwnershipControls"]["Rules"]
        assert ownership == [{"ObjectOwnership": "BucketOwnerEnforced"}]
        rules = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
        assert rules[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
        assert s3.get_bucket_location(Bucket=bucket)["LocationConstraint"] in (None, "us-east-1")
    for bucket in (names.assets, names.images):
        block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
        assert block == {"BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": False,
                         "RestrictPublicBuckets": False}  # fmt: skip
        statement = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])["Statement"]
        assert statement == [{"Sid": "BucketshiftPublicRead", "Effect": "Allow", "Principal": "*",
                              "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/*"}]  # fmt: skip
    block = s3.get_public_access_block(Bucket=names.videos)["PublicAccessBlockConfiguration"]
    assert block == dict.fromkeys(block, True)
    assert len(block) == 4
    with pytest.raises(s3.exceptions.ClientError, match="NoSuchBucketPolicy"):
        s3.get_bucket_policy(Bucket=names.videos)
    with pytest.raises(s3.exceptions.ClientError, match="NoSuchCORSConfiguration"):
        s3.get_bucket_cors(Bucket=names.assets)
    images_cors = s3.get_bucket_cors(Bucket=names.images)["CORSRules"]
    assert [(r["AllowedOrigins"], r["AllowedMethods"]) for r in images_cors] == [([ORIGIN], ["GET", "HEAD"])]
    videos_cors = s3.get_bucket_cors(Bucket=names.videos)["CORSRules"]
    assert [(r["AllowedOrigins"], r["AllowedMethods"]) for r in videos_cors] == [
        ([ORIGIN], ["GET", "HEAD", "PUT", "POST"])
    ]
    for bucket in names.all:
        s3.put_object(Bucket=bucket, Key="probe.txt", Body=b"x")
    assert anonymous_status(moto, names.images, "probe.txt") == 200
    assert anonymous_status(moto, names.assets, "probe.txt") == 200
    assert anonymous_status(moto, names.videos, "probe.txt") == 403
    assert posture(config, clients=clients).ok


def test_a_second_run_changes_nothing_and_sends_no_write(moto: MotoServer, tmp_path: Path) -> None:
    config, _ = make_plan(tmp_path, moto)
    clients, log = counting_clients(moto)
    first = provision(config, iam_user=f"app-{tmp_path.name[-12:]}", key_file=tmp_path / "key.env", clients=clients)
    assert len(first.applied) == 19 + 3, "6 + 7 + 6 bucket resources (two with no CORS or policy), 3 IAM"
    assert log.writes
    log.calls.clear()
    second = provision(config, iam_user=f"app-{tmp_path.name[-12:]}", key_file=tmp_path / "key.env", clients=clients)
    assert second.applied == []
    assert second.plan.pending == []
    assert second.created_key is None
    assert log.writes == []
    assert "ListBuckets" in log.calls
    assert "GetBucketPolicy" in log.calls
    assert "GetUserPolicy" in log.calls


def test_us_east_1_quirk_and_another_region(moto: MotoServer, tmp_path: Path) -> None:
    for region in ("us-east-1", "eu-west-1"):
        (tmp_path / region).mkdir()
        config, names = make_plan(tmp_path / region, moto, region=region)
        clients, _ = counting_clients(moto, region)
        sent: list[Any] = []

        def capture(params: dict[str, Any], sent: list[Any] = sent, **_: Any) -> None:
            sent.append(params.get("CreateBucketConfiguration"))

        clients.s3.meta.events.register("provide-client-params.s3.CreateBucket", capture)
        provision(config, clients=clients)
        expected = None if region == "us-east-1" else {"LocationConstraint": region}
        assert sent == [expected] * 3
        location = raw_s3(moto, region).get_bucket_location(Bucket=names.videos)["LocationConstraint"]
        assert location == (None if region == "us-east-1" else region)
        assert plan(config, clients=clients).pending == []


def test_drift_is_shown_flagged_and_repaired(moto: MotoServer, tmp_path: Path) -> None:
    config, names = make_plan(tmp_path, moto)
    clients, log = counting_clients(moto)
    provision(config, clients=clients)
    raw_s3(moto).put_object(Bucket=names.videos, Key="secret.mp4", Body=b"private")
    make_drift(moto, names)
    assert anonymous_status(moto, names.videos, "secret.mp4") == 200, "the drift really exposes the video"

    planned = plan(config, clients=clients)
    pending = {(c.target, c.resource): c for c in planned.pending}
    assert set(pending) == {(names.images, "cors"), (names.videos, "policy"), (names.videos, "public-access-block")}
    cors = pending[(names.images, "cors")]
    assert cors.kind == "change"
    assert cors.old[0]["AllowedOrigins"] == ["*"]
    assert cors.new[0]["AllowedOrigins"] == [ORIGIN]
    assert pending[(names.videos, "policy")].kind == "remove"
    assert pending[(names.videos, "public-access-block")].old["BlockPublicPolicy"] is False
    report = posture(config, clients=clients)
    assert not report.ok
    by_bucket = {b.bucket: b.findings for b in report.buckets}
    assert by_bucket[names.assets] == []
    assert any("origins the plan does not list: *" in f for f in by_bucket[names.images])
    assert any("write methods" in f for f in by_bucket[names.images])
    assert any("grants to everyone" in f for f in by_bucket[names.videos])
    assert any("Block Public Access off" in f for f in by_bucket[names.videos])

    log.calls.clear()
    repaired = provision(config, clients=clients)
    assert len(repaired.applied) == 3
    assert log.writes == ["PutBucketCors", "DeleteBucketPolicy", "PutPublicAccessBlock"]
    assert posture(config, clients=clients).ok
    assert plan(config, clients=clients).pending == []
    assert anonymous_status(moto, names.videos, "secret.mp4") == 403


def test_statements_someone_else_added_survive_a_repair(moto: MotoServer, tmp_path: Path) -> None:
    config, names = make_plan(tmp_path, moto)
    clients, _ = counting_clients(moto)
    provision(config, clients=clients)
    partner = {"Sid": "Partner", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{OTHER_ACCOUNT}:root"},
               "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{names.videos}/*"}  # fmt: skip
    public = {"Sid": "Oops", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
              "Resource": f"arn:aws:s3:::{names.videos}/*"}  # fmt: skip
    s3 = raw_s3(moto)
    s3.put_bucket_policy(
        Bucket=names.videos, Policy=json.dumps({"Version": "2012-10-17", "Statement": [partner, public]})
    )
    provision(config, clients=clients)
    kept = json.loads(s3.get_bucket_policy(Bucket=names.videos)["Policy"])
    assert kept["Statement"] == [partner]


def test_iam_user_policy_and_key_exist_and_the_key_file_is_private(moto: MotoServer, tmp_path: Path) -> None:
    config, names = make_plan(tmp_path, moto)
    user = f"app-{names.prefix}"
    key_file = tmp_path / "app.env"
    clients, _ = counting_clients(moto)
    result = provision(config, iam_user=user, key_file=key_file, clients=clients)
    iam = raw_iam(moto)
    assert iam.get_user(UserName=user)["User"]["UserName"] == user
    document = iam.get_user_policy(UserName=user, PolicyName=POLICY_NAME)["PolicyDocument"]
    assert canonical_policy(document) == canonical_policy(app_policy(names.all))
    keys = [k["AccessKeyId"] for k in iam.list_access_keys(UserName=user)["AccessKeyMetadata"]]
    assert result.created_key is not None
    assert keys == [result.created_key.access_key_id]
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    text = key_file.read_text()
    assert f"AWS_ACCESS_KEY_ID={keys[0]}\n" in text
    secret = text.split("AWS_SECRET_ACCESS_KEY=", 1)[1].strip()
    assert len(secret) >= 20
    assert secret not in repr(result)
    assert not list(tmp_path.glob(".app.env.*")), "no temporary file left behind"


def test_without_iam_user_the_policy_to_attach_is_returned(moto: MotoServer, tmp_path: Path) -> None:
    config, names = make_plan(tmp_path, moto)
    clients, log = counting_clients(moto)
    planned = plan(config, clients=clients)
    assert planned.iam_user is None
    assert planned.app_policy == app_policy(names.all)
    assert not any(c.startswith(("GetUser", "ListAccessKeys")) for c in log.calls)


def test_a_bucket_owned_by_another_account_stops_everything(moto: MotoServer, tmp_path: Path) -> None:
    config, names = make_plan(tmp_path, moto)
    raw_s3(moto, account=OTHER_ACCOUNT).create_bucket(Bucket=names.videos)
    clients, log = counting_clients(moto)
    with pytest.raises(ConfigError) as raised:
        provision(config, clients=clients)
    message = str(raised.value)
    assert "buckets[2].destination" in message
    assert f"bucket {names.videos} belongs to another AWS account" in message
    assert f"for example {names.videos}-" in message
    assert log.writes == []
    s3 = raw_s3(moto)
    assert not exists(s3, names.assets)
    assert not exists(s3, names.images)


def test_a_bucket_of_ours_in_another_region_stops_everything(moto: MotoServer, tmp_path: Path) -> None:
    config, names = make_plan(tmp_path, moto)
    raw_s3(moto, "eu-west-1").create_bucket(
        Bucket=names.images, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    clients, log = counting_clients(moto)
    with pytest.raises(ConfigError, match=f"bucket {names.images} already exists in eu-west-1, not us-east-1"):
        provision(config, clients=clients)
    assert log.writes == []
    assert not exists(raw_s3(moto), names.assets)


def test_no_credentials_is_one_sentence_before_any_request(
    moto: MotoServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    config, names = make_plan(tmp_path, moto)
    with pytest.raises(ConfigError, match="no AWS credentials found"):
        provision(config)
    monkeypatch.undo()
    assert not exists(raw_s3(moto), names.assets)
