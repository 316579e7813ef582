"""deploy/: the image, the Kubernetes Job and the compose file run commands the real CLI accepts.

Every `bucketshift` command line the three files run is extracted and parsed by the CLI's own click
commands (so a renamed or invented flag fails here, not in a cluster), and the shape that keeps the
workers apart and the secrets out is checked as data: an Indexed Job with one shard per index, each
shard with its own manifest, secrets only by reference, a non-root image without test extras.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml

from bucketshift.cli.main import app
from bucketshift.engine.shard import parse_shard
from bucketshift.errors import UsageError

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
EXE = str(Path(sys.executable).with_name("bucketshift"))
SECRETS = ("SUPABASE_SERVICE_ROLE_KEY", "DATABASE_URL", "BUCKETSHIFT_STATE_DSN")
"""What the plan file and the shared state read from the environment: only ever by reference."""
SECRET_NAME = re.compile(r"KEY|SECRET|PASSWORD|TOKEN|DSN|DATABASE_URL", re.IGNORECASE)
LITERAL_SECRET = re.compile(
    r"postgres(?:ql)?://[^:/@\s]+:(?![$])[^@\s]+@"  # a DSN with a password that is not a ${VAR}/$(VAR)
    r"|eyJ[A-Za-z0-9_-]{10,}\.eyJ"  # a JWT (the legacy service role key)
    r"|sb_secret_[A-Za-z0-9_-]{8,}"
    r"|AKIA[0-9A-Z]{16}"
)
K8S_VAR = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")


def _read(name: str) -> str:
    return (DEPLOY / name).read_text(encoding="utf-8")


@dataclass(frozen=True)
class Invocation:
    """One `bucketshift` command line a deploy file runs: where it is, and its arguments after the program."""

    where: str
    argv: tuple[str, ...]


# The real CLI


def _commands() -> tuple[Any, typer.Context]:
    """The click group typer builds from the app (typer carries its own click, hence no click types here)."""
    group = typer.main.get_command(app)
    assert hasattr(group, "get_command"), group
    return group, typer.Context(group, info_name="bucketshift")


def _option_names(command: Any) -> set[str]:
    options = [p for p in command.params if p.param_type_name == "option"]
    return {name for p in options for name in (*p.opts, *p.secondary_opts)}


def cli_problems(invocations: list[Invocation]) -> list[str]:
    """Each command line's verb exists, each flag exists for that verb, and click parses the whole line."""
    group, root = _commands()
    problems = []
    for inv in invocations:
        if not inv.argv:
            problems.append(f"{inv.where}: runs bucketshift without a verb")
            continue
        verb, *args = inv.argv
        if verb.startswith("-"):
            if verb not in _option_names(group) | {"--help"}:
                problems.append(f"{inv.where}: bucketshift has no option {verb}")
            continue
        command = group.get_command(root, verb)
        if command is None:
            problems.append(f"{inv.where}: bucketshift has no command {verb!r}")
            continue
        known = _option_names(command) | {"--help"}
        flags = [a.split("=", 1)[0] for a in args if a.startswith("-")]
        unknown = [f for f in flags if f not in known]
        problems += [f"{inv.where}: `bucketshift {verb}` has no option {f}" for f in unknown]
        if unknown:
            continue
        try:
            command.make_context(verb, list(args), parent=root)
        except typer.TyperException as exc:  # click's usage errors, as typer ships them
            message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
            problems.append(f"{inv.where}: `bucketshift {verb}` refuses its arguments: {message}")
            continue
        shard = _shard(inv.argv)
        try:
            parse_shard(shard) if shard is not None else None
        except UsageError as exc:  # the command parses --shard itself, after click
            problems.append(f"{inv.where}: {exc.message}")
    return problems


# Dockerfile


