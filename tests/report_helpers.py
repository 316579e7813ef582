"""Opening a report page in headless Chromium (Debian's `chromium`), shared by the report tests."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from tests.unit.report_dom import Page, read_page

CHROMIUM_TIMEOUT = 60


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    assert found, "headless Chromium is needed for the report test: apt-get install chromium (Debian's package)"
    return found


def browse(page: Path, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # Without the background-networking switches Chromium tries Google's hosts at every start, and this
    # machine's closed network refuses them.
    command = [chromium(), "--headless", "--disable-gpu", "--no-sandbox", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               f"--user-data-dir={profile}", "--window-size=1366,768", *args, page.resolve().as_uri()]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, timeout=CHROMIUM_TIMEOUT, check=False)


def dom_of(page: Path, profile: Path) -> Page:
    """The document as Chromium built it from the file (a malformed page would not survive this)."""
    result = browse(page, profile, "--dump-dom")
    assert result.returncode == 0, result.stderr[-2000:]
    return read_page(result.stdout)
