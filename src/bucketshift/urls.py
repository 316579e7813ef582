"""Storage URLs: read the Supabase forms an application stored, write the S3 form that replaces them.

Pure: no I/O, no clock, nothing from the rest of bucketshift, so that any layer (the URL
rewrite, the S3 backend's `public_url`, the application-side client) can share one definition
of what a storage URL looks like.

Reading (`SupabaseURLs`) is forgiving but never guesses: a value is an object URL only when it
starts with a configured project origin, names one of the object routes of the reference page
and decodes to a bucket and key made of the characters Supabase accepts; anything else that
merely mentions the host is left alone.  Clients differ in how they escape keys (storage-js
runs `encodeURI` over the whole URL, so `?`, `&`, `+` and `#` stay raw; hand-built URLs may
leave even spaces raw), so the path is read with these rules, in this order:

1. Percent-escapes are decoded once, `+` stays `+` (a path, not a form body).
2. `#` is not a key character, so a raw `#` always starts the fragment.  `?` is one: where a
   raw `?` could end the path, the preferred reading is the first `?` whose whole query (up
   to any `#`) consists of parameters Supabase itself defines (`KNOWN_QUERY_PARAMETERS`:
   token, download, and the image transformation ones); so `a?b.png?download=` names key
   `a?b.png`.  Without such a `?`, the first `?` ends the path, as for any HTTP server, so
   `a.png?v=3` is key `a.png` with a cache buster.
3. A reading that does not name a valid bucket and key gives way to the next valid one.
4. Every other valid reading is kept in `SupabaseURL.alternatives` (`a.png?v=3` also reads as
   key `a.png?v=3`): when one of those objects also exists, the value is ambiguous and the
   caller can refuse to rewrite it.

A value is read whole (`SupabaseURLs.parse`: a text column or JSON string holding exactly one
URL, raw spaces allowed) or as text holding URLs among other words (`find`, `replace`:
markdown, HTML, prose), where a URL ends at whitespace and every character outside the URLs
is kept byte for byte.

Writing gives the object, not the request: the destination value never carries the source's
query or fragment (token, download, transformation parameters, cache busters); what is dropped
is listed in `SupabaseURL.warnings` for the plan to show.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal, Protocol
from urllib.parse import parse_qsl, quote, unquote, urlsplit

__all__ = [
    "KEY_CHARACTERS",
    "KNOWN_QUERY_PARAMETERS",
    "TRANSFORM_PARAMETERS",
    "BucketMappingLike",
    "Encoding",
    "Form",
    "PrivateURLStyle",
    "S3EndpointLike",
    "S3Location",
    "S3Style",
    "SupabaseURL",
    "SupabaseURLs",
    "URLMatch",
    "aws_domain",
    "build_supabase_url",
    "dest_key_destination_builder",
    "destination_builder",
    "destination_value",
    "encode_key",
    "find_supabase_urls",
    "host_port",
    "keep_dots",
    "parse_s3_url",
    "parse_supabase_url",
    "plain_destination_builder",
    "replace_supabase_urls",
    "s3_bucket_base",
    "s3_object_base",
    "s3_public_url",
    "s3_uri",
    "source_key",
    "storage_base",
]

Form = Literal["public", "authenticated", "plain", "sign"]
"""`/object/public/`, `/object/authenticated/`, `/object/` (plain) and `/object/sign/` routes."""
PrivateURLStyle = Literal["s3-uri", "key"]
"""How a private object is referred to: `s3://BUCKET/KEY`, or the bare destination key."""
Encoding = Literal["percent", "uri", "raw"]
"""Per-segment percent-encoding; JavaScript `encodeURI` (what storage-js does); no encoding."""
S3Style = Literal["virtual", "path", "public-base", "s3-uri"]

KEY_CHARACTERS = "A-Za-z0-9_/!.*'() &$=@;:+,?-"
"""The characters Supabase Storage accepts in an object key (anything else is InvalidKey)."""
TRANSFORM_PARAMETERS = ("width", "height", "resize", "quality", "format")
KNOWN_QUERY_PARAMETERS = frozenset({"token", "download", *TRANSFORM_PARAMETERS})

_KEY = re.compile(r"[A-Za-z0-9_/!.*'() &$=@;:+,?\-]+")
_BUCKET = re.compile(r"[A-Za-z0-9_!.*'() &$=@;:+,?\-]{1,100}")
_FORMS: dict[str, Form] = {"public": "public", "authenticated": "authenticated", "sign": "sign"}
_ROUTE_WORDS = frozenset({"public", "authenticated", "sign", "info", "upload", "list", "list-v2", "move", "copy"})
"""First path segments after `/object/` that are API routes, so never a plain-form bucket."""
_DEFAULT_PORTS = {"http": 80, "https": 443}
_HOSTED = re.compile(r"([a-z0-9-]+)\.supabase\.co")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_SPAN = re.compile(r"[^\s\"<>\\^`{|}\[\]\x00-\x1f\x7f]*")
"""Characters an embedded URL may run over: everything but whitespace, controls and the
characters that never appear raw in a URL and often delimit one in text."""
_TRAILING = ".,:;!?*'"
_BEFORE_SCHEME = r"(?<![A-Za-z0-9+.\-])"
_PLAIN_OBJECT = r"(?P<form>public|authenticated)/(?P<bucket>[A-Za-z0-9_.\-]{1,100})/(?P<key>[A-Za-z0-9_./\-]+)"
"""The common case, read without the general rules: a public or authenticated URL whose bucket
and key hold only characters that need no decoding and cannot start a query, a fragment or a
second URL.  Every value it matches reads the same under the general rules (a test checks)."""


# Supabase ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SupabaseURL:
    """One Supabase storage object URL, read from a value.

    `base` is the configured storage API base that matched (`https://ref.supabase.co/storage/v1`).
    `query` and `fragment` are the raw text after `?` and `#` (None when absent).
    `alternatives` are the other (bucket, key) pairs the same text names under another reading
    of a raw `?` (see the module docstring).
    """

    base: str
    bucket: str
    key: str
    form: Form
    transformed: bool = False
    query: str | None = None
    fragment: str | None = None
    alternatives: tuple[tuple[str, str], ...] = ()

    @property
    def parameters(self) -> tuple[tuple[str, str], ...]:
        """The query as decoded (name, value) pairs, blanks kept (`?download` is ('download', ''))."""
        return tuple(parse_qsl(self.query or "", keep_blank_values=True))

    @property
    def transform(self) -> tuple[tuple[str, str], ...]:
        """The image transformation asked for; S3 cannot apply it."""
        if not self.transformed:
            return ()
        return tuple((name, value) for name, value in self.parameters if name in TRANSFORM_PARAMETERS)

    @property
    def download(self) -> str | None:
        """`''` for a bare `?download`, the file name for `?download=name`, None without it."""
        return next((value for name, value in self.parameters if name == "download"), None)

    @property
    def warnings(self) -> tuple[str, ...]:
        """What the destination value cannot keep, in words a plan can print."""
        found = []
        if self.transformed:
            asked = ", ".join(f"{name}={value}" for name, value in self.transform) or "no parameters"
            found.append(f"image transformation ({asked}) cannot be applied by S3; rewritten to the original object")
        if self.download is not None:
            found.append("download is dropped: S3 serves the object inline")
        dropped = sorted({name for name, _ in self.parameters} - KNOWN_QUERY_PARAMETERS)
        if dropped:
            found.append(f"query parameters dropped: {', '.join(dropped)}")
        if self.fragment:
            found.append(f"fragment dropped: #{self.fragment}")
        return tuple(found)


@dataclass(frozen=True, slots=True)
class URLMatch:
    """One storage URL found inside a longer text: `text[start:end]` is exactly the URL."""

    start: int
    end: int
    text: str
    url: SupabaseURL


def storage_base(url: str) -> str:
    """The storage API base of a project URL: `https://Ref.supabase.co/` -> `https://ref.supabase.co/storage/v1`.

    Scheme and host are lower-cased and a default port is dropped, so that the many spellings
    of one origin compare equal; a path other than `/storage/v1` is kept (self-hosted behind a
    path) and `/storage/v1` is appended unless already there.
    """
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    problem = f"{url!r} is not a Supabase project URL; give scheme://host[:port], such as https://abcd.supabase.co"
    if scheme not in _DEFAULT_PORTS or not parts.hostname or "@" in parts.netloc or parts.query or parts.fragment:
        raise ValueError(problem)
    try:
        port = parts.port
    except ValueError:
        raise ValueError(problem) from None
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    netloc = host if port in (None, _DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    path = parts.path.rstrip("/")
    if not path.endswith("/storage/v1"):
        path += "/storage/v1"
    return f"{scheme}://{netloc}{path}"


def _aliases(base: str) -> list[str]:
    """A hosted project also answers on its direct storage host name, `<ref>.storage.supabase.co`."""
    parts = urlsplit(base)
    hosted = _HOSTED.fullmatch(parts.netloc)
    if parts.scheme == "https" and hosted and hosted.group(1) != "storage":
        return [base, f"https://{hosted.group(1)}.storage.supabase.co{parts.path}"]
    return [base]


def _base_pattern(base: str) -> str:
    parts = urlsplit(base)
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    default = _DEFAULT_PORTS[parts.scheme]
    port = f"(?::{default})?" if parts.port is None else f":{parts.port}"
    return f"(?i:{re.escape(parts.scheme)})://(?i:{re.escape(host)}){port}{re.escape(parts.path)}"


def _decode(text: str) -> str | None:
    if "%" not in text:
        return text
    try:
        return unquote(text, errors="strict")
    except UnicodeDecodeError:
        return None


def _all_known(query: str) -> bool:
    names = [piece.split("=", 1)[0] for piece in query.split("&") if piece]
    return bool(names) and all(name in KNOWN_QUERY_PARAMETERS for name in names)


def _split(tail: str, end: int) -> tuple[str, str | None, str | None]:
    """(path, query, fragment) when the path ends at `end`, a raw `?`, `#` or the end of `tail`."""
    if end == len(tail):
        return tail, None, None
    rest = tail[end + 1 :]
    if tail[end] == "#":
        return tail[:end], None, rest
    query, sep, fragment = rest.partition("#")
    return tail[:end], query, fragment if sep else None


def _ends(tail: str) -> list[int]:
    """Every place the path could end, the preferred reading first (module docstring, rule 2)."""
    ends = [i for i, char in enumerate(tail) if char in "?#"]
    ends.append(len(tail))
    preferred = next((i for i in ends[:-1] if tail[i] == "?" and _all_known(_split(tail, i)[1] or "")), ends[0])
    return [preferred, *(end for end in ends if end != preferred)]


def _object(route: str, path: str) -> tuple[Form, str, str] | None:
    """(form, bucket, key) of a path after `/object/` or `/render/image/`, or None."""
    word, sep, rest = path.partition("/")
    form = _FORMS.get(word)
    if form is None and route == "object":
        form, rest = "plain", path
    elif form is None or not sep:
        return None
    bucket_text, sep, key_text = rest.partition("/")
    if not sep:
        return None
    bucket, key = _decode(bucket_text), _decode(key_text)
    if bucket is None or key is None or not _BUCKET.fullmatch(bucket) or not _KEY.fullmatch(key):
        return None
    if form == "plain" and bucket in _ROUTE_WORDS:
        return None
    return form, bucket, key


def _read(base: str, route: str, tail: str) -> SupabaseURL | None:
    """The object named by `tail`, the text after `{base}/{route}/`, under the module's rules."""
    if "?" not in tail and "#" not in tail:
        found = _object(route, tail)
        if found is None:
            return None
        return SupabaseURL(base, found[1], found[2], found[0], route == "render/image")
    chosen: SupabaseURL | None = None
    others: list[tuple[str, str]] = []
    for end in _ends(tail):
        path, query, fragment = _split(tail, end)
        found = _object(route, path)
        if found is None:
            continue
        form, bucket, key = found
        if chosen is None:
            chosen = SupabaseURL(base, bucket, key, form, route == "render/image", query, fragment)
        elif (bucket, key) != (chosen.bucket, chosen.key) and (bucket, key) not in others:
            others.append((bucket, key))
    if chosen is None or not others:
        return chosen
    return dataclasses.replace(chosen, alternatives=tuple(others))


