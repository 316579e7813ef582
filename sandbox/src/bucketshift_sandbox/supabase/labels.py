"""Route labels: the short names requests are counted under and faults are aimed at.

A label is the method and the route's fixed part (``GET object/authenticated``), never the
bucket or key, so a test can name "the authenticated object reads" in one word.
"""

from __future__ import annotations

__all__ = ["READ_ROUTES", "ROUTE_LABELS", "TUS_ROUTES", "route_label"]

_OBJECT_SUBROUTES = frozenset({"public", "authenticated", "sign", "info", "list", "list-v2", "move", "copy", "upload"})

# The GETs that answer with an object's bytes: the only responses a ``corrupt`` fault changes.
READ_ROUTES = frozenset({"GET object", "GET object/public", "GET object/authenticated", "GET object/sign"})

_GET_ROUTES = frozenset({"GET bucket", "GET object/info", *READ_ROUTES})
# The resumable (TUS) routes, plain and signed (``/upload/resumable/sign``), under every method tus serves.
TUS_ROUTES = frozenset(
    f"{method} {route}"
    for method in ("POST", "PATCH", "HEAD", "DELETE", "OPTIONS")
    for route in ("upload/resumable", "upload/resumable/sign")
)
# Every label a route of the emulator answers under; fastify (and Starlette) add HEAD to each GET.
ROUTE_LABELS = frozenset(
    {
        *_GET_ROUTES,
        *(label.replace("GET ", "HEAD ", 1) for label in _GET_ROUTES),
        "POST bucket",
        "PUT bucket",
        "DELETE bucket",
        "POST bucket/empty",
        "POST object",
        "PUT object",
        "DELETE object",
        "POST object/list",
        "POST object/list-v2",
        "POST object/move",
        "POST object/copy",
        "POST object/sign",
        "POST object/upload/sign",
        "PUT object/upload/sign",
        *TUS_ROUTES,
    }
)


def route_label(method: str, path: str) -> str:
    """A short route name such as ``GET object`` or ``POST object/list-v2`` for a storage path."""
    parts = [part for part in path.split("/") if part]
    if not parts:
        return f"{method} /"
    head = parts[0]
    if head == "bucket":
        if len(parts) >= 3 and parts[2] == "empty":
            return f"{method} bucket/empty"
        return f"{method} bucket"
    if head == "object" and len(parts) >= 2:
        sub = parts[1]
        if sub == "upload" and len(parts) >= 3 and parts[2] == "sign":
            return f"{method} object/upload/sign"
        if sub in _OBJECT_SUBROUTES:
            return f"{method} object/{sub}"
        return f"{method} object"
    if head == "upload" and len(parts) >= 2 and parts[1] == "resumable":
        signed = len(parts) >= 3 and parts[2] == "sign"
        return f"{method} upload/resumable/sign" if signed else f"{method} upload/resumable"
    return f"{method} {head}"
