"""The plan file: one TOML document that says what moves where.

Loaded once, validated with pydantic, `${VAR}` references read from the environment.  Every
problem becomes one `ConfigError` sentence naming the file, the field and the fix.  Secrets
are `SecretStr`, so they never show in `repr`, logs or error text.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from bucketshift.errors import ConfigError

__all__ = [
    "Access",
    "BucketMapping",
    "DatabaseConfig",
    "Endpoint",
    "LocalEndpoint",
    "Plan",
    "PricesConfig",
    "S3Endpoint",
    "SupabaseEndpoint",
    "TransferConfig",
    "load_plan",
    "parse_plan",
    "split_column_name",
]

Access = Literal["public-read", "private"]

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_S3_BUCKET = re.compile(r"^(?!xn--)(?!.*\.\.)(?!\d+\.\d+\.\d+\.\d+$)[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_SUPABASE_BUCKET = re.compile(r"^[A-Za-z0-9_!.*'() &$=@;:+,?-]{1,100}$")
MiB = 1024 * 1024


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _origin(value: str, field: str) -> str:
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{field} must be an http(s) URL such as https://abcd.supabase.co")
    return f"{parts.scheme}://{parts.netloc}"


def _base_url(value: str | None, info: ValidationInfo) -> str | None:
    """An http(s) URL kept without its trailing slash."""
    if value is None:
        return None
    _origin(value, str(info.field_name))
    return value.strip().rstrip("/")


def _cors_origin(value: str) -> str:
    """`*`, or scheme://host[:port] as a browser sends it in `Origin` (one `*` allowed in the host)."""
    item = value.strip()
    if item == "*":
        return item
    parts = urlsplit(item)
    host = parts.netloc.split(":", 1)[0]
    if (
        parts.scheme not in ("http", "https")
        or not host
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
        or "@" in parts.netloc
        or host.count("*") > 1
    ):
        raise ValueError(
            f"'{value}' is not an origin; write scheme://host[:port] without a path, "
            "such as https://app.example.com, or '*'"
        )
    return f"{parts.scheme}://{parts.netloc}"