def _instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, rest) per instruction, continuation lines joined, comments dropped."""
    joined = re.sub(r"\\\n", " ", "\n".join(ln for ln in text.splitlines() if not ln.lstrip().startswith("#")))
    out = []
    for line in joined.splitlines():
        if line.strip():
            word, _, rest = line.strip().partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def _exec_form(rest: str, where: str) -> list[str]:
    try:
        value = json.loads(rest)
    except json.JSONDecodeError:
        raise AssertionError(f"{where} is not in exec form (a JSON array): {rest}") from None
    assert isinstance(value, list), where
    return [str(v) for v in value]


def dockerfile_invocations(text: str) -> list[Invocation]:
    steps = _instructions(text)
    entry = [_exec_form(r, "ENTRYPOINT") for w, r in steps if w == "ENTRYPOINT"]
    cmd = [_exec_form(r, "CMD") for w, r in steps if w == "CMD"]
    assert entry, "no ENTRYPOINT"
    assert entry[-1] == ["bucketshift"], f'ENTRYPOINT must be ["bucketshift"], is {entry}'
    return [Invocation("Dockerfile CMD", tuple(cmd[-1] if cmd else []))] if cmd else []


def dockerfile_problems(text: str) -> list[str]:
    steps = _instructions(text)
    problems = []
    users = [r for w, r in steps if w == "USER"]
    if not users or users[-1].split(":", 1)[0] in ("root", "0"):
        problems.append(f"the image runs as root (last USER: {users[-1] if users else 'none'})")
    runs = " ".join(r for w, r in steps if w == "RUN")
    if not re.search(r"pip install (?:[^&;]*\s)?\.(?:\s|$)", runs):
        problems.append("the image does not `pip install .` from the repository")
    if re.search(r"\[[^\]]*\b(test|demo)\b[^\]]*\]|sandbox", runs):
        problems.append("the image installs test/demo extras or the sandbox")
    for word, rest in steps:
        if word in ("ENV", "ARG") and SECRET_NAME.search(rest):
            problems.append(f"{word} {rest}: a secret is baked into the image")
        if word == "FROM" and not re.match(r"python:3\.(1[1-9])[.-].*slim", rest.split()[0]):
            problems.append(f"FROM {rest}: not a slim Python 3.11+ base")
    problems += [f"Dockerfile: a literal secret: {m.group(0)[:12]}..." for m in LITERAL_SECRET.finditer(text)]
    return problems


# Kubernetes Job


def _job(text: str) -> dict[str, Any]:
    jobs = [d for d in yaml.safe_load_all(text) if d and d.get("kind") == "Job"]
    assert len(jobs) == 1, f"one Job expected, found {len(jobs)}"
    return jobs[0]


def _containers(job: dict[str, Any]) -> Iterator[dict[str, Any]]:
    pod = job["spec"]["template"]["spec"]
    yield from pod.get("initContainers") or []
    yield from pod.get("containers") or []


def _shard(argv: tuple[str, ...] | list[str]) -> str | None:
    for i, a in enumerate(argv):
        if a == "--shard" and i + 1 < len(argv):
            return argv[i + 1]
        if a.startswith("--shard="):
            return a.split("=", 1)[1]
    return None


def job_invocations(text: str) -> list[Invocation]:
    """Each container's args with $(VAR) expanded as the kubelet would, once per completion index."""
    job = _job(text)
    indexes = range(int(job["spec"].get("completions") or 1))
    out = []
    for c in _containers(job):
        assert c.get("command") in (None, ["bucketshift"]), f"{c['name']}: command {c.get('command')}"
        for k in indexes:

            def expand(m: re.Match[str], k: int = k) -> str:
                return str(k) if m.group(1) == "JOB_COMPLETION_INDEX" else f"<{m.group(1)}>"

            argv = tuple(K8S_VAR.sub(expand, str(a)) for a in c.get("args") or [])
            out.append(Invocation(f"job.yaml {c['name']} index {k}", argv))
    return out


