"""Pick the S3 data-path client by measurement against moto (issue 2).

Runs moto's server in its own process, then for each candidate client runs, in a fresh
child process, N PUTs, N HEADs and N GETs of SIZE-byte objects with 64 requests in flight,
and reports requests/s and CPU milliseconds per request of the client process alone.
Prints one JSON document.  Bounded: N requests per phase, each phase capped by a timeout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import socket
import subprocess
import sys
import time

CANDIDATES = ("aiobotocore", "boto3-threads", "obstore")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


async def _phase(name: str, coro_factory, n: int, inflight: int, limit_s: float) -> dict:
    sem = asyncio.Semaphore(inflight)

    async def one(i: int) -> None:
        async with sem:
            await coro_factory(i)

    c0, t0 = _cpu(), time.perf_counter()
    await asyncio.wait_for(asyncio.gather(*(one(i) for i in range(n))), limit_s)
    wall, cpu = time.perf_counter() - t0, _cpu() - c0
    return {"phase": name, "requests": n, "req_per_s": round(n / wall, 1), "cpu_ms_per_req": round(cpu * 1000 / n, 2)}


async def run_aiobotocore(endpoint: str, bucket: str, n: int, size: int, inflight: int) -> list:
    from aiobotocore.config import AioConfig
    from aiobotocore.session import get_session

    body = os.urandom(size)
    cfg = AioConfig(max_pool_connections=inflight, retries={"max_attempts": 1}, s3={"addressing_style": "path"})
    async with get_session().create_client("s3", endpoint_url=endpoint, region_name="us-east-1", config=cfg) as c:

        async def put(i):
            await c.put_object(Bucket=bucket, Key=f"a/{i}", Body=body, ContentType="image/png")

        async def head(i):
            await c.head_object(Bucket=bucket, Key=f"a/{i}")

        async def get(i):
            r = await c.get_object(Bucket=bucket, Key=f"a/{i}")
            async with r["Body"] as s:
                async for _ in s.iter_chunks(65536):
                    pass

        return [
            await _phase("put", put, n, inflight, 300),
            await _phase("head", head, n, inflight, 300),
            await _phase("get", get, n, inflight, 300),
        ]


async def run_boto3_threads(endpoint: str, bucket: str, n: int, size: int, inflight: int) -> list:
    import concurrent.futures

    import boto3
    from botocore.config import Config

    body = os.urandom(size)
    c = boto3.session.Session().client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        config=Config(max_pool_connections=inflight, retries={"max_attempts": 1}, s3={"addressing_style": "path"}),
    )
    pool = concurrent.futures.ThreadPoolExecutor(inflight)
    loop = asyncio.get_running_loop()

    def _get(i):
        r = c.get_object(Bucket=bucket, Key=f"b/{i}")
        for _ in r["Body"].iter_chunks(65536):
            pass

    async def put(i):
        await loop.run_in_executor(
            pool, lambda: c.put_object(Bucket=bucket, Key=f"b/{i}", Body=body, ContentType="image/png")
        )

    async def head(i):
        await loop.run_in_executor(pool, lambda: c.head_object(Bucket=bucket, Key=f"b/{i}"))

    async def get(i):
        await loop.run_in_executor(pool, _get, i)

    out = [
        await _phase("put", put, n, inflight, 300),
        await _phase("head", head, n, inflight, 300),
        await _phase("get", get, n, inflight, 300),
    ]
    pool.shutdown()
    return out


async def run_obstore(endpoint: str, bucket: str, n: int, size: int, inflight: int) -> list:
    import obstore
    from obstore.store import S3Store

    body = os.urandom(size)
    store = S3Store(
        bucket,
        endpoint=endpoint,
        region="us-east-1",
        virtual_hosted_style_request=False,
        client_options={"allow_http": True, "pool_max_idle_per_host": str(inflight)},
        access_key_id="testing",
        secret_access_key="testing",  # noqa: S106 - moto accepts any key
    )

    async def put(i):
        await obstore.put_async(store, f"c/{i}", body, attributes={"Content-Type": "image/png"})

    async def head(i):
        await obstore.head_async(store, f"c/{i}")

    async def get(i):
        r = await obstore.get_async(store, f"c/{i}")
        async for _ in r.stream(65536):
            pass

    return [
        await _phase("put", put, n, inflight, 300),
        await _phase("head", head, n, inflight, 300),
        await _phase("get", get, n, inflight, 300),
    ]


def child(client: str, endpoint: str, bucket: str, n: int, size: int, inflight: int) -> None:
    fn = {"aiobotocore": run_aiobotocore, "boto3-threads": run_boto3_threads, "obstore": run_obstore}[client]
    print(json.dumps({"client": client, "phases": asyncio.run(fn(endpoint, bucket, n, size, inflight))}))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--size", type=int, default=100_000)
    ap.add_argument("--inflight", type=int, default=64)
    ap.add_argument("--child", nargs=2)
    a = ap.parse_args()
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    if a.child:
        child(a.child[0], a.child[1], "bench", a.n, a.size, a.inflight)
        return
    port = _free_port()
    moto = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        import boto3

        boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(Bucket="bench")
        results = []
        for client in CANDIDATES:
            out = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--n",
                    str(a.n),
                    "--size",
                    str(a.size),
                    "--inflight",
                    str(a.inflight),
                    "--child",
                    client,
                    endpoint,
                ],
                capture_output=True,
                text=True,
                timeout=900,
            )
            if out.returncode:
                results.append({"client": client, "error": out.stderr.strip().splitlines()[-1:]})
            else:
                results.append(json.loads(out.stdout))
        print(json.dumps({"n": a.n, "size": a.size, "inflight": a.inflight, "results": results}, indent=1))
    finally:
        moto.terminate()
        moto.wait(10)


if __name__ == "__main__":
    main()
