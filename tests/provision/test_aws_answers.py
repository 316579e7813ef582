"""Answers real S3 gives that moto does not: a stranger's bucket is 403 on HeadBucket, a bucket
elsewhere is 301, and a name can be taken between plan and apply (409 BucketAlreadyExists).
A small scripted HTTP server plays S3 for these; moto covers everything else."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bucketshift.config import Plan, parse_plan
from bucketshift.errors import ConfigError
from bucketshift.operations.provision import plan, provision
from bucketshift_sandbox.scripted_http import Reply, ScriptedServer, run_scripted_server

LIST_EMPTY = (
    b'<?xml version="1.0" encoding="UTF-8"?><ListAllMyBucketsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
    b"<Owner><ID>me</ID></Owner><Buckets></Buckets></ListAllMyBucketsResult>"
)


def error(code: str) -> bytes:
    return f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code><Message>m</Message></Error>'.encode()


Scripted = ScriptedServer


@pytest.fixture(scope="module")
def server() -> Iterator[Scripted]:
    with run_scripted_server(lambda method, path: Reply(500)) as scripted:
        yield scripted


def one_bucket_plan(url: str) -> Plan:
    return parse_plan(
        f"""
[source]
type = "local"
path = "/srv"
[destination]
type = "s3"
region = "us-east-1"
endpoint_url = "{url}"
[[buckets]]
source = "videos"
destination = "taken-videos"
access = "private"
""",
        where="plan.toml",
    )


def asked(seen: list[tuple[str, str, dict[str, str]]]) -> list[tuple[str, str]]:
    return [(m, p) for m, p, _ in seen]


def writes(seen: list[tuple[str, str, dict[str, str]]]) -> list[tuple[str, str]]:
    return [(m, p) for m, p in asked(seen) if m not in ("GET", "HEAD")]


def test_403_on_head_bucket_means_someone_elses_bucket(server: Scripted) -> None:
    server.reset()
    server.script = lambda method, path: Reply(200, LIST_EMPTY) if path == "/" else Reply(403)
    with pytest.raises(ConfigError) as raised:
        provision(one_bucket_plan(server.url))
    assert "buckets[0].destination: bucket taken-videos belongs to another AWS account" in str(raised.value)
    assert ("HEAD", "/taken-videos") in asked(server.seen)
    assert writes(server.seen) == []


def test_301_on_head_bucket_names_the_region_the_bucket_is_in(server: Scripted) -> None:
    server.reset()
    listing = LIST_EMPTY.replace(
        b"<Buckets></Buckets>", b"<Buckets><Bucket><Name>taken-videos</Name></Bucket></Buckets>"
    )

    def script(method: str, path: str) -> Reply:
        if path == "/":
            return Reply(200, listing)
        return Reply(301, headers={"x-amz-bucket-region": "eu-west-1"})

    server.script = script
    with pytest.raises(ConfigError, match="already exists in eu-west-1, not us-east-1; set region to eu-west-1"):
        plan(one_bucket_plan(server.url))
    assert writes(server.seen) == []


def test_name_taken_between_plan_and_apply_suggests_a_suffix(server: Scripted) -> None:
    """ListBuckets denied (a narrow deployer role) falls back to HeadBucket; CreateBucket then meets 409."""
    server.reset()

    def script(method: str, path: str) -> Reply:
        if path == "/":
            return Reply(403, error("AccessDenied"))
        if method == "HEAD":
            return Reply(404)
        return Reply(409, error("BucketAlreadyExists"))

    server.script = script
    with pytest.raises(ConfigError) as raised:
        provision(one_bucket_plan(server.url))
    message = str(raised.value)
    assert "buckets[0].destination: bucket taken-videos belongs to another AWS account" in message
    assert "for example taken-videos-" in message
    assert writes(server.seen) == [("PUT", "/taken-videos")]
