"""The rewriter's batch loop judges every value exactly as its one-value path does."""

from __future__ import annotations

from hypothesis import example, given
from hypothesis import strategies as st

from bucketshift.config import BucketMapping, S3Endpoint
from bucketshift.database.rewriter import Rewriter, Tally
from bucketshift.urls import destination_builder, plain_destination_builder

ORIGIN = "https://abcd.supabase.co"
BASE = f"{ORIGIN}/storage/v1"
PLAIN_KEYS = st.text(alphabet="Aa09_.-/", min_size=1, max_size=20)
PREFIXES = st.sampled_from(["", "moved/", "moved", "./", "a/../", "~x/", "a b/"])
ENDPOINTS = [
    S3Endpoint(type="s3", region="us-east-1"),
    S3Endpoint(type="s3", region="eu-west-1", endpoint_url="http://127.0.0.1:9000"),
    S3Endpoint(type="s3", region="us-east-1", public_base_url="https://cdn.example.com/files"),
]
BUCKETS = ["images", "asset-images", "videos", "unmapped"]


def mappings(prefix: str) -> list[BucketMapping]:
    return [
        BucketMapping(source="images", destination="aiuteur-images", access="public-read"),
        BucketMapping(source="asset-images", destination="aiuteur-asset-images", access="public-read", prefix=prefix),
        BucketMapping(source="videos", destination="aiuteur-videos", access="private", prefix=prefix),
    ]


@given(prefix=PREFIXES, key=PLAIN_KEYS, endpoint=st.sampled_from(ENDPOINTS), style=st.sampled_from(["s3-uri", "key"]))
@example(prefix="", key="./a", endpoint=ENDPOINTS[0], style="s3-uri")
@example(prefix="moved/", key="a/../b", endpoint=ENDPOINTS[1], style="s3-uri")
@example(prefix="", key="a/..", endpoint=ENDPOINTS[2], style="key")
def test_plain_keys_get_the_general_destinations(prefix: str, key: str, endpoint: S3Endpoint, style: str) -> None:
    for mapping in mappings(prefix):
        fast = plain_destination_builder(mapping, endpoint, private_url_style=style)  # type: ignore[arg-type]
        general = destination_builder(mapping, endpoint, private_url_style=style)  # type: ignore[arg-type]
        assert fast(key) == general(key)


def plain_url(bucket: str, key: str, form: str) -> str:
    return f"{BASE}/object/{form}/{bucket}/{key}"


SHAPES = {
    "public": lambda b, k: plain_url(b, k, "public"),
    "authenticated": lambda b, k: plain_url(b, k, "authenticated"),
    "signed": lambda b, k: f"{BASE}/object/sign/{b}/{k}?token=t",
    "encoded": lambda b, k: f"{BASE}/object/public/{b}/{k}%20x",
    "upper-case host": lambda b, k: f"https://ABCD.supabase.co/storage/v1/object/public/{b}/{k}",
    "in prose": lambda b, k: f"see {BASE}/object/public/{b}/{k} here",
    "not storage": lambda b, k: f"{ORIGIN}/about/{b}/{k}",
}


@given(
    batch=st.lists(st.tuples(st.sampled_from(sorted(SHAPES)), st.sampled_from(BUCKETS), PLAIN_KEYS), max_size=12),
    verified_share=st.integers(0, 4),
    prefix=PREFIXES,
    endpoint=st.sampled_from(ENDPOINTS),
)
def test_a_batch_is_judged_value_by_value_alike(
    batch: list[tuple[str, str, str]], verified_share: int, prefix: str, endpoint: S3Endpoint
) -> None:
    keys = sorted({key for _, _, key in batch} | {f"{key} x" for _, _, key in batch})
    verified = {bucket: {key for index, key in enumerate(keys) if index % 4 < verified_share} for bucket in BUCKETS}
    rewriter = Rewriter([ORIGIN], mappings(prefix), endpoint, verified)
    texts = [SHAPES[shape](bucket, key) for shape, bucket, key in batch]
    one_by_one, batched = Tally(), Tally()
    expected = [rewriter.value("text", text, one_by_one) for text in texts]
    assert rewriter.values("text", texts, batched) == expected
    assert batched == one_by_one


def test_the_batch_loop_counts_what_it_judges() -> None:
    verified = {"images": {"a.png"}, "videos": {"v.mp4"}}
    rewriter = Rewriter([ORIGIN], mappings(""), ENDPOINTS[0], verified)
    tally = Tally()
    batch = [
        plain_url("images", "a.png", "public"),
        plain_url("images", "missing.png", "public"),
        plain_url("videos", "v.mp4", "authenticated"),
        plain_url("unmapped", "a.png", "public"),
        "no url here",
    ]
    assert rewriter.values("text", batch, tally) == [
        "https://aiuteur-images.s3.us-east-1.amazonaws.com/a.png",
        None,
        "s3://aiuteur-videos/v.mp4",
        None,
        None,
    ]
    assert (tally.rows_scanned, tally.rows_matched, tally.rows_changed) == (5, 4, 2)
    assert (tally.urls, tally.rewritten, tally.unverified, tally.unmapped) == (4, 2, 1, 1)
    assert tally.unverified_samples == ["images/missing.png"]
