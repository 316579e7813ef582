"""The boto3 clients provisioning talks through, built from the plan's S3 endpoint or passed in.

Control-plane calls are few and idempotent reads or puts, so botocore's own standard retry
mode is used here (the data path keeps its retries in the engine instead).  IAM goes to the
same custom endpoint when one is set (moto serves both), else to AWS's global IAM endpoint.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from botocore.config import Config

from bucketshift.config import S3Endpoint
from bucketshift.stores._s3_session import require_credentials, session_for

__all__ = ["Clients", "clients_for"]


@dataclass
class Clients:
    """An S3 client and, when an IAM user is managed, an IAM client (tests inject their own)."""

    s3: Any
    iam: Any = None

    def close(self) -> None:
        for client in (self.s3, self.iam):
            if client is not None:
                client.close()


def clients_for(endpoint: S3Endpoint, *, iam: bool = False) -> Clients:
    """Clients for the endpoint; fails with one sentence, before any request, without credentials."""
    session = session_for(endpoint)
    require_credentials(session)
    path_style = endpoint.addressing_style == "path" or (
        endpoint.addressing_style == "auto" and endpoint.endpoint_url is not None
    )
    config = Config(
        region_name=endpoint.region,
        signature_version="s3v4",
        s3={"addressing_style": "path" if path_style else endpoint.addressing_style},
        retries={"mode": "standard", "total_max_attempts": 3},
        connect_timeout=10,
        read_timeout=60,
        ignore_configured_endpoint_urls=True,
    )
    s3 = session.client("s3", endpoint_url=endpoint.endpoint_url, config=config)
    iam_client = None
    if iam:
        iam_config = Config(retries={"mode": "standard", "total_max_attempts": 3}, ignore_configured_endpoint_urls=True)
        iam_client = session.client("iam", endpoint_url=endpoint.endpoint_url, config=iam_config)
    return Clients(s3=s3, iam=iam_client)