class SupabaseEndpoint(_Model):
    """A Supabase project reached through its Storage HTTP API."""

    type: Literal["supabase"]
    url: str
    key: SecretStr
    dsn: SecretStr | None = None
    list_api: Literal["auto", "v2", "legacy"] = "auto"
    timeout: float = Field(default=60.0, gt=0)

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        origin = _origin(value, "url")
        path = urlsplit(value.strip()).path.rstrip("/")
        if path not in ("", "/storage/v1"):
            raise ValueError("url must be the project URL (https://<ref>.supabase.co), without a path")
        return origin

    @field_validator("key")
    @classmethod
    def _key(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().strip():
            raise ValueError("key is empty; set it to the service role key")
        return value


class S3Endpoint(_Model):
    """Amazon S3 or any S3-compatible store; credentials follow the AWS default chain."""

    type: Literal["s3"]
    region: str = Field(min_length=1)
    endpoint_url: str | None = None
    profile: str | None = None
    access_key_id: str | None = None
    secret_access_key: SecretStr | None = None
    addressing_style: Literal["auto", "virtual", "path"] = "auto"
    public_base_url: str | None = None
    checksums: Literal["auto", "off"] = "auto"
    """"auto": every write carries a checksum the store checks (an endpoint that refuses them is
    detected and said); "off" for a store known to reject them."""

    _urls = field_validator("endpoint_url", "public_base_url")(_base_url)

    @model_validator(mode="after")
    def _keys_together(self) -> S3Endpoint:
        if (self.access_key_id is None) != (self.secret_access_key is None):
            raise ValueError("give both access_key_id and secret_access_key, or neither (AWS default chain)")
        return self


class LocalEndpoint(_Model):
    """A directory tree: one sub-directory per bucket."""

    type: Literal["local"]
    path: Path
    public_base_url: str | None = None

    _urls = field_validator("public_base_url")(_base_url)


Endpoint = Annotated[SupabaseEndpoint | S3Endpoint | LocalEndpoint, Field(discriminator="type")]


MAX_ABORT_UPLOAD_DAYS = 3650
"""Ten years: a longer window no longer guards any bill, so a bigger number is taken for a typo."""


class BucketMapping(_Model):
    """One source bucket and where it goes."""

    source: str = Field(min_length=1)
    destination: str = ""
    access: Access
    prefix: str = ""
    cors_origins: list[str] = Field(default_factory=list)
    """Web origins allowed to read the bucket from a browser (GET, HEAD); `*` for any."""
    browser_uploads: bool = False
    """Also allow PUT and POST from those origins (browser uploads through pre-signed URLs)."""
    abort_incomplete_uploads_after_days: int = 7
    """S3 aborts a multipart upload left unfinished this many days after it began (its parts are
    billed until then); 0 adds no rule.  Per bucket, because lifecycle rules are per bucket."""

    @field_validator("cors_origins")
    @classmethod
    def _cors_origins(cls, value: list[str]) -> list[str]:
        return [_cors_origin(item) for item in value]

    @field_validator("abort_incomplete_uploads_after_days", mode="before")
    @classmethod
    def _abort_days(cls, value: Any) -> int:
        """A whole number as TOML writes it: no string, float or boolean is read as days."""
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_ABORT_UPLOAD_DAYS:
            raise ValueError(
                f"must be a whole number of days from 1 to {MAX_ABORT_UPLOAD_DAYS} written without quotes, "
                f"or 0 for no rule (got {value!r})"
            )
        return value

    @model_validator(mode="after")
    def _default_destination(self) -> BucketMapping:
        if not self.destination:
            object.__setattr__(self, "destination", self.source)
        if self.prefix.startswith("/"):
            raise ValueError("prefix must not start with '/'")
        return self


def split_column_name(text: str) -> list[str]:
    """`schema.table.column`, each part optionally double-quoted (`""` inside quotes is a quote)."""
    parts: list[str] = []
    current, quoted, index = "", False, 0
    while index < len(text):
        char = text[index]
        if quoted:
            if char == '"' and text[index + 1 : index + 2] == '"':
                current += '"'
                index += 1
            elif char == '"':
                quoted = False
            else:
                current += char
        elif char == '"':
            quoted = True
        elif char == ".":
            parts.append(current)
            current = ""
        else:
            current += char
        index += 1
    if quoted:
        return []
    parts.append(current)
    return parts


class DatabaseConfig(_Model):
    """The application's Postgres, whose stored URLs are rewritten."""

    dsn: SecretStr
    columns: list[str] = Field(default_factory=list)
    private_url_style: Literal["s3-uri", "key"] = "s3-uri"
    extra_origins: list[str] = Field(default_factory=list)
    batch_size: int = Field(default=5000, ge=1, le=100_000)

    @field_validator("extra_origins")
    @classmethod
    def _origins(cls, value: list[str]) -> list[str]:
        return [_origin(item, "extra_origins") for item in value]

    @field_validator("columns")
    @classmethod
    def _columns(cls, value: list[str]) -> list[str]:
        for item in value:
            parts = split_column_name(item)
            if len(parts) not in (2, 3) or not all(parts):
                raise ValueError(
                    f"'{item}' must be written table.column or schema.table.column "
                    '(double-quote a name that holds a dot: "my.table".url)'
                )
        return value


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]i?b?|b)?\s*$", re.IGNORECASE)
_SIZE_UNITS = {"": 1, "b": 1, "k": 1000, "m": 1000**2, "g": 1000**3, "t": 1000**4}


def _size(value: Any) -> Any:
    """A byte count: a number, or text like '64MiB' or '1.5GB' (KiB/MiB/GiB are powers of 1024)."""
    if not isinstance(value, str):
        return value
    match = _SIZE.match(value)
    if match is None:
        raise ValueError(f"'{value}' is not a size; write a number of bytes or one like 64MiB or 1GB")
    number, unit = match.group(1), (match.group(2) or "").lower()
    scale = 1024 ** " kmgt".index(unit[0]) if unit.endswith("ib") or unit.endswith("i") else _SIZE_UNITS[unit[:1]]
    return int(float(number) * scale)


