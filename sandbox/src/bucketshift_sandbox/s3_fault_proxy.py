"""A reverse proxy in front of moto that answers a share of requests with 503 SlowDown, and can
corrupt a share of uploaded bodies in transit.

moto never throttles, and S3 does (SlowDown is how S3 asks a client to back off), so the copy
engine's retries are tested against this: `python -m bucketshift_sandbox.s3_fault_proxy
--port N --upstream http://127.0.0.1:M --slowdown-rate 0.1 --corrupt-rate 0.05`.  Requests are
forwarded byte for byte (raw path, query and Host header, so SigV4 signatures stay valid),
bodies streamed; a corrupted body has one byte flipped and its headers untouched, as a bad
network would leave it, so only a checksum the server checks can catch it.
"""

from __future__ import annotations

import argparse
import contextlib
import random
from collections.abc import AsyncIterator

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

__all__ = ["create_app", "main"]

SLOWDOWN = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code>'
    b"<Message>Please reduce your request rate.</Message><RequestId>bucketshift-proxy</RequestId></Error>"
)
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-connection"}


def create_app(upstream: str, rate: float, seed: int | None = None, corrupt_rate: float = 0.0) -> Starlette:
    state = {"rate": rate, "injected": 0, "forwarded": 0, "corrupt_rate": corrupt_rate, "corrupted": 0}
    rng = random.Random(seed)
    client = httpx.AsyncClient(
        base_url=upstream, timeout=httpx.Timeout(300.0), limits=httpx.Limits(max_connections=256)
    )

    async def settings(request: Request) -> Response:
        if request.method == "PUT":
            changes = await request.json()
            state["rate"] = float(changes.get("slowdown_rate", state["rate"]))
            state["corrupt_rate"] = float(changes.get("corrupt_rate", state["corrupt_rate"]))
        return JSONResponse(state)

    async def forward(request: Request) -> Response:
        if rng.random() < state["rate"]:
            state["injected"] += 1
            await request.body()
            return Response(SLOWDOWN, status_code=503, media_type="application/xml")
        state["forwarded"] += 1
        raw = request.scope["raw_path"].decode("latin-1")
        query = request.scope["query_string"].decode("latin-1")
        url = raw + (f"?{query}" if query else "")
        headers = [(k, v) for k, v in request.headers.raw if k.decode("latin-1").lower() not in HOP_BY_HOP]

        corrupt = request.method == "PUT" and rng.random() < state["corrupt_rate"]

        async def body() -> AsyncIterator[bytes]:
            flipped = not corrupt
            async for chunk in request.stream():
                if chunk and not flipped:
                    chunk = bytes([chunk[0] ^ 0xFF]) + chunk[1:]
                    flipped = True
                    state["corrupted"] += 1
                if chunk:
                    yield chunk

        has_body = request.method in ("PUT", "POST")
        upstream_request = client.build_request(
            request.method, url, headers=headers, content=body() if has_body else None
        )
        upstream_response = await client.send(upstream_request, stream=True)
        out_headers = {k: v for k, v in upstream_response.headers.items() if k.lower() not in HOP_BY_HOP}

        async def relay() -> AsyncIterator[bytes]:
            try:
                async for chunk in upstream_response.aiter_raw():
                    yield chunk
            finally:
                await upstream_response.aclose()

        return StreamingResponse(relay(), status_code=upstream_response.status_code, headers=out_headers)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await client.aclose()

    methods = ["GET", "HEAD", "PUT", "POST", "DELETE"]
    return Starlette(
        routes=[
            Route("/_proxy/settings", settings, methods=["GET", "PUT"]),
            Route("/{path:path}", forward, methods=methods),
        ],
        lifespan=lifespan,
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True)
    parser.add_argument("--slowdown-rate", type=float, default=0.1)
    parser.add_argument("--corrupt-rate", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args(argv)
    app = create_app(args.upstream, args.slowdown_rate, args.seed, args.corrupt_rate)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
