"""The rewriter: its batch loop judges every value exactly as its one-value path does; a value
that would not fit its column is left alone; a JSON document changes only in its URL strings;
a URL is built from the key the manifest recorded for its object."""

from __future__ import annotations

import json
import re
from typing import Any

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


def recorded(keys: list[str], verified_share: int, prefix: str) -> dict[str, str | None]:
    """Source key -> destination key as a manifest holds them: under today's prefix, elsewhere, or
    not recorded (an old manifest)."""
    out: dict[str, str | None] = {}
    for index, key in enumerate(keys):
        if index % 4 < verified_share:
            out[key] = [prefix + key, f"elsewhere/{key}", None, f"a b/{key}"][index % 4]
    return out


@given(
    batch=st.lists(st.tuples(st.sampled_from(sorted(SHAPES)), st.sampled_from(BUCKETS), PLAIN_KEYS), max_size=12),
    verified_share=st.integers(0, 4),
    prefix=PREFIXES,
    endpoint=st.sampled_from(ENDPOINTS),
    limit=st.one_of(st.none(), st.integers(20, 110)),
)
@example(
    batch=[("public", "images", "a"), ("in prose", "images", "a")], verified_share=4, prefix="",
    endpoint=ENDPOINTS[0], limit=len("https://aiuteur-images.s3.us-east-1.amazonaws.com/a"),
)  # fmt: skip
def test_a_batch_is_judged_value_by_value_alike(
    batch: list[tuple[str, str, str]], verified_share: int, prefix: str, endpoint: S3Endpoint, limit: int | None
) -> None:
    keys = sorted({key for _, _, key in batch} | {f"{key} x" for _, _, key in batch})
    verified = {bucket: recorded(keys, verified_share, prefix) for bucket in BUCKETS}
    rewriter = Rewriter([ORIGIN], mappings(prefix), endpoint, verified)
    texts = [SHAPES[shape](bucket, key) for shape, bucket, key in batch]
    one_by_one, batched = Tally(), Tally()
    expected = [rewriter.value("text", text, one_by_one, limit=limit) for text in texts]
    assert rewriter.values("text", texts, batched, limit=limit) == expected
    assert batched == one_by_one


def test_the_batch_loop_counts_what_it_judges() -> None:
    verified: dict[str, dict[str, str | None]] = {"images": {"a.png": "a.png"}, "videos": {"v.mp4": "v.mp4"}}
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


IMAGES_AT = "https://aiuteur-images.s3.us-east-1.amazonaws.com/"


def images(*keys: str) -> dict[str, dict[str, str | None]]:
    return {"images": {key: key for key in keys}}


# A value that would not fit its column ---------------------------------------------------------


def test_a_new_value_longer_than_its_column_is_left_alone_and_counted() -> None:
    fits, too_long = "p/a-xxxx.png", "p/b-xxxxx.png"
    limit = len(IMAGES_AT + fits)
    rewriter = Rewriter([ORIGIN], mappings(""), ENDPOINTS[0], images(fits, too_long))
    batch = [
        plain_url("images", fits, "public"),  # the fast path: exactly as long as the column allows
        plain_url("images", too_long, "public"),  # one character more
        f"see {plain_url('images', too_long, 'public')}",  # the general path
    ]
    for judge in ("values", "value"):
        tally = Tally()
        if judge == "values":
            out = rewriter.values("text", batch, tally, limit=limit)
        else:
            out = [rewriter.value("text", text, tally, limit=limit) for text in batch]
        assert out == [IMAGES_AT + fits, None, None], judge
        assert (tally.too_long, tally.rewritten, tally.rows_changed, tally.urls) == (2, 1, 1, 3), judge
        assert tally.too_long_samples == [(batch[1], limit + 1), (batch[2], limit + 5)], judge
    unlimited = Tally()
    assert rewriter.values("text", batch, unlimited) == [
        IMAGES_AT + fits, IMAGES_AT + too_long, f"see {IMAGES_AT + too_long}",
    ], "the negative twin: without a limit every value is rewritten"  # fmt: skip
    assert (unlimited.too_long, unlimited.rewritten) == (0, 3)


