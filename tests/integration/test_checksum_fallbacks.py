"""Where the destination keeps no checksum, the fallback is said, never silent; the headers S3 can
hold beside the type (disposition, encoding, language) travel with the object."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import boto3

from bucketshift.config import LocalEndpoint, load_plan
from bucketshift.operations.copy import CopyRequest, CopyRun
from bucketshift.operations.verify import VerifyRequest, VerifyRun
from bucketshift.stores.registry import open_store
from bucketshift_sandbox.servers import MotoServer, run_moto

PLAN = """
[source]
type = "local"
path = "{source}"

[destination]
type = "s3"
region = "us-east-1"
endpoint_url = "{endpoint}"

[[buckets]]
source = "docs"
destination = "docs-{n}"
access = "private"
"""

KEYS = [f"reports/{n}.pdf" for n in range(6)]


async def _source(root: Path) -> None:
    async with open_store(LocalEndpoint(type="local", path=root)) as store:
        await store.create_bucket("docs")
        for n, key in enumerate(KEYS):
            await store.put(
                "docs", key, b"%PDF-1.7 " + bytes([n]) * 500, content_type="application/pdf",
                content_disposition=f'attachment; filename="report-{n}.pdf"', content_encoding="identity",
                content_language="fr-CA", metadata={"owner": f"user-{n}"},
            )  # fmt: skip


def _plan(tmp_path: Path, moto: MotoServer, n: int) -> Path:
    boto3.client("s3", endpoint_url=moto.endpoint_url, region_name="us-east-1").create_bucket(Bucket=f"docs-{n}")
    plan = tmp_path / "plan.toml"
    plan.write_text(PLAN.format(source=tmp_path / "source", endpoint=moto.endpoint_url, n=n), encoding="utf-8")
    return plan


def _runs(plan: Path) -> tuple[Any, Any]:
    copy = CopyRun(load_plan(plan), CopyRequest())
    asyncio.run(copy.run())
    verify = VerifyRun(load_plan(plan), VerifyRequest())
    asyncio.run(verify.run())
    return copy.reports[0], verify.reports[0]


def test_a_store_keeping_no_checksum_is_said_by_copy_and_verify(tmp_path: Path) -> None:
    asyncio.run(_source(tmp_path / "source"))
    with run_moto(tmp_path, s3_checks=False) as plain:
        copied, verified = _runs(_plan(tmp_path, plain, 1))
    assert copied.stats.copied == len(KEYS)
    assert any("keeps no checksum" in note for note in copied.notes)
    assert verified.ok, "the fallback still compares what it can"
    assert verified.stats.without_stored_checksum == len(KEYS)
    assert any("keeps no checksum" in note for note in verified.notes)


def test_a_store_keeping_checksums_needs_no_note(tmp_path: Path, moto: MotoServer) -> None:
    asyncio.run(_source(tmp_path / "source"))
    copied, verified = _runs(_plan(tmp_path, moto, 2))
    assert copied.notes == []
    assert verified.notes == []
    assert verified.stats.by_stored_checksum == len(KEYS)


def test_disposition_encoding_and_language_travel_with_the_object(tmp_path: Path, moto: MotoServer) -> None:
    asyncio.run(_source(tmp_path / "source"))
    _runs(_plan(tmp_path, moto, 3))
    s3 = boto3.client("s3", endpoint_url=moto.endpoint_url, region_name="us-east-1")
    for n, key in enumerate(KEYS):
        head = s3.head_object(Bucket="docs-3", Key=key)
        assert head["ContentType"] == "application/pdf"
        assert head["ContentDisposition"] == f'attachment; filename="report-{n}.pdf"'
        assert head["ContentEncoding"] == "identity"
        assert head["ContentLanguage"] == "fr-CA"
        assert head["Metadata"]["owner"] == f"user-{n}"