def job_problems(text: str) -> list[str]:
    job = _job(text)
    spec, pod = job["spec"], job["spec"]["template"]["spec"]
    problems = []
    if spec.get("completionMode") != "Indexed":
        problems.append("the Job is not Indexed (completionMode)")
    n = spec.get("completions")
    if not isinstance(n, int) or n < 1 or spec.get("parallelism") != n:
        problems.append(f"completions ({n}) and parallelism ({spec.get('parallelism')}) must be the same N")
    if not isinstance(spec.get("backoffLimit"), int):
        problems.append("no backoffLimit")
    if pod.get("restartPolicy") != "OnFailure":
        problems.append(f"restartPolicy is {pod.get('restartPolicy')}, not OnFailure")
    if not (pod.get("securityContext") or {}).get("runAsNonRoot"):
        problems.append("the pod does not require runAsNonRoot")
    if not any("configMap" in v for v in pod.get("volumes") or []):
        problems.append("the plan file is not mounted from a ConfigMap")
    for c in _containers(job):
        name, args = c["name"], [str(a) for a in c.get("args") or []]
        env = {e["name"]: e for e in c.get("env") or []}
        for var in K8S_VAR.findall(" ".join(args)):
            if var not in env and var != "JOB_COMPLETION_INDEX":
                problems.append(f"{name}: $({var}) is not in the container's env, the kubelet passes it literally")
        if _shard(args) != f"$(JOB_COMPLETION_INDEX)/{n}":
            problems.append(f"{name}: --shard is {_shard(args)}, not $(JOB_COMPLETION_INDEX)/{n}")
        state = [a for a in args if a.startswith("--state")]
        if not state or "$(JOB_COMPLETION_INDEX)" not in state[0]:
            problems.append(f"{name}: the shards share one manifest (--state without the completion index)")
        for var, entry in env.items():
            if var.startswith("AWS_") and SECRET_NAME.search(var):
                problems.append(f"{name}: {var} in env: AWS access comes from the service account, not keys")
            elif SECRET_NAME.search(var) and "secretKeyRef" not in (entry.get("valueFrom") or {}):
                problems.append(f"{name}: {var} is not taken from a Secret (secretKeyRef)")
        problems += [f"{name}: {s} is not in env from a Secret" for s in SECRETS if s not in env]
        limits = c.get("resources") or {}
        if not (limits.get("requests") and limits.get("limits")):
            problems.append(f"{name}: no resources requests and limits")
    problems += [f"job.yaml: a literal secret: {m.group(0)[:12]}..." for m in LITERAL_SECRET.finditer(text)]
    return problems


# Compose


def _workers(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: s for name, s in doc["services"].items() if "bucketshift" in str(s.get("image", ""))}


def compose_invocations(text: str) -> list[Invocation]:
    out = []
    for name, service in _workers(yaml.safe_load(text)).items():
        command = service.get("command")
        argv = shlex.split(command) if isinstance(command, str) else [str(a) for a in command or []]
        out.append(Invocation(f"compose.yaml {name}", tuple(argv)))
    return out


def compose_problems(text: str) -> list[str]:
    doc = yaml.safe_load(text)
    workers = _workers(doc)
    problems = []
    shards = sorted(s for inv in compose_invocations(text) if (s := _shard(inv.argv)))
    n = len(workers)
    if shards != [f"{k}/{n}" for k in range(n)]:
        problems.append(f"the {n} workers' shards are {shards}, not 0/{n} .. {n - 1}/{n}")
    states = [next((a for a in inv.argv if a.startswith("--state")), None) for inv in compose_invocations(text)]
    if None in states or len(set(states)) != len(states):
        problems.append(f"the workers do not each have their own manifest: {states}")
    if not any("postgres" in str(s.get("image", "")) for s in doc["services"].values()):
        problems.append("no PostgreSQL service for the state")
    for name, service in doc["services"].items():
        env = service.get("environment") or {}
        pairs = [e.split("=", 1) if "=" in e else [e, None] for e in env] if isinstance(env, list) else env.items()
        for var, value in pairs:
            if SECRET_NAME.search(var) and value is not None and "${" not in str(value):
                problems.append(f"{name}: {var} has a literal value; pass it through from the shell")
    problems += [f"compose.yaml: a literal secret: {m.group(0)[:12]}..." for m in LITERAL_SECRET.finditer(text)]
    return problems


def all_invocations() -> list[Invocation]:
    return (
        dockerfile_invocations(_read("Dockerfile"))
        + job_invocations(_read("kubernetes/job.yaml"))
        + compose_invocations(_read("compose.yaml"))
    )


# The files as they are


