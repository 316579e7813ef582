"""S3 failures from obstore and botocore, mapped to `bucketshift.errors` at the boundary.

Both SDKs are classified the same way: by the S3 error code when the body carries one, then by
HTTP status, because S3-compatible servers differ (Supabase's S3 endpoint puts a namespace on
`<Error>` that leaves botocore's `Error.Code` empty; a HEAD answer has no body at all).
Messages name the bucket and key, never credentials, URLs with signatures or raw bodies.
"""

from __future__ import annotations

import re
from typing import Any

from botocore import exceptions as boto_exc
from obstore import exceptions as obs_exc

from bucketshift.errors import (
    AccessDenied,
    AlreadyExists,
    BucketNotEmpty,
    BucketNotFound,
    BucketshiftError,
    ChecksumMismatch,
    ConfigError,
    Conflict,
    InvalidKey,
    NotFound,
    StoreError,
    Throttled,
    TooLarge,
    TransientError,
)
from bucketshift.urls import host_port

__all__ = [
    "NO_CREDENTIALS",
    "WrongRegion",
    "error_code_from_body",
    "fill_error_code",
    "from_botocore",
    "from_obstore",
    "from_status",
    "unreachable",
]

NO_CREDENTIALS = (
    "no AWS credentials found for the S3 endpoint; set AWS_PROFILE (or profile in the plan file), "
    "the AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY environment variables, or run where a role applies"
)

_STATUS = re.compile(r"status code: (\d{3})")
_CODE = re.compile(r"<Code>\s*([^<\s]+)\s*</Code>")

_ENDPOINT = "endpoint_url in the plan file (AWS_ENDPOINT_URL_S3 for bucketshift.storage)"
_REGION = "region in the plan file (AWS_REGION for bucketshift.storage)"
"""Where the setting at fault is written: the plan file for the command line, the environment for the
application's client; an error message names both, as the store does not know which one built it."""


class WrongRegion(StoreError):
    """The bucket lives in another region than the one the endpoint names (S3 answers 301)."""


_BY_CODE: dict[str, type[StoreError]] = {
    "PermanentRedirect": WrongRegion,
    "AuthorizationHeaderMalformed": WrongRegion,
    "NoSuchBucket": BucketNotFound,
    "NoSuchKey": NotFound,
    "NoSuchUpload": NotFound,
    "NotFound": NotFound,
    "BucketNotEmpty": BucketNotEmpty,
    "BucketAlreadyOwnedByYou": AlreadyExists,
    "BucketAlreadyExists": AlreadyExists,
    "PreconditionFailed": AlreadyExists,
    "AccessDenied": AccessDenied,
    "AllAccessDisabled": AccessDenied,
    "InvalidAccessKeyId": AccessDenied,
    "SignatureDoesNotMatch": AccessDenied,
    "AccountProblem": AccessDenied,
    "EntityTooLarge": TooLarge,
    "KeyTooLongError": InvalidKey,
    "InvalidKey": InvalidKey,
    "InvalidObjectName": InvalidKey,
    "BadDigest": ChecksumMismatch,
    "InvalidDigest": ChecksumMismatch,
    "XAmzContentSHA256Mismatch": ChecksumMismatch,
    "SlowDown": Throttled,
    "Throttling": Throttled,
    "ThrottlingException": Throttled,
    "RequestLimitExceeded": Throttled,
    "TooManyRequests": Throttled,
    "RequestThrottled": Throttled,
    "InternalError": TransientError,
    "ServiceUnavailable": TransientError,
    "RequestTimeout": TransientError,
    "OperationAborted": TransientError,
    "ConditionalRequestConflict": TransientError,
    "ExpiredToken": TransientError,
}

_REASON: dict[type[StoreError], str] = {
    WrongRegion: f"the bucket is in another region; set {_REGION} to the bucket's region",
    BucketNotFound: "the bucket does not exist",
    NotFound: "it does not exist",
    BucketNotEmpty: "the bucket still holds objects",
    AlreadyExists: "it already exists",
    AccessDenied: "access denied; check that the credentials allow this action on the bucket",
    TooLarge: "the object is larger than the store accepts",
    InvalidKey: "the store cannot hold an object under this key",
    ChecksumMismatch: "the store received bytes that do not match their checksum",
    Throttled: "the store asked to slow down",
    TransientError: "the store failed; a retry may succeed",
    Conflict: "the request conflicts with the bucket's current state",
    StoreError: "the store refused the request",
}