class TransferConfig(_Model):
    """How hard to push: concurrency, multipart sizes, memory and timeouts (all reach the stores)."""

    concurrency: int = Field(default=64, ge=1, le=1024)
    multipart_threshold: int = Field(default=16 * MiB, ge=5 * MiB)
    part_size: int = Field(default=8 * MiB, ge=5 * MiB, le=5 * 1024 * MiB)
    part_concurrency: int = Field(default=4, ge=1, le=64)
    """Parts of one large object in flight at once."""
    memory_budget: int = Field(default=16 * MiB, ge=5 * MiB)
    """Bytes of object bodies held in memory at once, whatever the concurrency (a part, or a whole
    small object, waits for room); at least one part always fits."""
    connect_timeout: float = Field(default=10.0, gt=0, le=600)
    read_timeout: float = Field(default=60.0, gt=0, le=3600)
    """Seconds without a byte of an answer before the request is abandoned (and resumed)."""
    request_timeout: float = Field(default=600.0, gt=0, le=24 * 3600)
    """Seconds for one whole single-part request (a small object's PUT, a HEAD)."""
    supabase_resumable_above: int = Field(default=6 * MiB, ge=0)
    """Writing to Supabase (a rollback): bodies larger than this go through its resumable (TUS) upload,
    in 6 MiB chunks, since its standard upload cannot take a multi-GB video; 0 turns that off."""

    _sizes = field_validator(
        "multipart_threshold", "part_size", "memory_budget", "supabase_resumable_above", mode="before"
    )(_size)

    @model_validator(mode="after")
    def _budget_holds_a_part(self) -> TransferConfig:
        if self.memory_budget < self.part_size:
            raise _FieldProblem(
                ("transfer", "memory_budget"),
                f"memory_budget ({self.memory_budget} bytes) must hold at least one part ({self.part_size} bytes)",
            )
        return self


class PricesConfig(_Model):
    """`[prices]`: what the estimate charges; a field left out is the destination region's list price."""

    source_egress_per_gb: float | None = Field(default=None, ge=0)
    put_per_1000: float | None = Field(default=None, ge=0)
    """S3 PUT, COPY, POST and LIST requests, per 1,000."""
    get_per_1000: float | None = Field(default=None, ge=0)
    """S3 GET and HEAD requests, per 1,000."""
    storage_per_gb_month: float | None = Field(default=None, ge=0)
    currency: str = Field(default="USD", min_length=1, max_length=8)
    date: str | None = None
    """When these prices were taken (shown beside the estimate)."""


class Plan(_Model):
    """The whole plan file."""

    source: Endpoint
    destination: Endpoint
    buckets: list[BucketMapping] = Field(min_length=1)
    database: DatabaseConfig | None = None
    transfer: TransferConfig = Field(default_factory=TransferConfig)
    prices: PricesConfig | None = None
    path: Path | None = Field(default=None, exclude=True)

    @model_validator(mode="after")
    def _bucket_names(self) -> Plan:
        seen: dict[str, int] = {}
        for index, mapping in enumerate(self.buckets):
            if mapping.destination in seen:
                raise _FieldProblem(
                    ("buckets", index, "destination"),
                    f"'{mapping.destination}' is already the destination of buckets[{seen[mapping.destination]}]",
                )
            seen[mapping.destination] = index
            if isinstance(self.destination, S3Endpoint) and not _S3_BUCKET.match(mapping.destination):
                raise _FieldProblem(
                    ("buckets", index, "destination"),
                    f"'{mapping.destination}' is not a valid S3 bucket name "
                    "(3-63 lower-case letters, digits, dots and hyphens); set destination to one",
                )
            if mapping.browser_uploads and not mapping.cors_origins:
                raise _FieldProblem(
                    ("buckets", index, "browser_uploads"),
                    "browser uploads need the web app's origins; list them in cors_origins or remove browser_uploads",
                )
            if isinstance(self.source, SupabaseEndpoint) and not _SUPABASE_BUCKET.match(mapping.source):
                raise _FieldProblem(("buckets", index, "source"), f"'{mapping.source}' is not a Supabase bucket name")
        return self

    def resolve(self, path: Path) -> Path:
        """A path written in the plan file, relative to the file's directory."""
        if path.is_absolute() or self.path is None:
            return path
        return self.path.parent / path