class SupabaseURLs:
    """The storage object URLs of one Supabase project, its origins compiled once.

    `origins` are project URLs as the plan file's source `url` (hosted or self-hosted, any
    port, trailing slashes or `/storage/v1` allowed).  Scheme and host match case-insensitively
    and an explicit default port matches its absence; the scheme itself must match (give both
    `http://` and `https://` origins if the database holds both).  A hosted project's direct
    storage host `https://<ref>.storage.supabase.co` is recognised as the same project.
    `bases` lists the storage API bases recognised, normalised (`https://ref.supabase.co/storage/v1`).
    """

    __slots__ = ("_bases", "_head", "_plain", "_search", "bases", "plain_match")

    def __init__(self, origins: str | Iterable[str]) -> None:
        given = [origins] if isinstance(origins, str) else list(origins)
        if not given:
            raise ValueError("no Supabase project URL given; pass the source url, such as https://abcd.supabase.co")
        bases: list[str] = []
        for origin in given:
            for base in _aliases(storage_base(origin)):
                if base not in bases:
                    bases.append(base)
        self.bases: tuple[str, ...] = tuple(bases)
        self._bases = bases
        heads = "|".join(f"(?P<b{index}>{_base_pattern(base)})" for index, base in enumerate(bases))
        head = f"(?:{heads})/(?P<route>object|render/image)/"
        self._head = re.compile(head)
        self._search = re.compile(_BEFORE_SCHEME + head)
        self._plain = re.compile(f"(?:{heads})/object/{_PLAIN_OBJECT}")
        self.plain_match: Callable[[str], re.Match[str] | None] = self._plain.fullmatch
        """The match behind `plain_object` (groups `bucket` and `key`), for loops that read
        thousands of values and cannot afford a call around it."""

    def _matched(self, match: re.Match[str]) -> str:
        if len(self._bases) == 1:
            return self._bases[0]
        for index, base in enumerate(self._bases, 1):
            if match.start(index) >= 0:
                return base
        raise AssertionError("a match names one of the bases")

    def parse(self, value: str) -> SupabaseURL | None:
        """The object a whole value names, or None if the value is not exactly one storage URL.

        The value is read literally, raw spaces included, so it must not end with a space, hold
        any other whitespace or non-printable character (line breaks included) or contain a
        second storage URL; such values are text, for `find`.
        """
        plain = self._plain.fullmatch(value)
        if plain is not None:
            return SupabaseURL(self._matched(plain), plain["bucket"], plain["key"], plain["form"])  # type: ignore[arg-type]
        return self._parse_general(value)

    def plain_object(self, value: str) -> tuple[str, str] | None:
        """(bucket, key) when `value` is a plain public or authenticated URL, the common case
        `parse` reads without its general rules (no query, fragment or encoding); else None."""
        plain = self._plain.fullmatch(value)
        return None if plain is None else (plain["bucket"], plain["key"])

    def _parse_general(self, value: str) -> SupabaseURL | None:
        match = self._head.match(value)
        if match is None or value[-1] == " " or not value.isprintable() or self._head.search(value, match.end()):
            return None
        return _read(self._matched(match), match.group("route"), value[match.end() :])

    def find(self, text: str) -> list[URLMatch]:
        """Every storage URL inside a longer text (markdown, HTML, prose, a JSON document's text).

        A URL starts at a configured origin not preceded by a letter, digit, `+`, `-` or `.`;
        it runs until whitespace, a control character or one of ``"<>\\^`{|}[]``; then, as
        linkifiers do, trailing `.,:;!?*'` are left out, and so is a trailing `)` that has no
        `(` in the URL (markdown's `](url)`); a URL right after a `'` ends at the next `'`.
        So a raw space ends a URL in text, and a key ending in one of those characters must be
        percent-encoded to be found whole.  The text must be decoded: an HTML-escaped `&amp;`
        or a URL percent-encoded inside another URL's query is not unescaped here.
        """
        found: list[URLMatch] = []
        position = 0
        while True:
            match = self._search.search(text, position)
            if match is None:
                return found
            start = match.start()
            span = _SPAN.match(text, match.end())
            end = span.end() if span else match.end()
            if start > 0 and text[start - 1] == "'":
                quote_at = text.find("'", match.end(), end)
                end = end if quote_at < 0 else quote_at
            while end > match.end():
                last = text[end - 1]
                if last in _TRAILING or (last == ")" and text.count(")", start, end) > text.count("(", start, end)):
                    end -= 1
                else:
                    break
            url = _read(self._matched(match), match.group("route"), text[match.end() : end])
            if url is None:
                position = match.end()
                continue
            found.append(URLMatch(start, end, text[start:end], url))
            position = end

    def replace(self, text: str, replacement: Callable[[SupabaseURL], str | None]) -> str:
        """`text` with each storage URL replaced by `replacement(url)`, or kept where it answers None.

        A value that is exactly one URL (`parse`) is replaced whole; otherwise each URL `find`
        returns is replaced in place and every other character is kept as it was.
        """
        whole = self.parse(text)
        if whole is not None:
            new = replacement(whole)
            return text if new is None else new
        pieces: list[str] = []
        last = 0
        for match in self.find(text):
            new = replacement(match.url)
            if new is None:
                continue
            pieces += (text[last : match.start], new)
            last = match.end
        if not pieces:
            return text
        pieces.append(text[last:])
        return "".join(pieces)


