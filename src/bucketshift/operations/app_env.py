"""`app-env`: the environment the application's storage client reads, from the plan the move ran from.

A backend in any language is configured from the same facts as the migration: the region, the
endpoint, which S3 bucket holds each logical bucket, which buckets are private.  Secrets are never
part of it: the plan's `${VAR}` references to them are not even expanded (the variable need not be
set to print the block), and the variables the application must take from its secret store are
named apart.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from bucketshift.config import load_plan
from bucketshift.storage.settings import Backend, Side, StorageSettings

__all__ = ["AppEnvironment", "app_environment"]

_PLAIN = re.compile(r"[A-Za-z0-9_./:@,+=-]*")


class _KeepReferences(Mapping[str, str]):
    """The process environment, where a variable that is not set stays the `${NAME}` it was written as."""

    def __getitem__(self, name: str) -> str:
        return os.environ.get(name, "${" + name + "}")

    def __contains__(self, name: object) -> bool:
        return True

    def __iter__(self) -> Iterator[str]:
        return iter(os.environ)

    def __len__(self) -> int:
        return len(os.environ)


@dataclass(frozen=True)
class AppEnvironment:
    """The variables to set (in order) and the secret variables to set from a secret store."""

    variables: dict[str, str]
    secrets: tuple[str, ...]

    def dotenv(self) -> str:
        """`NAME=value` lines; values with other characters are double-quoted with escapes."""
        lines = [f"{name}={_quoted(value)}" for name, value in self.variables.items()]
        lines += [f"# {name}: set it from your secret store (never printed by bucketshift)" for name in self.secrets]
        return "\n".join(lines) + "\n"


def _quoted(value: str) -> str:
    if _PLAIN.fullmatch(value):
        return value
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$").replace("\n", "\\n")
    return f'"{escaped}"'


def app_environment(path: Path, *, backend: Backend = "s3", primary: Side | None = None) -> AppEnvironment:
    """What the application needs to use the plan's buckets through `backend` (mirror: with `primary`)."""
    plan = load_plan(path, env=_KeepReferences())
    settings = StorageSettings.of_plan(plan, backend=backend, primary=primary, where=str(path), secrets=False)
    return AppEnvironment(settings.to_env(), settings.secrets_needed())