class _FieldProblem(ValueError):
    """Raised inside validators that know the exact field at fault."""

    def __init__(self, loc: tuple[str | int, ...], message: str) -> None:
        super().__init__(message)
        self.loc = loc
        self.message = message


def _loc(parts: tuple[str | int, ...]) -> str:
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out or "(top level)"


def _expand(value: Any, loc: tuple[str | int, ...], env: Mapping[str, str], where: str) -> Any:
    if isinstance(value, str):

        def sub(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in env:
                raise ConfigError(
                    f"{where}: {_loc(loc)}: environment variable {name} is not set; "
                    "export it or write the value in the file"
                )
            return env[name]

        return _VAR.sub(sub, value)
    if isinstance(value, dict):
        return {k: _expand(v, (*loc, k), env, where) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand(v, (*loc, i), env, where) for i, v in enumerate(value)]
    return value


def _known_fields(loc: tuple[str | int, ...]) -> list[str]:
    models: list[Any] = [Plan]
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        found: list[Any] = []
        for model in models:
            field = model.model_fields.get(part)
            if field is None:
                continue
            annotation = field.annotation
            for candidate in (annotation, *getattr(annotation, "__args__", ())):
                if isinstance(candidate, type) and issubclass(candidate, BaseModel):
                    found.append(candidate)
        models = found
    return sorted({name for model in models for name in model.model_fields})


def _describe(error: Mapping[str, Any], where: str) -> str:
    loc = tuple(part for part in error["loc"] if not (isinstance(part, str) and part in ("supabase", "s3", "local")))
    kind = error["type"]
    ctx = error.get("ctx") or {}
    problem = ctx.get("error")
    if isinstance(problem, _FieldProblem):
        return f"{where}: {_loc(problem.loc)}: {problem.message}"
    if kind == "extra_forbidden":
        name = str(loc[-1])
        close = difflib.get_close_matches(name, _known_fields(loc), n=1)
        hint = f"; did you mean '{close[0]}'?" if close else "; remove it"
        return f"{where}: {_loc(loc)}: unknown field{hint}"
    if kind == "missing":
        return f"{where}: {_loc(loc)}: required field is missing; add it"
    if kind == "union_tag_invalid" or kind == "union_tag_not_found":
        return f"{where}: {_loc(loc)}.type: must be one of 'supabase', 's3', 'local'"
    if kind == "literal_error":
        return f"{where}: {_loc(loc)}: must be {ctx.get('expected')} (got {error.get('input')!r})"
    message = str(problem) if problem is not None else error["msg"]
    return f"{where}: {_loc(loc)}: {message}"


def parse_plan(text: str, *, where: str = "plan file", env: Mapping[str, str] | None = None) -> Plan:
    """Validate plan-file text; `where` names the file in messages."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{where}: not valid TOML: {exc}; fix the syntax at that place") from None
    expanded = _expand(raw, (), os.environ if env is None else env, where)
    try:
        return Plan.model_validate(expanded)
    except ValidationError as exc:
        raise ConfigError(_describe(exc.errors()[0], where)) from None


def load_plan(path: str | os.PathLike[str], *, env: Mapping[str, str] | None = None) -> Plan:
    """Read and validate the plan file at `path`."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"plan file {file} not found; write one (see README) or pass --config PATH") from None
    except (IsADirectoryError, PermissionError, UnicodeDecodeError) as exc:
        raise ConfigError(f"plan file {file} cannot be read ({type(exc).__name__}); check the path") from None
    plan = parse_plan(text, where=str(file), env=env)
    base = file.resolve().parent
    updates: dict[str, Any] = {"path": file.resolve()}
    for side in ("source", "destination"):
        endpoint = getattr(plan, side)
        if isinstance(endpoint, LocalEndpoint) and not endpoint.path.is_absolute():
            updates[side] = endpoint.model_copy(update={"path": base / endpoint.path})
    return plan.model_copy(update=updates)