def _class_for(status: int | None, code: str) -> type[StoreError]:
    if code in _BY_CODE:
        return _BY_CODE[code]
    if status is None:
        return TransientError
    if status == 301:
        return WrongRegion
    if status == 404:
        return NotFound
    if status in (401, 403):
        return AccessDenied
    if status == 412:
        return AlreadyExists
    if status == 409:
        return Conflict
    if status == 413:
        return TooLarge
    if status in (429, 503, 544):
        return Throttled
    if status == 408 or status >= 500:
        return TransientError
    return StoreError


def _subject(bucket: str | None, key: str | None) -> str:
    if key is not None:
        return f"object {key!r} in bucket {bucket}"
    if bucket is not None:
        return f"bucket {bucket}"
    return "the S3 store"


def from_status(
    action: str, status: int | None, code: str = "", *, bucket: str | None = None, key: str | None = None
) -> StoreError:
    """The shared error for an S3 answer of `status` with error `code` (either may be missing)."""
    cls = _class_for(status, code)
    if cls is BucketNotFound:
        key = None
    detail = " ".join(part for part in (str(status) if status else "", code) if part)
    suffix = f" (HTTP {detail})" if detail else ""
    return cls(f"{action} {_subject(bucket, key)}: {_REASON[cls]}{suffix}", bucket=bucket, key=key)


