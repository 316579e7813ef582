"""The abort-unfinished-uploads lifecycle rule as data: desired state, planning, merging, the diff."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from tests.provision.test_desired import plan, provisioned

from bucketshift.errors import ConfigError
from bucketshift.provision.desired import desired_state
from bucketshift.provision.diff import lifecycle_change
from bucketshift.provision.lifecycle import (
    RULE_ID,
    abort_days,
    abort_rule,
    merge_rule,
    old_form,
    plan_abort_rule,
    same_rule,
    whole_bucket,
)
from bucketshift.provision.live import LiveBucket
from bucketshift.provision.posture import bucket_posture

EXPIRE_TMP = {"ID": "expire-tmp", "Filter": {"Prefix": "tmp/"}, "Status": "Enabled", "Expiration": {"Days": 30}}
TO_GLACIER = {
    "ID": "archive",
    "Filter": {},
    "Status": "Disabled",
    "Transitions": [{"Days": 90, "StorageClass": "GLACIER"}],
}


def team_abort(days: int, **changes: Any) -> dict[str, Any]:
    """Another team's abort rule, for the whole bucket unless `changes` says otherwise."""
    rule = {"ID": "team-abort", "Filter": {}, "Status": "Enabled", "AbortIncompleteMultipartUpload": {}}
    rule["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"] = days
    return {**rule, **changes}


def test_our_rule_is_this_document_in_either_form() -> None:
    assert abort_rule(7) == {
        "ID": "bucketshift-abort-incomplete-multipart-uploads",
        "Filter": {"Prefix": ""},
        "Status": "Enabled",
        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7},
    }
    assert abort_rule(3, old=True) == {
        "ID": RULE_ID,
        "Prefix": "",
        "Status": "Enabled",
        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 3},
    }


def test_days_come_from_each_mapping_and_zero_means_no_rule() -> None:
    images, videos = desired_state(plan(videos="abort_incomplete_uploads_after_days = 30")).buckets
    assert (images.abort_uploads_after_days, videos.abort_uploads_after_days) == (7, 30)
    images, _ = desired_state(plan(images="abort_incomplete_uploads_after_days = 0")).buckets
    assert images.abort_uploads_after_days is None
    assert images.abort_field == "buckets[0].abort_incomplete_uploads_after_days"


@pytest.mark.parametrize(
    ("rule", "whole"),
    [
        ({"Filter": {"Prefix": ""}}, True),
        ({"Filter": {}}, True),
        ({"Prefix": ""}, True),
        ({"Filter": {"Prefix": "uploads/"}}, False),
        ({"Prefix": "uploads/"}, False),
        ({"Filter": {"Tag": {"Key": "k", "Value": "v"}}}, False),
        ({"Filter": {"And": {"Prefix": "", "Tags": [{"Key": "k", "Value": "v"}]}}}, False),
        ({"Filter": {"ObjectSizeGreaterThan": 1000}}, False),
    ],
)
def test_whole_bucket_means_every_key_and_nothing_narrower(rule: dict[str, Any], whole: bool) -> None:
    assert whole_bucket(rule) is whole


def test_abort_days_only_for_an_enabled_whole_bucket_abort() -> None:
    assert abort_days(team_abort(3)) == 3
    assert abort_days(abort_rule(7, old=True)) == 7
    assert abort_days(team_abort(3, Status="Disabled")) is None
    assert abort_days(team_abort(3, Filter={"Prefix": "uploads/"})) is None
    assert abort_days(EXPIRE_TMP) is None
    assert abort_days(None) is None


