"""The README's first command: `bucketshift demo` runs a whole migration locally and verifies it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

EXE = str(Path(sys.executable).with_name("bucketshift"))


def test_demo_ends_with_a_passing_verify(tmp_path: Path) -> None:
    done = subprocess.run(
        [EXE, "demo", "--workdir", str(tmp_path / "demo")],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    assert "verified: 0 missing, 0 differing" in out
    for bucket in ("demo-asset-images", "demo-images", "demo-videos"):
        assert bucket in out
    assert "X-Amz-Signature=" in out, "the private video bucket is offered through a signed URL"
    assert "demo-images (public URL):" in out
    assert "Traceback" not in done.stderr
    manifest = tmp_path / "demo" / "bucketshift.manifest.sqlite3"
    assert manifest.exists()