def error_code_from_body(body: bytes | str) -> str:
    """The `<Code>` of an S3 error body, with or without an XML namespace on `<Error>`."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    match = _CODE.search(text)
    return match.group(1) if match else ""


def fill_error_code(http_response: Any, parsed: dict[str, Any], **_: Any) -> None:
    """botocore `after-call` hook: recover `Error.Code` that a namespaced error body hides."""
    error = parsed.get("Error") if isinstance(parsed, dict) else None
    if not isinstance(error, dict) or error.get("Code"):
        return
    content = getattr(http_response, "content", b"") or b""
    error["Code"] = error_code_from_body(content) or str(getattr(http_response, "status_code", "") or "")


# What the SDKs say (in an exception's text or its cause's) -> what failed, in words, and whether
# the plan file is at fault (not retried) rather than a network or server that may recover.
_NETWORK_WORDS: tuple[tuple[re.Pattern[str], str, bool], ...] = tuple(
    (re.compile(pattern, re.IGNORECASE), words, in_plan)
    for pattern, words, in_plan in (
        (r"connection ?refused|errno 111\b", "connection refused", False),
        (r"temporary failure in name resolution|eai_again", "its name could not be resolved for now", False),
        (r"dns error|name ?resolution|name or service not known|nodename nor servname|failed to lookup address",
         "its host name does not resolve", True),
        (r"certificate|cert_verify|ssl validation", "its TLS certificate is not trusted", True),
        (r"wrong.version.number|record layer|\bssl|\btls\b|handshake", "TLS failed", True),
        (r"connection ?reset|errno 104\b|broken pipe", "the connection was reset", False),
        (r"connect timeout|connection timed out|connecttimeout", "the connection timed out", False),
        (r"read timeout|timed out|timeout", "it did not answer in time (timed out)", False),
        (r"closed before|connection ?closed|incomplete ?message|unexpected ?eof", "the connection was closed", False),
        (r"unreachable", "the host is unreachable", False),
    )
)  # fmt: skip


def unreachable(
    action: str, text: str, endpoint: str | None, *, bucket: str | None, key: str | None = None
) -> BucketshiftError:
    """One sentence for a request that got no answer: the endpoint (host:port), what failed, the fix."""
    host = host_port(endpoint) if endpoint else None
    if host is not None:
        text = text.replace(host.split(":")[0], "")
    words, in_plan = "the network failed", False
    for pattern, found, plan_fault in _NETWORK_WORDS:
        if pattern.search(text):
            words, in_plan = found, plan_fault
            break
    aws = host is None or host.split(":")[0].endswith(".amazonaws.com")
    where = f" {host}" if host else ""
    if aws:
        fix = f"check the network and {_REGION}"
    elif words == "connection refused":
        fix = f"check {_ENDPOINT} and that the server is up"
    elif words == "TLS failed":
        fix = f"check {_ENDPOINT}: http:// or https://"
    elif in_plan:
        fix = f"check {_ENDPOINT}"
    else:
        fix = f"try again later, or check {_ENDPOINT}"
    message = f"cannot reach the S3 endpoint{where} to {action} {_subject(bucket, key)}: {words}; {fix}"
    if in_plan:
        return ConfigError(message)
    return TransientError(message, bucket=bucket, key=key)


_OBSTORE_URL = re.compile(r"Error performing \w+ (\S+)")
_RETRY_TIMEOUT = re.compile(r"retry_timeout: \S+")


def from_obstore(exc: BaseException, action: str, *, bucket: str, key: str | None = None) -> BucketshiftError:
    """Map an obstore exception (or the ValueError it raises for a path) to a shared error."""
    if isinstance(exc, BucketshiftError):
        return exc
    text = str(exc)
    head = text.split("Debug source:", 1)[0]
    if isinstance(exc, ValueError) and "parse path" in text:
        return InvalidKey(f"{action} {_subject(bucket, key)}: the key cannot be sent as given", bucket=bucket, key=key)
    match = _STATUS.search(head)
    status = int(match.group(1)) if match else None
    if status is None and "redirect" in head.lower():
        status = 301
    code = error_code_from_body(head)
    if status is None and not code and "error sending request" in head:
        url = _OBSTORE_URL.search(head)
        cause = _RETRY_TIMEOUT.sub("", text.split("Debug source:", 1)[-1])
        return unreachable(action, cause, url.group(1) if url else None, bucket=bucket, key=key)
    if status is None and not code:
        if isinstance(exc, FileNotFoundError | obs_exc.NotFoundError):
            status = 404
        elif isinstance(exc, obs_exc.PermissionDeniedError | obs_exc.UnauthenticatedError):
            status = 403
        elif isinstance(exc, obs_exc.AlreadyExistsError | obs_exc.PreconditionError):
            status = 412
    return from_status(action, status, code, bucket=bucket, key=key)


_TRANSIENT_BOTO = (
    boto_exc.EndpointConnectionError,
    boto_exc.ConnectionClosedError,
    boto_exc.ReadTimeoutError,
    boto_exc.ConnectTimeoutError,
    boto_exc.ResponseStreamingError,
    boto_exc.IncompleteReadError,
    boto_exc.HTTPClientError,
)
_CREDENTIALS_BOTO = (
    boto_exc.NoCredentialsError,
    boto_exc.PartialCredentialsError,
    boto_exc.ProfileNotFound,
    boto_exc.CredentialRetrievalError,
    boto_exc.NoRegionError,
)


def from_botocore(exc: BaseException, action: str, *, bucket: str | None, key: str | None = None) -> BucketshiftError:
    """Map a botocore exception to a shared error (credential problems are configuration errors)."""
    if isinstance(exc, BucketshiftError):
        return exc
    if isinstance(exc, boto_exc.ClientError):
        response: dict[str, Any] = getattr(exc, "response", {}) or {}
        status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        code = str(response.get("Error", {}).get("Code") or "")
        if code.isdigit():
            code = ""
        return from_status(action, status, code, bucket=bucket, key=key)
    if isinstance(exc, boto_exc.ProfileNotFound):
        profile = getattr(exc, "kwargs", {}).get("profile", "")
        return ConfigError(
            f"AWS profile '{profile}' is not in ~/.aws/config (or AWS_CONFIG_FILE); "
            "set profile in the plan file or AWS_PROFILE to one that is"
        )
    if isinstance(exc, boto_exc.NoCredentialsError):
        return ConfigError(NO_CREDENTIALS)
    if isinstance(exc, boto_exc.NoRegionError):
        return ConfigError("no AWS region is known for the S3 endpoint; set region in the plan file")
    if isinstance(exc, _CREDENTIALS_BOTO):
        return ConfigError(
            f"the AWS credentials found for the S3 endpoint cannot be used ({type(exc).__name__}); "
            "check AWS_PROFILE (or profile in the plan file) and the AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY "
            "environment variables"
        )
    if isinstance(exc, boto_exc.EndpointResolutionError | boto_exc.InvalidEndpointConfigurationError):
        return ConfigError(
            "the S3 endpoint cannot be addressed as configured; check endpoint_url (http(s)://host[:port]) "
            "and region in the plan file"
        )
    if isinstance(exc, (*_TRANSIENT_BOTO, boto_exc.ConnectionError, ConnectionError, TimeoutError)):
        kwargs = getattr(exc, "kwargs", {}) or {}
        detail = f"{type(exc).__name__} {kwargs.get('error', '')}"
        return unreachable(action, detail, kwargs.get("endpoint_url"), bucket=bucket, key=key)
    if isinstance(exc, boto_exc.ParamValidationError):
        return StoreError(f"{action} {_subject(bucket, key)}: the request is not valid for S3", bucket=bucket, key=key)
    return from_status(action, None, bucket=bucket, key=key)
