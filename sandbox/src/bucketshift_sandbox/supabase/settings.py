"""The emulator's switches: set at start from the command line, changed at runtime over HTTP."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bucketshift_sandbox.supabase.keys import (
    DEFAULT_JWT_SECRET,
    DEFAULT_PUBLISHABLE_KEY,
    DEFAULT_SECRET_KEY,
    Caller,
    resolve_caller,
)

__all__ = ["DEFAULT_FILE_SIZE_LIMIT", "FAULT_KINDS", "EmulatorSettings", "SettingsError"]

FAULT_KINDS = ("500", "503", "429", "544", "reset", "truncate")
# Standard (non-resumable) uploads go to 5 GB on hosted paid plans.
DEFAULT_FILE_SIZE_LIMIT = 5 * 1024**3
RUNTIME_FIELDS = ("latency_ms", "fault_rate", "faults", "fault_seed", "list_v2", "file_size_limit")


class SettingsError(ValueError):
    """A setting with a value the emulator cannot use."""


@dataclass
class EmulatorSettings:
    """Everything a test or benchmark may want to turn; secrets are fixed for the process."""

    jwt_secret: str = DEFAULT_JWT_SECRET
    secret_key: str = DEFAULT_SECRET_KEY
    publishable_key: str = DEFAULT_PUBLISHABLE_KEY
    latency_ms: float = 0.0
    fault_rate: float = 0.0
    faults: list[str] = field(default_factory=lambda: list(FAULT_KINDS))
    fault_seed: int | None = None
    list_v2: bool = True
    file_size_limit: int = DEFAULT_FILE_SIZE_LIMIT

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
        if self.file_size_limit < 0:
            raise SettingsError("file_size_limit must not be negative")

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
        if name in ("latency_ms", "fault_rate"):
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise SettingsError(f"{name} must be a number")
            out[name] = float(value)
        elif name == "faults":
            if isinstance(value, str):
                value = [part for part in value.split(",") if part]
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise SettingsError("faults must be a list of fault kinds")
            out[name] = list(value)
        elif name == "fault_seed":
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                raise SettingsError("fault_seed must be an integer or null")
            out[name] = value
        elif name == "list_v2":
            if not isinstance(value, bool):
                raise SettingsError("list_v2 must be true or false")
            out[name] = value
        elif name == "file_size_limit":
            if isinstance(value, bool) or not isinstance(value, int):
                raise SettingsError("file_size_limit must be an integer number of bytes")
            out[name] = value
    return out