def parse_supabase_url(value: str, origins: str | Iterable[str]) -> SupabaseURL | None:
    """`SupabaseURLs(origins).parse(value)`; compile a `SupabaseURLs` once for many values."""
    return SupabaseURLs(origins).parse(value)


def find_supabase_urls(text: str, origins: str | Iterable[str]) -> list[URLMatch]:
    """`SupabaseURLs(origins).find(text)`."""
    return SupabaseURLs(origins).find(text)


def replace_supabase_urls(
    text: str, origins: str | Iterable[str], replacement: Callable[[SupabaseURL], str | None]
) -> str:
    """`SupabaseURLs(origins).replace(text, replacement)`."""
    return SupabaseURLs(origins).replace(text, replacement)


def _encode_uri(text: str) -> str:
    """JavaScript's `encodeURI`, which leaves `;,/?:@&=+$!*'()#` raw."""
    return quote(text, safe=";,/?:@&=+$!*'()#")


def build_supabase_url(
    project_url: str,
    bucket: str,
    key: str,
    form: Form = "public",
    *,
    transformed: bool = False,
    query: str = "",
    encoding: Encoding = "percent",
) -> str:
    """The Supabase URL of an object, as a client would store it (the way back, and test data).

    `query` is appended raw after `?` (a sign form's `token=...`, transformation parameters);
    `encoding` chooses per-segment percent-encoding (unambiguous, the default), storage-js's
    `encodeURI` or none.
    """
    if transformed and form == "plain":
        raise ValueError("image transformation URLs have no plain form; use public, authenticated or sign")
    if form == "plain" and bucket in _ROUTE_WORDS:
        raise ValueError(f"bucket {bucket!r} cannot be written in the plain form: /object/{bucket}/ is an API route")
    if encoding == "percent":
        path = f"{quote(bucket, safe='')}/{encode_key(key)}"
    elif encoding == "uri":
        path = _encode_uri(f"{bucket}/{key}")
    else:
        path = f"{bucket}/{key}"
    route = "render/image" if transformed else "object"
    form_part = "" if form == "plain" else f"{form}/"
    url = f"{storage_base(project_url)}/{route}/{form_part}{path}"
    return f"{url}?{query}" if query else url


