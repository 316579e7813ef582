"""Data is printed as it is, never read as rich markup or emoji codes.

Keys, bucket and column names, paths and server messages reach the terminal through rich; a
key holding `[red]` or `[/]` must print those characters (not colour the line, drop text or
raise MarkupError), and `:smile:` must not turn into an emoji.
"""

from __future__ import annotations

import asyncio
import io
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import boto3
import pytest
from rich.console import Console

from bucketshift.cli import render
from bucketshift.cli.progress import Row, live
from bucketshift.database.columns import Column, Found
from bucketshift.database.rewriter import Tally
from bucketshift.engine.diff import MappingSpec
from bucketshift.engine.reconcile import ReconcileReport
from bucketshift.engine.transfer import Failure, MappingReport
from bucketshift.engine.verify import Mismatch, VerifyReport
from bucketshift.operations.check import BucketCheck, CheckResult
from bucketshift.operations.listing import ListResult
from bucketshift.operations.provision import PostureReport
from bucketshift.operations.rewrite import ColumnResult, RewriteReport
from bucketshift.provision.posture import BucketPosture
from bucketshift.stores.base import ObjectInfo
from bucketshift_sandbox.servers import EmulatorServer, MotoServer

EXE = shutil.which("bucketshift", path=str(Path(sys.executable).parent)) or "bucketshift"
TRICKY = ["a[b]/[red]x", "[/]", "[bold]y[/bold]", "x:smile:y.png", "back\\[z]", "end\\", "[link=http://e.x]l"]


def printed(capsys: pytest.CaptureFixture[str]) -> str:
    captured = capsys.readouterr()
    return captured.out + captured.err


def assert_verbatim(text: str, *values: str) -> None:
    for value in values:
        assert value in text, f"{value!r} not printed as it is"
    assert "😄" not in text


def test_ls_prints_keys_as_they_are(emulator: EmulatorServer, moto: MotoServer, tmp_path: Path) -> None:
    s3 = boto3.client("s3", endpoint_url=moto.endpoint_url, region_name="us-east-1")
    s3.create_bucket(Bucket="markup-keys")
    for key in TRICKY:
        s3.put_object(Bucket="markup-keys", Key=key, Body=b"x")
    plan = tmp_path / "plan.toml"
    plan.write_text(
        f'[source]\ntype = "supabase"\nurl = "{emulator.url}"\nkey = "{emulator.service_role_key}"\n'
        f'[destination]\ntype = "s3"\nregion = "us-east-1"\nendpoint_url = "{moto.endpoint_url}"\n'
        '[[buckets]]\nsource = "markup-src"\ndestination = "markup-keys"\naccess = "private"\n',
        encoding="utf-8",
    )
    done = subprocess.run(
        [EXE, "ls", "markup-keys", "--destination", "--config", str(plan)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert done.returncode == 0, done.stderr
    assert_verbatim(done.stdout, *TRICKY)
    assert f"destination bucket markup-keys: {len(TRICKY)} objects" in done.stdout


def test_check_prints_server_messages_and_warnings_as_they_are(capsys: pytest.CaptureFixture[str]) -> None:
    bucket = BucketCheck("src", "dst", "private", True, True, False, warnings=("[/] src is [red]public[/red]",))
    render.check(CheckResult("supabase", "s3", "answered 403 [/red] for [bold]x", None, [bucket]))
    assert_verbatim(printed(capsys), "unreachable: answered 403 [/red] for [bold]x", "[/] src is [red]public[/red]")


def test_listing_prints_keys_and_types_as_they_are(capsys: pytest.CaptureFixture[str]) -> None:
    shown = [ObjectInfo(key, 1, content_type="text/[plain]") for key in TRICKY]
    render.listing(ListResult("source", "b", "", len(shown), len(shown), shown))
    assert_verbatim(printed(capsys), *TRICKY, "text/[plain]")


def test_failed_missing_and_differing_objects_print_their_keys(capsys: pytest.CaptureFixture[str]) -> None:
    spec = MappingSpec("src", "dst")
    report = MappingReport(spec)
    report.failures = [Failure(key, f"server said [/{i}] no", "StoreError") for i, key in enumerate(TRICKY)]
    report.stats.failed = len(TRICKY)
    render.transfer_summary([report], mode="copy", dry_run=False, elapsed=1.0)
    out = printed(capsys)
    assert_verbatim(out, *(f"failed src/{key}: server said [/{i}] no" for i, key in enumerate(TRICKY)))
    verify = VerifyReport(spec, missing=list(TRICKY), differing=[Mismatch("[red]k", "size [/] differs")])
    render.verify_summary([verify])
    assert_verbatim(printed(capsys), *(f"missing src/{key}" for key in TRICKY), "differs src/[red]k: size [/] differs")


def test_reconcile_demo_and_posture_lines_print_names_and_paths(capsys: pytest.CaptureFixture[str]) -> None:
    render.reconciled([ReconcileReport("[b]", 1, 1), ReconcileReport("[/c]", 2, 1, only_listed=1, samples=["[k]"])])
    render.demo_intro("http://[h]", "http://s3", Path("/tmp/[x]/plan.toml"), {"[i]": 1}, {})
    render.posture_report(PostureReport([BucketPosture("[/p]", "private", ["policy [/] lets anyone read"])]))
    assert_verbatim(
        printed(capsys),
        "reconcile [b]: 1 listed",
        "reconcile [/c]:",
        "plan file: /tmp/[x]/plan.toml",
        "[i] 1 objects",
        "exposure [/p] (private): policy [/] lets anyone read",
    )


def test_rewrite_report_prints_column_names_and_warnings(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    column = Column("public", "t[1]", "[/url]", "text", ("id",))
    render.rewrite_report(RewriteReport("discover", discovered=[Found(column, 3, 0)]))
    assert_verbatim(printed(capsys), column.name)
    tally = Tally(rows_matched=1, urls=1, warnings=Counter({"odd [/] url": 2}), embedded_private=1)
    sql_file = tmp_path / "[out]" / "rewrite.sql"
    render.rewrite_report(RewriteReport("sql", columns=[ColumnResult("t.[/c]", "text", tally)]), sql_file=sql_file)
    assert_verbatim(printed(capsys), "t.[/c]", "warning t.[/c]: 2 x odd [/] url", f"statements written to {sql_file}")


def test_live_progress_on_a_terminal_prints_labels_as_they_are() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=200, color_system=None)

    async def show() -> None:
        rows = [Row("[/]bucket[red]", 1, 2, 10, 0, note="listing [/] (1 seen)")]
        async with live(console, lambda: rows):
            await asyncio.sleep(0.2)

    asyncio.run(show())
    assert_verbatim(out.getvalue(), "[/]bucket[red]", "listing [/] (1 seen)")
