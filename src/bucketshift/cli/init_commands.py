"""`bucketshift init`: write a plan file from the live project.

Thin: parse the options, call the operation, render its result.  The service role key is read
from the environment by the operation and is never an option.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from pydantic import SecretStr

from bucketshift import eventloop
from bucketshift.cli.render_init import init_result
from bucketshift.operations.init import DEFAULT_REGION, DSN_VAR, URL_VAR, InitRequest, init_plan

__all__ = ["register"]

DEFAULT_OUTPUT = Path("bucketshift.toml")


def register(app: typer.Typer) -> None:
    @app.command("init")
    def init(
        supabase_url: Annotated[
            str | None,
            typer.Option("--supabase-url", envvar=URL_VAR, help="The project URL, such as https://abcd.supabase.co."),
        ] = None,
        prefix: Annotated[
            str, typer.Option("--prefix", help="Put before each bucket name to make its S3 name, such as myapp-.")
        ] = "",
        region: Annotated[str, typer.Option("--region", help="The destination region.")] = DEFAULT_REGION,
        endpoint_url: Annotated[
            str | None, typer.Option("--endpoint-url", help="An S3-compatible store instead of AWS.")
        ] = None,
        dsn: Annotated[
            str | None,
            typer.Option(
                "--dsn",
                envvar=DSN_VAR,
                show_envvar=True,
                help="The app's Postgres, searched for columns holding storage URLs (written as ${DATABASE_URL}).",
            ),
        ] = None,
        output: Annotated[Path, typer.Option("--output", "-o", help="The plan file to write.")] = DEFAULT_OUTPUT,
        dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the plan instead of writing it.")] = False,
    ) -> None:
        """Write a plan file from the live project (the key from SUPABASE_SERVICE_ROLE_KEY); never replaces one."""
        request = InitRequest(
            supabase_url=supabase_url,
            prefix=prefix,
            region=region,
            endpoint_url=endpoint_url,
            dsn=SecretStr(dsn) if dsn else None,
            output=None if dry_run else output,
        )
        init_result(eventloop.run(init_plan(request)))
