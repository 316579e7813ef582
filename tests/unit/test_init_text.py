"""The text `bucketshift init` writes: names from outside quoted so they read back exactly, S3 names
checked, and a plan the plan file's own loader accepts given the variables it names."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bucketshift.config import parse_plan, split_column_name
from bucketshift.database.columns import Column
from bucketshift.errors import ConfigError, UsageError
from bucketshift.operations.init import (
    FoundColumn,
    InitRequest,
    PlannedBucket,
    check_prefix,
    column_name,
    destination_name,
    init_plan,
    plan_buckets,
    render_plan,
    toml_string,
)
from bucketshift.stores.base import BucketInfo

HOSTILE = [
    'say "hi"',
    "back\\slash",
    "new\nline",
    "tab\there",
    "bell\x07",
    "del\x7f",
    "é ü 名",
    '"""',
    "# not a comment",
]
BUCKETS = [
    PlannedBucket("asset-images", "aiuteur-asset-images", "public-read"),
    PlannedBucket("videos", "aiuteur-videos", "private"),
]
ENV = {"SUPABASE_SERVICE_ROLE_KEY": "service-key", "DATABASE_URL": "postgresql://u:pw@db/app"}


@pytest.mark.parametrize("value", HOSTILE)
def test_a_string_reads_back_exactly(value: str) -> None:
    assert tomllib.loads(f"x = {toml_string(value)}\n")["x"] == value


@pytest.mark.parametrize("value", ['say "hi"', "back\\slash", "new\nline", "bell\x07", "del\x7f", '"""'])
def test_plain_quoting_would_break_those_strings(value: str) -> None:
    try:
        read = tomllib.loads(f'x = "{value}"\n').get("x")
    except tomllib.TOMLDecodeError:
        read = None
    assert read != value


@given(st.text())
def test_any_text_reads_back_exactly(value: str) -> None:
    assert tomllib.loads(f"x = {toml_string(value)}  # comment\n")["x"] == value


@pytest.mark.parametrize("prefix", ["", "aiuteur-", "app.v2-", "a1"])
def test_a_prefix_that_can_start_an_s3_name_passes(prefix: str) -> None:
    check_prefix(prefix)


@pytest.mark.parametrize("prefix", ["Aiuteur-", "app_", "-app", ".app", "a..b-", "xn--app", "sthree-x", "a" * 61, "ä-"])
def test_a_prefix_that_cannot_start_an_s3_name_is_refused(prefix: str) -> None:
    with pytest.raises(UsageError, match=r"--prefix .* cannot start an S3 bucket name"):
        check_prefix(prefix)


def test_destination_is_prefix_and_name_unless_the_name_is_not_valid_in_s3() -> None:
    assert destination_name("aiuteur-", "images") == ("aiuteur-images", False)
    assert destination_name("", "videos") == ("videos", False)
    assert destination_name("aiuteur-", "User_Uploads") == ("aiuteur-user-uploads", True)
    assert destination_name("aiuteur-", "My  Files (old)") == ("aiuteur-my-files-old", True)
    assert destination_name("", "a..b") == ("a.b", True)


@pytest.mark.parametrize(
    ("prefix", "source"), [("", "ab"), ("", "__"), ("aiuteur-", "x" * 60), ("", "192.168.1.1"), ("", "x-s3alias")]
)
def test_a_destination_that_cannot_be_made_valid_is_one_clear_error(prefix: str, source: str) -> None:
    with pytest.raises(UsageError, match=r"is not a valid S3 bucket name .*; use a shorter or different --prefix"):
        destination_name(prefix, source)


@pytest.mark.parametrize(
    ("column", "expected"),
    [
        (Column("public", "frames", "image_url", "text", ("id",)), "frames.image_url"),
        (Column("app", "Odd Table", "Image URL", "text", ("id",)), 'app."Odd Table"."Image URL"'),
        (Column("public", "my.table", "url", "text", ("id",)), '"my.table".url'),
        (Column("public", 'say "x"', "url", "text", ("id",)), '"say ""x""".url'),
    ],
)
def test_column_names_are_written_as_the_plan_reads_them(column: Column, expected: str) -> None:
    assert column_name(column) == expected
    parts = [column.table, column.column] if column.schema == "public" else [column.schema, column.table, column.column]
    assert split_column_name(expected) == parts


def test_a_dotted_name_written_plainly_would_name_another_column() -> None:
    assert split_column_name("my.table.url") == ["my", "table", "url"]


@given(st.lists(st.text(min_size=1), min_size=3, max_size=3))
def test_any_column_name_splits_back_into_its_parts(parts: list[str]) -> None:
    assert split_column_name(column_name(Column(*parts, "text", ()))) == (
        [*parts] if parts[0] != "public" else parts[1:]
    )


def _columns(*names: str) -> list[FoundColumn]:
    return [FoundColumn(name, 3, 0) for name in names]


