"""Every error the service answers is JSON `{"error": "<one sentence>"}`: no traceback, no secret.

Storage errors (`BucketshiftError`) carry sentences written for people already; their class says
whose fault it was, which decides the status.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from bucketshift.errors import Retryable
from bucketshift.storage import AccessDenied, BucketshiftError, NotFound, StoreError

log = logging.getLogger("media_service")

_STATUS: tuple[tuple[type[BucketshiftError], int], ...] = (
    (NotFound, 404),
    (Retryable, 503),
    (AccessDenied, 502),
    (StoreError, 502),
    (BucketshiftError, 500),
)
"""First match wins: a missing object is the caller's 404; storage refusing or failing us is a
gateway's error (503 where trying again may help); our own settings or rows are our 500."""


class ServiceError(Exception):
    """A refusal with its HTTP status and the sentence the caller reads."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class DatabaseUnavailable(ServiceError):
    """PostgreSQL could not be reached; the sentence names the server, never the URL's password."""

    def __init__(self, message: str) -> None:
        super().__init__(503, message)


def status_for(error: BucketshiftError) -> int:
    return next(status for kind, status in _STATUS if isinstance(error, kind))


def answer(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def install(app: FastAPI) -> None:
    """Route every error the service knows to one JSON sentence."""

    @app.exception_handler(ServiceError)
    async def service_error(request: Request, error: ServiceError) -> JSONResponse:
        return answer(error.status, error.message)

    @app.exception_handler(BucketshiftError)
    async def storage_error(request: Request, error: BucketshiftError) -> JSONResponse:
        status = status_for(error)
        log.warning("%s %s: %s (%s)", request.method, request.url.path, error, type(error).__name__)
        return answer(status, str(error))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, error: HTTPException) -> JSONResponse:
        return JSONResponse({"error": str(error.detail)}, status_code=error.status_code, headers=error.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError) -> JSONResponse:
        first = error.errors()[0] if error.errors() else {}
        where = [str(part) for part in first.get("loc", ()) if not isinstance(part, int)]
        if where[:1] == ["body"]:
            where = where[1:] or ["the request body"]
        return answer(422, f"{' '.join(where) or 'the request'}: {first.get('msg', 'is not valid')}")
