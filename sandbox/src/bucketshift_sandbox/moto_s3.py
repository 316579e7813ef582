"""moto's S3/IAM server with the checks of S3 that moto leaves out, so tests can rely on them.

moto keeps what a write says but does not check it: a body that does not match its
`x-amz-checksum-*` header is stored anyway (S3 answers 400 BadDigest), the checksum is only
kept when the SDK-only `x-amz-sdk-checksum-algorithm` header came too (S3 needs just the
checksum header), and `If-Match` on CompleteMultipartUpload is ignored.  This module runs moto's
own application behind a small WSGI layer that adds exactly those three behaviours, and counts
the bodies it refused (`GET /_bucketshift/stats`).  Everything else is moto's.

    python -m bucketshift_sandbox.moto_s3 -H 127.0.0.1 -p PORT
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
import threading
import zlib
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs, unquote
from xml.dom import minidom

from awscrt import checksums

__all__ = ["ChecksumFidelity", "main"]

Environ = dict[str, Any]
StartResponse = Callable[..., Any]
App = Callable[[Environ, StartResponse], Iterable[bytes]]

_ALGORITHMS: dict[str, Callable[[bytes], bytes]] = {
    "sha256": lambda body: hashlib.sha256(body).digest(),
    "sha1": lambda body: hashlib.sha1(body, usedforsecurity=False).digest(),
    "crc32": lambda body: zlib.crc32(body).to_bytes(4, "big"),
    "crc32c": lambda body: checksums.crc32c(body).to_bytes(4, "big"),
    "crc64nvme": lambda body: checksums.crc64nvme(body).to_bytes(8, "big"),
}


def _error(start_response: StartResponse, status: str, code: str, message: str) -> list[bytes]:
    body = (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{message}</Message>'
        "<RequestId>bucketshift-moto</RequestId></Error>"
    ).encode()
    start_response(status, [("Content-Type", "application/xml"), ("Content-Length", str(len(body)))])
    return [body]


def _checksum_header(environ: Environ) -> tuple[str, str] | None:
    for name in _ALGORITHMS:
        value = environ.get(f"HTTP_X_AMZ_CHECKSUM_{name.upper()}")
        if value:
            return name, value
    return None


def _path(environ: Environ) -> tuple[str, str]:
    parts = unquote(environ.get("PATH_INFO", "")).lstrip("/").split("/", 1)
    return parts[0], parts[1] if len(parts) > 1 else ""


class ChecksumFidelity:
    """The WSGI layer: check checksums of PutObject, UploadPart and CompleteMultipartUpload bodies."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.lock = threading.Lock()
        self.stats = {"rejected_bodies": 0, "checked_bodies": 0, "rejected_preconditions": 0}

    def _count(self, name: str) -> None:
        with self.lock:
            self.stats[name] += 1

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == "/_bucketshift/stats":
            body = json.dumps(self.stats).encode()
            start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
            return [body]
        method = environ.get("REQUEST_METHOD")
        query = parse_qs(environ.get("QUERY_STRING", ""))
        bucket, key = _path(environ)
        if not key or method not in ("PUT", "POST") or environ.get("HTTP_X_AMZ_COPY_SOURCE"):
            return self.app(environ, start_response)
        if method == "POST" and "uploadId" in query:
            refused = self._complete(environ, start_response, bucket, key, query["uploadId"][0])
        elif method == "PUT":
            refused = self._put(environ, start_response)
        else:
            refused = None
        return refused if refused is not None else self.app(environ, start_response)

    def _read_body(self, environ: Environ) -> bytes:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        return body

    def _put(self, environ: Environ, start_response: StartResponse) -> list[bytes] | None:
        found = _checksum_header(environ)
        if found is None or environ.get("HTTP_X_AMZ_TRAILER"):
            return None
        name, value = found
        body = self._read_body(environ)
        self._count("checked_bodies")
        if base64.b64encode(_ALGORITHMS[name](body)).decode() != value:
            self._count("rejected_bodies")
            return _error(
                start_response,
                "400 Bad Request",
                "BadDigest",
                f"The {name.upper()} you specified did not match the calculated checksum.",
            )
        environ.setdefault("HTTP_X_AMZ_SDK_CHECKSUM_ALGORITHM", name.upper())
        return None

    def _complete(
        self, environ: Environ, start_response: StartResponse, bucket: str, key: str, upload_id: str
    ) -> list[bytes] | None:
        from moto.core.models import DEFAULT_ACCOUNT_ID
        from moto.s3.models import s3_backends

        backend = s3_backends[DEFAULT_ACCOUNT_ID]["aws"]
        if_match = environ.get("HTTP_IF_MATCH")
        if if_match:
            current = backend.get_object(bucket, key)
            if current is None or current.etag.strip('"') != if_match.strip('"'):
                self._count("rejected_preconditions")
                return _error(
                    start_response,
                    "412 Precondition Failed",
                    "PreconditionFailed",
                    "At least one of the pre-conditions you specified did not hold",
                )
        claimed = environ.get("HTTP_X_AMZ_CHECKSUM_CRC64NVME")
        if not claimed:
            return None
        body = self._read_body(environ)
        try:
            upload = backend.get_bucket(bucket).multiparts[upload_id]
            numbers = [
                int(node.getElementsByTagName("PartNumber")[0].firstChild.wholeText)  # type: ignore[union-attr]
                for node in minidom.parseString(body).getElementsByTagName("Part")  # noqa: S318 - our tests' own clients
            ]
            crc = 0
            for number in numbers:
                crc = checksums.crc64nvme(upload.parts[number].value, crc)
        except Exception:  # moto answers malformed or unknown uploads itself
            return None
        self._count("checked_bodies")
        if base64.b64encode(crc.to_bytes(8, "big")).decode() != claimed:
            self._count("rejected_bodies")
            return _error(
                start_response,
                "400 Bad Request",
                "BadDigest",
                "The CRC64NVME you specified did not match the calculated checksum.",
            )
        return None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="moto's S3/IAM server with S3's checksum and precondition checks")
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, required=True)
    args = parser.parse_args(argv)
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
    from werkzeug.serving import run_simple

    app = DomainDispatcherApplication(create_backend_app)
    run_simple(args.host, args.port, ChecksumFidelity(app), threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