def test_same_rule_ignores_how_the_whole_bucket_is_written_but_nothing_else() -> None:
    assert same_rule(abort_rule(7), abort_rule(7, old=True))
    assert same_rule(abort_rule(7), {**abort_rule(7), "Filter": {}})
    assert not same_rule(abort_rule(7), abort_rule(8))
    assert not same_rule(abort_rule(7), {**abort_rule(7), "Status": "Disabled"})
    assert not same_rule(abort_rule(7), {**abort_rule(7), "Expiration": {"Days": 1}})
    assert not same_rule(abort_rule(7), {**abort_rule(7), "Filter": {"Prefix": "a/"}})
    assert same_rule(None, None)
    assert not same_rule(None, abort_rule(7))


def test_merge_keeps_every_other_rule_as_given_and_in_order() -> None:
    theirs = [EXPIRE_TMP, TO_GLACIER]
    before = copy.deepcopy(theirs)
    assert merge_rule(theirs, abort_rule(7)) == [EXPIRE_TMP, TO_GLACIER, abort_rule(7)]
    assert theirs == before, "the live list is not modified"
    assert merge_rule([EXPIRE_TMP, abort_rule(3), TO_GLACIER], abort_rule(7)) == [
        EXPIRE_TMP,
        abort_rule(7),
        TO_GLACIER,
    ], "ours is replaced where it stands"
    assert merge_rule([EXPIRE_TMP, abort_rule(3), TO_GLACIER], None) == [EXPIRE_TMP, TO_GLACIER]
    assert merge_rule([abort_rule(3)], None) == []
    assert merge_rule(None, abort_rule(7)) == [abort_rule(7)]
    assert merge_rule(None, None) == []


def test_old_form_is_decided_by_the_other_rules() -> None:
    assert old_form([{"ID": "legacy", "Prefix": "logs/", "Status": "Enabled", "Expiration": {"Days": 1}}])
    assert not old_form([EXPIRE_TMP])
    assert not old_form([abort_rule(7, old=True)]), "our own rule alone does not force the old form"
    assert not old_form(None)


def test_planning_the_rule_from_what_exists() -> None:
    assert plan_abort_rule(None, 7).wanted == abort_rule(7)
    assert plan_abort_rule([EXPIRE_TMP], 7).wanted == abort_rule(7)
    legacy = {"ID": "legacy", "Prefix": "logs/", "Status": "Enabled", "Expiration": {"Days": 1}}
    assert plan_abort_rule([legacy], 7).wanted == abort_rule(7, old=True), "S3 refuses a mix of forms"
    assert plan_abort_rule([abort_rule(3)], None).live == abort_rule(3)
    assert plan_abort_rule([abort_rule(3)], None).wanted is None


def test_another_rule_that_aborts_soon_enough_is_not_duplicated() -> None:
    covered = plan_abort_rule([EXPIRE_TMP, team_abort(3)], 7)
    assert covered.wanted is None
    assert covered.covered == team_abort(3)
    assert plan_abort_rule([team_abort(7)], 7).covered == team_abort(7), "the same number of days is enough"


@pytest.mark.parametrize(
    "theirs",
    [
        team_abort(8),
        team_abort(3, Status="Disabled"),
        team_abort(3, Filter={"Prefix": "uploads/"}),
        team_abort(3, Filter={"Tag": {"Key": "k", "Value": "v"}}),
    ],
    ids=["later", "disabled", "one-prefix", "tagged"],
)
def test_another_abort_rule_that_does_not_cover_the_bucket_in_time_gets_ours_beside_it(theirs: dict[str, Any]) -> None:
    planned = plan_abort_rule([theirs], 7)
    assert planned.covered is None
    assert planned.wanted == abort_rule(7)


def test_ours_already_there_is_kept_in_step_even_beside_a_covering_rule() -> None:
    planned = plan_abort_rule([team_abort(2), abort_rule(3)], 7)
    assert planned.covered is None
    assert (planned.live, planned.wanted) == (abort_rule(3), abort_rule(7))


# the diff ---------------------------------------------------------------------------------------


def bucket_with(rules: list[dict[str, Any]] | None, name: str = "app-videos") -> LiveBucket:
    return provisioned(name, "private", lifecycle=rules)


