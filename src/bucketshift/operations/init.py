"""`init`: a plan file written from the live project, so nobody starts from a blank page.

Every bucket the Supabase project has, with its public flag as `access`; destination names from a
prefix; the destination region; the columns that hold the project's storage URLs when the app's
database is given.  Secrets are never written: the file names the environment variables they are
read from (`${VAR}`), and the AWS side uses the default credential chain.  The text is checked
with the plan file's own validator before it is written, and an existing file is never replaced.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import SecretStr, ValidationError

from bucketshift.config import Access, S3Endpoint, SupabaseEndpoint, parse_plan
from bucketshift.database.columns import Column, Found, discover
from bucketshift.database.connection import connect
from bucketshift.errors import ConfigError, UsageError
from bucketshift.stores.base import BucketInfo
from bucketshift.stores.registry import open_store
from bucketshift.stores.supabase_keys import not_a_service_key
from bucketshift.urls import SupabaseURLs, storage_base

__all__ = [
    "DSN_VAR",
    "KEY_VAR",
    "FoundColumn",
    "InitRequest",
    "InitResult",
    "PlannedBucket",
    "check_prefix",
    "column_name",
    "destination_name",
    "init_plan",
    "plan_buckets",
    "render_plan",
    "toml_string",
]

KEY_VAR = "SUPABASE_SERVICE_ROLE_KEY"
DSN_VAR = "DATABASE_URL"
URL_VAR = "SUPABASE_URL"
DEFAULT_REGION = "us-east-1"

_S3_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_IP_ADDRESS = re.compile(r"^\d+\.\d+\.\d+\.\d+$")
_RESERVED_STARTS = ("xn--", "sthree-", "amzn-s3-demo-")
_RESERVED_ENDS = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")
_PREFIX = re.compile(r"^[a-z0-9][a-z0-9.-]*$")
_REGION = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_PLAIN_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_$]*$")
_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}
_COMMENT_AT = 44
_S3_RULE = "3-63 lower-case letters, digits, dots and hyphens, starting and ending with a letter or digit"


@dataclass(frozen=True)
class InitRequest:
    """What `init` is asked for; `output` None writes nothing (the dry run)."""

    supabase_url: str | None
    prefix: str = ""
    region: str = DEFAULT_REGION
    endpoint_url: str | None = None
    dsn: SecretStr | None = None
    output: Path | None = None


@dataclass(frozen=True)
class PlannedBucket:
    source: str
    destination: str
    access: Access
    renamed: bool = False
    """The Supabase name was not a valid S3 name as it was, and was made one."""


@dataclass(frozen=True)
class FoundColumn:
    name: str
    rows: int
    """Rows holding at least one of the project's storage URLs."""
    mentions_only: int
    """Rows that only mention the project's host (not counted as URLs)."""


@dataclass(frozen=True)
class InitResult:
    text: str
    supabase_url: str
    buckets: list[PlannedBucket]
    database_searched: bool
    columns: list[FoundColumn] = field(default_factory=list)
    """Listed in the file: columns holding storage URLs."""
    mentions_only: list[FoundColumn] = field(default_factory=list)
    """Named in a comment only: columns that mention the project but hold none of its URLs."""
    variables: tuple[str, ...] = ()
    """The environment variables the file reads, which must be set to use it."""
    written: Path | None = None


