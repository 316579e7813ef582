"""Storage URLs: every Supabase form read back to its object, every S3 form built and read back."""

from __future__ import annotations

import itertools
import re
from functools import cache

import boto3
import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st

from bucketshift.config import BucketMapping, S3Endpoint
from bucketshift.stores.s3 import S3Store
from bucketshift.urls import (
    KNOWN_QUERY_PARAMETERS,
    S3Location,
    SupabaseURL,
    SupabaseURLs,
    build_supabase_url,
    dest_key_destination_builder,
    destination_builder,
    destination_value,
    encode_key,
    find_supabase_urls,
    parse_s3_url,
    parse_supabase_url,
    replace_supabase_urls,
    s3_public_url,
    s3_uri,
    source_key,
    storage_base,
)

ORIGIN = "https://abcd.supabase.co"
BASE = f"{ORIGIN}/storage/v1"
URLS = SupabaseURLs(ORIGIN)

KEY_ALPHABET = "ABCXYZabcxyz0189_/!.*'() &$=@;:+,?-"
"""Every character class of `KEY_CHARACTERS`, a few letters and digits standing for the rest."""
BUCKET_ALPHABET = KEY_ALPHABET.replace("/", "")
ROUTE_WORDS = {"public", "authenticated", "sign", "info", "upload", "list", "list-v2", "move", "copy"}
QUERIES = [
    "",
    "token=eyJhbGciOiJIUzI1NiJ9.eyJ1cmwiOiJiL2sifQ.c2ln-_x",
    "download",
    "download=",
    "download=report.pdf",
    "token=abc&download=",
    "width=200&height=100&resize=cover&quality=80&format=origin",
    "v=3",
    "t=1700000000&v=2",
]
KNOWN_QUERIES = [
    query for query in QUERIES if query and all(p.split("=")[0] in KNOWN_QUERY_PARAMETERS for p in query.split("&"))
]
KNOWN_AFTER_QUESTION_MARK = re.compile(r"\?(?:token|download|width|height|resize|quality|format)(?:=|&|$)")

keys = st.text(alphabet=KEY_ALPHABET, min_size=1, max_size=40)
buckets = st.text(alphabet=BUCKET_ALPHABET, min_size=1, max_size=20)
forms = st.sampled_from(["public", "authenticated", "sign", "plain"])


def readings(url: SupabaseURL | None) -> set[tuple[str, str]]:
    assert url is not None
    return {(url.bucket, url.key), *url.alternatives}


# Supabase: round trips ------------------------------------------------------------------------


@given(bucket=buckets, key=keys, form=forms, transformed=st.booleans(), query=st.sampled_from(QUERIES))
@example(bucket="b", key="a?b.png", form="sign", transformed=False, query="token=x")
@example(bucket="b", key="./..", form="public", transformed=False, query="")
@example(bucket="b", key="a b ", form="public", transformed=False, query="")
def test_percent_encoded_urls_read_back_exactly(
    bucket: str, key: str, form: str, transformed: bool, query: str
) -> None:
    assume(not (form == "plain" and (transformed or bucket in ROUTE_WORDS)))
    url = build_supabase_url(ORIGIN, bucket, key, form, transformed=transformed, query=query)  # type: ignore[arg-type]

    parsed = URLS.parse(url)

    assert parsed is not None
    assert (parsed.bucket, parsed.key, parsed.form, parsed.transformed) == (bucket, key, form, transformed)
    assert parsed.query == (query or None)
    assert parsed.base == BASE


@given(
    bucket=buckets,
    key=keys,
    form=forms,
    transformed=st.booleans(),
    query=st.sampled_from(QUERIES),
    encoding=st.sampled_from(["uri", "raw"]),
)
@example(bucket="b", key="a b&c+d=e.png", form="public", transformed=False, query="", encoding="raw")
def test_raw_and_encode_uri_urls_read_back_exactly_without_a_question_mark(
    bucket: str, key: str, form: str, transformed: bool, query: str, encoding: str
) -> None:
    assume(not (form == "plain" and (transformed or bucket in ROUTE_WORDS)))
    assume("?" not in bucket and "?" not in key)
    assume(encoding == "uri" or query or not key.endswith(" "))
    url = build_supabase_url(ORIGIN, bucket, key, form, transformed=transformed, query=query, encoding=encoding)  # type: ignore[arg-type]

    parsed = URLS.parse(url)

    assert parsed is not None
    assert (parsed.bucket, parsed.key, parsed.form, parsed.transformed) == (bucket, key, form, transformed)
    assert parsed.query == (query or None)