def test_every_command_the_deploy_files_run_exists_with_those_flags() -> None:
    invocations = all_invocations()
    where = {inv.where.split()[0] for inv in invocations}
    assert where == {"Dockerfile", "job.yaml", "compose.yaml"}, where
    assert len([i for i in invocations if i.argv[:1] == ("copy",)]) == 3 + 3, invocations
    assert cli_problems(invocations) == []


def test_the_job_is_indexed_with_a_shard_and_a_manifest_per_index_and_secrets_by_reference() -> None:
    text = _read("kubernetes/job.yaml")
    assert job_problems(text) == []
    argvs = [inv.argv for inv in job_invocations(text)]
    assert [_shard(a) for a in argvs] == ["0/3", "1/3", "2/3"]
    assert len({a for argv in argvs for a in argv if a.startswith("--state")}) == 3


def test_the_job_verified_per_shard_as_the_readme_says_uses_flags_verify_has() -> None:
    text = _read("kubernetes/job.yaml").replace("args: [copy,", "args: [verify,")
    assert "args: [verify," in text
    assert cli_problems(job_invocations(text)) == []


def test_the_compose_file_runs_three_shards_and_a_state_database_without_secrets() -> None:
    assert compose_problems(_read("compose.yaml")) == []


def test_the_image_runs_the_cli_as_a_user_without_test_extras() -> None:
    assert dockerfile_problems(_read("Dockerfile")) == []


def test_the_installed_console_script_offers_every_flag_the_deploy_files_pass() -> None:
    verbs: dict[str, set[str]] = {}
    for inv in all_invocations():
        if inv.argv and not inv.argv[0].startswith("-"):
            verbs.setdefault(inv.argv[0], set()).update(a.split("=", 1)[0] for a in inv.argv[1:] if a[:1] == "-")
    for verb, flags in verbs.items():
        helped = subprocess.run([EXE, verb, "--help"], capture_output=True, text=True, timeout=60)
        assert helped.returncode == 0, helped.stderr
        offered = set(re.findall(r"(?<![\w-])--?[a-z][\w-]*", helped.stdout))
        assert flags <= offered, (verb, flags - offered)


def test_the_documented_switch_to_the_shared_state_is_one_line_the_cli_accepts() -> None:
    for name, key in (("kubernetes/job.yaml", "args"), ("compose.yaml", "command")):
        lines = [ln.strip()[1:] for ln in _read(name).splitlines() if re.match(rf"\s*#\s+{key}: \[", ln)]
        assert len(lines) == 1, (name, lines)
        argv = tuple(K8S_VAR.sub(r"<\1>", str(a)) for a in yaml.safe_load(lines[0])[key])
        assert "--shard" not in " ".join(argv), argv
        assert any(a.startswith("--state=") for a in argv), argv
        assert cli_problems([Invocation(name, argv)]) == []


# The checks fail where they should


