"""`plan`, `provision` and `verify --posture` as a user runs them: child processes against moto."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.provision.provision_helpers import OTHER_ACCOUNT, make_drift, raw_iam, raw_s3, write_plan

from bucketshift_sandbox.servers import MotoServer

EXE = shutil.which("bucketshift", path=str(Path(sys.executable).parent)) or "bucketshift"
SECRET = "SECRET-never-in-output-0123456789"
KEYS = f'access_key_id = "AKIATESTKEY"\nsecret_access_key = "{SECRET}"\n'


def bucketshift(*args: str, env: dict[str, str] | None = None, stdin: str | None = None) -> Any:
    return subprocess.run(
        [EXE, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**(env if env is not None else os.environ), "COLUMNS": "200"},
        input=stdin,
    )


def buckets_of(moto: MotoServer) -> set[str]:
    return {b["Name"] for b in raw_s3(moto).list_buckets()["Buckets"]}


def one_line_exit_2(done: Any) -> str:
    assert done.returncode == 2, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "Traceback" not in done.stderr
    return lines[0]


def test_provision_from_nothing_then_again_with_no_change(moto: MotoServer, tmp_path: Path) -> None:
    plan, names = write_plan(tmp_path, moto, keys=KEYS)
    first = bucketshift("provision", "--config", str(plan), "--yes")
    assert first.returncode == 0, first.stderr
    assert f"{names.videos}\n" in first.stdout
    assert "+ bucket               create" in first.stdout
    assert "applied 19 changes" in first.stdout
    assert set(names.all) <= buckets_of(moto)
    second = bucketshift("provision", "--config", str(plan), "--yes")
    assert second.returncode == 0, second.stderr
    assert "0 to change, 21 in place" in second.stdout
    assert "no change: the destination matches the plan file" in second.stdout
    assert "applied" not in second.stdout
    posture = bucketshift("verify", "--posture", "--config", str(plan))
    assert posture.returncode == 0, posture.stdout + posture.stderr
    assert "posture as planned" in posture.stdout
    assert SECRET not in first.stdout + first.stderr + second.stdout + second.stderr


def test_drift_shown_by_plan_and_posture_then_repaired(moto: MotoServer, tmp_path: Path) -> None:
    plan, names = write_plan(tmp_path, moto)
    assert bucketshift("provision", "--config", str(plan), "--yes").returncode == 0
    make_drift(moto, names)
    shown = bucketshift("plan", "--config", str(plan))
    assert shown.returncode == 0, shown.stderr
    out = shown.stdout
    assert "3 to change" in out
    assert "~ cors                 change" in out
    assert '"AllowedOrigins": ["*"]' in out
    assert "- policy               remove" in out
    assert "BlockPublicPolicy: false -> true" in out
    assert f"exposure {names.videos} (private): private bucket with Block Public Access off" in out
    checked = bucketshift("verify", "--posture", "--config", str(plan), "--json")
    assert checked.returncode == 1, checked.stderr
    report = json.loads(checked.stdout)
    assert report["ok"] is False
    findings = {b["bucket"]: b["findings"] for b in report["buckets"]}
    assert findings[names.assets] == []
    assert any("grants to everyone" in f for f in findings[names.videos])
    assert any("origins the plan does not list" in f for f in findings[names.images])
    repaired = bucketshift("provision", "--config", str(plan), "--yes")
    assert repaired.returncode == 0, repaired.stderr
    assert "applied 3 changes" in repaired.stdout
    assert bucketshift("verify", "--posture", "--config", str(plan)).returncode == 0


def test_dry_run_and_plan_change_nothing_and_say_the_same(moto: MotoServer, tmp_path: Path) -> None:
    plan, names = write_plan(tmp_path, moto)
    dry = bucketshift("provision", "--config", str(plan), "--dry-run")
    shown = bucketshift("plan", "--config", str(plan))
    assert dry.returncode == shown.returncode == 0
    assert dry.stdout == shown.stdout
    assert "19 to change" in dry.stdout
    assert '"s3:ListBucket"' in dry.stdout, "without --iam-user the policy to attach is printed"
    as_json = json.loads(bucketshift("plan", "--config", str(plan), "--json").stdout)
    assert as_json["pending"] == 19
    assert {c["target"] for c in as_json["changes"]} == set(names.all)
    assert not set(names.all) & buckets_of(moto)


def test_provision_asks_and_without_a_terminal_needs_yes(moto: MotoServer, tmp_path: Path) -> None:
    plan, names = write_plan(tmp_path, moto)
    refused = bucketshift("provision", "--config", str(plan), stdin="y\n")
    line = one_line_exit_2(refused)
    assert "pass --yes" in line
    assert not set(names.all) & buckets_of(moto)


def test_iam_user_key_file_is_0600_and_the_secret_is_printed_only_when_asked(moto: MotoServer, tmp_path: Path) -> None:
    plan, names = write_plan(tmp_path, moto)
    user = f"app-{names.prefix}"
    done = bucketshift("provision", "--config", str(plan), "--yes", "--iam-user", user, "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    key_file = Path(result["key_file"])
    assert key_file == tmp_path / f"{user}.aws-key.env"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    secret = key_file.read_text().split("AWS_SECRET_ACCESS_KEY=", 1)[1].strip()
    assert secret not in done.stdout + done.stderr
    assert "secret_access_key" not in result
    iam = raw_iam(moto)
    keys = [k["AccessKeyId"] for k in iam.list_access_keys(UserName=user)["AccessKeyMetadata"]]
    assert keys == [result["access_key_id"]]
    assert iam.get_user_policy(UserName=user, PolicyName="bucketshift-app-access")["PolicyDocument"]

    other = f"web-{names.prefix}"
    shown = bucketshift("provision", "--config", str(plan), "--yes", "--iam-user", other, "--show-secret")
    assert shown.returncode == 0, shown.stderr
    other_secret = (tmp_path / f"{other}.aws-key.env").read_text().split("AWS_SECRET_ACCESS_KEY=", 1)[1].strip()
    assert f"AWS_SECRET_ACCESS_KEY={other_secret}" in shown.stdout
    again = bucketshift("provision", "--config", str(plan), "--yes", "--iam-user", user, "--json")
    assert again.returncode == 0, again.stderr
    unchanged = json.loads(again.stdout)
    assert unchanged["applied"] == []
    assert unchanged["plan"]["pending"] == 0
    assert unchanged["access_key_id"] is None


def test_no_credentials_is_one_line_exit_2_and_nothing_created(moto: MotoServer, tmp_path: Path) -> None:
    plan, names = write_plan(tmp_path, moto)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_CONFIG_FILE="/dev/null", AWS_SHARED_CREDENTIALS_FILE="/dev/null", AWS_EC2_METADATA_DISABLED="true")
    line = one_line_exit_2(bucketshift("provision", "--config", str(plan), "--yes", env=env))
    assert "no AWS credentials found" in line
    assert not set(names.all) & buckets_of(moto)


def test_bucket_of_another_account_is_one_line_exit_2_and_nothing_created(moto: MotoServer, tmp_path: Path) -> None:
    plan, names = write_plan(tmp_path, moto, keys=KEYS)
    raw_s3(moto, account=OTHER_ACCOUNT).create_bucket(Bucket=names.images)
    done = bucketshift("provision", "--config", str(plan), "--yes")
    line = one_line_exit_2(done)
    assert f"buckets[1].destination: bucket {names.images} belongs to another AWS account" in line
    assert f"choose another name, for example {names.images}-" in line
    assert SECRET not in done.stdout + done.stderr
    assert not {names.assets, names.videos} & buckets_of(moto)


def test_wrong_region_is_one_line_exit_2_and_nothing_created(moto: MotoServer, tmp_path: Path) -> None:
    plan, names = write_plan(tmp_path, moto, region="eu-west-1")
    raw_s3(moto).create_bucket(Bucket=names.videos)
    line = one_line_exit_2(bucketshift("plan", "--config", str(plan)))
    assert f"destination.region: bucket {names.videos} already exists in us-east-1, not eu-west-1" in line
    line = one_line_exit_2(bucketshift("provision", "--config", str(plan), "--yes"))
    assert "set region to us-east-1" in line
    posture = bucketshift("verify", "--posture", "--config", str(plan))
    assert posture.returncode == 1, posture.stderr
    assert f"{names.videos} (private): the bucket is in us-east-1, not in the plan's region eu-west-1" in posture.stdout
    assert not {names.assets, names.images} & buckets_of(moto)


def test_wildcard_write_origin_refused_unless_allowed_then_warned(moto: MotoServer, tmp_path: Path) -> None:
    plan, names = write_plan(tmp_path, moto, origin="*")
    line = one_line_exit_2(bucketshift("provision", "--config", str(plan), "--yes"))
    assert "buckets[2].cors_origins: '*' with browser_uploads = true" in line
    assert "--allow-wildcard-writes" in line
    assert not set(names.all) & buckets_of(moto)
    allowed = bucketshift("provision", "--config", str(plan), "--yes", "--allow-wildcard-writes")
    assert allowed.returncode == 0, allowed.stderr
    assert f"warning: {names.videos}: CORS lets any web site send PUT and POST" in allowed.stderr
    assert set(names.all) <= buckets_of(moto)


def test_option_mistakes_are_exit_2(moto: MotoServer, tmp_path: Path) -> None:
    plan, _ = write_plan(tmp_path, moto)
    assert "belong to --iam-user" in one_line_exit_2(bucketshift("provision", "--config", str(plan), "--show-secret"))
    bad_user = bucketshift("provision", "--config", str(plan), "--yes", "--iam-user", "no spaces")
    assert "is not an IAM user name" in one_line_exit_2(bad_user)
    missing_dir = bucketshift(
        "provision", "--config", str(plan), "--yes", "--iam-user", "u1", "--key-file", str(tmp_path / "no" / "k.env")
    )
    assert "does not exist" in one_line_exit_2(missing_dir)
