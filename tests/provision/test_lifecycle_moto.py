"""The abort-unfinished-uploads rule against moto: created, merged beside other people's rules
(which stay exactly as they were), changed, removed, and a second run that sends no write.

What moto does with lifecycle configurations (moto 5.2, checked by hand): it returns the rules in
the order they were put, `Filter: {"Prefix": ""}` and `Filter: {}` as sent, a legacy top-level
`Prefix` as sent, no ID when none was given; it answers NoSuchLifecycleConfiguration (404) when
there is none; it always returns TransitionDefaultMinimumObjectSize all_storage_classes_128K,
whatever was put.  It validates far less than S3: it accepts 0 or negative days, duplicate IDs,
abort rules with tag filters, and a mix of old-form and Filter rules, all of which S3 refuses, and
it drops an ObjectSizeGreaterThan filter.  So what S3 would refuse is tested as data
(test_lifecycle.py), and these tests only ask moto what it stored.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from tests.provision.provision_helpers import counting_clients, raw_s3, set_bucket_field, write_plan

from bucketshift.config import load_plan
from bucketshift.errors import ConfigError
from bucketshift.operations.provision import plan, provision
from bucketshift.provision.lifecycle import abort_rule
from bucketshift_sandbox.servers import MotoServer

EXE = shutil.which("bucketshift", path=str(Path(sys.executable).parent)) or "bucketshift"
THEIRS: list[dict[str, Any]] = [
    {"ID": "expire-tmp", "Filter": {"Prefix": "tmp/"}, "Status": "Enabled", "Expiration": {"Days": 30}},
    {"ID": "archive", "Filter": {}, "Status": "Disabled", "Transitions": [{"Days": 90, "StorageClass": "GLACIER"}]},
    {
        "ID": "team-abort-uploads",
        "Filter": {"Prefix": "uploads/"},
        "Status": "Enabled",
        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 2},
    },
]
"""Another team's rules: an expiration, a disabled transition, and an abort rule for one prefix only
(it does not cover the bucket, so ours is still added)."""


def lifecycle(s3: Any, bucket: str) -> list[dict[str, Any]] | None:
    try:
        return list(s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"])
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "NoSuchLifecycleConfiguration":
            return None
        raise


def with_their_rules(moto: MotoServer, bucket: str, rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The bucket made by someone else with their rules; returns the rules as moto gives them back."""
    s3 = raw_s3(moto)
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": rules})
    found = lifecycle(s3, bucket)
    assert found is not None
    return found


def lifecycle_writes(calls: list[str]) -> list[str]:
    return [c for c in calls if c in ("PutBucketLifecycleConfiguration", "DeleteBucketLifecycle")]


def test_new_buckets_get_the_rule_with_their_own_days_and_zero_gets_none(moto: MotoServer, tmp_path: Path) -> None:
    path, names = write_plan(tmp_path, moto)
    set_bucket_field(path, names.videos, "abort_incomplete_uploads_after_days = 30")
    set_bucket_field(path, names.assets, "abort_incomplete_uploads_after_days = 0")
    clients, log = counting_clients(moto)
    provision(load_plan(path), clients=clients)
    assert lifecycle_writes(log.calls) == ["PutBucketLifecycleConfiguration"] * 2
    s3 = raw_s3(moto)
    assert lifecycle(s3, names.images) == [abort_rule(7)]
    assert lifecycle(s3, names.videos) == [abort_rule(30)]
    assert lifecycle(s3, names.assets) is None

    log.calls.clear()
    again = provision(load_plan(path), clients=clients)
    assert again.applied == []
    assert log.writes == []
    assert log.calls.count("GetBucketLifecycleConfiguration") == 3, "each bucket's rules were read"