@pytest.mark.parametrize(
    ("name", "old", "new", "expected"),
    [
        ("kubernetes/job.yaml", "args: [copy,", "args: [copy, --turbo,", "`bucketshift copy` has no option --turbo"),
        ("kubernetes/job.yaml", "--shard=", "--shards=", "`bucketshift copy` has no option --shards"),
        ("kubernetes/job.yaml", "args: [copy,", "args: [cpy,", "bucketshift has no command 'cpy'"),
        ("compose.yaml", "--shard=1/3,", "--shard=1/3, --max-workers=3,", "has no option --max-workers"),
        ("compose.yaml", "[copy, --config", "[copy, --concurrency=0, --config", "refuses its arguments"),
        ("compose.yaml", "--shard=2/3", "--shard=3/3", "--shard '3/3': give K/N"),
        ("Dockerfile", 'CMD ["--help"]', 'CMD ["--helpme"]', "bucketshift has no option --helpme"),
    ],
)
def test_an_invented_flag_or_verb_is_caught(name: str, old: str, new: str, expected: str) -> None:
    text = _read(name)
    assert old in text
    broken = text.replace(old, new)
    extract = {"kubernetes/job.yaml": job_invocations, "compose.yaml": compose_invocations}.get(
        name, dockerfile_invocations
    )
    problems = cli_problems(extract(broken))
    assert any(expected in p for p in problems), problems


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("completionMode: Indexed", "completionMode: NonIndexed", "not Indexed"),
        ("parallelism: 3", "parallelism: 2", "must be the same N"),
        ("restartPolicy: OnFailure", "restartPolicy: Never", "not OnFailure"),
        ("backoffLimit: 6", "activeDeadlineSeconds: 6", "no backoffLimit"),
        ("$(JOB_COMPLETION_INDEX)/3", "$(JOB_COMPLETION_INDEX)/4", "not $(JOB_COMPLETION_INDEX)/3"),
        ("--state=/state/manifest-$(JOB_COMPLETION_INDEX)", "--state=/state/manifest", "share one manifest"),
        ("$(JOB_COMPLETION_INDEX).sqlite3", "$(JOB_INDEX).sqlite3", "$(JOB_INDEX) is not in the container's env"),
        ("runAsNonRoot: true", "runAsNonRoot: false", "runAsNonRoot"),
        ("configMap:\n            name", "secret:\n            name", "ConfigMap"),
        ("requests:\n              cpu", "wanted:\n              cpu", "no resources requests and limits"),
        (
            "            - name: DATABASE_URL\n              valueFrom:\n                secretKeyRef:\n"
            "                  name: bucketshift\n                  key: DATABASE_URL\n",
            "            - name: DATABASE_URL\n              value: postgresql://app:hunter22@db:5432/app\n",
            "DATABASE_URL is not taken from a Secret",
        ),
        (
            "          env:\n",
            "          env:\n            - name: AWS_SECRET_ACCESS_KEY\n              value: x\n",
            "AWS_",
        ),
    ],
)
def test_the_job_checker_catches_each_mistake(old: str, new: str, expected: str) -> None:
    text = _read("kubernetes/job.yaml")
    assert old in text
    problems = job_problems(text.replace(old, new))
    assert any(expected in p for p in problems), problems


def test_a_literal_dsn_password_is_caught_in_compose_and_the_shards_must_cover_0_to_n() -> None:
    text = _read("compose.yaml")
    leaked = text.replace("${STATE_DB_PASSWORD:?set STATE_DB_PASSWORD}@state", "s3cret-pw@state")
    assert leaked != text
    assert any("literal secret" in p for p in compose_problems(leaked))
    gap = text.replace("--shard=2/3", "--shard=1/3")
    assert any("not 0/3 .. 2/3" in p for p in compose_problems(gap))
    shared = text.replace("manifest-2.sqlite3", "manifest-1.sqlite3")
    assert any("their own manifest" in p for p in compose_problems(shared))
    literal = text.replace("    - DATABASE_URL\n", "    - DATABASE_URL=anything\n")
    assert any("DATABASE_URL has a literal value" in p for p in compose_problems(literal))


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("USER 10001:10001", "USER root", "runs as root"),
        ("USER 10001:10001\n", "", "runs as root"),
        ("bin/pip install .", "bin/pip install '.[test]'", "test/demo extras"),
        ("bin/pip install .", "bin/pip install -e ./sandbox .", "sandbox"),
        ("bin/pip install .", "bin/pip install bucketshift", "does not `pip install .`"),
        ("ENV PATH=", "ENV SUPABASE_SERVICE_ROLE_KEY=abc PATH=", "baked into the image"),
        ("FROM python:3.12-slim-bookworm AS build", "FROM python:3.10-slim AS build", "not a slim Python 3.11+"),
    ],
)
def test_the_dockerfile_checker_catches_each_mistake(old: str, new: str, expected: str) -> None:
    text = _read("Dockerfile")
    assert old in text
    problems = dockerfile_problems(text.replace(old, new, 1))
    assert any(expected in p for p in problems), problems


def test_an_entrypoint_other_than_the_cli_is_refused() -> None:
    text = _read("Dockerfile").replace('ENTRYPOINT ["bucketshift"]', 'ENTRYPOINT ["sh", "-c"]')
    with pytest.raises(AssertionError, match="ENTRYPOINT must be"):
        dockerfile_invocations(text)