@given(
    bucket=buckets,
    key=keys.filter(lambda k: "?" in k),
    form=forms,
    query=st.sampled_from(KNOWN_QUERIES),
    encoding=st.sampled_from(["uri", "raw"]),
)
@example(bucket="b", key="a?b.png", form="public", query="download=", encoding="uri")
@example(bucket="b", key="a?download?x", form="sign", query="token=abc&download=", encoding="raw")
def test_a_raw_question_mark_in_a_key_is_recovered_before_a_supabase_query(
    bucket: str, key: str, form: str, query: str, encoding: str
) -> None:
    assume(not (form == "plain" and bucket in ROUTE_WORDS))
    assume("?" not in bucket and not KNOWN_AFTER_QUESTION_MARK.search(key))
    url = build_supabase_url(ORIGIN, bucket, key, form, query=query, encoding=encoding)  # type: ignore[arg-type]

    parsed = URLS.parse(url)

    assert parsed is not None
    assert (parsed.bucket, parsed.key, parsed.query) == (bucket, key, query)


@given(bucket=buckets, key=keys, form=forms, query=st.sampled_from(QUERIES), encoding=st.sampled_from(["uri", "raw"]))
@example(bucket="b?x", key="k.png", form="public", query="", encoding="raw")
@example(bucket="b", key="a?v=3", form="public", query="", encoding="raw")
def test_any_unescaped_url_names_its_object_among_its_readings(
    bucket: str, key: str, form: str, query: str, encoding: str
) -> None:
    assume(not (form == "plain" and bucket in ROUTE_WORDS))
    assume(encoding == "uri" or query or not key.endswith(" "))
    url = build_supabase_url(ORIGIN, bucket, key, form, query=query, encoding=encoding)  # type: ignore[arg-type]

    assert (bucket, key) in readings(URLS.parse(url))


# Supabase: the documented forms --------------------------------------------------------------


PLAIN_ALPHABET = "Aa09_.-/"
"""The characters of the fast path's keys, plus its neighbours that must leave it."""
NEAR_PLAIN = PLAIN_ALPHABET + "%?# :~"


@given(
    origin=st.sampled_from([ORIGIN, "HTTPS://ABCD.supabase.co:443", "https://abcd.storage.supabase.co"]),
    form=st.sampled_from(["public", "authenticated", "sign", "info", "render/image/public", "x"]),
    bucket=st.text(alphabet=NEAR_PLAIN.replace("/", ""), min_size=0, max_size=12),
    key=st.text(alphabet=NEAR_PLAIN, min_size=0, max_size=30),
)
@example(origin=ORIGIN, form="public", bucket="public", key="a/../b")
@example(origin=ORIGIN, form="authenticated", bucket="b", key="a//b/")
def test_the_fast_path_reads_every_value_as_the_general_rules_do(origin: str, form: str, bucket: str, key: str) -> None:
    urls = SupabaseURLs([ORIGIN])
    value = f"{origin}/storage/v1/object/{form}/{bucket}/{key}"
    assert urls.parse(value) == urls._parse_general(value)


def test_the_fast_path_takes_the_common_forms() -> None:
    for value in (f"{BASE}/object/public/images/p_1/b-2/f.png", f"{BASE}/object/authenticated/videos/v.mp4"):
        assert URLS._plain.fullmatch(value) is not None


@pytest.mark.parametrize(
    ("path", "bucket", "key", "form", "transformed", "query"),
    [
        ("/object/public/asset-images/global/a.png", "asset-images", "global/a.png", "public", False, None),
        ("/object/authenticated/docs/2024/r.pdf", "docs", "2024/r.pdf", "authenticated", False, None),
        ("/object/videos/u1/clip.mp4", "videos", "u1/clip.mp4", "plain", False, None),
        ("/object/sign/videos/u1/clip.mp4?token=eyJ.a.b", "videos", "u1/clip.mp4", "sign", False, "token=eyJ.a.b"),
        ("/object/sign/videos/u1/clip.mp4", "videos", "u1/clip.mp4", "sign", False, None),
        ("/render/image/public/img/a.png?width=200&height=100", "img", "a.png", "public", True, "width=200&height=100"),
        (
            "/render/image/authenticated/img/a.png?resize=contain",
            "img",
            "a.png",
            "authenticated",
            True,
            "resize=contain",
        ),
        ("/render/image/sign/img/a.png?token=t&width=50", "img", "a.png", "sign", True, "token=t&width=50"),
        ("/object/public/img/a.png?download", "img", "a.png", "public", False, "download"),
        (
            "/object/public/img/a.png?download=Nice%20name.png",
            "img",
            "a.png",
            "public",
            False,
            "download=Nice%20name.png",
        ),
        ("/object/public/img/a.png?t=1700000000", "img", "a.png", "public", False, "t=1700000000"),
        ("/object/public/img/a.png?", "img", "a.png", "public", False, ""),
        ("/object/public/img/a%20b%2Bc%3Fd%26e.png", "img", "a b+c?d&e.png", "public", False, None),
        ("/object/public/img/a%23b.png", None, None, None, None, None),
        ("/object/public/img/a b+c&d=e.png", "img", "a b+c&d=e.png", "public", False, None),
        ("/object/public/img/a%2Fb/c", "img", "a/b/c", "public", False, None),
        ("/object/public/img/%E2%82%AC.png", None, None, None, None, None),
        ("/object/public/my%20bucket/x", "my bucket", "x", "public", False, None),
        ("/object/public/img/a?b.png?download=", "img", "a?b.png", "public", False, "download="),
        ("/object/public/img/a.png?v=1?download=", "img", "a.png?v=1", "public", False, "download="),
        ("/object/public/img/a.png#page=2", "img", "a.png", "public", False, None),
        ("/object/public/img/dir/", "img", "dir/", "public", False, None),
        ("/object/public/img/a//b", "img", "a//b", "public", False, None),
        ("/object/publicx/img/a", "publicx", "img/a", "plain", False, None),
    ],
)
def test_every_documented_form(
    path: str, bucket: str | None, key: str | None, form: str | None, transformed: bool | None, query: str | None
) -> None:
    parsed = URLS.parse(BASE + path)
    if bucket is None:
        assert parsed is None
        return
    assert parsed is not None
    assert (parsed.bucket, parsed.key, parsed.form, parsed.transformed, parsed.query) == (
        bucket,
        key,
        form,
        transformed,
        query,
    )