def toml_string(value: str) -> str:
    """`value` as a TOML basic string: quotes, backslashes and control characters escaped, so a
    name from outside can never end the string or the line."""
    out = []
    for char in value:
        code = ord(char)
        if char in _ESCAPES:
            out.append(_ESCAPES[char])
        elif code < 0x20 or code == 0x7F or 0xD800 <= code <= 0xDFFF:
            out.append(f"\\u{code:04x}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def _s3_name_problem(name: str) -> str | None:
    if not _S3_NAME.match(name) or ".." in name or _IP_ADDRESS.match(name):
        return _S3_RULE
    if name.startswith(_RESERVED_STARTS) or name.endswith(_RESERVED_ENDS):
        return "AWS reserves names that start with xn--, sthree- or amzn-s3-demo-, or end with -s3alias or --ol-s3"
    return None


def check_prefix(prefix: str) -> None:
    """Refuse a prefix no S3 bucket name can start with, before anything is asked of the project."""
    if not prefix:
        return
    if not _PREFIX.match(prefix) or ".." in prefix or len(prefix) > 60 or prefix.startswith(_RESERVED_STARTS):
        raise UsageError(
            f"--prefix {prefix!r} cannot start an S3 bucket name ({_S3_RULE}, at most 63 in all, "
            "not starting with xn-- or sthree-); use one like 'myapp-'"
        )


def destination_name(prefix: str, source: str) -> tuple[str, bool]:
    """`prefix` + the Supabase name, and whether that name had to be made a valid S3 name.

    Supabase allows upper case, underscores and spaces that S3 refuses; such a name is lower-cased
    with each run of other characters made one hyphen, and the file says so on that line.
    """
    name = prefix + source
    if _s3_name_problem(name) is None:
        return name, False
    part = re.sub(r"[^a-z0-9.-]+", "-", source.lower())
    part = re.sub(r"\.{2,}", ".", part).strip("-.")
    made = prefix + part
    problem = _s3_name_problem(made)
    if problem is not None:
        raise UsageError(
            f"Supabase bucket {source!r} gives the destination {made or name!r}, which is not a valid S3 bucket "
            f"name ({problem}); use a shorter or different --prefix, or write this plan by hand"
        )
    return made, True


def plan_buckets(prefix: str, listed: list[BucketInfo]) -> list[PlannedBucket]:
    """Each Supabase bucket in name order, with its destination and its public flag as `access`;
    two buckets whose names were made into the same S3 name are one clear error."""
    buckets: list[PlannedBucket] = []
    taken: dict[str, str] = {}
    for info in sorted(listed, key=lambda b: b.name):
        name, renamed = destination_name(prefix, info.name)
        if name in taken:
            raise UsageError(
                f"Supabase buckets {taken[name]!r} and {info.name!r} would both go to {name!r}; "
                "init cannot tell them apart: write this plan by hand (the README shows one)"
            )
        taken[name] = info.name
        buckets.append(PlannedBucket(info.name, name, "public-read" if info.public else "private", renamed))
    return buckets


def column_name(column: Column) -> str:
    """`table.column` (or `schema.table.column` outside `public`), each part double-quoted unless
    it is a plain lower-case identifier, as the plan file's `columns` reads them."""

    def part(text: str) -> str:
        return text if _PLAIN_IDENTIFIER.match(text) else '"' + text.replace('"', '""') + '"'

    parts = ([] if column.schema == "public" else [column.schema]) + [column.table, column.column]
    return ".".join(part(p) for p in parts)


def _line(code: str, comment: str = "") -> str:
    if not comment:
        return code
    return f"{code.ljust(_COMMENT_AT - 1)} # {comment}" if len(code) < _COMMENT_AT - 1 else f"{code}  # {comment}"


def _count(n: int, what: str) -> str:
    return f"{n} {what}{'' if n == 1 else 's'}"


def render_plan(
    supabase_url: str,
    buckets: list[PlannedBucket],
    *,
    region: str,
    endpoint_url: str | None,
    columns: list[FoundColumn] | None,
    mentions_only: list[FoundColumn] | None = None,
) -> str:
    """The plan file's text; `columns` None when no database was searched."""
    lines = [
        "# The bucketshift plan, written by `bucketshift init` from the live project: read it, change what",
        "# you need, then run `bucketshift check`. A value written ${NAME} is read from the environment",
        "# variable NAME when the plan is loaded, so no secret is kept in this file.",
        "",
        _line("[source]", "where the objects are now"),
        _line('type = "supabase"', "Supabase Storage, read through its HTTP API"),
        _line(f"url = {toml_string(supabase_url)}", "the project URL (SUPABASE_URL)"),
        _line(f'key = "${{{KEY_VAR}}}"', "the service role key (or an sb_secret_ key), from the environment"),
        _line(f'# dsn = "${{{DSN_VAR}}}"', "the project's Postgres: copy then lists storage.objects"),
        _line("", "in one query instead of one Storage API request per object"),
        _line('# list_api = "auto"', '"v2", or "legacy" for old projects (auto falls back)'),
        "",
        _line("[destination]", "where the objects go. No AWS key here: credentials come from"),
        _line('type = "s3"', "the AWS default chain (environment, profile, SSO, instance or"),
        _line(f"region = {toml_string(region)}", "task role); this is the region the buckets are made in"),
    ]
    if endpoint_url:
        lines.append(_line(f"endpoint_url = {toml_string(endpoint_url)}", "an S3-compatible store instead of AWS"))
    else:
        lines.append(_line('# endpoint_url = "http://127.0.0.1:9000"', "an S3-compatible store; absent = AWS"))
    lines += [
        _line('# profile = "migration"', "an AWS profile instead of the default chain"),
        _line('# checksums = "auto"', '"off" for a store known to reject checksum headers'),
    ]
    for bucket in buckets:
        public = bucket.access == "public-read"
        made = "the Supabase name made a valid S3 name" if bucket.renamed else "--prefix + the Supabase name"
        lines += [
            "",
            _line("[[buckets]]", "one Supabase bucket and where it goes"),
            _line(f"source = {toml_string(bucket.source)}", "the Supabase bucket"),
            _line(f"destination = {toml_string(bucket.destination)}", f"the S3 bucket ({made})"),
            _line(
                f"access = {toml_string(bucket.access)}",
                "public in Supabase: anyone may GET an object" if public else "private in Supabase: signed URLs only",
            ),
            _line('# cors_origins = ["https://app.example.com"]', "origins that may GET/HEAD from a browser"),
            _line("# browser_uploads = true", "also PUT/POST from them (pre-signed uploads)"),
            _line("# abort_incomplete_uploads_after_days = 7", "0: no rule aborting unfinished uploads"),
        ]
    lines.append("")
    lines += _database_lines(columns, mentions_only or [])
    lines += [
        "",
        _line("[transfer]", "how hard to push; the defaults suit most projects"),
        _line("# concurrency = 64", "objects in flight"),
        _line('# memory_budget = "16MiB"', "bytes of object bodies held at once"),
        "",
    ]
    return "\n".join(lines)


def _database_lines(columns: list[FoundColumn] | None, mentions_only: list[FoundColumn]) -> list[str]:
    if columns is None:
        return [
            _line("# [database]", "the app's Postgres, whose stored storage URLs get rewritten;"),
            _line(f'# dsn = "${{{DSN_VAR}}}"', "run `bucketshift init --dsn ...` to find its URL columns,"),
            _line("# columns = []", "or list them as table.column"),
        ]
    lines = [
        _line("[database]", "the app's Postgres, whose stored storage URLs get rewritten"),
        _line(f'dsn = "${{{DSN_VAR}}}"', "its connection string, from the environment"),
    ]
    if not columns:
        lines.append(_line("columns = []", "discovery found none; empty: rewrite-urls discovers again"))
    else:
        lines.append(_line("columns = [", "found by discovery: columns holding the project's storage URLs"))
        lines += [_line(f"  {toml_string(c.name)},", _count(c.rows, "row")) for c in columns]
        lines.append("]")
    if mentions_only:
        lines.append("# Not listed: these mention the project's host but hold none of its storage URLs:")
        lines += [f"#   {toml_string(c.name)} ({_count(c.mentions_only, 'row')})" for c in mentions_only]
    return lines


def _endpoints(request: InitRequest, key: str) -> tuple[SupabaseEndpoint, S3Endpoint]:
    """The request's two sides, validated by the plan file's own models (one sentence on a mistake)."""
    if not request.supabase_url:
        raise UsageError(f"no Supabase project: pass --supabase-url https://<ref>.supabase.co or set {URL_VAR}")
    if not _REGION.match(request.region):
        raise UsageError(f"--region {request.region!r} is not a region name; give one like us-east-1")
    try:
        source = SupabaseEndpoint(type="supabase", url=request.supabase_url, key=SecretStr(key))
        storage_base(source.url)
    except (ValidationError, ValueError) as exc:
        raise UsageError(f"--supabase-url: {_first_problem(exc)}") from None
    try:
        destination = S3Endpoint(type="s3", region=request.region, endpoint_url=request.endpoint_url)
    except ValidationError as exc:
        raise UsageError(f"--endpoint-url: {_first_problem(exc)}") from None
    return source, destination


def _first_problem(exc: ValidationError | ValueError) -> str:
    if not isinstance(exc, ValidationError):
        return str(exc)
    error = exc.errors()[0]
    problem = (error.get("ctx") or {}).get("error")
    return str(problem) if problem is not None else str(error["msg"])


def _service_key(env: Mapping[str, str]) -> str:
    key = env.get(KEY_VAR, "").strip()
    if not key:
        raise ConfigError(f"{KEY_VAR} is not set; export the project's service role key (it is never an argument)")
    problem = not_a_service_key(key)
    if problem is not None:
        raise ConfigError(f"{KEY_VAR}: {problem}")
    return key


def _discover(dsn: str, origin: str) -> list[Found]:
    urls = SupabaseURLs(origin)
    needles = [storage_base(origin) + "/"]
    with connect(dsn, doing="connect to the app's database (--dsn)") as conn:
        return discover(conn, needles, lambda text: urls.parse(text) is not None or bool(urls.find(text)))


def _refuse_existing(path: Path) -> UsageError:
    return UsageError(f"{path} already exists; init never replaces a file: move it away or pass --output NEW.toml")


def _write(path: Path, text: str) -> None:
    """Exclusive create: a file that appeared since the first look is not replaced either."""
    try:
        with path.open("x", encoding="utf-8") as out:
            out.write(text)
    except FileExistsError:
        raise _refuse_existing(path) from None
    except FileNotFoundError:
        raise UsageError(f"cannot write {path}: directory {path.parent} does not exist; create it first") from None
    except PermissionError:
        raise UsageError(f"cannot write {path}: permission denied; choose another --output") from None


async def init_plan(request: InitRequest, *, env: Mapping[str, str] | None = None) -> InitResult:
    """Read the live project and write (or, without `output`, only return) its plan file.

    Everything that can be refused without the network (an existing file, a bad prefix, region,
    URL or key) is refused first; the service role key is read from `env` (the process
    environment by default), never from an argument.
    """
    environment = os.environ if env is None else env
    if request.output is not None and (request.output.exists() or request.output.is_symlink()):
        raise _refuse_existing(request.output)
    check_prefix(request.prefix)
    key = _service_key(environment)
    source, destination = _endpoints(request, key)
    async with open_store(source) as store:
        listed = await store.list_buckets()
    if not listed:
        raise UsageError(f"the Supabase project at {source.url} has no bucket; there is nothing to plan")
    buckets = plan_buckets(request.prefix, listed)
    found: list[Found] | None = None
    if request.dsn is not None:
        found = await asyncio.to_thread(_discover, request.dsn.get_secret_value(), source.url)
    columns = [FoundColumn(column_name(f.column), f.rows, f.mentions_only) for f in found or () if f.rows]
    mentions = [FoundColumn(column_name(f.column), f.rows, f.mentions_only) for f in found or () if not f.rows]
    text = render_plan(
        source.url,
        buckets,
        region=destination.region,
        endpoint_url=destination.endpoint_url,
        columns=None if found is None else columns,
        mentions_only=mentions,
    )
    variables = (KEY_VAR, DSN_VAR) if found is not None else (KEY_VAR,)
    parse_plan(text, where="the plan init wrote", env=dict.fromkeys(variables, "set"))
    if request.output is not None:
        _write(request.output, text)
    return InitResult(text, source.url, buckets, found is not None, columns, mentions, variables, request.output)
