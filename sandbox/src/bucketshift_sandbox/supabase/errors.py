"""Error bodies exactly as the Supabase Storage server renders them.

The real server (``src/internal/errors/codes.ts``, ``src/http/error-handler.ts``) sends most
errors with HTTP 400 and the meaningful status only in the body's ``statusCode`` string; only
500s, and a few errors built ``withStatusCode``, go out with their real HTTP status.  Clients
(and our own Supabase store) depend on that quirk, so the emulator keeps it.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

__all__ = [
    "StorageError",
    "access_denied",
    "bucket_already_exists",
    "bucket_not_empty",
    "entity_too_large",
    "expired_signature",
    "feature_not_enabled",
    "internal_error",
    "invalid_bucket_name",
    "invalid_file_size_limit",
    "invalid_jwt",
    "invalid_key",
    "invalid_mime_type",
    "invalid_parameter",
    "invalid_range",
    "invalid_request",
    "invalid_signature",
    "key_already_exists",
    "no_content_provided",
    "no_such_bucket",
    "no_such_key",
    "related_resource_not_found",
    "render_error",
    "resource_already_exists",
    "rls_denied",
]

RLS_MESSAGE = "new row violates row-level security policy"


class StorageError(Exception):
    """One renderable error: ``status`` goes in the body, ``http_status`` on the wire."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        error: str | None = None,
        http_status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.error = error or code
        self.message = message
        self.http_status = http_status if http_status is not None else (500 if status == 500 else 400)

    def body(self) -> dict[str, str]:
        """The JSON body, keys in the order the real server writes them."""
        return {"statusCode": str(self.status), "code": self.code, "error": self.error, "message": self.message}


def render_error(request: Request, exc: Exception) -> Response:
    """Starlette exception handler: JSON body, or a bare status line for HEAD as the server does."""
    assert isinstance(exc, StorageError)
    if request.method == "HEAD":
        return Response(status_code=exc.http_status)
    return JSONResponse(exc.body(), status_code=exc.http_status)


def no_such_bucket() -> StorageError:
    """The bucket does not exist, or row-level security hides it."""
    return StorageError(404, "NoSuchBucket", "Bucket not found", error="Bucket not found")


def no_such_key() -> StorageError:
    """The object does not exist, or row-level security hides it."""
    return StorageError(404, "NoSuchKey", "Object not found", error="not_found")


def invalid_key(key: str) -> StorageError:
    """A key with characters outside the allowed set (all non-ASCII included)."""
    return StorageError(400, "InvalidKey", f"Invalid key: {key}")


def invalid_bucket_name() -> StorageError:
    """A bucket name outside 1-100 allowed characters."""
    return StorageError(400, "InvalidBucketName", "Bucket name invalid", error="Invalid Input")


def key_already_exists() -> StorageError:
    """Create without ``x-upsert`` on a key that exists."""
    return StorageError(409, "KeyAlreadyExists", "The resource already exists", error="Duplicate")


def bucket_already_exists() -> StorageError:
    """Create a bucket whose id or name is taken."""
    return StorageError(409, "BucketAlreadyExists", "The resource already exists", error="Duplicate")


def resource_already_exists() -> StorageError:
    """A unique constraint violated outside the create paths (move onto an existing key)."""
    return StorageError(409, "ResourceAlreadyExists", "The resource already exists", error="Duplicate")


def bucket_not_empty() -> StorageError:
    """Delete a bucket that still holds objects."""
    return StorageError(409, "ResourceNotEmpty", "The bucket you tried to delete is not empty")


def related_resource_not_found() -> StorageError:
    """A foreign key violated: the destination bucket of a move or copy does not exist."""
    return StorageError(404, "InvalidRequest", "The related resource does not exist")


def access_denied(message: str) -> StorageError:
    """A JWT that does not verify, or a row-level security refusal."""
    return StorageError(403, "AccessDenied", message or "Access denied", error="Unauthorized")


def rls_denied() -> StorageError:
    """What a role without policies gets when it tries to write a row."""
    return access_denied(RLS_MESSAGE)


def invalid_jwt(message: str) -> StorageError:
    """A signed-URL token that does not verify (expired included)."""
    return StorageError(400, "InvalidJWT", message or "Invalid JWT")


def invalid_signature(message: str = "Invalid signature") -> StorageError:
    """A signed-URL token issued for another object or action."""
    return StorageError(400, "InvalidSignature", message)


def expired_signature() -> StorageError:
    """A signed upload token past its expiry."""
    return StorageError(400, "ExpiredToken", "The provided token has expired.")


def entity_too_large(entity: str = "object") -> StorageError:
    """Bigger than the smaller of the server limit and the bucket's ``file_size_limit``."""
    return StorageError(
        413, "EntityTooLarge", f"The {entity} exceeded the maximum allowed size", error="Payload too large"
    )


def invalid_mime_type(mime_type: str) -> StorageError:
    """A content type the bucket's ``allowed_mime_types`` does not admit."""
    return StorageError(415, "InvalidMimeType", f"mime type {mime_type} is not supported", error="invalid_mime_type")


def invalid_range() -> StorageError:
    """A Range header that cannot be satisfied; sent with HTTP 416 as the reference page says."""
    return StorageError(416, "InvalidRange", "invalid range provided", error="invalid_range", http_status=416)


def invalid_request(message: str) -> StorageError:
    """A request body or query string that fails the route's schema."""
    return StorageError(400, "InvalidRequest", message, error="Bad Request")


def invalid_parameter(name: str) -> StorageError:
    """A parameter with a value the server cannot use (a list-v2 cursor, for one)."""
    return StorageError(400, "InvalidParameter", f"Invalid Parameter {name}")


def invalid_file_size_limit() -> StorageError:
    """A bucket ``file_size_limit`` string that is not a size."""
    return StorageError(400, "InvalidRequest", "Invalid file size format, hint: use 20GB / 20MB / 30KB / 3B")


def no_content_provided() -> StorageError:
    """A multipart upload without a file part."""
    return StorageError(400, "InvalidRequest", "No content provided")


def feature_not_enabled() -> StorageError:
    """list-v2 on a project whose database predates it (older hosted projects)."""
    return StorageError(
        400, "FeatureNotEnabled", "This feature is not available for your tenant", error="FeatureNotEnabled"
    )


def internal_error() -> StorageError:
    """The generic 500."""
    return StorageError(500, "InternalError", "Internal server error")