def test_details_a_plan_can_warn_about() -> None:
    url = URLS.parse(f"{BASE}/render/image/public/img/a.png?width=200&height=100&download=x.png&v=3#top")

    assert url is not None
    assert url.transform == (("width", "200"), ("height", "100"))
    assert url.download == "x.png"
    assert url.fragment == "top"
    assert url.warnings == (
        "image transformation (width=200, height=100) cannot be applied by S3; rewritten to the original object",
        "download is dropped: S3 serves the object inline",
        "query parameters dropped: v",
        "fragment dropped: #top",
    )
    assert URLS.parse(f"{BASE}/object/public/img/a.png?download").download == ""  # type: ignore[union-attr]
    assert URLS.parse(f"{BASE}/object/sign/img/a.png?token=x").warnings == ()  # type: ignore[union-attr]
    assert URLS.parse(f"{BASE}/object/public/img/a.png?width=9").transform == ()  # type: ignore[union-attr]


def test_readings_of_an_ambiguous_question_mark() -> None:
    cache_buster = URLS.parse(f"{BASE}/object/public/img/a.png?v=3")
    storage_js = URLS.parse(f"{BASE}/object/public/img/a?b.png?download=")
    bare = URLS.parse(f"{BASE}/object/public/img/a?b.png")
    bucket_first = URLS.parse(f"{BASE}/object/public/b?x/k.png")

    assert cache_buster is not None
    assert cache_buster.key == "a.png"
    assert cache_buster.alternatives == (("img", "a.png?v=3"),)
    assert storage_js is not None
    assert storage_js.key == "a?b.png"
    assert ("img", "a") in storage_js.alternatives
    assert bare is not None
    assert (bare.key, bare.query) == ("a", "b.png")
    assert bare.alternatives == (("img", "a?b.png"),)
    assert bucket_first is not None
    assert (bucket_first.bucket, bucket_first.key) == ("b?x", "k.png")
    assert URLS.parse(f"{BASE}/object/public/img/a.png").alternatives == ()  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("origin", "value"),
    [
        ("https://abcd.supabase.co/", f"{BASE}/object/public/b/k"),
        ("https://abcd.supabase.co///", f"{BASE}/object/public/b/k"),
        ("https://abcd.supabase.co/storage/v1/", f"{BASE}/object/public/b/k"),
        ("  https://ABCD.Supabase.co  ", f"{BASE}/object/public/b/k"),
        (ORIGIN, "HTTPS://ABCD.SUPABASE.CO/storage/v1/object/public/b/k"),
        (ORIGIN, "https://abcd.supabase.co:443/storage/v1/object/public/b/k"),
        ("https://abcd.supabase.co:443", f"{BASE}/object/public/b/k"),
        (ORIGIN, "https://abcd.storage.supabase.co/storage/v1/object/public/b/k"),
        ("http://localhost:54321", "http://localhost:54321/storage/v1/object/public/b/k"),
        ("http://127.0.0.1:8000/", "http://127.0.0.1:8000/storage/v1/object/sign/b/k?token=x"),
        ("http://[::1]:54321", "http://[::1]:54321/storage/v1/object/public/b/k"),
        ("http://storage.internal", "http://storage.internal:80/storage/v1/object/public/b/k"),
        ("https://example.com/supabase", "https://example.com/supabase/storage/v1/object/public/b/k"),
        ("https://supa.example.org", "https://supa.example.org/storage/v1/render/image/public/b/k?width=1"),
    ],
)
def test_odd_origins(origin: str, value: str) -> None:
    url = SupabaseURLs(origin).parse(value)

    assert url is not None
    assert (url.bucket, url.key) == ("b", "k")


