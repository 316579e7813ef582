"""An S3 endpoint URL the SDKs cannot use is refused in one sentence before either sees it
(botocore would raise a bare ValueError, obstore panic on a port out of range)."""

from __future__ import annotations

import pytest

from bucketshift.errors import ConfigError
from bucketshift.stores._s3_session import check_endpoint_url


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:9000", "http://[::1]:9000", "http://minio:9000", "https://s3.eu-west-1.amazonaws.com",
     "https://abcd.storage.supabase.co/storage/v1/s3", "http://localhost"],
)  # fmt: skip
def test_usable_endpoints_pass(url: str) -> None:
    check_endpoint_url(url)


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("http://127.0.0.1:99999", "endpoint_url http://127.0.0.1 cannot be used: its port is not a number from 1"),
        ("http://127.0.0.1:0", "its port is not a number from 1 to 65535"),
        ("http://127.0.0.1:nine", "its port is not a number from 1 to 65535"),
        ("http://my_minio:9000", "endpoint_url http://my_minio:9000 cannot be used: its host is not a valid host"),
        ("http://-minio-:9000", "its host is not a valid host name or IP address"),
        ("http://admin:PASSWORD-never-shown@127.0.0.1:9000", "endpoint_url http://127.0.0.1 cannot be used: it holds"),
    ],
    ids=["port-too-big", "port-zero", "port-not-a-number", "underscore-host", "hyphen-edges", "user-and-password"],
)
def test_unusable_endpoints_are_one_sentence(url: str, says: str) -> None:
    with pytest.raises(ConfigError) as caught:
        check_endpoint_url(url)
    assert says in caught.value.message
    assert caught.value.message.endswith("; write it as http(s)://host[:port]")
    assert "PASSWORD" not in caught.value.message
