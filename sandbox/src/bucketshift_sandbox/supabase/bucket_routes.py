"""``/bucket`` routes (``src/http/routes/bucket/*.ts``)."""

from __future__ import annotations

import re
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from bucketshift_sandbox.supabase.catalog import BucketRow, CatalogConflict
from bucketshift_sandbox.supabase.errors import (
    bucket_already_exists,
    bucket_not_empty,
    entity_too_large,
    invalid_file_size_limit,
    invalid_mime_type,
    invalid_request,
    no_such_bucket,
    rls_denied,
)
from bucketshift_sandbox.supabase.keys import Caller
from bucketshift_sandbox.supabase.state import EmulatorState
from bucketshift_sandbox.supabase.validation import (
    json_body,
    must_be_valid_bucket_name,
    optional_bool,
    optional_int,
    optional_str,
    required_str,
)

__all__ = ["BucketRoutes", "bucket_json", "parse_file_size_limit"]

_SIZE = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(gb|mb|kb|b)$", re.IGNORECASE)
_UNITS = {"gb": 10**9, "mb": 10**6, "kb": 1000, "b": 1}
_MIME = re.compile(r"^([a-zA-Z0-9\-+.]+)/([a-zA-Z0-9\-+.]+)(;\s*charset=[a-zA-Z0-9\-]+)?$|\*$")
_SORT_COLUMNS = ("id", "name", "created_at", "updated_at")


def bucket_json(row: BucketRow) -> dict[str, Any]:
    """A bucket as the server serializes it (a null owner becomes ``""`` through its schema)."""
    return {
        "id": row.id,
        "name": row.name,
        "owner": row.owner or "",
        "public": row.public,
        "type": row.type,
        "file_size_limit": row.file_size_limit,
        "allowed_mime_types": row.allowed_mime_types,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    }


