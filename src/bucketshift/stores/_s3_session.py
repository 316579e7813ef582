"""The boto3 session an S3 endpoint names, shared by the object store and provisioning.

One place decides how credentials are found (explicit keys from the plan file, else the AWS
default chain: environment, profile, SSO, instance or task role) and what a missing or broken
credential source is told to the user, so every verb says it the same way.
"""

from __future__ import annotations

import boto3

from bucketshift.config import S3Endpoint
from bucketshift.errors import ConfigError
from bucketshift.stores._s3_errors import from_botocore

__all__ = ["NO_CREDENTIALS", "require_credentials", "session_for"]

NO_CREDENTIALS = (
    "no AWS credentials found for the S3 endpoint; set AWS_PROFILE (or profile in the plan file), "
    "the AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY environment variables, or run where a role applies"
)


def session_for(endpoint: S3Endpoint) -> boto3.session.Session:
    """A session with the plan's explicit keys, or the default chain (optionally a named profile)."""
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