# S3 ---------------------------------------------------------------------------------------


class S3EndpointLike(Protocol):
    """What URL building needs of `bucketshift.config.S3Endpoint`."""

    @property
    def region(self) -> str: ...
    @property
    def endpoint_url(self) -> str | None: ...
    @property
    def addressing_style(self) -> str: ...
    @property
    def public_base_url(self) -> str | None: ...


class BucketMappingLike(Protocol):
    """What URL building needs of `bucketshift.config.BucketMapping`."""

    @property
    def source(self) -> str: ...
    @property
    def destination(self) -> str: ...
    @property
    def access(self) -> str: ...
    @property
    def prefix(self) -> str: ...


@dataclass(frozen=True, slots=True)
class S3Location:
    """The object an S3 URL or `s3://` URI names, and which form it had."""

    bucket: str
    key: str
    style: S3Style


_SAFE_PATH = re.compile(r"(?!(?:[^/]*/)*\.\.?(?:/|$))[A-Za-z0-9_.~/-]*")
"""A key that is its own URL path: only unreserved characters and no `.` or `..` segment."""


def keep_dots(segment: str) -> str:
    """A `.` or `..` path segment as `%2E`, which HTTP clients would otherwise fold away."""
    return segment.replace(".", "%2E") if segment in (".", "..") else segment