def test_an_array_with_one_element_too_long_is_left_alone_whole() -> None:
    fits, too_long = "p/a-xxxx.png", "p/b-xxxxx.png"
    limit = len(IMAGES_AT + fits)
    rewriter = Rewriter([ORIGIN], mappings(""), ENDPOINTS[0], images(fits, too_long))
    tally = Tally()
    left = [plain_url("images", fits, "public"), None, plain_url("images", too_long, "public")]
    assert rewriter.value("text[]", left, tally, limit=limit) is None
    assert rewriter.value("text[]", left[:2], tally, limit=limit) == [IMAGES_AT + fits, None]
    assert (tally.too_long, tally.rewritten, tally.rows_changed) == (1, 1, 1)
    assert tally.too_long_samples == [(json.dumps(left), limit + 1)]


def test_a_limit_does_not_touch_a_value_that_stays_as_it_is() -> None:
    rewriter = Rewriter([ORIGIN], mappings(""), ENDPOINTS[0], images())
    tally = Tally()
    unverified = plain_url("images", "missing.png", "public")
    assert rewriter.values("text", [unverified], tally, limit=1) == [None]
    assert (tally.too_long, tally.unverified) == (0, 1)


# JSON documents --------------------------------------------------------------------------------


def test_a_json_document_changes_only_in_the_strings_that_hold_urls() -> None:
    rewriter = Rewriter([ORIGIN], mappings(""), ENDPOINTS[0], images("a.png", "b.png", "k.png"))
    a, b, k = (plain_url("images", name, "public") for name in ("a.png", "b.png", "k.png"))
    a_escaped = a.replace("/", "\\/")
    text = (
        f'{{\n  "zeta" :\t"{a}",\n  "alpha": 0.1000000000000000055511151231257827,\n  "zeta": ["{b}", 2.50, 1E2],\n'
        f'  "{k}": "a key stays", "note": "caf\\u00e9 \\/ \\"quoted\\"", "empty": "", "esc": "{a_escaped}\\u0020"\n}}'
    )
    tally = Tally()
    new = rewriter.value("json", text, tally)
    assert new == text.replace(f'"{a}"', f'"{IMAGES_AT}a.png"').replace(f'"{b}"', f'"{IMAGES_AT}b.png"').replace(
        f'"{a_escaped}\\u0020"', f'"{IMAGES_AT}a.png "'
    )
    assert (tally.urls, tally.rewritten, tally.rows_changed) == (3, 3, 1)
    jsonb = f'{{"n": 0.1000000000000000055511151231257827, "k": "{a}"}}'
    assert rewriter.value("jsonb", jsonb, Tally()) == jsonb.replace(a, f"{IMAGES_AT}a.png")
    assert rewriter.value("json", f'{{"{a}": [1.10, "x"]}}', Tally()) is None, "an object key is not rewritten"


def test_a_new_json_string_is_escaped_as_json_needs() -> None:
    rewriter = Rewriter([ORIGIN], mappings(""), ENDPOINTS[0], images("a.png"))
    a = plain_url("images", "a.png", "public")
    text = json.dumps({"html": f'<a href="{a}">x</a>\n\ud800'})
    new = rewriter.value("json", text, Tally())
    assert new is not None
    assert json.loads(new) == {"html": f'<a href="{IMAGES_AT}a.png">x</a>\n\ud800'}
    new.encode("utf-8")  # a lone surrogate stays an escape: the text can travel to the database


STRING_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"(?=([ \t\n\r]*:)?)', re.DOTALL)
URL_STRINGS = st.builds(lambda shape, bucket, key: SHAPES[shape](bucket, key), st.sampled_from(sorted(SHAPES)),
                        st.sampled_from(BUCKETS), st.sampled_from(["a.png", "b/c.png", "a.png x", "d"]))  # fmt: skip
