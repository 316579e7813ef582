"""Where the application's files live, read once at start-up from the environment or the plan file.

The application names its buckets by their logical names (`asset-images`, `images`, `videos`:
the Supabase bucket names), and the settings map them to the S3 buckets that hold them now.  A
missing or wrong setting is one `ConfigError` naming the variable, raised when the settings are
read, never at the first upload.  Credentials follow each side's convention: the AWS default chain
(environment, profile, SSO, ECS task or instance role; raw keys are never required), and the
Supabase service-role key from `SUPABASE_SERVICE_ROLE_KEY`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from pydantic import SecretStr

from bucketshift.config import Plan, S3Endpoint, SupabaseEndpoint, load_plan
from bucketshift.errors import ConfigError
from bucketshift.stores.supabase_keys import not_a_service_key
from bucketshift.urls import storage_base

__all__ = ["BACKENDS", "DEFAULT_BUCKETS", "Backend", "Side", "StorageSettings", "bucket_variable"]

Backend = Literal["s3", "supabase", "mirror"]
Side = Literal["s3", "supabase"]
BACKENDS: tuple[Backend, ...] = ("s3", "supabase", "mirror")
DEFAULT_BUCKETS = ("asset-images", "images", "videos")
"""The logical buckets when `STORAGE_BUCKETS` does not name others (our first users' app)."""
DEFAULT_PRIVATE = ("videos",)
DEFAULT_PHYSICAL_PREFIX = "aiuteur-"
_S3_BUCKET = re.compile(r"^(?!xn--)(?!.*\.\.)(?!\d+\.\d+\.\d+\.\d+$)[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


def bucket_variable(logical: str) -> str:
    """`S3_<NAME>_BUCKET` for a logical bucket: `asset-images` -> `S3_ASSET_IMAGES_BUCKET`."""
    return "S3_" + re.sub(r"[^A-Z0-9]+", "_", logical.upper()).strip("_") + "_BUCKET"


def _names(text: str) -> tuple[str, ...]:
    return tuple(name.strip() for name in text.split(",") if name.strip())


@dataclass(frozen=True)
class StorageSettings:
    """What `AsyncStorage` needs: the backend, and each side's address and buckets.

    `buckets` maps each logical bucket to its S3 bucket; `private` holds the logical buckets read
    only through signed URLs; `where` names the variable (or plan field) each S3 bucket came from and
    `buckets_from` what lists the logical buckets (their Supabase names), for error messages.
    """

    backend: Backend
    primary: Side
    buckets: Mapping[str, str]
    private: frozenset[str]
    region: str | None = None
    endpoint_url: str | None = None
    public_base_url: str | None = None
    supabase_url: str | None = None
    supabase_key: SecretStr | None = field(default=None, repr=False)
    private_url_style: Literal["s3-uri", "key"] = "s3-uri"
    where: Mapping[str, str] = field(default_factory=dict)
    buckets_from: str = "STORAGE_BUCKETS"

    @property
    def sides(self) -> tuple[Side, ...]:
        """The sides in use, the primary first."""
        if self.backend != "mirror":
            return (self.primary,)
        return (self.primary, "supabase" if self.primary == "s3" else "s3")

    def s3_endpoint(self) -> S3Endpoint:
        if self.region is None:
            raise ConfigError("AWS_REGION is not set; set it to the region of the S3 buckets (such as us-east-1)")
        return S3Endpoint(
            type="s3", region=self.region, endpoint_url=self.endpoint_url, public_base_url=self.public_base_url
        )

    def supabase_endpoint(self) -> SupabaseEndpoint:
        if self.supabase_url is None or self.supabase_key is None:
            raise ConfigError("SUPABASE_URL and SUPABASE_SERVICE_ROLE_KEY must both be set to use Supabase Storage")
        return SupabaseEndpoint(type="supabase", url=self.supabase_url, key=self.supabase_key)

    def logical(self, name: str, *, physical_only: bool = False) -> str | None:
        """The logical name of a bucket given by its logical or its S3 name (only the S3 name with
        `physical_only`); None for a bucket the settings do not hold."""
        if not physical_only and name in self.buckets:
            return name
        return next((logical for logical, physical in self.buckets.items() if physical == name), None)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> StorageSettings:
        """Read `STORAGE_BACKEND` and the variables it needs (see the module docstring and README)."""
        env = os.environ if env is None else env
        backend = env.get("STORAGE_BACKEND", "").strip()
        if backend not in BACKENDS:
            said = f"is {backend!r}" if backend else "is not set"
            raise ConfigError(f"STORAGE_BACKEND {said}; set it to one of: {', '.join(BACKENDS)}")
        primary: Side
        if backend == "mirror":
            chosen = env.get("STORAGE_PRIMARY", "").strip()
            if chosen not in ("s3", "supabase"):
                said = f"is {chosen!r}" if chosen else "is not set"
                raise ConfigError(
                    f"STORAGE_PRIMARY {said}; with STORAGE_BACKEND=mirror set it to s3 or supabase "
                    "(the side reads and URLs come from)"
                )
            primary = chosen  # type: ignore[assignment]
        else:
            primary = backend  # type: ignore[assignment]
        logical = _names(env.get("STORAGE_BUCKETS", "")) or DEFAULT_BUCKETS
        if "STORAGE_PRIVATE_BUCKETS" in env:
            private = frozenset(_names(env["STORAGE_PRIVATE_BUCKETS"]))
        else:
            private = frozenset(DEFAULT_PRIVATE) & set(logical)
        unknown = sorted(private - set(logical))
        if unknown:
            raise ConfigError(
                f"STORAGE_PRIVATE_BUCKETS names {unknown[0]!r}, which is not one of the buckets "
                f"({', '.join(logical)}); fix it or add it to STORAGE_BUCKETS"
            )
        buckets, where = {}, {}
        for name in logical:
            variable = bucket_variable(name)
            physical = env.get(variable, "").strip() or DEFAULT_PHYSICAL_PREFIX + name
            if not _S3_BUCKET.match(physical):
                raise ConfigError(f"{variable} is {physical!r}, which is not a valid S3 bucket name; fix it")
            buckets[name], where[name] = physical, variable
        style = env.get("STORAGE_PRIVATE_URL_STYLE", "").strip() or "s3-uri"
        if style not in ("s3-uri", "key"):
            raise ConfigError(f"STORAGE_PRIVATE_URL_STYLE is {style!r}; set it to s3-uri (the default) or key")
        settings = cls(
            backend=backend,  # type: ignore[arg-type]
            primary=primary,
            buckets=buckets,
            private=private,
            private_url_style=style,  # type: ignore[arg-type]
            where=where,
            **_s3_from_env(env, backend != "supabase"),
            **_supabase_from_env(env, backend != "s3"),
        )
        return settings

    @classmethod
    def from_plan(cls, path: str | os.PathLike[str], *, backend: Backend = "s3", primary: Side | None = None,
                  env: Mapping[str, str] | None = None) -> StorageSettings:  # fmt: skip
        """The same facts as `bucketshift app-env` prints: the plan's destination and buckets (their
        `access` says which are private), and its Supabase source for the supabase and mirror backends."""
        return cls.of_plan(load_plan(path, env=env), backend=backend, primary=primary, where=str(path))

    @classmethod
    def of_plan(cls, plan: Plan, *, backend: Backend = "s3", primary: Side | None = None, where: str = "plan file",
                secrets: bool = True) -> StorageSettings:  # fmt: skip
        """Settings from a plan already read; without `secrets` the Supabase key is neither needed nor kept
        (what `app-env` prints has no secret in it)."""
        if backend not in BACKENDS:
            raise ConfigError(f"backend {backend!r} is not one of: {', '.join(BACKENDS)}")
        if not isinstance(plan.destination, S3Endpoint):
            raise ConfigError(f"{where}: destination: the application's storage needs an s3 destination")
        if primary is not None and backend != "mirror" and primary != backend:
            raise ConfigError(f"a primary ({primary}) is only chosen with the mirror backend, not with {backend}")
        side: Side = primary or ("supabase" if backend == "supabase" else "s3")
        source = plan.source if isinstance(plan.source, SupabaseEndpoint) else None
        if backend != "s3" and source is None:
            raise ConfigError(f"{where}: source: the {backend} backend needs the Supabase source")
        if source is not None and backend != "s3" and secrets:
            _require_service_key(source.key, f"{where}: source.key")
        return cls(
            backend=backend,
            primary=side,
            buckets={m.source: m.destination for m in plan.buckets},
            private=frozenset(m.source for m in plan.buckets if m.access == "private"),
            region=plan.destination.region,
            endpoint_url=plan.destination.endpoint_url,
            public_base_url=plan.destination.public_base_url,
            supabase_url=source.url.rstrip("/") if source else None,
            supabase_key=source.key if source and secrets and backend != "s3" else None,
            private_url_style=plan.database.private_url_style if plan.database else "s3-uri",
            where={m.source: f"the destination of bucket {m.source!r} in {where}" for m in plan.buckets},
            buckets_from=f"the [[buckets]] sources in {where}",
        )

    def to_env(self) -> dict[str, str]:
        """The variables `from_env` reads back into these settings, secrets left out (`SECRETS` names them)."""
        out = {"STORAGE_BACKEND": self.backend}
        if self.backend == "mirror":
            out["STORAGE_PRIMARY"] = self.primary
        if self.region:
            out["AWS_REGION"] = self.region
        if self.endpoint_url:
            out["AWS_ENDPOINT_URL_S3"] = self.endpoint_url
        if self.public_base_url:
            out["S3_PUBLIC_BASE_URL"] = self.public_base_url
        out["STORAGE_BUCKETS"] = ",".join(self.buckets)
        out.update({bucket_variable(logical): physical for logical, physical in self.buckets.items()})
        out["STORAGE_PRIVATE_BUCKETS"] = ",".join(name for name in self.buckets if name in self.private)
        if self.private_url_style != "s3-uri":
            out["STORAGE_PRIVATE_URL_STYLE"] = self.private_url_style
        if self.supabase_url:
            out["SUPABASE_URL"] = self.supabase_url
        return out

    def secrets_needed(self) -> tuple[str, ...]:
        """The secret variables the application must get from its secret store (never printed)."""
        return ("SUPABASE_SERVICE_ROLE_KEY",) if self.backend != "s3" else ()


def _s3_from_env(env: Mapping[str, str], needed: bool) -> dict[str, str | None]:
    region = (env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "").strip()
    if needed and not region:
        raise ConfigError("AWS_REGION is not set; set it to the region of the S3 buckets (such as us-east-1)")
    endpoint = env.get("AWS_ENDPOINT_URL_S3", "").strip() or None
    public = env.get("S3_PUBLIC_BASE_URL", "").strip() or None
    for name, value in (("AWS_ENDPOINT_URL_S3", endpoint), ("S3_PUBLIC_BASE_URL", public)):
        if value is not None and not re.match(r"^https?://[^/\s]+", value):
            raise ConfigError(f"{name} is not an http(s) URL; write it like https://s3.example.com")
    return {"region": region or None, "endpoint_url": endpoint and endpoint.rstrip("/"),
            "public_base_url": public and public.rstrip("/")}  # fmt: skip


def _supabase_from_env(env: Mapping[str, str], needed: bool) -> dict[str, object]:
    url = env.get("SUPABASE_URL", "").strip()
    key = env.get("SUPABASE_SERVICE_ROLE_KEY", "").strip()
    if needed and not url:
        raise ConfigError("SUPABASE_URL is not set; set it to the project URL (https://<ref>.supabase.co)")
    if url:
        try:
            if not re.fullmatch(r"https?://[^/\s]+/?", url):
                raise ValueError(url)
            storage_base(url)
        except ValueError:
            raise ConfigError(
                "SUPABASE_URL is not a Supabase project URL; set it to the project URL (https://<ref>.supabase.co)"
            ) from None
    if not needed:
        return {"supabase_url": url.rstrip("/") or None, "supabase_key": None}
    if not key:
        raise ConfigError("SUPABASE_SERVICE_ROLE_KEY is not set; set it to the project's service role key")
    _require_service_key(SecretStr(key), "SUPABASE_SERVICE_ROLE_KEY")
    return {"supabase_url": url.rstrip("/"), "supabase_key": SecretStr(key)}


def _require_service_key(key: SecretStr, where: str) -> None:
    problem = not_a_service_key(key.get_secret_value())
    if problem is not None:
        raise ConfigError(f"{where}: {problem}")