def test_many_origins_and_which_one_matched() -> None:
    urls = SupabaseURLs(["https://abcd.supabase.co", "http://abcd.supabase.co", "https://files.example.com"])

    assert urls.parse("http://abcd.supabase.co/storage/v1/object/public/b/k").base == (  # type: ignore[union-attr]
        "http://abcd.supabase.co/storage/v1"
    )
    assert urls.parse("https://files.example.com/storage/v1/object/public/b/k").base == (  # type: ignore[union-attr]
        "https://files.example.com/storage/v1"
    )
    assert urls.bases == (
        "https://abcd.supabase.co/storage/v1",
        "https://abcd.storage.supabase.co/storage/v1",
        "http://abcd.supabase.co/storage/v1",
        "https://files.example.com/storage/v1",
    )


@pytest.mark.parametrize(
    "value",
    [
        "",
        ORIGIN,
        f"{ORIGIN}/",
        BASE,
        f"{BASE}/",
        f"{ORIGIN}/rest/v1/profiles?select=*",
        f"{ORIGIN}/auth/v1/user",
        f"{ORIGIN}/functions/v1/resize?url=/storage/v1/object/public/b/k",
        f"{BASE}/bucket/b",
        f"{BASE}/object/list/b",
        f"{BASE}/object/list-v2/b",
        f"{BASE}/object/move",
        f"{BASE}/object/copy",
        f"{BASE}/object/info/b/k",
        f"{BASE}/object/info/public/b/k",
        f"{BASE}/object/upload/sign/b/k?token=x",
        f"{BASE}/object/%70ublic/k",
        f"{BASE}/render/image/b/k",
        f"{BASE}/render/image/public/b",
        f"{BASE}/object/public/b",
        f"{BASE}/object/public/b/",
        f"{BASE}/object/public//b/k",
        f"{BASE}/object/b",
        f"{BASE}/object/public/b/caf\u00e9.png",
        f"{BASE}/object/public/b/caf%C3%A9.png",
        f"{BASE}/object/public/b/%FF.png",
        f"{BASE}/object/public/b/100%.png",
        f"{BASE}/object/public/b/a%zz.png",
        f"{BASE}/object/public/a%2Fb/k",
        f"{BASE}/object/public/b/a\tb",
        f"{BASE}/object/public/b/k\n",
        f"{BASE}/object/public/b/k ",
        f"{BASE}/object/public/b/k\u00a0",
        f" {BASE}/object/public/b/k",
        f"{ORIGIN}/Storage/v1/object/public/b/k",
        f"{ORIGIN}/storage/v2/object/public/b/k",
        f"{ORIGIN}//storage/v1/object/public/b/k",
        "http://abcd.supabase.co/storage/v1/object/public/b/k",
        "https://abcd.supabase.co:8443/storage/v1/object/public/b/k",
        "https://abcd.supabase.co.evil.com/storage/v1/object/public/b/k",
        "https://xabcd.supabase.co/storage/v1/object/public/b/k",
        "https://efgh.supabase.co/storage/v1/object/public/b/k",
        "https://user@abcd.supabase.co/storage/v1/object/public/b/k",
        "abcd.supabase.co/storage/v1/object/public/b/k",
        "//abcd.supabase.co/storage/v1/object/public/b/k",
        "/storage/v1/object/public/b/k",
        "see https://abcd.supabase.co/storage/v1/object/public/b/k",
        f"{BASE}/object/public/b/k {BASE}/object/public/b/j",
        "abcd.supabase.co",
        "supabase://b/k",
        "not a url at all",
    ],
)
def test_values_that_are_not_storage_object_urls(value: str) -> None:
    assert URLS.parse(value) is None


@pytest.mark.parametrize(
    "origin",
    ["", "abcd.supabase.co", "ftp://abcd.supabase.co", "https://", "https://user@abcd.supabase.co", "https://x:99999"],
)
def test_an_origin_that_is_not_a_project_url_is_refused_in_one_sentence(origin: str) -> None:
    with pytest.raises(ValueError, match="is not a Supabase project URL"):
        SupabaseURLs(origin)


def test_no_origin_at_all_is_refused() -> None:
    with pytest.raises(ValueError, match="no Supabase project URL given"):
        SupabaseURLs([])


def test_storage_base_normalises_one_origin_many_ways() -> None:
    spellings = ["https://abcd.supabase.co", "HTTPS://ABCD.supabase.co:443/", "https://abcd.supabase.co/storage/v1//"]
    assert {storage_base(spelling) for spelling in spellings} == {BASE}
    assert storage_base("http://localhost:54321") == "http://localhost:54321/storage/v1"


