"""A 50 MB object goes in and out as a stream: the emulator's memory does not grow with it."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bucketshift_sandbox.servers import EmulatorServer

SIZE = 50 * 1024 * 1024
BLOCK = 1024 * 1024


def blocks() -> Iterator[bytes]:
    for index in range(SIZE // BLOCK):
        yield index.to_bytes(4, "big") * (BLOCK // 4)


def peak_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM line")


@pytest.mark.slow
def test_fifty_megabytes_stream_through(sandbox_emulator: EmulatorServer, service: httpx.Client, bucket: str) -> None:
    pid = sandbox_emulator.proc.pid
    peak_before = peak_rss_kib(pid) if Path(f"/proc/{pid}/status").exists() else None
    expected = hashlib.md5(usedforsecurity=False)
    for block in blocks():
        expected.update(block)

    uploaded = service.put(
        f"/object/{bucket}/big.bin", content=blocks(), headers={"Content-Type": "application/octet-stream"}
    )
    assert uploaded.status_code == 200, uploaded.text

    received = hashlib.md5(usedforsecurity=False)
    size = 0
    with service.stream("GET", f"/object/{bucket}/big.bin") as response:
        assert response.status_code == 200
        assert response.headers["content-length"] == str(SIZE)
        assert response.headers["etag"] == f'"{expected.hexdigest()}"'
        for chunk in response.iter_bytes():
            received.update(chunk)
            size += len(chunk)
    assert size == SIZE
    assert received.hexdigest() == expected.hexdigest()

    tail = service.get(f"/object/{bucket}/big.bin", headers={"Range": f"bytes={SIZE - 8}-"})
    assert tail.status_code == 206
    assert tail.content == (SIZE // BLOCK - 1).to_bytes(4, "big") * 2

    if peak_before is not None:
        grown_mib = (peak_rss_kib(pid) - peak_before) / 1024
        assert grown_mib < 24, f"the emulator's peak memory grew by {grown_mib:.0f} MiB for a 50 MiB object"