def encode_key(key: str) -> str:
    """A key as a URL path: each segment percent-encoded, `/` kept, `.`/`..` segments as `%2E`.

    Everything outside `A-Za-z0-9_.-~` is encoded, so no character of a key can be read as a
    query, fragment or form-encoded space on the way back.
    """
    if _SAFE_PATH.fullmatch(key):
        return key
    return "/".join(keep_dots(quote(segment, safe="")) for segment in key.split("/"))


def aws_domain(region: str) -> str:
    """AWS's domain for a region (China's partition has its own)."""
    return "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"


def _virtual(endpoint: S3EndpointLike, bucket: str) -> bool:
    if endpoint.addressing_style == "auto":
        return endpoint.endpoint_url is None and "." not in bucket
    return endpoint.addressing_style == "virtual"


def s3_bucket_base(endpoint: S3EndpointLike, bucket: str) -> tuple[str, bool]:
    """Where `bucket` is addressed, and whether the bucket is in the host name (virtual-hosted).

    On AWS virtual-hosted in the regional form for every region, us-east-1 included, path-style
    when the bucket name has a dot (TLS wildcard certificates do not cover it); path-style on a
    custom endpoint unless `addressing_style` says virtual.
    """
    virtual = _virtual(endpoint, bucket)
    if endpoint.endpoint_url:
        base = endpoint.endpoint_url.rstrip("/")
        if not virtual:
            return base, False
        parts = urlsplit(base)
        return f"{parts.scheme}://{bucket}.{parts.netloc}{parts.path}", True
    domain = aws_domain(endpoint.region)
    if virtual:
        return f"https://{bucket}.s3.{endpoint.region}.{domain}", True
    return f"https://s3.{endpoint.region}.{domain}", False