def test_the_module_functions_are_the_compiled_ones() -> None:
    value = f"{BASE}/object/public/b/k"
    assert parse_supabase_url(value, ORIGIN) == URLS.parse(value)
    assert find_supabase_urls(f"<{value}>", [ORIGIN]) == URLS.find(f"<{value}>")
    assert replace_supabase_urls(f"<{value}>", ORIGIN, lambda u: u.key) == "<k>"


def test_build_refuses_what_no_server_route_would_read() -> None:
    with pytest.raises(ValueError, match="no plain form"):
        build_supabase_url(ORIGIN, "b", "k", "plain", transformed=True)
    with pytest.raises(ValueError, match="API route"):
        build_supabase_url(ORIGIN, "info", "k", "plain")


def test_build_spells_keys_as_each_client_does() -> None:
    key = "a b/c?d&e+f(1).png"
    assert build_supabase_url(ORIGIN, "b", key) == f"{BASE}/object/public/b/a%20b/c%3Fd%26e%2Bf%281%29.png"
    assert build_supabase_url(ORIGIN, "b", key, encoding="uri") == f"{BASE}/object/public/b/a%20b/c?d&e+f(1).png"
    assert build_supabase_url(ORIGIN, "b", key, "sign", encoding="raw", query="token=t") == (
        f"{BASE}/object/sign/b/a b/c?d&e+f(1).png?token=t"
    )


# Supabase: URLs inside longer text -----------------------------------------------------------

PUBLIC_A = f"{BASE}/object/public/img/a.png"


@pytest.mark.parametrize(
    ("text", "found"),
    [
        (f"![logo]({PUBLIC_A})", [PUBLIC_A]),
        (f'![logo]({PUBLIC_A} "title")', [PUBLIC_A]),
        (f"[p]({BASE}/object/public/img/p(1).png)", [f"{BASE}/object/public/img/p(1).png"]),
        (f'<img src="{PUBLIC_A}" alt="x">', [PUBLIC_A]),
        (f"<img src='{PUBLIC_A}'>", [PUBLIC_A]),
        (f'{{"url": "{PUBLIC_A}", "n": 1}}', [PUBLIC_A]),
        (f"See {PUBLIC_A}. Then {PUBLIC_A}, and {PUBLIC_A}!", [PUBLIC_A] * 3),
        (f"Is it {PUBLIC_A}?", [PUBLIC_A]),
        (f"({PUBLIC_A})", [PUBLIC_A]),
        (f"<{PUBLIC_A}>", [PUBLIC_A]),
        (f"[{PUBLIC_A}]", [PUBLIC_A]),
        (f"{PUBLIC_A}\n{PUBLIC_A}?v=2\t", [PUBLIC_A, f"{PUBLIC_A}?v=2"]),
        (f"a {BASE}/object/public/img/a b.png", [f"{BASE}/object/public/img/a"]),
        (f"x{PUBLIC_A}", []),
        (f"https{PUBLIC_A}", []),
        (f"{ORIGIN}/rest/v1/x and {BASE}/object/list/b", []),
        (f"{BASE}/object/public/img/caf\u00e9.png", []),
        (f"{PUBLIC_A}\u00a0next", [PUBLIC_A]),
    ],
)
def test_urls_found_in_text(text: str, found: list[str]) -> None:
    matches = URLS.find(text)

    assert [match.text for match in matches] == found
    assert all(text[match.start : match.end] == match.text for match in matches)


def test_replace_touches_only_the_urls() -> None:
    video = f"{BASE}/object/sign/vid/c.mp4?token=t"
    text = f'<p>Logo: <img src="{PUBLIC_A}?v=3">, spare {ORIGIN}/rest/v1/x, video {video}.</p>'

    out = URLS.replace(
        text, lambda url: None if url.bucket == "vid" else f"https://img.s3.us-east-1.amazonaws.com/{url.key}"
    )

    assert out == text.replace(f"{PUBLIC_A}?v=3", "https://img.s3.us-east-1.amazonaws.com/a.png")


def test_a_whole_value_is_read_literally_text_is_not() -> None:
    value = f"{BASE}/object/public/img/My Photo (1).png"
    assert URLS.replace(value, lambda url: url.key) == "My Photo (1).png"
    assert URLS.replace(f"{value}\n", lambda url: f"<{url.key}>") == "<My> Photo (1).png\n"
    assert URLS.replace(f"{BASE}/object/public/img/end.", lambda url: url.key) == "end."
    assert URLS.replace(f"see {BASE}/object/public/img/end.", lambda url: url.key) == "see end."


fillers = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=12).map(lambda t: f" {t}\n")
embedded_keys = keys.filter(lambda k: not k.endswith("."))


