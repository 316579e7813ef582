"""`read_value`: every form a row may hold names one object of the application's buckets, or is
refused with one sentence (never guessed)."""

from __future__ import annotations

import pytest

from bucketshift.errors import StoredValueError
from bucketshift.storage import StorageSettings
from bucketshift.storage.values import read_value
from bucketshift_sandbox.supabase.keys import service_role_key

ENV = {
    "STORAGE_BACKEND": "s3",
    "AWS_REGION": "eu-west-1",
    "SUPABASE_URL": "https://abcd.supabase.co",
}
CUSTOM = {**ENV, "AWS_ENDPOINT_URL_S3": "http://127.0.0.1:9000", "S3_PUBLIC_BASE_URL": "https://cdn.example.com"}
KEY = "project_1/branch_1/frames/frame 1+(a).png"
ENCODED = "project_1/branch_1/frames/frame%201%2B%28a%29.png"
EXPIRED = "eyJhbGciOiJIUzI1NiJ9.eyJ1cmwiOiJ2aWRlb3MvYS5tcDQiLCJleHAiOjE3MDAwMDAwMDB9.sig"


@pytest.mark.parametrize(
    ("value", "bucket", "key", "form"),
    [
        (f"https://aiuteur-images.s3.eu-west-1.amazonaws.com/{ENCODED}", "images", KEY, "s3-url"),
        (f"https://s3.eu-west-1.amazonaws.com/aiuteur-images/{ENCODED}", "images", KEY, "s3-url"),
        (f"https://aiuteur-images.s3.amazonaws.com/{ENCODED}?X-Amz-Expires=60", "images", KEY, "s3-url"),
        ("s3://aiuteur-videos/project_1/videos/job 7.mp4", "videos", "project_1/videos/job 7.mp4", "s3-uri"),
        (f"https://abcd.supabase.co/storage/v1/object/public/images/{ENCODED}", "images", KEY, "supabase-public"),
        ("https://abcd.supabase.co/storage/v1/object/authenticated/videos/a/b.mp4", "videos", "a/b.mp4",
         "supabase-authenticated"),
        (f"https://abcd.supabase.co/storage/v1/object/sign/videos/a/b.mp4?token={EXPIRED}", "videos", "a/b.mp4",
         "supabase-sign"),
        (f"https://abcd.supabase.co/storage/v1/render/image/public/images/{ENCODED}?width=320&quality=75",
         "images", KEY, "supabase-render"),
        ("https://abcd.supabase.co/storage/v1/object/images/a.png", "images", "a.png", "supabase-public"),
        ("https://abcd.storage.supabase.co/storage/v1/object/public/asset-images/x.webp", "asset-images", "x.webp",
         "supabase-public"),
    ],
    ids=["s3-virtual", "s3-path", "s3-presigned-query-ignored", "s3-uri", "supabase-public", "supabase-authenticated",
         "supabase-sign-expired", "supabase-render", "supabase-plain", "supabase-storage-host"],
)  # fmt: skip
def test_every_stored_form_names_its_object(value: str, bucket: str, key: str, form: str) -> None:
    found = read_value(value, StorageSettings.from_env(ENV))
    assert (found.bucket, found.key, found.form) == (bucket, key, form)


def test_custom_endpoint_and_public_base_are_read() -> None:
    settings = StorageSettings.from_env(CUSTOM)
    path_style = read_value(f"http://127.0.0.1:9000/aiuteur-images/{ENCODED}", settings)
    cdn = read_value(f"https://cdn.example.com/aiuteur-asset-images/{ENCODED}", settings)
    assert (path_style.bucket, path_style.key) == ("images", KEY)
    assert (cdn.bucket, cdn.key) == ("asset-images", KEY)


def test_a_bare_key_needs_its_bucket() -> None:
    settings = StorageSettings.from_env(ENV)
    found = read_value("project_1/videos/job_7.mp4", settings, bucket="videos")
    assert (found.bucket, found.key, found.form) == ("videos", "project_1/videos/job_7.mp4", "key")
    assert read_value("/a.png", settings, bucket="aiuteur-images").bucket == "images"
    with pytest.raises(StoredValueError, match=r"is a bare key; pass its bucket too"):
        read_value("project_1/videos/job_7.mp4", settings)


def test_supabase_urls_are_read_without_supabase_settings() -> None:
    """After the move SUPABASE_URL may be gone; rows not rewritten still name their objects."""
    settings = StorageSettings.from_env({"STORAGE_BACKEND": "s3", "AWS_REGION": "eu-west-1"})
    assert settings.supabase_url is None
    found = read_value("http://127.0.0.1:54321/storage/v1/object/sign/videos/v.mp4?token=x", settings)
    assert (found.bucket, found.key, found.form) == ("videos", "v.mp4", "supabase-sign")


@pytest.mark.parametrize(
    ("value", "bucket", "says"),
    [
        ("", None, "the stored value is empty"),
        ("https://other-bucket.s3.eu-west-1.amazonaws.com/a.png", None, "S3 bucket 'other-bucket', which is none"),
        ("s3://aiuteur-images-old/a.png", None, "names S3 bucket 'aiuteur-images-old'"),
        ("https://abcd.supabase.co/storage/v1/object/public/avatars/a.png", None, "names Supabase bucket 'avatars'"),
        ("https://example.com/images/a.png", None, "is neither an S3 URL"),
        ("https://abcd.supabase.co/storage/v1/object/public/images", None, "is neither an S3 URL"),
        ("ftp://aiuteur-images/a.png", None, "is neither an S3 URL"),
        ("s3://aiuteur-images/a.png", "videos", "is in bucket 'images', not in 'videos'"),
        ("a.png", "avatars", "the bucket given, which is none of the application's buckets"),
    ],
    ids=["empty", "unknown-s3-bucket", "unknown-s3-uri-bucket", "unknown-supabase-bucket", "other-host",
         "bucket-without-key", "other-scheme", "bucket-disagrees", "unknown-bucket-given"],
)  # fmt: skip
def test_a_value_naming_no_object_of_ours_is_refused(value: str, bucket: str | None, says: str) -> None:
    settings = StorageSettings.from_env({**ENV, "SUPABASE_SERVICE_ROLE_KEY": service_role_key()})
    with pytest.raises(StoredValueError) as caught:
        read_value(value, settings, bucket)
    assert says in str(caught.value)