def s3_object_base(endpoint: S3EndpointLike, bucket: str) -> str:
    """What comes before `/KEY` in the anonymous URL of an object of `bucket`."""
    if endpoint.public_base_url:
        return f"{endpoint.public_base_url.rstrip('/')}/{quote(bucket, safe='')}"
    base, virtual = s3_bucket_base(endpoint, bucket)
    return base if virtual else f"{base}/{bucket}"


def s3_public_url(endpoint: S3EndpointLike, bucket: str, key: str) -> str:
    """The anonymous URL of an object: under `public_base_url` (`BASE/BUCKET/KEY`) when set,
    else at the bucket's address (`s3_bucket_base`), the key encoded by `encode_key`."""
    return f"{s3_object_base(endpoint, bucket)}/{encode_key(key)}"


def s3_uri(bucket: str, key: str) -> str:
    """`s3://BUCKET/KEY` with the key raw, as the AWS CLI writes it: a reference, not a URL to fetch."""
    return f"s3://{bucket}/{key}"


def destination_builder(
    mapping: BucketMappingLike,
    endpoint: S3EndpointLike,
    *,
    private_url_style: PrivateURLStyle = "s3-uri",
) -> Callable[[str], str]:
    """`destination_value` for one mapping, with what does not depend on the key worked out once."""
    prefix, bucket = mapping.prefix, mapping.destination
    if mapping.access == "public-read":
        head = s3_object_base(endpoint, bucket)
        return lambda key: f"{head}/{encode_key(prefix + key)}"
    if mapping.access != "private":
        raise ValueError(f"bucket access {mapping.access!r} is neither 'public-read' nor 'private'")
    if private_url_style == "s3-uri":
        return lambda key: s3_uri(bucket, prefix + key)
    if private_url_style == "key":
        return lambda key: prefix + key
    raise ValueError(f"private_url_style {private_url_style!r} is neither 's3-uri' nor 'key'")