def videos(text: str = "") -> Any:
    return desired_state(plan(videos=text)).buckets[1]


def test_a_new_bucket_gets_the_rule_created() -> None:
    change = lifecycle_change(videos(), LiveBucket("app-videos", exists=False, owned=False))
    assert (change.kind, change.old, change.new, change.note) == ("create", None, abort_rule(7), None)


def test_beside_other_rules_only_ours_is_created_and_theirs_are_counted_as_kept() -> None:
    change = lifecycle_change(videos(), bucket_with([EXPIRE_TMP, TO_GLACIER]))
    assert (change.kind, change.old, change.new) == ("create", None, abort_rule(7))
    assert change.note == "2 other rules kept untouched"


def test_a_changed_day_count_is_a_change_with_old_and_new() -> None:
    change = lifecycle_change(
        videos("abort_incomplete_uploads_after_days = 3"), bucket_with([abort_rule(7), EXPIRE_TMP])
    )
    assert change.kind == "change"
    assert change.old == abort_rule(7)
    assert change.new == abort_rule(3)
    assert change.note == "1 other rule kept untouched"


def test_the_same_rule_is_in_place() -> None:
    change = lifecycle_change(videos(), bucket_with([EXPIRE_TMP, abort_rule(7)]))
    assert (change.kind, change.note) == ("in place", None)
    assert not change.pending


def test_ours_edited_by_hand_is_put_back() -> None:
    disabled = {**abort_rule(7), "Status": "Disabled"}
    change = lifecycle_change(videos(), bucket_with([disabled]))
    assert (change.kind, change.old, change.new) == ("change", disabled, abort_rule(7))


def test_a_covering_rule_of_theirs_is_in_place_and_says_so() -> None:
    change = lifecycle_change(videos(), bucket_with([team_abort(3)]))
    assert change.kind == "in place"
    assert change.new == team_abort(3)
    assert change.note == "rule 'team-abort' already aborts unfinished uploads after 3 days; none added"


def test_zero_days_removes_ours_only_and_asks_nothing_when_there_is_none() -> None:
    change = lifecycle_change(
        videos("abort_incomplete_uploads_after_days = 0"), bucket_with([EXPIRE_TMP, abort_rule(7)])
    )
    assert (change.kind, change.old, change.new) == ("remove", abort_rule(7), None)
    untouched = lifecycle_change(videos("abort_incomplete_uploads_after_days = 0"), bucket_with([EXPIRE_TMP]))
    assert (untouched.kind, untouched.old, untouched.new) == ("in place", None, None)
    assert untouched.note == "none asked for (abort_incomplete_uploads_after_days = 0)"


def test_beside_an_old_form_abort_rule_the_plan_stops_with_one_sentence() -> None:
    legacy = {"ID": "logs-abort", "Prefix": "logs/", "Status": "Enabled", "AbortIncompleteMultipartUpload": {}}
    legacy["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"] = 2
    with pytest.raises(ConfigError) as raised:
        lifecycle_change(videos(), bucket_with([legacy]), "plan.toml")
    message = str(raised.value)
    assert message.startswith("plan.toml: buckets[1].abort_incomplete_uploads_after_days: bucket app-videos has rule")
    assert "'logs-abort'" in message
    assert "set abort_incomplete_uploads_after_days = 0" in message
    assert "\n" not in message
    assert lifecycle_change(videos("abort_incomplete_uploads_after_days = 0"), bucket_with([legacy])).kind == "in place"
    whole = {**legacy, "Prefix": ""}
    assert lifecycle_change(videos(), bucket_with([whole])).kind == "in place", "it covers the bucket: no clash"


def test_a_missing_rule_is_a_change_to_make_not_an_exposure_finding() -> None:
    live = bucket_with(None)
    assert bucket_posture(videos(), live).findings == [], "it costs money but lets nobody in"
    assert lifecycle_change(videos(), live).kind == "create", "plan still shows it"
