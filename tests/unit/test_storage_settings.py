"""The application's storage settings: one clear error per wrong setting, naming the variable, at
start-up; and `app-env` prints exactly what `from_env` reads back, never a secret."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bucketshift.errors import ConfigError
from bucketshift.storage import AsyncStorage, Storage, StorageSettings, bucket_variable
from bucketshift_sandbox.supabase.keys import DEFAULT_PUBLISHABLE_KEY, anon_key, service_role_key

EXE = str(Path(sys.executable).with_name("bucketshift"))
SERVICE_KEY = service_role_key()
S3_ENV = {"STORAGE_BACKEND": "s3", "AWS_REGION": "eu-west-1"}
SUPABASE_ENV = {
    "STORAGE_BACKEND": "supabase",
    "SUPABASE_URL": "https://abcd.supabase.co",
    "SUPABASE_SERVICE_ROLE_KEY": SERVICE_KEY,
}
MIRROR_ENV = {**S3_ENV, **SUPABASE_ENV, "STORAGE_BACKEND": "mirror", "STORAGE_PRIMARY": "supabase"}

PLAN = """
[source]
type = "supabase"
url = "https://abcd.supabase.co/"
key = "${{SUPABASE_SERVICE_ROLE_KEY}}"

[destination]
type = "s3"
region = "eu-west-1"
{endpoint}

[[buckets]]
source = "asset-images"
destination = "acme-asset-images"
access = "public-read"

[[buckets]]
source = "images"
destination = "acme-images"
access = "public-read"

