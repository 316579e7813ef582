"""The boto3 session an S3 endpoint names, shared by the object store and provisioning.

One place decides how credentials are found (explicit keys from the plan file, else the AWS
default chain: environment, profile, SSO, instance or task role) and what a missing or broken
credential source is told to the user, so every verb says it the same way.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import boto3
from botocore.utils import is_valid_endpoint_url, is_valid_ipv6_endpoint_url

from bucketshift.config import S3Endpoint
from bucketshift.errors import ConfigError
from bucketshift.stores._s3_errors import NO_CREDENTIALS, from_botocore

__all__ = ["NO_CREDENTIALS", "check_endpoint_url", "require_credentials", "session_for"]


def check_endpoint_url(url: str) -> None:
    """Refuse an endpoint URL the SDKs cannot use, before either sees it.

    The plan file only checks for http(s) and a host; a port out of range or a host name that
    is not one would otherwise surface as a botocore ValueError or a panic inside obstore.
    """
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = -1
    shown = f"{parts.scheme}://{parts.hostname or ''}" + (f":{port}" if port and port > 0 else "")
    if port == -1 or port == 0:
        problem = "its port is not a number from 1 to 65535"
    elif parts.username is not None or parts.password is not None:
        problem = "it holds a user name or password (credentials come from the AWS chain or the plan's keys)"
        shown = f"{parts.scheme}://{parts.hostname or ''}"
    elif not (is_valid_endpoint_url(url) or is_valid_ipv6_endpoint_url(url)):
        problem = "its host is not a valid host name or IP address"
    else:
        return
    raise ConfigError(f"endpoint_url {shown} cannot be used: {problem}; write it as http(s)://host[:port]")


def session_for(endpoint: S3Endpoint) -> boto3.session.Session:
    """A session with the plan's explicit keys, or the default chain (optionally a named profile)."""
    if endpoint.endpoint_url is not None:
        check_endpoint_url(endpoint.endpoint_url)
    try:
        if endpoint.access_key_id is not None and endpoint.secret_access_key is not None:
            return boto3.session.Session(
                aws_access_key_id=endpoint.access_key_id,
                aws_secret_access_key=endpoint.secret_access_key.get_secret_value(),
                region_name=endpoint.region,
            )
        return boto3.session.Session(profile_name=endpoint.profile, region_name=endpoint.region)
    except Exception as exc:
        raise from_botocore(exc, "connect to", bucket=None) from None


def require_credentials(session: boto3.session.Session) -> None:
    """Fail with one sentence before any request when the chain finds no credentials at all."""
    try:
        found = session.get_credentials()
    except Exception as exc:
        raise from_botocore(exc, "connect to", bucket=None) from None
    if found is None:
        raise ConfigError(NO_CREDENTIALS)
