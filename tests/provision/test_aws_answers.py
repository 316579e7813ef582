"""Answers real S3 gives that moto does not: a stranger's bucket is 403 on HeadBucket, a bucket
elsewhere is 301, and a name can be taken between plan and apply (409 BucketAlreadyExists).
A small scripted HTTP server plays S3 for these; moto covers everything else."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from bucketshift.config import Plan, parse_plan
from bucketshift.errors import ConfigError
from bucketshift.operations.provision import plan, provision

LIST_EMPTY = (
    b'<?xml version="1.0" encoding="UTF-8"?><ListAllMyBucketsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
    b"<Owner><ID>me</ID></Owner><Buckets></Buckets></ListAllMyBucketsResult>"
)


def error(code: str) -> bytes:
    return f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code><Message>m</Message></Error>'.encode()


Reply = tuple[int, bytes, dict[str, str]]


@dataclass
class Scripted:
    url: str = ""
    script: Callable[[str, str], Reply] = lambda method, path: (500, b"", {})
    seen: list[tuple[str, str]] = field(default_factory=list)


@pytest.fixture(scope="module")
def server() -> Iterator[Scripted]:
    state = Scripted()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            state.seen.append((self.command, self.path))
            status, body, headers = state.script(self.command, self.path)
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        do_GET = do_PUT = do_HEAD = do_DELETE = do_POST = answer

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield state
    httpd.shutdown()
    httpd.server_close()


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


def writes(seen: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(m, p) for m, p in seen if m not in ("GET", "HEAD")]


def test_403_on_head_bucket_means_someone_elses_bucket(server: Scripted) -> None:
    server.seen.clear()
    server.script = lambda method, path: (200, LIST_EMPTY, {}) if path == "/" else (403, b"", {})
    with pytest.raises(ConfigError) as raised:
        provision(one_bucket_plan(server.url))
    assert "buckets[0].destination: bucket taken-videos belongs to another AWS account" in str(raised.value)
    assert ("HEAD", "/taken-videos") in server.seen
    assert writes(server.seen) == []


def test_301_on_head_bucket_names_the_region_the_bucket_is_in(server: Scripted) -> None:
    server.seen.clear()
    listing = LIST_EMPTY.replace(
        b"<Buckets></Buckets>", b"<Buckets><Bucket><Name>taken-videos</Name></Bucket></Buckets>"
    )

    def script(method: str, path: str) -> Reply:
        if path == "/":
            return 200, listing, {}
        return 301, b"", {"x-amz-bucket-region": "eu-west-1"}

    server.script = script
    with pytest.raises(ConfigError, match="already exists in eu-west-1, not us-east-1; set region to eu-west-1"):
        plan(one_bucket_plan(server.url))
    assert writes(server.seen) == []


def test_name_taken_between_plan_and_apply_suggests_a_suffix(server: Scripted) -> None:
    """ListBuckets denied (a narrow deployer role) falls back to HeadBucket; CreateBucket then meets 409."""
    server.seen.clear()

    def script(method: str, path: str) -> Reply:
        if path == "/":
            return 403, error("AccessDenied"), {}
        if method == "HEAD":
            return 404, b"", {}
        return 409, error("BucketAlreadyExists"), {}

    server.script = script
    with pytest.raises(ConfigError) as raised:
        provision(one_bucket_plan(server.url))
    message = str(raised.value)
    assert "buckets[0].destination: bucket taken-videos belongs to another AWS account" in message
    assert "for example taken-videos-" in message
    assert writes(server.seen) == [("PUT", "/taken-videos")]
