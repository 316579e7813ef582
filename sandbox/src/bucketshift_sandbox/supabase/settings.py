"""The emulator's switches: set at start from the command line, changed at runtime over HTTP.

``PUT /_emulator/settings`` takes a partial JSON object of the runtime switches
(``RUNTIME_FIELDS``) and applies it all or nothing; ``GET`` shows them.  What each one does is
in ``EmulatorSettings``'s docstring.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bucketshift_sandbox.supabase.etags import ETAG_STYLES
from bucketshift_sandbox.supabase.keys import (
    DEFAULT_JWT_SECRET,
    DEFAULT_PUBLISHABLE_KEY,
    DEFAULT_SECRET_KEY,
    Caller,
    resolve_caller,
)
from bucketshift_sandbox.supabase.labels import ROUTE_LABELS

__all__ = [
    "DEFAULT_FAULTS",
    "DEFAULT_FILE_SIZE_LIMIT",
    "DEFAULT_STALL_SECONDS",
    "ETAG_STYLES",
    "FAULT_KINDS",
    "MAX_STALL_SECONDS",
    "RUNTIME_FIELDS",
    "EmulatorSettings",
    "SettingsError",
]

FAULT_KINDS = ("500", "503", "429", "544", "reset", "truncate", "corrupt", "stall")
# corrupt and stall are asked for by name: a client that does not check what it read cannot
# survive the one, and the other costs stall_seconds a time, so "every fault" leaves them out.
DEFAULT_FAULTS = ("500", "503", "429", "544", "reset", "truncate")
# Standard (non-resumable) uploads go to 5 GB on hosted paid plans.
DEFAULT_FILE_SIZE_LIMIT = 5 * 1024**3
DEFAULT_STALL_SECONDS = 30.0
MAX_STALL_SECONDS = 600.0
RUNTIME_FIELDS = (
    "latency_ms",
    "fault_rate",
    "faults",
    "fault_seed",
    "fault_routes",
    "stall_seconds",
    "etag_style",
    "list_v2",
    "file_size_limit",
    "standard_upload_limit",
    "resumable",
)


class SettingsError(ValueError):
    """A setting with a value the emulator cannot use."""


@dataclass
class EmulatorSettings:
    """Everything a test or benchmark may want to turn; secrets are fixed for the process.

    - ``latency_ms`` (0..600000, default 0): added before every storage request.
    - ``fault_rate`` (0..1, default 0): the share of storage requests given a fault, drawn
      from ``fault_seed`` (an integer, or None for a fresh sequence) so a run is repeatable;
      any settings change restarts the sequence.
    - ``faults`` (default ``DEFAULT_FAULTS``): the kinds drawn from, equally likely.
      ``500``/``503``/``429``/``544`` answer the server's error body with that status, without
      running the request; ``reset`` sends a TCP RST before any byte; ``truncate`` sends the
      headers and half the body of an object read, then closes (a reset on other routes);
      ``stall`` sends the headers and half the body of any response (after the request ran:
      an upload is stored), then nothing for ``stall_seconds``, then closes (a response with
      no body stalls before its headers); ``corrupt`` sends an object read's headers
      unchanged and its whole body with one bit of its middle byte flipped, and is never
      drawn for a request other than a GET of an object's bytes (``labels.READ_ROUTES``).
    - ``fault_routes`` (route labels as ``labels.route_label`` makes them, default empty =
      every storage request): only these requests get faults; the others do not roll the dice.
    - ``stall_seconds`` (0..600, default 30): how long a ``stall`` sends nothing.  A stall ends
      early when its client goes away or the emulator stops.
    - ``etag_style`` (default ``md5``): the ETag given to objects uploaded from now on.
      ``md5`` is the quoted hex MD5 of the body, as the server gives for a standard upload;
      ``opaque`` is 32 quoted hex characters that are not, as a project on S3 with SSE-KMS
      gives.  Moves and copies keep their source's ETag.
    - ``list_v2`` (default true): false answers list-v2 with 400 FeatureNotEnabled.
    - ``file_size_limit`` (bytes, default 5 GB): the server-wide upload limit.
    - ``standard_upload_limit`` (bytes or None, default None): the server's
      ``UPLOAD_FILE_SIZE_LIMIT_STANDARD``, a lower limit for standard (POST/PUT) uploads only,
      which then answer 413 EntityTooLarge above it while resumable (TUS) uploads still take up
      to ``file_size_limit``; None (or 0, as the server reads it) means no separate limit.
    - ``resumable`` (default true): false answers ``/upload/resumable`` as a server without the
      route would (fastify's 404), as for a project behind a gateway that does not pass it on.
    """

    jwt_secret: str = DEFAULT_JWT_SECRET
    secret_key: str = DEFAULT_SECRET_KEY
    publishable_key: str = DEFAULT_PUBLISHABLE_KEY
    latency_ms: float = 0.0
    fault_rate: float = 0.0
    faults: list[str] = field(default_factory=lambda: list(DEFAULT_FAULTS))
    fault_seed: int | None = None
    fault_routes: list[str] = field(default_factory=list)
    stall_seconds: float = DEFAULT_STALL_SECONDS
    etag_style: str = "md5"
    list_v2: bool = True
    file_size_limit: int = DEFAULT_FILE_SIZE_LIMIT
    standard_upload_limit: int | None = None
    resumable: bool = True

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Refuse values that would make the emulator misbehave rather than fail loudly later."""
        if not self.secret_key.startswith("sb_secret_"):
            raise SettingsError("secret_key must start with sb_secret_")
        if not self.publishable_key.startswith("sb_publishable_"):
            raise SettingsError("publishable_key must start with sb_publishable_")
        if len(self.jwt_secret) < 1:
            raise SettingsError("jwt_secret must not be empty")
        if not 0 <= self.latency_ms <= 600_000:
            raise SettingsError("latency_ms must be between 0 and 600000")
        if not 0 <= self.fault_rate <= 1:
            raise SettingsError("fault_rate must be between 0 and 1")
        unknown = [kind for kind in self.faults if kind not in FAULT_KINDS]
        if unknown:
            raise SettingsError(f"unknown fault kinds {unknown}; known: {', '.join(FAULT_KINDS)}")
        if self.fault_rate > 0 and not self.faults:
            raise SettingsError("faults must name at least one kind when fault_rate > 0")
        unknown = sorted(set(self.fault_routes) - ROUTE_LABELS)
        if unknown:
            raise SettingsError(f"unknown fault_routes {unknown}; known: {', '.join(sorted(ROUTE_LABELS))}")
        if not 0 <= self.stall_seconds <= MAX_STALL_SECONDS:
            raise SettingsError(f"stall_seconds must be between 0 and {MAX_STALL_SECONDS:.0f}")
        if self.etag_style not in ETAG_STYLES:
            raise SettingsError(f"etag_style must be one of {', '.join(ETAG_STYLES)}")
        if self.file_size_limit < 0:
            raise SettingsError("file_size_limit must not be negative")
        if self.standard_upload_limit is not None and self.standard_upload_limit < 0:
            raise SettingsError("standard_upload_limit must not be negative")

    def standard_limit(self) -> int:
        """getStandardMaxFileSizeLimit: the server-wide limit, lowered by the standard-upload one if set."""
        if self.standard_upload_limit:
            return min(self.standard_upload_limit, self.file_size_limit)
        return self.file_size_limit

    def caller(self, headers: Mapping[str, str], *, allow_invalid_jwt: bool = False) -> Caller:
        """Who a request with these headers runs as, under this instance's keys."""
        return resolve_caller(
            headers,
            jwt_secret=self.jwt_secret,
            secret_key=self.secret_key,
            publishable_key=self.publishable_key,
            allow_invalid_jwt=allow_invalid_jwt,
        )

    def public(self) -> dict[str, Any]:
        """The runtime switches as the admin route shows them (no secrets)."""
        return {name: getattr(self, name) for name in RUNTIME_FIELDS}

    def update(self, changes: Mapping[str, Any]) -> None:
        """Apply a partial update of runtime switches, all or nothing."""
        unknown = sorted(set(changes) - set(RUNTIME_FIELDS))
        if unknown:
            raise SettingsError(f"unknown settings {unknown}; known: {', '.join(RUNTIME_FIELDS)}")
        candidate = EmulatorSettings(**{**self.__dict__, **_coerce(changes)})
        self.__dict__.update(candidate.__dict__)


def _coerce(changes: Mapping[str, Any]) -> dict[str, Any]:
    """Check JSON types strictly, so a typo'd value is refused instead of misread."""
    out: dict[str, Any] = {}
    for name, value in changes.items():
        if name in ("latency_ms", "fault_rate", "stall_seconds"):
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise SettingsError(f"{name} must be a number")
            out[name] = float(value)
        elif name in ("faults", "fault_routes"):
            out[name] = _names(name, value)
        elif name == "fault_seed":
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                raise SettingsError("fault_seed must be an integer or null")
            out[name] = value
        elif name == "etag_style":
            if not isinstance(value, str):
                raise SettingsError(f"etag_style must be one of {', '.join(ETAG_STYLES)}")
            out[name] = value
        elif name in ("list_v2", "resumable"):
            if not isinstance(value, bool):
                raise SettingsError(f"{name} must be true or false")
            out[name] = value
        elif name == "file_size_limit":
            if isinstance(value, bool) or not isinstance(value, int):
                raise SettingsError("file_size_limit must be an integer number of bytes")
            out[name] = value
        elif name == "standard_upload_limit":
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                raise SettingsError("standard_upload_limit must be an integer number of bytes or null")
            out[name] = value
    return out


def _names(name: str, value: Any) -> list[str]:
    """A list of names, or one comma-separated string of them (as the command line gives)."""
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",") if part.strip()]
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise SettingsError(f"{name} must be a list of strings")
    return list(value)