def plain_destination_builder(
    mapping: BucketMappingLike,
    endpoint: S3EndpointLike,
    *,
    private_url_style: PrivateURLStyle = "s3-uri",
) -> Callable[[str], str]:
    """`destination_builder` for keys `plain_object` returned: such a key holds only unreserved
    characters, so unless one of its segments may be `.` or `..` it is its own URL path."""
    general = destination_builder(mapping, endpoint, private_url_style=private_url_style)
    prefix = mapping.prefix
    if mapping.access != "public-read" or not _SAFE_PATH.fullmatch(prefix) or prefix[-1:] not in ("", "/"):
        return general
    head = f"{s3_object_base(endpoint, mapping.destination)}/{prefix}"

    def build(key: str) -> str:
        if key[:1] == "." or "/." in key:
            return general(key)
        return head + key

    return build


@dataclass(frozen=True, slots=True)
class _AtRoot:
    """A mapping seen with no prefix: its keys are destination keys already."""

    source: str
    destination: str
    access: str
    prefix: str = ""


def dest_key_destination_builder(
    mapping: BucketMappingLike,
    endpoint: S3EndpointLike,
    *,
    private_url_style: PrivateURLStyle = "s3-uri",
    plain: bool = False,
) -> Callable[[str], str]:
    """What replaces the URL of an object written under `dest_key` in `mapping.destination`.

    The key is the one the object was written under (a manifest records it, prefix included),
    so today's `mapping.prefix` does not enter: a plan whose prefix changed since the copy still
    points at the object where it is.  `plain` says every key given holds only the characters of
    `plain_object`'s keys, which builds faster (`plain_destination_builder`).
    """
    at_root = _AtRoot(mapping.source, mapping.destination, mapping.access)
    build = plain_destination_builder if plain else destination_builder
    return build(at_root, endpoint, private_url_style=private_url_style)


def destination_value(
    key: str,
    mapping: BucketMappingLike,
    endpoint: S3EndpointLike,
    *,
    private_url_style: PrivateURLStyle = "s3-uri",
) -> str:
    """What replaces the URL of source object `key` of `mapping.source` after the move.

    The mapping's prefix is put before the key.  A public-read bucket gets its public S3 URL;
    a private one never does (it would answer 403): it gets a stable reference the
    application signs on demand, `s3://BUCKET/KEY` or, with style "key", the bare key.
    """
    return destination_builder(mapping, endpoint, private_url_style=private_url_style)(key)


def source_key(dest_key: str, mapping: BucketMappingLike) -> str | None:
    """The source key a destination key came from (the mapping's prefix removed), or None."""
    if not dest_key.startswith(mapping.prefix) or len(dest_key) == len(mapping.prefix):
        return None
    return dest_key[len(mapping.prefix) :]