@given(
    parts=st.lists(
        st.tuples(fillers, buckets, embedded_keys, forms, st.sampled_from([q for q in QUERIES if q[-1:].isalnum()])),
        min_size=1,
        max_size=4,
    ),
    tail=fillers,
)
def test_every_embedded_url_is_found_and_replaced_exactly(
    parts: list[tuple[str, str, str, str, str]], tail: str
) -> None:
    assume(all(not (form == "plain" and bucket in ROUTE_WORDS) for _, bucket, _, form, _ in parts))
    text = ""
    expected = []
    replaced = ""
    for filler, bucket, key, form, query in parts:
        url = build_supabase_url(ORIGIN, bucket, key, form, query=query)  # type: ignore[arg-type]
        expected.append((len(text) + len(filler), url, bucket, key))
        text += filler + url
        replaced += f"{filler}<{bucket}|{key}>"
    text += tail
    replaced += tail

    matches = URLS.find(text)

    assert [(m.start, m.text, m.url.bucket, m.url.key) for m in matches] == expected
    assert URLS.replace(text, lambda url: f"<{url.bucket}|{url.key}>") == replaced


storage_heads = st.sampled_from([f"{BASE}/object/", f"{BASE}/object/public/", f"{BASE}/render/image/sign/", ORIGIN])


@given(st.lists(st.one_of(st.text(max_size=15), storage_heads, keys), max_size=8).map("".join))
def test_any_text_is_kept_byte_for_byte_where_nothing_is_replaced(text: str) -> None:
    matches = URLS.find(text)

    assert URLS.replace(text, lambda url: None) == text
    assert all(text[m.start : m.end] == m.text for m in matches)
    assert all(a.end <= b.start for a, b in itertools.pairwise(matches))


# S3 -------------------------------------------------------------------------------------------


def endpoint(region: str = "us-east-1", **fields: str) -> S3Endpoint:
    return S3Endpoint(type="s3", region=region, **fields)  # type: ignore[arg-type]


AWS = endpoint()
ENDPOINTS = {
    "aws us-east-1": AWS,
    "aws eu-west-3": endpoint("eu-west-3"),
    "aws china": endpoint("cn-north-1"),
    "aws path style": endpoint("ap-southeast-2", addressing_style="path"),
    "minio": endpoint(endpoint_url="http://127.0.0.1:9000"),
    "minio virtual": endpoint(endpoint_url="http://localhost:9000", addressing_style="virtual"),
    "r2": endpoint("auto", endpoint_url="https://acct.r2.cloudflarestorage.com"),
    "supabase s3": endpoint(endpoint_url="https://abcd.storage.supabase.co/storage/v1/s3"),
    "cdn": endpoint(public_base_url="https://cdn.example.com/media"),
}
s3_buckets = st.one_of(
    st.from_regex(r"[a-z0-9][a-z0-9-]{1,20}[a-z0-9]", fullmatch=True),
    st.from_regex(r"[a-z0-9]{1,10}\.[a-z0-9]{1,10}", fullmatch=True),
)
any_keys = st.one_of(keys, st.text(st.characters(codec="utf-8"), min_size=1, max_size=30))


@pytest.mark.parametrize(
    ("name", "bucket", "key", "url"),
    [
        ("aws us-east-1", "imgs", "a b/c+d?.png", "https://imgs.s3.us-east-1.amazonaws.com/a%20b/c%2Bd%3F.png"),
        ("aws eu-west-3", "imgs", "k", "https://imgs.s3.eu-west-3.amazonaws.com/k"),
        ("aws china", "imgs", "k", "https://imgs.s3.cn-north-1.amazonaws.com.cn/k"),
        ("aws us-east-1", "my.imgs", "k", "https://s3.us-east-1.amazonaws.com/my.imgs/k"),
        ("aws path style", "imgs", "k", "https://s3.ap-southeast-2.amazonaws.com/imgs/k"),
        ("minio", "imgs", "a/../b", "http://127.0.0.1:9000/imgs/a/%2E%2E/b"),
        ("minio virtual", "imgs", "k", "http://imgs.localhost:9000/k"),
        ("supabase s3", "imgs", "k", "https://abcd.storage.supabase.co/storage/v1/s3/imgs/k"),
        ("cdn", "imgs", "x/y z.png", "https://cdn.example.com/media/imgs/x/y%20z.png"),
    ],
)
def test_s3_public_urls(name: str, bucket: str, key: str, url: str) -> None:
    assert s3_public_url(ENDPOINTS[name], bucket, key) == url


@cache
def store(name: str) -> S3Store:
    session = boto3.session.Session(aws_access_key_id="AKIATEST", aws_secret_access_key="test", region_name="us-east-1")
    configured = ENDPOINTS[name]
    client = session.client("s3", region_name="us-east-1", endpoint_url=configured.endpoint_url)
    return S3Store(configured, session=session, client=client)


