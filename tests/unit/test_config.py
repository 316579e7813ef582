"""The plan file: what it accepts, and the one sentence it gives for each mistake."""

from __future__ import annotations

from pathlib import Path

import pytest

from bucketshift.config import LocalEndpoint, S3Endpoint, SupabaseEndpoint, load_plan, parse_plan
from bucketshift.errors import ConfigError

GOOD = """
[source]
type = "supabase"
url = "https://abcd.supabase.co"
key = "${SUPABASE_SERVICE_ROLE_KEY}"

[destination]
type = "s3"
region = "us-east-1"

[[buckets]]
source = "asset-images"
destination = "aiuteur-asset-images"
access = "public-read"

[[buckets]]
source = "videos"
destination = "aiuteur-videos"
access = "private"

[database]
dsn = "${DATABASE_URL}"
columns = ["global_assets.image_key_url", "frames.image_url"]

[transfer]
concurrency = 64
"""
ENV = {"SUPABASE_SERVICE_ROLE_KEY": "eyJ-service-role-secret", "DATABASE_URL": "postgresql://u:pw-secret@h/db"}


def test_the_documented_example_loads() -> None:
    plan = parse_plan(GOOD, env=ENV)
    assert isinstance(plan.source, SupabaseEndpoint)
    assert plan.source.key.get_secret_value() == "eyJ-service-role-secret"
    assert isinstance(plan.destination, S3Endpoint)
    assert [(b.source, b.destination, b.access) for b in plan.buckets] == [
        ("asset-images", "aiuteur-asset-images", "public-read"),
        ("videos", "aiuteur-videos", "private"),
    ]
    assert plan.database is not None
    assert plan.database.columns == ["global_assets.image_key_url", "frames.image_url"]
    assert plan.transfer.concurrency == 64


def test_secrets_never_show_in_repr_or_dump() -> None:
    plan = parse_plan(GOOD, env=ENV)
    for text in (repr(plan), str(plan), plan.model_dump_json()):
        assert "eyJ-service-role-secret" not in text
        assert "pw-secret" not in text


def test_destination_defaults_to_the_source_name() -> None:
    text = GOOD.replace('destination = "aiuteur-asset-images"\n', "")
    assert parse_plan(text, env=ENV).buckets[0].destination == "asset-images"


def test_url_keeps_only_the_origin() -> None:
    text = GOOD.replace("https://abcd.supabase.co", "https://abcd.supabase.co/storage/v1/")
    source = parse_plan(text, env=ENV).source
    assert isinstance(source, SupabaseEndpoint)
    assert source.url == "https://abcd.supabase.co"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("${SUPABASE_SERVICE_ROLE_KEY}", "${NOT_SET_ANYWHERE}"), "source.key: environment variable NOT_SET_ANYWHERE"),
        (('access = "private"', 'access = "public"'), "buckets[1].access: must be 'public-read' or 'private'"),
        (('region = "us-east-1"', 'region = "us-east-1"\nendpoint = "x"'), "destination.endpoint: unknown field"),
        (("concurrency = 64", "concurency = 64"), "transfer.concurency: unknown field; did you mean 'concurrency'?"),
        (("concurrency = 64", "concurrency = 0"), "transfer.concurrency: Input should be greater than or equal to 1"),
        (('type = "s3"', 'type = "gcs"'), "destination.type: must be one of 'supabase', 's3', 'local'"),
        (('destination = "aiuteur-videos"', 'destination = "Aiuteur_Videos"'), "buckets[1].destination:"),
        (('destination = "aiuteur-videos"', 'destination = "aiuteur-asset-images"'), "already the destination"),
        (("https://abcd.supabase.co", "abcd.supabase.co"), "source.url: "),
        (('"frames.image_url"', '"frames"'), "database.columns: "),
    ],
)
def test_each_mistake_gets_one_sentence_naming_the_field(change: tuple[str, str], expected: str) -> None:
    text = GOOD.replace(*change)
    assert text != GOOD
    with pytest.raises(ConfigError) as caught:
        parse_plan(text, where="plan.toml", env=ENV)
    message = str(caught.value)
    assert message.startswith("plan.toml: ")
    assert expected in message
    assert "\n" not in message
    assert "eyJ-service-role-secret" not in message


def test_missing_required_sections() -> None:
    with pytest.raises(ConfigError, match=r"plan.toml: buckets: required field is missing"):
        parse_plan(GOOD.split("[[buckets]]")[0], where="plan.toml", env=ENV)


def test_bad_toml_names_line_and_column() -> None:
    with pytest.raises(ConfigError, match=r"plan.toml: not valid TOML: .*line 1"):
        parse_plan("[source\n", where="plan.toml", env=ENV)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_plan(tmp_path / "nope.toml")


def test_local_path_is_relative_to_the_plan_file(tmp_path: Path) -> None:
    (tmp_path / "plan.toml").write_text(
        GOOD.replace('type = "s3"\nregion = "us-east-1"', 'type = "local"\npath = "export"'), encoding="utf-8"
    )
    plan = load_plan(tmp_path / "plan.toml", env=ENV)
    assert isinstance(plan.destination, LocalEndpoint)
    assert plan.destination.path == tmp_path.resolve() / "export"


def test_s3_keys_come_together() -> None:
    text = GOOD.replace('region = "us-east-1"', 'region = "us-east-1"\naccess_key_id = "AKIA"')
    with pytest.raises(ConfigError, match="both access_key_id and secret_access_key"):
        parse_plan(text, env=ENV)


def test_abort_incomplete_uploads_defaults_to_7_days_and_is_set_per_bucket() -> None:
    plan = parse_plan(GOOD, env=ENV)
    assert [b.abort_incomplete_uploads_after_days for b in plan.buckets] == [7, 7]
    text = GOOD.replace('access = "private"', 'access = "private"\nabort_incomplete_uploads_after_days = 0')
    assert [b.abort_incomplete_uploads_after_days for b in parse_plan(text, env=ENV).buckets] == [7, 0]
    text = GOOD.replace('access = "private"', 'access = "private"\nabort_incomplete_uploads_after_days = 3650')
    assert parse_plan(text, env=ENV).buckets[1].abort_incomplete_uploads_after_days == 3650


@pytest.mark.parametrize("value", ["-1", "3651", "7.5", "7.0", '"7"', "true", "[7]"])
def test_a_bad_abort_incomplete_uploads_value_is_one_sentence_naming_the_field(value: str) -> None:
    text = GOOD.replace('access = "private"', f'access = "private"\nabort_incomplete_uploads_after_days = {value}')
    with pytest.raises(ConfigError) as caught:
        parse_plan(text, where="plan.toml", env=ENV)
    message = str(caught.value)
    assert message.startswith("plan.toml: buckets[1].abort_incomplete_uploads_after_days: must be a whole number")
    assert "or 0 for no rule" in message
    assert "\n" not in message