def test_their_rules_stay_exactly_as_they_were_beside_ours(moto: MotoServer, tmp_path: Path) -> None:
    path, names = write_plan(tmp_path, moto)
    before = with_their_rules(moto, names.videos, THEIRS)
    assert before == THEIRS, "moto gives the rules back as they were put"
    clients, log = counting_clients(moto)
    sent: list[dict[str, Any]] = []
    clients.s3.meta.events.register(
        "provide-client-params.s3.PutBucketLifecycleConfiguration", lambda params, **_: sent.append(params)
    )
    planned = plan(load_plan(path), clients=clients)
    change = next(c for c in planned.changes if (c.target, c.resource) == (names.videos, "lifecycle"))
    assert (change.kind, change.old, change.new) == ("create", None, abort_rule(7))
    assert change.note == "3 other rules kept untouched"

    provision(load_plan(path), planned=planned, clients=clients)
    s3 = raw_s3(moto)
    after = lifecycle(s3, names.videos)
    assert after == [*before, abort_rule(7)]
    videos_put = next(p for p in sent if p["Bucket"] == names.videos)
    assert videos_put["TransitionDefaultMinimumObjectSize"] == "all_storage_classes_128K", "read, then sent back"

    log.calls.clear()
    assert provision(load_plan(path), clients=clients).applied == []
    assert log.writes == []
    assert lifecycle(s3, names.videos) == after


def test_a_changed_day_count_is_planned_old_and_new_then_only_ours_changes(moto: MotoServer, tmp_path: Path) -> None:
    path, names = write_plan(tmp_path, moto)
    before = with_their_rules(moto, names.videos, THEIRS)
    clients, log = counting_clients(moto)
    provision(load_plan(path), clients=clients)
    set_bucket_field(path, names.videos, "abort_incomplete_uploads_after_days = 3")

    planned = plan(load_plan(path), clients=clients)
    assert [(c.target, c.resource, c.kind) for c in planned.pending] == [(names.videos, "lifecycle", "change")]
    assert planned.pending[0].old == abort_rule(7)
    assert planned.pending[0].new == abort_rule(3)
    log.calls.clear()
    provision(load_plan(path), planned=planned, clients=clients)
    assert log.writes == ["PutBucketLifecycleConfiguration"]
    assert lifecycle(raw_s3(moto), names.videos) == [*before, abort_rule(3)]
    log.calls.clear()
    assert plan(load_plan(path), clients=clients).pending == []
    assert log.writes == []


def test_zero_days_takes_out_our_rule_only(moto: MotoServer, tmp_path: Path) -> None:
    path, names = write_plan(tmp_path, moto)
    before = with_their_rules(moto, names.videos, THEIRS)
    clients, log = counting_clients(moto)
    provision(load_plan(path), clients=clients)
    for bucket in (names.videos, names.images):
        set_bucket_field(path, bucket, "abort_incomplete_uploads_after_days = 0")
    log.calls.clear()
    result = provision(load_plan(path), clients=clients)
    assert [(c.target, c.kind) for c in result.applied] == [(names.images, "remove"), (names.videos, "remove")]
    assert sorted(lifecycle_writes(log.calls)) == ["DeleteBucketLifecycle", "PutBucketLifecycleConfiguration"]
    s3 = raw_s3(moto)
    assert lifecycle(s3, names.videos) == before
    assert lifecycle(s3, names.images) is None, "ours was its only rule: the configuration is gone"
    assert lifecycle(s3, names.assets) == [abort_rule(7)]


def test_their_rule_that_already_aborts_in_time_is_not_duplicated(moto: MotoServer, tmp_path: Path) -> None:
    path, names = write_plan(tmp_path, moto)
    covering = [{"ID": "team-abort", "Filter": {}, "Status": "Enabled", "AbortIncompleteMultipartUpload": {}}]
    covering[0]["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"] = 3
    before = with_their_rules(moto, names.images, covering)
    clients, log = counting_clients(moto)
    planned = plan(load_plan(path), clients=clients)
    change = next(c for c in planned.changes if (c.target, c.resource) == (names.images, "lifecycle"))
    assert change.kind == "in place"
    assert change.note == "rule 'team-abort' already aborts unfinished uploads after 3 days; none added"
    provision(load_plan(path), planned=planned, clients=clients)
    assert lifecycle_writes(log.calls) == ["PutBucketLifecycleConfiguration"] * 2, "only the two new buckets"
    assert lifecycle(raw_s3(moto), names.images) == before