@given(name=st.sampled_from(sorted(ENDPOINTS)), bucket=s3_buckets, key=any_keys)
def test_s3_public_url_is_what_the_s3_backend_answers(name: str, bucket: str, key: str) -> None:
    assert s3_public_url(ENDPOINTS[name], bucket, key) == store(name).public_url(bucket, key)


@given(name=st.sampled_from(sorted(ENDPOINTS)), bucket=s3_buckets, key=any_keys)
@example(name="aws us-east-1", bucket="s3", key="/lead")
@example(name="minio virtual", bucket="imgs", key="..")
def test_s3_urls_read_back_to_their_object(name: str, bucket: str, key: str) -> None:
    configured = ENDPOINTS[name]
    url = s3_public_url(configured, bucket, key)

    found = parse_s3_url(url, configured)

    assert found is not None
    assert (found.bucket, found.key) == (bucket, key)


@given(bucket=s3_buckets, key=any_keys)
def test_s3_uris_read_back_raw(bucket: str, key: str) -> None:
    assert parse_s3_url(s3_uri(bucket, key)) == S3Location(bucket, key, "s3-uri")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("https://imgs.s3.amazonaws.com/a/b%20c", S3Location("imgs", "a/b c", "virtual")),
        ("https://imgs.s3-eu-west-1.amazonaws.com/k", S3Location("imgs", "k", "virtual")),
        ("https://IMGS.S3.US-EAST-1.AMAZONAWS.COM/k?x=1#f", S3Location("imgs", "k", "virtual")),
        ("https://imgs.s3.dualstack.us-west-2.amazonaws.com/k", S3Location("imgs", "k", "virtual")),
        ("https://s3.amazonaws.com/imgs/k", S3Location("imgs", "k", "path")),
        ("https://s3-us-west-2.amazonaws.com/imgs/a/b", S3Location("imgs", "a/b", "path")),
        ("https://a.b.s3.us-east-1.amazonaws.com/k", S3Location("a.b", "k", "virtual")),
        ("https://s3.s3.amazonaws.com/k", S3Location("s3", "k", "virtual")),
        ("https://imgs.s3.us-east-1.amazonaws.com:443/k", S3Location("imgs", "k", "virtual")),
        ("S3://imgs/a b?c#d", S3Location("imgs", "a b?c#d", "s3-uri")),
        ("https://imgs.s3.us-east-1.amazonaws.com/", None),
        ("https://imgs.s3.us-east-1.amazonaws.com", None),
        ("https://s3.us-east-1.amazonaws.com/imgs", None),
        ("https://s3.us-east-1.amazonaws.com/imgs/", None),
        ("https://imgs.s3.us-east-1.amazonaws.com:8443/k", None),
        ("https://imgs.s3.nowhere.amazonaws.com/k", None),
        ("https://imgs.s3.us-east-1.amazonaws.com.evil.com/k", None),
        ("https://example.com/imgs/k", None),
        ("ftp://imgs.s3.amazonaws.com/k", None),
        ("s3://imgs/", None),
        ("s3://imgs", None),
        ("s3:///k", None),
        ("https://imgs.s3.amazonaws.com/a\nb", None),
        (" https://imgs.s3.amazonaws.com/k", None),
        ("https://imgs.s3.amazonaws.com/k\n", None),
        (f"{BASE}/object/public/imgs/k", None),
    ],
)
def test_s3_url_forms(value: str, expected: S3Location | None) -> None:
    assert parse_s3_url(value) == expected


def test_s3_urls_of_a_custom_endpoint_need_the_endpoint() -> None:
    minio = ENDPOINTS["minio"]
    assert parse_s3_url("http://127.0.0.1:9000/imgs/k") is None
    assert parse_s3_url("http://127.0.0.1:9000/imgs/k", minio) == S3Location("imgs", "k", "path")
    assert parse_s3_url("http://imgs.127.0.0.1:9000/k", minio) == S3Location("imgs", "k", "virtual")
    assert parse_s3_url("http://127.0.0.1:9001/imgs/k", minio) is None
    assert parse_s3_url("https://127.0.0.1:9000/imgs/k", minio) is None
    cdn = ENDPOINTS["cdn"]
    assert parse_s3_url("HTTPS://CDN.example.com:443/media/imgs/k", cdn) == S3Location("imgs", "k", "public-base")
    assert parse_s3_url("https://cdn.example.com/other/imgs/k", cdn) is None


# Destination values ---------------------------------------------------------------------------

IMAGES = BucketMapping(source="asset-images", destination="app-images", access="public-read")
VIDEOS = BucketMapping(source="videos", destination="app-videos", access="private", prefix="migrated/")


