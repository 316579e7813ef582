"""`bucketshift plan`, `bucketshift provision` and the posture check behind `verify --posture`.

Thin: parse the options, call one operation, render its result.  `register` adds the verbs to
the top-level app, so they sit beside `copy` and `verify` rather than under a sub-command.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from bucketshift import eventloop
from bucketshift.cli import render
from bucketshift.cli.render_estimate import estimate_json, estimate_table
from bucketshift.config import load_plan
from bucketshift.errors import EXIT_FAILURES, BucketshiftError, UsageError
from bucketshift.operations.estimate import estimate
from bucketshift.operations.provision import ProvisionResult, plan, posture, provision
from bucketshift.provision.iam import read_key_file

__all__ = ["register", "run_posture"]

ConfigOption = Annotated[
    Path, typer.Option("--config", "-c", help="The plan file.", envvar="BUCKETSHIFT_CONFIG", show_default=True)
]
JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
IamUserOption = Annotated[
    str | None,
    typer.Option("--iam-user", help="Create this IAM user with the app's policy and an access key (kept in a file)."),
]
WildcardOption = Annotated[
    bool,
    typer.Option("--allow-wildcard-writes", help="Accept cors_origins '*' together with browser_uploads (warned)."),
]
DEFAULT_PLAN = Path("bucketshift.toml")


def plan_command(
    config: ConfigOption = DEFAULT_PLAN,
    iam_user: IamUserOption = None,
    allow_wildcard_writes: WildcardOption = False,
    json_output: JsonOption = False,
    with_estimate: Annotated[
        bool,
        typer.Option(
            "--estimate/--no-estimate",
            help="Also list the source and estimate the copy's requests, cost and time (a short probe of both sides).",
        ),
    ] = True,
) -> None:
    """Show what provision would change at the destination, and what the copy would cost and take."""
    loaded = load_plan(config)
    planned = plan(loaded, iam_user=iam_user, allow_wildcard_writes=allow_wildcard_writes)
    estimated, missing = None, None
    if with_estimate:
        try:
            estimated = eventloop.run(estimate(loaded))
        except BucketshiftError as exc:  # the provisioning plan stands on its own; say why there is no estimate
            missing = f"no estimate: {exc.message}"
    if json_output:
        document = render.provision_plan_json(planned)
        if with_estimate:
            document["estimate"] = estimate_json(estimated) if estimated is not None else {"error": missing}
        render.emit_json(document)
        return
    render.provision_plan(planned)
    if estimated is not None:
        estimate_table(estimated)
    elif missing is not None:
        render.err.print(Text.assemble(("note:", "yellow"), " ", missing))


def _confirm(pending: int) -> bool:
    if not sys.stdin.isatty():
        raise UsageError(
            f"provision would make {pending} changes and there is no terminal to ask on; "
            "pass --yes to apply them, or --dry-run to only look"
        )
    return typer.confirm(f"apply these {pending} changes?", default=False, err=True)


def provision_command(
    config: ConfigOption = DEFAULT_PLAN,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Apply without asking.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only show the plan (same as bucketshift plan).")] = False,
    iam_user: IamUserOption = None,
    key_file: Annotated[
        Path | None,
        typer.Option("--key-file", help="Where --iam-user's new access key goes (default: <user>.aws-key.env)."),
    ] = None,
    show_secret: Annotated[
        bool, typer.Option("--show-secret", help="Also print the new key's secret (it is always in the key file).")
    ] = False,
    allow_wildcard_writes: WildcardOption = False,
    json_output: JsonOption = False,
) -> None:
    """Create or fix the destination buckets (and the app's IAM user): only what differs is changed."""
    if iam_user is None and (key_file is not None or show_secret):
        raise UsageError("--key-file and --show-secret belong to --iam-user; add --iam-user NAME")
    plan_file = load_plan(config)
    planned = plan(plan_file, iam_user=iam_user, key_file=key_file, allow_wildcard_writes=allow_wildcard_writes)
    if not json_output:
        render.provision_plan(planned)
    pending = len(planned.pending)
    if dry_run:
        if json_output:
            render.emit_json(render.provision_plan_json(planned))
        return
    if not pending:
        if json_output:
            render.emit_json(render.provision_result_json(ProvisionResult(planned, []), dry_run=False))
        return
    if not yes and not _confirm(pending):
        render.err.print("cancelled: nothing was changed")
        raise typer.Exit(EXIT_FAILURES)
    result = provision(plan_file, planned=planned)
    secret = None
    if show_secret and result.created_key is not None:
        found = read_key_file(result.created_key.key_file)
        secret = found[1] if found else None
    if json_output:
        render.emit_json(render.provision_result_json(result, dry_run=False, secret=secret))
    else:
        render.provision_result(result, secret=secret)


def run_posture(config: Path, json_output: bool) -> None:
    """`verify --posture`: each bucket's live exposure against its access; exit 1 on any finding."""
    report = posture(load_plan(config))
    render.emit_json(render.posture_json(report)) if json_output else render.posture_report(report)
    if not report.ok:
        raise typer.Exit(EXIT_FAILURES)


def register(app: typer.Typer) -> None:
    """Add `plan` and `provision` to the top-level command line."""
    app.command("plan")(plan_command)
    app.command("provision")(provision_command)