def test_a_rule_added_while_the_plan_waited_is_kept(moto: MotoServer, tmp_path: Path) -> None:
    path, names = write_plan(tmp_path, moto)
    raw_s3(moto).create_bucket(Bucket=names.videos)
    clients, _ = counting_clients(moto)
    planned = plan(load_plan(path), clients=clients)
    assert [c.kind for c in planned.changes if (c.target, c.resource) == (names.videos, "lifecycle")] == ["create"]
    raw_s3(moto).put_bucket_lifecycle_configuration(Bucket=names.videos, LifecycleConfiguration={"Rules": THEIRS[:1]})
    provision(load_plan(path), planned=planned, clients=clients)
    assert lifecycle(raw_s3(moto), names.videos) == [THEIRS[0], abort_rule(7)]


def test_beside_an_old_form_abort_rule_nothing_is_made(moto: MotoServer, tmp_path: Path) -> None:
    path, names = write_plan(tmp_path, moto)
    legacy = [{"ID": "logs-abort", "Prefix": "logs/", "Status": "Enabled", "AbortIncompleteMultipartUpload": {}}]
    legacy[0]["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"] = 2
    before = with_their_rules(moto, names.videos, legacy)
    clients, log = counting_clients(moto)
    with pytest.raises(ConfigError) as raised:
        provision(load_plan(path), clients=clients)
    assert "buckets[2].abort_incomplete_uploads_after_days: " in str(raised.value)
    assert log.writes == []
    s3 = raw_s3(moto)
    assert lifecycle(s3, names.videos) == before
    assert names.images not in {b["Name"] for b in s3.list_buckets()["Buckets"]}


# as a user runs it ------------------------------------------------------------------------------


def bucketshift(*args: str) -> Any:
    return subprocess.run(
        [EXE, *args], capture_output=True, text=True, timeout=120, env={**os.environ, "COLUMNS": "200"}
    )


def test_plan_shows_the_lifecycle_line_per_bucket_and_json_has_it(moto: MotoServer, tmp_path: Path) -> None:
    path, names = write_plan(tmp_path, moto)
    set_bucket_field(path, names.assets, "abort_incomplete_uploads_after_days = 0")
    with_their_rules(moto, names.videos, THEIRS)
    shown = bucketshift("plan", "--config", str(path))
    assert shown.returncode == 0, shown.stderr
    lines = [line.strip() for line in shown.stdout.splitlines() if "lifecycle" in line]
    assert lines == [
        "= lifecycle            in place  none asked for (abort_incomplete_uploads_after_days = 0)",
        "+ lifecycle            create    abort unfinished multipart uploads after 7 days",
        "+ lifecycle            create    abort unfinished multipart uploads after 7 days"
        " (3 other rules kept untouched)",
    ]
    as_json = json.loads(bucketshift("plan", "--config", str(path), "--json").stdout)
    found = {c["target"]: c for c in as_json["changes"] if c["resource"] == "lifecycle"}
    assert set(found) == set(names.all)
    assert found[names.videos]["kind"] == "create"
    assert found[names.videos]["new"] == abort_rule(7)
    assert found[names.videos]["note"] == "3 other rules kept untouched"
    assert found[names.assets]["kind"] == "in place"


def test_a_bad_day_count_is_one_line_exit_2_and_nothing_changes(moto: MotoServer, tmp_path: Path) -> None:
    path, names = write_plan(tmp_path, moto)
    assert bucketshift("provision", "--config", str(path), "--yes").returncode == 0
    s3 = raw_s3(moto)
    before = {bucket: lifecycle(s3, bucket) for bucket in names.all}
    text = path.read_text(encoding="utf-8")
    for bad in ("-1", '"7"', "7.5", "3651"):
        path.write_text(text, encoding="utf-8")
        set_bucket_field(path, names.videos, f"abort_incomplete_uploads_after_days = {bad}")
        done = bucketshift("provision", "--config", str(path), "--yes")
        assert done.returncode == 2, done.stdout + done.stderr
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1, done.stderr
        assert "buckets[2].abort_incomplete_uploads_after_days: must be a whole number of days" in lines[0]
        assert "Traceback" not in done.stderr
    assert {bucket: lifecycle(s3, bucket) for bucket in names.all} == before
    path.write_text(text, encoding="utf-8")
    set_bucket_field(path, names.videos, "abort_incomplete_uploads_after_days = 5")
    assert bucketshift("provision", "--config", str(path), "--yes").returncode == 0, "a good value is applied"
    assert lifecycle(s3, names.videos) == [abort_rule(5)]