[[buckets]]
source = "videos"
destination = "acme-videos"
access = "private"
{database}
"""


def write_plan(tmp_path: Path, *, endpoint: str = "", database: str = "") -> Path:
    path = tmp_path / "plan.toml"
    path.write_text(PLAN.format(endpoint=endpoint, database=database), encoding="utf-8")
    return path


def test_the_defaults_are_the_first_users_buckets() -> None:
    settings = StorageSettings.from_env(S3_ENV)
    assert dict(settings.buckets) == {
        "asset-images": "aiuteur-asset-images",
        "images": "aiuteur-images",
        "videos": "aiuteur-videos",
    }
    assert settings.private == {"videos"}
    assert settings.sides == ("s3",)
    assert settings.supabase_key is None
    assert bucket_variable("asset-images") == "S3_ASSET_IMAGES_BUCKET"


def test_bucket_variables_and_private_buckets_are_read() -> None:
    env = {**S3_ENV, "S3_IMAGES_BUCKET": "prod-images", "STORAGE_PRIVATE_BUCKETS": "videos,asset-images",
           "AWS_ENDPOINT_URL_S3": "http://127.0.0.1:9000/", "STORAGE_PRIVATE_URL_STYLE": "key"}  # fmt: skip
    settings = StorageSettings.from_env(env)
    assert settings.buckets["images"] == "prod-images"
    assert settings.private == {"videos", "asset-images"}
    assert settings.endpoint_url == "http://127.0.0.1:9000"
    assert settings.private_url_style == "key"


def test_region_may_come_from_aws_default_region() -> None:
    env = {"STORAGE_BACKEND": "s3", "AWS_DEFAULT_REGION": "ap-south-1"}
    assert StorageSettings.from_env(env).region == "ap-south-1"


def test_mirror_has_both_sides_primary_first() -> None:
    assert StorageSettings.from_env(MIRROR_ENV).sides == ("supabase", "s3")
    assert StorageSettings.from_env({**MIRROR_ENV, "STORAGE_PRIMARY": "s3"}).sides == ("s3", "supabase")


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({"AWS_REGION": "eu-west-1"}, "STORAGE_BACKEND is not set; set it to one of: s3, supabase, mirror"),
        ({**S3_ENV, "STORAGE_BACKEND": "gcs"}, "STORAGE_BACKEND is 'gcs'; set it to one of: s3, supabase, mirror"),
        ({"STORAGE_BACKEND": "s3"}, "AWS_REGION is not set; set it to the region of the S3 buckets"),
        ({**MIRROR_ENV, "AWS_REGION": "  "}, "AWS_REGION is not set"),
        ({**MIRROR_ENV, "STORAGE_PRIMARY": ""}, "STORAGE_PRIMARY is not set; with STORAGE_BACKEND=mirror set it to"),
        ({**MIRROR_ENV, "STORAGE_PRIMARY": "gcs"}, "STORAGE_PRIMARY is 'gcs'"),
        ({**S3_ENV, "S3_VIDEOS_BUCKET": "Videos_Bucket"}, "S3_VIDEOS_BUCKET is 'Videos_Bucket', which is not a valid"),
        ({**S3_ENV, "STORAGE_PRIVATE_BUCKETS": "movies"}, "STORAGE_PRIVATE_BUCKETS names 'movies', which is not one"),
        ({**S3_ENV, "AWS_ENDPOINT_URL_S3": "127.0.0.1:9000"}, "AWS_ENDPOINT_URL_S3 is not an http(s) URL"),
        ({**S3_ENV, "STORAGE_PRIVATE_URL_STYLE": "https"}, "STORAGE_PRIVATE_URL_STYLE is 'https'"),
        ({**SUPABASE_ENV, "SUPABASE_URL": ""}, "SUPABASE_URL is not set"),
        ({**SUPABASE_ENV, "SUPABASE_URL": "abcd.supabase.co"}, "SUPABASE_URL is not a Supabase project URL"),
        ({**S3_ENV, "SUPABASE_URL": "not a url"}, "SUPABASE_URL is not a Supabase project URL"),
        ({**SUPABASE_ENV, "SUPABASE_URL": "https://abcd.supabase.co/rest/v1"}, "SUPABASE_URL is not a Supabase"),
        ({**SUPABASE_ENV, "SUPABASE_URL": "http://127.0.0.1:99999"}, "SUPABASE_URL is not a Supabase project URL"),
        ({**SUPABASE_ENV, "SUPABASE_SERVICE_ROLE_KEY": ""}, "SUPABASE_SERVICE_ROLE_KEY is not set"),
        ({**SUPABASE_ENV, "SUPABASE_SERVICE_ROLE_KEY": anon_key()}, "SUPABASE_SERVICE_ROLE_KEY: this is the project's anon key"),  # noqa: E501
        ({**MIRROR_ENV, "SUPABASE_SERVICE_ROLE_KEY": DEFAULT_PUBLISHABLE_KEY}, "SUPABASE_SERVICE_ROLE_KEY: this is a publishable key"),  # noqa: E501
    ],
    ids=["backend-unset", "backend-unknown", "region-missing", "region-blank", "primary-unset", "primary-unknown",
         "bucket-name-invalid", "private-unknown", "endpoint-not-url", "url-style-unknown", "supabase-url-unset",
         "supabase-url-not-url", "supabase-url-bad-with-s3", "supabase-url-with-path", "supabase-url-bad-port",
         "key-unset", "key-anon", "key-publishable"],
)  # fmt: skip
def test_a_wrong_setting_is_one_error_naming_the_variable(env: dict[str, str], names: str) -> None:
    with pytest.raises(ConfigError) as caught:
        StorageSettings.from_env(env)
    message = str(caught.value)
    assert names in message
    assert "\n" not in message
    for secret in (SERVICE_KEY, anon_key(), DEFAULT_PUBLISHABLE_KEY):
        assert secret not in message


def test_the_clients_fail_at_construction_not_at_the_first_upload() -> None:
    with pytest.raises(ConfigError, match="AWS_REGION is not set"):
        AsyncStorage.from_env({"STORAGE_BACKEND": "s3"})
    with pytest.raises(ConfigError, match="STORAGE_BACKEND is 'minio'"):
        Storage.from_env({"STORAGE_BACKEND": "minio"})


def test_from_env_reads_the_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STORAGE_BACKEND", "s3")
    monkeypatch.setenv("AWS_REGION", "us-west-2")
    monkeypatch.setenv("S3_VIDEOS_BUCKET", "from-process-videos")
    settings = StorageSettings.from_env()
    assert (settings.region, settings.buckets["videos"]) == ("us-west-2", "from-process-videos")


def test_the_settings_never_show_the_key() -> None:
    settings = StorageSettings.from_env(MIRROR_ENV)
    assert SERVICE_KEY not in repr(settings)
    assert SERVICE_KEY not in str(settings.to_env())


def test_from_plan_takes_buckets_access_and_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUPABASE_SERVICE_ROLE_KEY", SERVICE_KEY)
    plan = write_plan(tmp_path, endpoint='endpoint_url = "http://127.0.0.1:9000"')
    settings = StorageSettings.from_plan(plan, backend="mirror", primary="supabase")
    assert dict(settings.buckets) == {"asset-images": "acme-asset-images", "images": "acme-images",
                                      "videos": "acme-videos"}  # fmt: skip
    assert settings.private == {"videos"}
    assert (settings.region, settings.endpoint_url) == ("eu-west-1", "http://127.0.0.1:9000")
    assert settings.supabase_url == "https://abcd.supabase.co"
    assert settings.sides == ("supabase", "s3")


def test_from_plan_refuses_an_anon_key_for_the_supabase_side(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUPABASE_SERVICE_ROLE_KEY", anon_key())
    plan = write_plan(tmp_path)
    with pytest.raises(ConfigError, match=r"source\.key: this is the project's anon key"):
        StorageSettings.from_plan(plan, backend="supabase")
    assert StorageSettings.from_plan(plan, backend="s3").supabase_key is None


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([EXE, *args], capture_output=True, text=True, timeout=60, env=env or {**os.environ})


def parse_dotenv(text: str) -> dict[str, str]:
    pairs = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            pairs[name] = json.loads(value) if value.startswith('"') else value
    return pairs


@pytest.mark.parametrize(
    ("backend", "primary"), [("s3", None), ("supabase", None), ("mirror", "supabase"), ("mirror", "s3")]
)
def test_app_env_prints_what_from_env_reads_back(tmp_path: Path, backend: str, primary: str | None) -> None:
    plan = write_plan(
        tmp_path, endpoint='endpoint_url = "http://127.0.0.1:9000"', database='[database]\ndsn = "postgresql://app@127.0.0.1/app"\nprivate_url_style = "key"'  # noqa: E501
    )  # fmt: skip
    env = {**os.environ, "SUPABASE_SERVICE_ROLE_KEY": SERVICE_KEY}
    args = ["app-env", "--config", str(plan), "--backend", backend, *(["--primary", primary] if primary else [])]
    dotenv = run_cli(*args, env=env)
    as_json = run_cli(*args, "--format", "json", env=env)
    assert dotenv.returncode == 0, dotenv.stderr
    assert as_json.returncode == 0, as_json.stderr
    for out in (dotenv.stdout, as_json.stdout):
        assert SERVICE_KEY not in out
        assert SERVICE_KEY.split(".")[-1] not in out
    variables = parse_dotenv(dotenv.stdout)
    document = json.loads(as_json.stdout)
    assert variables == document["variables"]
    assert document["secrets"] == ([] if backend == "s3" else ["SUPABASE_SERVICE_ROLE_KEY"])
    assert ("# SUPABASE_SERVICE_ROLE_KEY: set it from your secret store" in dotenv.stdout) == (backend != "s3")
    read_back = StorageSettings.from_env({**variables, "SUPABASE_SERVICE_ROLE_KEY": SERVICE_KEY})
    expected = StorageSettings.from_plan(plan, backend=backend, primary=primary, env=env)  # type: ignore[arg-type]
    for field in ("backend", "primary", "buckets", "private", "region", "endpoint_url", "public_base_url",
                  "supabase_url", "private_url_style", "sides"):  # fmt: skip
        assert getattr(read_back, field) == getattr(expected, field), field
    assert variables["S3_VIDEOS_BUCKET"] == "acme-videos"
    assert variables["STORAGE_PRIVATE_BUCKETS"] == "videos"


def test_app_env_needs_no_secret_in_the_environment(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "SUPABASE_SERVICE_ROLE_KEY"}
    done = run_cli("app-env", "--config", str(write_plan(tmp_path)), "--backend", "mirror", "--primary", "s3", env=env)
    assert done.returncode == 0, done.stderr
    assert "${" not in done.stdout
    assert "STORAGE_PRIMARY=s3" in done.stdout.splitlines()


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--backend", "s3", "--primary", "supabase"], "a primary (supabase) is only chosen with the mirror backend"),
        (["--backend", "gcs"], "Invalid value for '--backend'"),
        (["--format", "yaml"], "Invalid value for '--format'"),
    ],
)
def test_app_env_bad_options_are_one_line_exit_2(tmp_path: Path, args: list[str], says: str) -> None:
    done = run_cli("app-env", "--config", str(write_plan(tmp_path)), *args)
    assert done.returncode == 2
    assert says in done.stderr
    assert done.stdout == ""
    assert "Traceback" not in done.stderr


def test_app_env_of_a_missing_plan_is_one_line(tmp_path: Path) -> None:
    done = run_cli("app-env", "--config", str(tmp_path / "nope.toml"))
    assert done.returncode == 2
    assert "plan file" in done.stderr
    assert "not found" in done.stderr
