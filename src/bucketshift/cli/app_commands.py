"""`bucketshift app-env`: the application's storage settings, from the plan file.

Thin: parse the options, call the operation, print its result as plain text (never markup).
"""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from bucketshift.cli import render
from bucketshift.operations.app_env import app_environment

__all__ = ["register"]

DEFAULT_PLAN = Path("bucketshift.toml")


class BackendChoice(StrEnum):
    s3 = "s3"
    supabase = "supabase"
    mirror = "mirror"


class PrimaryChoice(StrEnum):
    s3 = "s3"
    supabase = "supabase"


class Format(StrEnum):
    dotenv = "dotenv"
    json = "json"


def register(app: typer.Typer) -> None:
    @app.command("app-env")
    def app_env(
        config: Annotated[
            Path, typer.Option("--config", "-c", help="The plan file.", envvar="BUCKETSHIFT_CONFIG")
        ] = DEFAULT_PLAN,
        backend: Annotated[
            BackendChoice, typer.Option("--backend", help="Where the app reads and writes (mirror: both).")
        ] = BackendChoice.s3,
        primary: Annotated[
            PrimaryChoice | None,
            typer.Option("--primary", help="With --backend mirror: the side reads and URLs come from."),
        ] = None,
        output_format: Annotated[
            Format, typer.Option("--format", help="dotenv lines or a JSON object.")
        ] = Format.dotenv,
    ) -> None:
        """Print the environment the app's storage client needs (bucket names, region, private buckets; no secret)."""
        found = app_environment(
            config,
            backend=backend.value,
            primary=primary.value if primary else None,  # type: ignore[arg-type]
        )
        if output_format is Format.json:
            render.emit_json({"variables": found.variables, "secrets": list(found.secrets)})
        else:
            sys.stdout.write(found.dotenv())