def parse_file_size_limit(value: object, server_limit: int) -> int | None:
    """An integer of bytes or a string such as ``20MB`` (3 significant digits, decimal units)."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise invalid_request("body/file_size_limit must be integer")
    if isinstance(value, str):
        match = _SIZE.match(value)
        if not match:
            raise invalid_file_size_limit()
        number = float(f"{float(match.group(1)):.3g}")
        value = int(number * _UNITS[match.group(2).lower()])
    if not isinstance(value, int) or value < 0:
        raise invalid_request("body/file_size_limit must be >= 0")
    if value > server_limit:
        raise entity_too_large()
    return value


def _mime_types(value: object) -> list[str] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise invalid_request("body/allowed_mime_types must be array")
    types = [item for item in value if item]
    for item in types:
        if len(item) > 1000 or not _MIME.search(item):
            raise invalid_mime_type(item)
    return types


class BucketRoutes:
    """Bucket listing, reading, creation, update, emptying and deletion."""

    def __init__(self, state: EmulatorState) -> None:
        self.state = state

    def routes(self) -> list[BaseRoute]:
        """The routes, relative to ``/storage/v1``."""
        return [
            Route("/bucket", self.list_buckets, methods=["GET"]),
            Route("/bucket/", self.list_buckets, methods=["GET"]),
            Route("/bucket", self.create_bucket, methods=["POST"]),
            Route("/bucket/", self.create_bucket, methods=["POST"]),
            Route("/bucket/{bucket_id}/empty", self.empty_bucket, methods=["POST"]),
            Route("/bucket/{bucket_id}", self.get_bucket, methods=["GET"]),
            Route("/bucket/{bucket_id}", self.update_bucket, methods=["PUT"]),
            Route("/bucket/{bucket_id}", self.delete_bucket, methods=["DELETE"]),
        ]

    def _caller(self, request: Request) -> Caller:
        return self.state.settings.caller(request.headers)

    async def list_buckets(self, request: Request) -> JSONResponse:
        """``GET /bucket``: every bucket row the role can see (none without policies)."""
        caller = self._caller(request)
        query = request.query_params
        limit = optional_int(query, "limit", minimum=1, where="querystring")
        offset = optional_int(query, "offset", minimum=0, where="querystring")
        sort_column = query.get("sortColumn")
        if sort_column is not None and sort_column not in _SORT_COLUMNS:
            raise invalid_request("querystring/sortColumn must be equal to one of the allowed values")
        sort_order = query.get("sortOrder")
        if sort_order is not None and sort_order not in ("asc", "desc"):
            raise invalid_request("querystring/sortOrder must be equal to one of the allowed values")
        if not caller.bypasses_rls:
            return JSONResponse([])
        rows = await self.state.catalog.list_buckets(
            limit=limit, offset=offset, sort_column=sort_column, sort_order=sort_order, search=query.get("search")
        )
        return JSONResponse([bucket_json(row) for row in rows])

    async def get_bucket(self, request: Request) -> JSONResponse:
        """``GET /bucket/{id}``."""
        caller = self._caller(request)
        row = await self.state.catalog.get_bucket(request.path_params["bucket_id"])
        if row is None or not caller.bypasses_rls:
            raise no_such_bucket()
        return JSONResponse(bucket_json(row))

    async def create_bucket(self, request: Request) -> JSONResponse:
        """``POST /bucket``: ``{name, id?, public?, file_size_limit?, allowed_mime_types?}`` -> ``{name}``."""
        caller = self._caller(request)
        body = await json_body(request)
        name = required_str(body, "name")
        bucket_id = optional_str(body, "id") or name
        public = optional_bool(body, "public") or False
        must_be_valid_bucket_name(name)
        file_size_limit = parse_file_size_limit(body.get("file_size_limit"), self.state.settings.file_size_limit)
        allowed = _mime_types(body.get("allowed_mime_types"))
        if not caller.bypasses_rls:
            raise rls_denied()
        try:
            await self.state.catalog.insert_bucket(
                bucket_id=bucket_id,
                name=name,
                owner=caller.owner,
                public=public,
                file_size_limit=file_size_limit,
                allowed_mime_types=allowed,
            )
        except CatalogConflict as exc:
            raise bucket_already_exists() from exc
        return JSONResponse({"name": name})

    async def update_bucket(self, request: Request) -> JSONResponse:
        """``PUT /bucket/{id}``: change public, file_size_limit or allowed_mime_types."""
        caller = self._caller(request)
        bucket_id = request.path_params["bucket_id"]
        body = await json_body(request)
        must_be_valid_bucket_name(bucket_id)
        changes: dict[str, Any] = {}
        public = optional_bool(body, "public")
        if public is not None:
            changes["public"] = public
        if "file_size_limit" in body:
            changes["file_size_limit"] = parse_file_size_limit(
                body["file_size_limit"], self.state.settings.file_size_limit
            )
        if "allowed_mime_types" in body:
            changes["allowed_mime_types"] = _mime_types(body["allowed_mime_types"])
        if not caller.bypasses_rls or not await self.state.catalog.update_bucket(bucket_id, changes):
            raise no_such_bucket()
        return JSONResponse({"message": "Successfully updated"})

    async def empty_bucket(self, request: Request) -> JSONResponse:
        """``POST /bucket/{id}/empty``: delete every object (the server queues this; done inline here)."""
        caller = self._caller(request)
        bucket_id = request.path_params["bucket_id"]
        if not caller.bypasses_rls or await self.state.catalog.get_bucket(bucket_id) is None:
            raise no_such_bucket()
        for row in await self.state.catalog.delete_all_objects(bucket_id):
            self.state.blobs.remove(row.version)
        return JSONResponse({"message": "Successfully emptied"})

    async def delete_bucket(self, request: Request) -> JSONResponse:
        """``DELETE /bucket/{id}``: only an empty bucket (409 ResourceNotEmpty otherwise)."""
        caller = self._caller(request)
        bucket_id = request.path_params["bucket_id"]
        catalog = self.state.catalog
        if await catalog.get_bucket(bucket_id) is None:
            raise no_such_bucket()
        if await catalog.count_objects(bucket_id) > 0:
            raise bucket_not_empty()
        if not caller.bypasses_rls or not await catalog.delete_bucket(bucket_id):
            raise no_such_bucket()
        return JSONResponse({"message": "Successfully deleted"})
