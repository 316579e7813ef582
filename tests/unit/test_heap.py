"""The CLI asks glibc to return large buffers when they are freed; elsewhere it asks nothing."""

from __future__ import annotations

import subprocess
import sys

import pytest

from bucketshift import heap


def test_glibc_takes_the_threshold_in_a_fresh_process() -> None:
    code = "from bucketshift import heap; print(heap.return_large_buffers())"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == ("True" if sys.platform.startswith("linux") else "False")


def test_other_platforms_are_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(heap.sys, "platform", "darwin")
    assert heap.return_large_buffers() is False
