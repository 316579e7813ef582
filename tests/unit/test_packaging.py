"""`pip install bucketshift` gives the migration tool, not the local stand-in servers or their web stack."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WEB_STACK = {"starlette", "uvicorn", "httptools", "pyjwt", "httpx", "fastapi", "moto", "bucketshift-sandbox"}


def _name(requirement: str) -> str:
    for mark in "[<>=!~; ":
        requirement = requirement.split(mark, 1)[0]
    return requirement.lower()


def test_runtime_dependencies_hold_no_web_stack() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    runtime = {_name(r) for r in project["dependencies"]}
    assert runtime & WEB_STACK == set()
    assert "bucketshift-sandbox" in {_name(r) for r in project["optional-dependencies"]["demo"]}


def test_the_wheel_carries_no_sandbox(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    tree.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, tree / name)
    shutil.copytree(ROOT / "src", tree / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    pip = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q"]
    built = subprocess.run(
        [*pip, "-w", str(tmp_path), str(tree)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stderr[-2000:]
    (wheel,) = tmp_path.glob("bucketshift-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert any(n.startswith("bucketshift/stores/") for n in names)
    assert not [n for n in names if "sandbox" in n]
    metadata = next(n for n in names if n.endswith("METADATA"))
    requires = [
        line.split(":", 1)[1].strip()
        for line in zipfile.ZipFile(wheel).read(metadata).decode().splitlines()
        if line.startswith("Requires-Dist:") and "extra ==" not in line
    ]
    assert requires
    assert {_name(r) for r in requires} & WEB_STACK == set()


def test_the_tool_runs_without_the_sandbox_and_the_demo_says_what_to_install() -> None:
    blocked = ["bucketshift_sandbox", "starlette", "uvicorn", "httptools", "jwt", "httpx", "moto"]
    code = (
        "import sys\n"
        f"for name in {blocked!r}: sys.modules[name] = None\n"
        "from bucketshift.cli.main import run\n"
        "run(sys.argv[1:])\n"
    )
    helped = subprocess.run([sys.executable, "-c", code, "--help"], capture_output=True, text=True, timeout=60)
    assert helped.returncode == 0, helped.stderr
    assert "copy" in helped.stdout
    demo = subprocess.run([sys.executable, "-c", code, "demo"], capture_output=True, text=True, timeout=60)
    assert demo.returncode == 2
    lines = demo.stderr.strip().splitlines()
    assert len(lines) == 1, demo.stderr
    assert "pip install 'bucketshift[demo]'" in lines[0]