def test_the_rendered_plan_loads_with_its_variables_and_not_without() -> None:
    columns = _columns("global_assets.image_key_url", 'app."Odd Table"."Image URL"', 'weird."x\n[source]"."y"')
    text = render_plan("https://abcd.supabase.co", BUCKETS, region="eu-west-3", endpoint_url=None, columns=columns)
    plan = parse_plan(text, env=ENV)
    assert [(b.source, b.destination, b.access) for b in plan.buckets] == [
        ("asset-images", "aiuteur-asset-images", "public-read"),
        ("videos", "aiuteur-videos", "private"),
    ]
    assert plan.source.key.get_secret_value() == "service-key"  # type: ignore[union-attr]
    assert plan.destination.region == "eu-west-3"  # type: ignore[union-attr]
    assert plan.database is not None
    assert plan.database.columns == [c.name for c in columns]
    assert plan.database.dsn.get_secret_value() == ENV["DATABASE_URL"]
    with pytest.raises(ConfigError, match="DATABASE_URL is not set"):
        parse_plan(text, env={"SUPABASE_SERVICE_ROLE_KEY": "k"})


def test_every_field_line_says_what_it_is() -> None:
    columns = _columns("frames.image_url")
    text = render_plan("https://abcd.supabase.co", BUCKETS, region="us-east-1", endpoint_url=None, columns=columns)
    fields = [line for line in text.splitlines() if re.match(r"^(# )?(\[|[a-z_]+ = |  \")", line)]
    assert len(fields) > 20
    for line in fields:
        assert " # " in line, f"no comment on: {line}"


def test_without_a_database_the_section_is_commented_out_and_with_one_an_empty_list_is_written() -> None:
    url = "https://abcd.supabase.co"
    none = render_plan(url, BUCKETS, region="us-east-1", endpoint_url=None, columns=None)
    assert parse_plan(none, env={"SUPABASE_SERVICE_ROLE_KEY": "k"}).database is None
    empty = render_plan(url, BUCKETS, region="us-east-1", endpoint_url="http://127.0.0.1:9000", columns=[])
    plan = parse_plan(empty, env=ENV)
    assert plan.database is not None
    assert plan.database.columns == []
    assert plan.destination.endpoint_url == "http://127.0.0.1:9000"  # type: ignore[union-attr]


def test_columns_that_only_mention_the_project_are_named_in_a_comment_that_stays_one() -> None:
    mention = [FoundColumn('notes."x\n[source]"', 0, 4)]
    text = render_plan(
        "https://abcd.supabase.co", BUCKETS, region="us-east-1", endpoint_url=None, columns=[], mentions_only=mention
    )
    plan = parse_plan(text, env=ENV)
    assert plan.database is not None
    assert plan.database.columns == []
    assert '#   "notes.\\"x\\n[source]\\"" (4 rows)' in text


@pytest.mark.parametrize(
    ("request_", "expected"),
    [
        (InitRequest(None), "no Supabase project: pass --supabase-url"),
        (InitRequest("ftp://abcd.supabase.co"), "--supabase-url: url must be an http(s) URL"),
        (InitRequest("https://abcd.supabase.co/rest/v1"), "--supabase-url: url must be the project URL"),
        (InitRequest("https://abcd.supabase.co", region="us east"), "--region 'us east' is not a region name"),
        (InitRequest("https://abcd.supabase.co", endpoint_url="minio:9000"), "--endpoint-url: endpoint_url must be"),
        (InitRequest("https://abcd.supabase.co", prefix="Bad_"), "--prefix 'Bad_' cannot start"),
    ],
)
async def test_bad_options_are_refused_before_any_request(request_: InitRequest, expected: str) -> None:
    with pytest.raises(UsageError) as caught:
        await init_plan(request_, env={"SUPABASE_SERVICE_ROLE_KEY": "a-key-of-no-known-shape"})
    assert expected in caught.value.message


async def test_an_existing_file_is_refused_before_anything_else(tmp_path: Path) -> None:
    target = tmp_path / "plan.toml"
    target.write_text("x", encoding="utf-8")
    with pytest.raises(UsageError, match="already exists"):
        await init_plan(InitRequest(None, prefix="Bad_", output=target), env={})
    assert target.read_text(encoding="utf-8") == "x"
    dangling = tmp_path / "link.toml"
    dangling.symlink_to(tmp_path / "nowhere.toml")
    with pytest.raises(UsageError, match="already exists"):
        await init_plan(InitRequest(None, output=dangling), env={})
    assert not (tmp_path / "nowhere.toml").exists()
    with pytest.raises(UsageError, match="no Supabase project"):
        await init_plan(InitRequest(None, output=tmp_path / "new.toml"), env={"SUPABASE_SERVICE_ROLE_KEY": "k"})


def test_buckets_keep_their_public_flag_as_access_and_two_made_alike_are_refused() -> None:
    listed = [BucketInfo("videos", False), BucketInfo("images", True), BucketInfo("My_Files", None)]
    assert plan_buckets("aiuteur-", listed) == [
        PlannedBucket("My_Files", "aiuteur-my-files", "private", renamed=True),
        PlannedBucket("images", "aiuteur-images", "public-read"),
        PlannedBucket("videos", "aiuteur-videos", "private"),
    ]
    with pytest.raises(UsageError, match="'My_Files' and 'my-files' would both go to 'aiuteur-my-files'"):
        plan_buckets("aiuteur-", [*listed, BucketInfo("my-files", True)])