_AWS_REGION = r"[a-z]{2}(?:-[a-z]+)+-\d+"
_AWS_S3 = rf"s3(?:[.-](?:dualstack\.)?{_AWS_REGION})?\.amazonaws\.com(?:\.cn)?"
_AWS_VIRTUAL = re.compile(rf"(?P<bucket>[a-z0-9][a-z0-9.-]*[a-z0-9])\.{_AWS_S3}")
_AWS_PATH = re.compile(_AWS_S3)
_S3_URI = re.compile(r"(?i:s3)://(?P<bucket>[^/]+)/(?P<key>.+)", re.DOTALL)
_S3_BUCKET = re.compile(r"[A-Za-z0-9._-]+")


def _netloc(scheme: str, host: str, port: int | None) -> str:
    host = f"[{host}]" if ":" in host else host
    return host if port in (None, _DEFAULT_PORTS.get(scheme)) else f"{host}:{port}"


def _split_http(value: str) -> tuple[str, str, str] | None:
    """(scheme, normalised netloc, raw path) of an http(s) URL, or None."""
    if _CONTROL.search(value) or value != value.strip():
        return None
    parts = urlsplit(value)
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname or "@" in parts.netloc:
        return None
    try:
        port = parts.port
    except ValueError:
        return None
    return scheme, _netloc(scheme, parts.hostname, port), parts.path


def _located(bucket: str | None, key: str | None, style: S3Style) -> S3Location | None:
    if not bucket or not _S3_BUCKET.fullmatch(bucket) or not key:
        return None
    return S3Location(bucket, key, style)


def _under(url: tuple[str, str, str], base: str) -> str | None:
    """The path below `base` when `url` is under it (scheme and host compared normalised)."""
    parsed = _split_http(base.rstrip("/"))
    if parsed is None or url[:2] != parsed[:2] or not url[2].startswith(parsed[2] + "/"):
        return None
    return url[2][len(parsed[2]) + 1 :]


def parse_s3_url(value: str, endpoint: S3EndpointLike | None = None) -> S3Location | None:
    """The bucket and key an S3 URL or `s3://` URI names, or None: the way back to Supabase.

    Recognised: `s3://BUCKET/KEY` (key taken raw); AWS virtual-hosted and path-style URLs in
    the regional, legacy `s3-REGION`, dual-stack and global forms of any region; and, given the
    endpoint, URLs under its `public_base_url` and its custom `endpoint_url` (path-style or
    virtual-hosted).  Keys are percent-decoded; query and fragment are ignored.
    """
    uri = _S3_URI.fullmatch(value)
    if uri is not None:
        return _located(uri.group("bucket"), uri.group("key"), "s3-uri")
    url = _split_http(value)
    if url is None:
        return None
    if endpoint is not None and endpoint.public_base_url:
        below = _under(url, endpoint.public_base_url)
        if below is not None:
            bucket, _, key = below.partition("/")
            return _located(_decode(bucket), _decode(key), "public-base")
    if endpoint is not None and endpoint.endpoint_url:
        below = _under(url, endpoint.endpoint_url)
        if below is not None:
            bucket, _, key = below.partition("/")
            return _located(bucket, _decode(key), "path")
        custom = _split_http(endpoint.endpoint_url.rstrip("/"))
        if custom is not None and url[0] == custom[0] and url[1].endswith("." + custom[1]):
            below = _under((url[0], custom[1], url[2]), endpoint.endpoint_url)
            if below is not None:
                return _located(url[1][: -len(custom[1]) - 1], _decode(below), "virtual")
    host = url[1]
    virtual = _AWS_VIRTUAL.fullmatch(host)
    if virtual is not None and url[2].startswith("/"):
        return _located(virtual.group("bucket"), _decode(url[2][1:]), "virtual")
    if _AWS_PATH.fullmatch(host) is not None:
        bucket, _, key = url[2][1:].partition("/")
        return _located(bucket, _decode(key), "path")
    return None


def host_port(url: str) -> str | None:
    """`host:port` of an endpoint URL (the scheme's port if none is written), never its user, path
    or query: what an error message may name."""
    try:
        parts = urlsplit(url.strip().strip("'\""))
        port = parts.port or {"https": 443, "http": 80}.get(parts.scheme)
    except ValueError:
        return None
    if not parts.hostname:
        return None
    return f"{parts.hostname}:{port}" if port else parts.hostname