def test_a_public_bucket_gets_its_s3_url_with_the_prefix_applied() -> None:
    prefixed = IMAGES.model_copy(update={"prefix": "old site/"})
    assert destination_value("a/b c.png", IMAGES, AWS) == "https://app-images.s3.us-east-1.amazonaws.com/a/b%20c.png"
    assert destination_value("a.png", prefixed, AWS) == "https://app-images.s3.us-east-1.amazonaws.com/old%20site/a.png"
    assert destination_value("a.png", IMAGES, ENDPOINTS["cdn"]) == "https://cdn.example.com/media/app-images/a.png"


def test_a_private_bucket_never_gets_a_public_url() -> None:
    assert destination_value("u1/c d.mp4", VIDEOS, AWS) == "s3://app-videos/migrated/u1/c d.mp4"
    assert destination_value("u1/c d.mp4", VIDEOS, AWS, private_url_style="key") == "migrated/u1/c d.mp4"
    with pytest.raises(ValueError, match="private_url_style"):
        destination_value("k", VIDEOS, AWS, private_url_style="https")  # type: ignore[arg-type]


def test_an_unknown_access_is_refused() -> None:
    odd = IMAGES.model_copy(update={"access": "public-write"})
    with pytest.raises(ValueError, match="neither 'public-read' nor 'private'"):
        destination_value("k", odd, AWS)


def test_a_transformation_or_signed_url_is_rewritten_to_the_original_object() -> None:
    text = (
        f"{BASE}/render/image/sign/asset-images/a.png?token=t&width=64 and "
        f"{BASE}/object/sign/videos/c.mp4?token=eyJ.x.y&download="
    )
    mappings = {m.source: m for m in (IMAGES, VIDEOS)}

    out = URLS.replace(text, lambda url: destination_value(url.key, mappings[url.bucket], AWS))

    assert out == "https://app-images.s3.us-east-1.amazonaws.com/a.png and s3://app-videos/migrated/c.mp4"


@given(key=keys, prefix=st.sampled_from(["", "migrated/", "a b/"]))
def test_the_way_back_from_an_s3_url_to_the_supabase_url(key: str, prefix: str) -> None:
    mapping = IMAGES.model_copy(update={"prefix": prefix})
    found = parse_s3_url(destination_value(key, mapping, AWS), AWS)

    assert found is not None
    assert found.bucket == mapping.destination
    original = source_key(found.key, mapping)
    assert original == key
    assert URLS.parse(build_supabase_url(ORIGIN, mapping.source, original)) is not None


def test_source_key_outside_the_prefix() -> None:
    assert source_key("other/k", VIDEOS) is None
    assert source_key("migrated/", VIDEOS) is None
    assert source_key("k", IMAGES) == "k"


def test_encode_key_keeps_slashes_and_dot_segments() -> None:
    assert encode_key("a/./b/../c d+e?f#g%") == "a/%2E/b/%2E%2E/c%20d%2Be%3Ff%23g%25"
    assert encode_key("/x//y/") == "/x//y/"


@given(
    key=keys,
    prefix=st.sampled_from(["", "migrated/", "a b/", "./", "x"]),
    endpoint=st.sampled_from(sorted(ENDPOINTS)),
    style=st.sampled_from(["s3-uri", "key"]),
    mapping=st.sampled_from([IMAGES, VIDEOS]),
)
def test_a_destination_key_builds_what_the_prefix_and_source_key_build(
    key: str, prefix: str, endpoint: str, style: str, mapping: BucketMapping
) -> None:
    """The plan's prefix does not enter: the destination key already holds whatever prefix it was written under."""
    with_prefix = mapping.model_copy(update={"prefix": prefix})
    other_prefix = mapping.model_copy(update={"prefix": "today/"})
    expected = destination_builder(with_prefix, ENDPOINTS[endpoint], private_url_style=style)(key)  # type: ignore[arg-type]
    for plain in (False, True) if re.fullmatch(r"[A-Za-z0-9_./-]+", prefix + key) else (False,):
        build = dest_key_destination_builder(other_prefix, ENDPOINTS[endpoint], private_url_style=style, plain=plain)  # type: ignore[arg-type]
        assert build(prefix + key) == expected


def test_a_destination_key_is_used_as_recorded_whatever_today_s_prefix() -> None:
    images = IMAGES.model_copy(update={"prefix": "today/"})
    assert dest_key_destination_builder(images, AWS)("old site/a.png") == (
        "https://app-images.s3.us-east-1.amazonaws.com/old%20site/a.png"
    )
    assert dest_key_destination_builder(VIDEOS, AWS)("elsewhere/c d.mp4") == "s3://app-videos/elsewhere/c d.mp4"
    by_key = dest_key_destination_builder(VIDEOS, AWS, private_url_style="key")
    assert by_key("elsewhere/c.mp4") == "elsewhere/c.mp4"
    assert dest_key_destination_builder(images, AWS, plain=True)("a/../b") == (
        "https://app-images.s3.us-east-1.amazonaws.com/a/%2E%2E/b"
    ), "a dot segment is kept even on the fast path"
