"""Shared by the provisioning tests: plan files for moto, raw clients, and a write-call counter."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

from bucketshift.config import Plan, load_plan
from bucketshift.provision.clients import Clients
from bucketshift_sandbox.servers import MotoServer

OTHER_ACCOUNT = "111111111111"
ORIGIN = "https://app.example.com"

PLAN = """
[source]
type = "local"
path = "source"

[destination]
type = "s3"
region = "{region}"
endpoint_url = "{endpoint}"
{keys}
[[buckets]]
source = "asset-images"
destination = "{prefix}-asset-images"
access = "public-read"

[[buckets]]
source = "images"
destination = "{prefix}-images"
access = "public-read"
cors_origins = ["{origin}"]

[[buckets]]
source = "videos"
destination = "{prefix}-videos"
access = "private"
cors_origins = ["{origin}"]
browser_uploads = true
"""


def unique(prefix: str = "pv") -> str:
    """Bucket names are global on the shared moto server: every test gets its own."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@dataclass(frozen=True)
class Names:
    prefix: str

    @property
    def assets(self) -> str:
        return f"{self.prefix}-asset-images"

    @property
    def images(self) -> str:
        return f"{self.prefix}-images"

    @property
    def videos(self) -> str:
        return f"{self.prefix}-videos"

    @property
    def all(self) -> list[str]:
        return [self.assets, self.images, self.videos]


def write_plan(
    directory: Path,
    moto: MotoServer,
    *,
    region: str = "us-east-1",
    keys: str = "",
    origin: str = ORIGIN,
    endpoint: str | None = None,
) -> tuple[Path, Names]:
    names = Names(unique())
    path = directory / "plan.toml"
    path.write_text(
        PLAN.format(
            region=region,
            endpoint=endpoint or moto.endpoint_url,
            keys=keys,
            prefix=names.prefix,
            origin=origin,
        ),
        encoding="utf-8",
    )
    return path, names


def make_plan(directory: Path, moto: MotoServer, **options: Any) -> tuple[Plan, Names]:
    path, names = write_plan(directory, moto, **options)
    return load_plan(path), names


def raw_s3(moto: MotoServer, region: str = "us-east-1", account: str | None = None) -> Any:
    """A plain client for arranging and inspecting; `account` acts as another AWS account."""
    client = boto3.client("s3", endpoint_url=moto.endpoint_url, region_name=region)
    if account is not None:

        def as_account(request: Any, **_: Any) -> None:
            request.headers["x-moto-account-id"] = account

        client.meta.events.register("before-sign.s3.*", as_account)
    return client


def raw_iam(moto: MotoServer) -> Any:
    return boto3.client("iam", endpoint_url=moto.endpoint_url, region_name="us-east-1")


@dataclass
class CallLog:
    """Every SDK operation the provisioning clients sent, by name."""

    calls: list[str] = field(default_factory=list)

    def record(self, model: Any, **_: Any) -> None:
        self.calls.append(model.name)

    @property
    def writes(self) -> list[str]:
        return [c for c in self.calls if not c.startswith(("Get", "List", "Head"))]


def counting_clients(moto: MotoServer, region: str = "us-east-1") -> tuple[Clients, CallLog]:
    log = CallLog()
    s3 = boto3.client("s3", endpoint_url=moto.endpoint_url, region_name=region)
    iam = boto3.client("iam", endpoint_url=moto.endpoint_url, region_name="us-east-1")
    for client in (s3, iam):
        client.meta.events.register("before-call.*.*", log.record)
    return Clients(s3=s3, iam=iam), log


def make_drift(moto: MotoServer, names: Names) -> None:
    """The three hand-made drifts of the issue, as someone with console access would make them."""
    s3 = raw_s3(moto)
    s3.put_bucket_cors(Bucket=names.images, CORSConfiguration={"CORSRules": [
        {"AllowedOrigins": ["*"], "AllowedMethods": ["GET", "HEAD", "PUT", "POST", "DELETE"], "AllowedHeaders": ["*"]}
    ]})  # fmt: skip
    exposed = {"Version": "2012-10-17", "Statement": [{"Sid": "Oops", "Effect": "Allow", "Principal": "*",
               "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{names.videos}/*"}]}  # fmt: skip
    s3.put_bucket_policy(Bucket=names.videos, Policy=json.dumps(exposed))
    s3.put_public_access_block(Bucket=names.videos, PublicAccessBlockConfiguration={
        "BlockPublicAcls": False, "IgnorePublicAcls": False, "BlockPublicPolicy": False, "RestrictPublicBuckets": False
    })  # fmt: skip


def set_bucket_field(path: Path, bucket: str, line: str) -> None:
    """Add `line` to the `[[buckets]]` entry whose destination is `bucket` (a user editing the plan)."""
    text = path.read_text(encoding="utf-8")
    anchor = f'destination = "{bucket}"\n'
    assert text.count(anchor) == 1, f"{bucket} is not in {path}"
    path.write_text(text.replace(anchor, f"{anchor}{line}\n"), encoding="utf-8")