JSON_STRINGS = st.one_of(URL_STRINGS, st.text(max_size=8))
DOCUMENTS = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False), JSON_STRINGS),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(JSON_STRINGS, inner, max_size=4)),
    max_leaves=12,
)
LAYOUTS = [
    {},
    {"indent": 2},
    {"separators": (",", ":")},
    {"ensure_ascii": False},
    {"indent": "\t", "ensure_ascii": False},
]


def parsed_and_rewritten(rewriter: Rewriter, text: str, counts: Tally) -> tuple[bool, Any]:
    """What the rewriter did before it edited text: parse, rewrite every string value, dump."""
    changed = False

    def walk(node: Any) -> Any:
        nonlocal changed
        if isinstance(node, str):
            one = Tally()
            new = rewriter.value("text", node, one)
            counts.add(one)
            changed |= new is not None
            return node if new is None else new
        if isinstance(node, list):
            return [walk(item) for item in node]
        if isinstance(node, dict):
            return {name: walk(item) for name, item in node.items()}
        return node

    result = walk(json.loads(text))
    return changed, result


def url_counts(t: Tally) -> tuple[Any, ...]:
    return (t.urls, t.rewritten, t.unverified, t.unmapped, t.ambiguous, t.embedded_private, dict(t.warnings))


@given(document=DOCUMENTS, layout=st.sampled_from(LAYOUTS), prefix=PREFIXES, verified_share=st.integers(0, 4))
def test_the_textual_json_edit_means_what_parse_and_dump_meant(
    document: Any, layout: dict[str, Any], prefix: str, verified_share: int
) -> None:
    keys = ["a.png", "b/c.png", "a.png x", "d"]
    verified = {bucket: recorded(keys, verified_share, prefix) for bucket in BUCKETS}
    rewriter = Rewriter([ORIGIN], mappings(prefix), ENDPOINTS[0], verified)
    text = json.dumps(document, **layout)
    before, tally = Tally(), Tally()
    changed, expected = parsed_and_rewritten(rewriter, text, before)
    new = rewriter.value("json", text, tally)
    assert url_counts(tally) == url_counts(before)
    if not changed:
        assert new is None
        return
    assert new is not None
    assert json.loads(new) == expected
    old_tokens, new_tokens = list(STRING_TOKEN.finditer(text)), list(STRING_TOKEN.finditer(new))
    assert STRING_TOKEN.sub('""', new) == STRING_TOKEN.sub('""', text), "every byte outside the strings is kept"
    for old, now in zip(old_tokens, new_tokens, strict=True):
        if old.group(1) is not None or rewriter.value("text", json.loads(old.group()), Tally()) is None:
            assert now.group() == old.group(), "an object key or an unchanged string keeps its very bytes"


# Where the object was written -----------------------------------------------------------------


def test_a_url_is_built_from_the_key_the_manifest_recorded() -> None:
    verified: dict[str, dict[str, str | None]] = {
        "images": {"a.png": "moved/a.png", "b.png": None, "c d.png": "x/c d.png"},
        "asset-images": {"e.png": None},
        "videos": {"v.mp4": "2024/v.mp4"},
    }
    rewriter = Rewriter([ORIGIN], mappings("today/"), ENDPOINTS[0], verified)
    texts = [
        plain_url("images", "a.png", "public"),
        plain_url("images", "b.png", "public"),
        f"{BASE}/object/public/images/c%20d.png",
        plain_url("asset-images", "e.png", "public"),
        plain_url("videos", "v.mp4", "authenticated"),
    ]
    expected = [
        f"{IMAGES_AT}moved/a.png",  # as recorded, not as today's prefix ("" for images) would give
        f"{IMAGES_AT}b.png",  # nothing recorded (an old manifest): the mapping's prefix and the key
        f"{IMAGES_AT}x/c%20d.png",
        "https://aiuteur-asset-images.s3.us-east-1.amazonaws.com/today/e.png",
        "s3://aiuteur-videos/2024/v.mp4",
    ]
    assert rewriter.values("text", texts, Tally()) == expected
    assert [rewriter.value("text", text, Tally()) for text in texts] == expected
