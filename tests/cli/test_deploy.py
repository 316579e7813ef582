"""deploy/: the image, the Kubernetes Job, the compose file and their README run commands the real CLI accepts.

Every `bucketshift` command line the files run is extracted and parsed by the CLI's own click commands
(so a renamed or invented flag fails here, not in a cluster), with the environment each runs in, so
the `--state` a worker really gets (a flag, or the variable the CLI reads for it) is known. The shape
that makes N workers one run and keeps the secrets out is checked as data: an Indexed Job whose pods
all run the same copy on a PostgreSQL state taken from a Secret, compose replicas that wait for a
healthy state database, secrets only by reference, a non-root image without test extras. The static
shards without PostgreSQL stay documented as one line to change, and that line is checked too.
"""

from __future__ import annotations

import functools
import json
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml

from bucketshift.cli.main import app
from bucketshift.engine.shard import parse_shard
from bucketshift.engine.state import is_dsn
from bucketshift.errors import UsageError

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
EXE = str(Path(sys.executable).with_name("bucketshift"))
SECRETS = ("SUPABASE_SERVICE_ROLE_KEY", "DATABASE_URL")
"""What the plan file reads from the environment: only ever by reference."""
SECRET_NAME = re.compile(r"KEY|SECRET|PASSWORD|TOKEN|DSN|DATABASE_URL|BUCKETSHIFT_STATE", re.IGNORECASE)
LITERAL_SECRET = re.compile(
    r"postgres(?:ql)?://[^:/@\s]+:(?![$])[^@\s]+@"  # a DSN with a password that is not a ${VAR}/$(VAR)
    r"|eyJ[A-Za-z0-9_-]{10,}\.eyJ"  # a JWT (the legacy service role key)
    r"|sb_secret_[A-Za-z0-9_-]{8,}"
    r"|AKIA[0-9A-Z]{16}"
)
K8S_VAR = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")
SECRET_REF = re.compile(r"<secret ([^/>]+)/([^>]+)>")
"""How a value taken from a Kubernetes Secret reads once resolved here: `<secret NAME/KEY>`."""


def _read(name: str) -> str:
    return (DEPLOY / name).read_text(encoding="utf-8")


@dataclass(frozen=True)
class Invocation:
    """One `bucketshift` command line a deploy file runs: where, its arguments after the program, and
    the environment it runs in (values as written, a Secret's as `<secret NAME/KEY>`)."""

    where: str
    argv: tuple[str, ...]
    env: Mapping[str, str] = field(default_factory=dict)


# The real CLI


@functools.cache
def _commands() -> tuple[Any, typer.Context]:
    """The click group typer builds from the app, built once (typer carries its own click, hence no click types)."""
    group = typer.main.get_command(app)
    assert hasattr(group, "get_command"), group
    return group, typer.Context(group, info_name="bucketshift")


def _option_names(command: Any) -> set[str]:
    options = [p for p in command.params if p.param_type_name == "option"]
    return {name for p in options for name in (*p.opts, *p.secondary_opts)}


def _flag(argv: tuple[str, ...] | list[str], name: str) -> str | None:
    """The value of `name` in argv (`--x v` or `--x=v`), None when absent."""
    for i, a in enumerate(argv):
        if a == name and i + 1 < len(argv):
            return argv[i + 1]
        if a.startswith(f"{name}="):
            return a.split("=", 1)[1]
    return None


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
        shard = _flag(inv.argv, "--shard")
        try:
            parse_shard(shard) if shard is not None else None
        except UsageError as exc:  # the command parses --shard itself, after click
            problems.append(f"{inv.where}: {exc.message}")
    return problems


def resolved_state(inv: Invocation) -> str | None:
    """The `--state` this command line gets: the flag, else the environment variable the CLI itself
    reads for it (asked of the command, so a renamed variable fails here), else None (the default file)."""
    given = _flag(inv.argv, "--state")
    if given is not None:
        return given
    group, root = _commands()
    command = group.get_command(root, inv.argv[0]) if inv.argv else None
    option = next((p for p in getattr(command, "params", []) if "--state" in getattr(p, "opts", [])), None)
    if option is None or not option.envvar:
        return None
    names = [option.envvar] if isinstance(option.envvar, str) else list(option.envvar)
    return next((inv.env[n] for n in names if n in inv.env), None)


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


def _k8s_env(container: dict[str, Any]) -> dict[str, str]:
    """The container's environment as this test names it: a value as written, a Secret's as `<secret NAME/KEY>`."""
    env = {}
    for entry in container.get("env") or []:
        ref = (entry.get("valueFrom") or {}).get("secretKeyRef")
        env[entry["name"]] = f"<secret {ref['name']}/{ref['key']}>" if ref else str(entry.get("value", "<other>"))
    return env


def job_invocations(text: str) -> list[Invocation]:
    """Each container's args with $(VAR) expanded as the kubelet would, once per completion index."""
    job = _job(text)
    indexes = range(int(job["spec"].get("completions") or 1))
    out = []
    for c in _containers(job):
        assert c.get("command") in (None, ["bucketshift"]), f"{c['name']}: command {c.get('command')}"
        for k in indexes:
            env = {**_k8s_env(c), "JOB_COMPLETION_INDEX": str(k)}

            def expand(m: re.Match[str], env: dict[str, str] = env) -> str:
                return env.get(m.group(1), m.group(0))

            argv = tuple(K8S_VAR.sub(expand, str(a)) for a in c.get("args") or [])
            out.append(Invocation(f"job.yaml {c['name']} index {k}", argv, env))
    return out


def _pod_problems(job: dict[str, Any]) -> list[str]:
    """What holds for any worker Job: restarts, non-root, seccomp, read-only, secrets by reference, no AWS keys."""
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
    context = pod.get("securityContext") or {}
    if not context.get("runAsNonRoot"):
        problems.append("the pod does not require runAsNonRoot")
    if (context.get("seccompProfile") or {}).get("type") != "RuntimeDefault":
        problems.append("the pod has no RuntimeDefault seccompProfile")
    if not any("configMap" in v for v in pod.get("volumes") or []):
        problems.append("the plan file is not mounted from a ConfigMap")
    for c in _containers(job):
        name, args = c["name"], [str(a) for a in c.get("args") or []]
        env = {e["name"]: e for e in c.get("env") or []}
        for var in K8S_VAR.findall(" ".join(args)):
            if var not in env and var != "JOB_COMPLETION_INDEX":
                problems.append(f"{name}: $({var}) is not in the container's env, the kubelet passes it literally")
        for var, entry in env.items():
            if var.startswith("AWS_") and SECRET_NAME.search(var):
                problems.append(f"{name}: {var} in env: AWS access comes from the service account, not keys")
            elif SECRET_NAME.search(var) and "secretKeyRef" not in (entry.get("valueFrom") or {}):
                problems.append(f"{name}: {var} is not taken from a Secret (secretKeyRef)")
        problems += [f"{name}: {s} is not in env from a Secret" for s in SECRETS if s not in env]
        hardened = c.get("securityContext") or {}
        if not hardened.get("readOnlyRootFilesystem") or hardened.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{name}: the root filesystem is writable or privilege escalation allowed")
        limits = c.get("resources") or {}
        if not (limits.get("requests") and limits.get("limits")):
            problems.append(f"{name}: no resources requests and limits")
    return problems


def job_problems(text: str) -> list[str]:
    """The shared-state Job: every pod the same copy, on a PostgreSQL state from a Secret that is not the
    project's own database, no volume for manifests."""
    job = _job(text)
    problems = _pod_problems(job)
    invocations = job_invocations(text)
    if len({inv.argv for inv in invocations}) > 1:
        problems.append("the pods run different commands: a shared run refuses workers with other options")
    for inv in invocations[:1]:
        if _flag(inv.argv, "--shard") is not None:
            problems.append(f"{inv.where}: --shard on the shared state: the run would copy one shard only")
        state = resolved_state(inv) or "the default file"
        ref = SECRET_REF.fullmatch(state)
        if ref is None:
            problems.append(f"{inv.where}: the state is {state}, not a PostgreSQL DSN from a Secret")
        elif ref.group(2) in SECRETS:
            problems.append(f"{inv.where}: the state is {ref.group(2)}, the Supabase project's own database")
    kinds = [d.get("kind") for d in yaml.safe_load_all(text) if d]
    if "PersistentVolumeClaim" in kinds or any(
        "persistentVolumeClaim" in v for v in job["spec"]["template"]["spec"].get("volumes") or []
    ):
        problems.append("a volume for manifests: the shared state needs none")
    problems += [f"job.yaml: a literal secret: {m.group(0)[:12]}..." for m in LITERAL_SECRET.finditer(text)]
    return problems


STATIC_ARGS = re.compile(r"^#\s+(args: \[.*--shard.*\])\s*$", re.MULTILINE)


def static_job(text: str) -> str:
    """job.yaml with its one commented static-shard `args:` line in place of the shared-state one."""
    found = STATIC_ARGS.findall(text)
    assert len(found) == 1, f"one commented static-shard args line expected, found {found}"
    live = re.findall(r"^(\s+)args: \[.*\]$", text, re.MULTILINE)
    assert len(live) == 1, live
    return re.sub(r"^(\s+)args: \[.*\]$", lambda m: m.group(1) + found[0], text, count=1, flags=re.MULTILINE)


def static_job_problems(text: str) -> list[str]:
    """Static shards: index K copies shard K/N (N = completions) with a SQLite manifest of its own."""
    job = _job(text)
    problems = _pod_problems(job)
    n = job["spec"].get("completions")
    invocations = job_invocations(text)
    shards = [_flag(inv.argv, "--shard") for inv in invocations]
    if shards != [f"{k}/{n}" for k in range(len(invocations))]:
        problems.append(f"the indexes' shards are {shards}, not 0/{n} .. {n - 1}/{n}")
    states = [resolved_state(inv) for inv in invocations]
    if any(s is None or is_dsn(s) for s in states) or len(set(states)) != len(states):
        problems.append(f"the shards do not each have a manifest file of their own: {states}")
    return problems


# Compose


def _workers(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: s for name, s in doc["services"].items() if "bucketshift" in str(s.get("image", ""))}


def _compose_env(service: dict[str, Any]) -> dict[str, str]:
    """The service's environment: a bare name (passed through from the shell) as `<shell NAME>`."""
    env = service.get("environment") or {}
    pairs = [e.split("=", 1) if "=" in e else [e, None] for e in env] if isinstance(env, list) else env.items()
    return {str(k): f"<shell {k}>" if v is None else str(v) for k, v in pairs}


def _compose_argv(command: Any) -> tuple[str, ...]:
    return tuple(shlex.split(command) if isinstance(command, str) else [str(a) for a in command or []])


def _replicas(service: dict[str, Any]) -> int:
    return int((service.get("deploy") or {}).get("replicas", 1))


def compose_invocations(text: str) -> list[Invocation]:
    """One per running container: a service with `deploy.replicas: 3` runs its command three times."""
    out = []
    for name, service in _workers(yaml.safe_load(text)).items():
        for r in range(_replicas(service)):
            argv = _compose_argv(service.get("command"))
            out.append(Invocation(f"compose.yaml {name} replica {r}", argv, _compose_env(service)))
    return out


def _pg_ready_services(doc: dict[str, Any]) -> set[str]:
    """The PostgreSQL services with a pg_isready healthcheck."""
    ready = set()
    for name, service in doc["services"].items():
        check = (service.get("healthcheck") or {}).get("test") or []
        if "postgres" in str(service.get("image", "")) and "pg_isready" in " ".join(map(str, check)):
            ready.add(name)
    return ready


def _dsn_host(dsn: str) -> str:
    """The host of a DSN whose password may be a `${VAR:?message}` (urlsplit would stop at its `?`)."""
    return re.split(r"[:/]", dsn.rsplit("@", 1)[-1], maxsplit=1)[0]


def compose_problems(text: str) -> list[str]:
    """N workers (N >= 2) on one PostgreSQL state service they wait for; no literal secret."""
    doc = yaml.safe_load(text)
    workers = _workers(doc)
    invocations = compose_invocations(text)
    problems = []
    if len(invocations) < 2:
        problems.append(f"{len(invocations)} worker(s): the file is there to run several")
    ready = _pg_ready_services(doc)
    states = {resolved_state(inv) for inv in invocations}
    if len(states) != 1:
        problems.append(f"the workers do not share one state: {sorted(map(str, states))}")
    for inv in invocations:
        state = resolved_state(inv)
        host = _dsn_host(state) if state and is_dsn(state) else None
        if host not in ready:
            problems.append(
                f"{inv.where}: the state is {state}, not a PostgreSQL service with a pg_isready healthcheck"
            )
        if _flag(inv.argv, "--shard") is not None:
            problems.append(f"{inv.where}: --shard on the shared state: the run would copy one shard only")
    for name, service in workers.items():
        depends = service.get("depends_on") or {}
        healthy = (
            {s for s, c in depends.items() if (c or {}).get("condition") == "service_healthy"}
            if isinstance(depends, dict)
            else set()
        )
        if not ready & healthy:
            problems.append(f"{name}: does not wait for the state to be healthy (depends_on: service_healthy)")
    for name, service in doc["services"].items():
        for var, value in _compose_env(service).items():
            if SECRET_NAME.search(var) and not value.startswith("<shell") and "${" not in value:
                problems.append(f"{name}: {var} has a literal value; pass it through from the shell")
    problems += [f"compose.yaml: a literal secret: {m.group(0)[:12]}..." for m in LITERAL_SECRET.finditer(text)]
    return problems


STATIC_COMMAND = re.compile(r"^#\s+(command: \[.*--shard.*\])\s*$", re.MULTILINE)


def static_compose_invocations(text: str) -> list[Invocation]:
    """The documented static-shard command, worker K for K in 0..N-1, N being the shared file's workers."""
    found = STATIC_COMMAND.findall(text)
    assert len(found) == 1, f"one commented static-shard command line expected, found {found}"
    line, n = found[0], len(compose_invocations(text))
    return [
        Invocation(
            f"compose.yaml static worker {k}", _compose_argv(yaml.safe_load(re.sub(r"\bK\b", str(k), line))["command"])
        )
        for k in range(n)
    ]


def static_compose_problems(text: str) -> list[str]:
    invocations = static_compose_invocations(text)
    n = len(invocations)
    problems = cli_problems(invocations)
    shards = [_flag(inv.argv, "--shard") for inv in invocations]
    if n < 2 or shards != [f"{k}/{n}" for k in range(n)]:
        problems.append(f"the static workers' shards are {shards}, not 0/{n} .. {n - 1}/{n}")
    states = [resolved_state(inv) for inv in invocations]
    if any(s is None or is_dsn(s) for s in states) or len(set(states)) != n:
        problems.append(f"the static workers do not each have a manifest file of their own: {states}")
    return problems


# README


def _shell_lines(text: str) -> list[str]:
    """Each command line of the README's ```sh blocks, continuation lines joined."""
    blocks = re.findall(r"^```sh\n(.*?)^```", text, re.MULTILINE | re.DOTALL)
    return [ln.strip() for block in blocks for ln in re.sub(r"\\\n\s*", " ", block).splitlines() if ln.strip()]


def readme_invocations(text: str, job: str, compose: str) -> list[Invocation]:
    """The `bucketshift` the README runs, with the environment it runs in: on your shell (its `VAR=value`
    prefix), in a compose worker (`docker compose run ... worker`), in a Job pod (`kubectl exec job/...
    -- bucketshift`) or in the image (`docker run ... bucketshift:TAG`)."""
    worker_env = {inv.where.split()[1]: inv.env for inv in compose_invocations(compose)}
    pod_env = next(iter(job_invocations(job))).env
    out = []
    for line in _shell_lines(text):
        words = shlex.split(line, comments=True)
        env = {}
        while words and re.fullmatch(r"[A-Z_][A-Z0-9_]*=.*", words[0]):
            name, _, value = words.pop(0).partition("=")
            env[name] = value
        argv: list[str] | None = None
        if words[:1] == ["bucketshift"]:
            argv = words[1:]
        elif (
            words[:1] == ["kubectl"]
            and "--" in words
            and words[words.index("--") + 1 : words.index("--") + 2] == ["bucketshift"]
        ):
            argv, env = words[words.index("--") + 2 :], {**pod_env, **env}
        elif words[:2] == ["docker", "compose"] and "run" in words:
            rest = [w for w in words[words.index("run") + 1 :]]
            while rest and rest[0].startswith("-"):
                rest.pop(0)
            service, argv = rest[0], rest[1:]
            env = {**worker_env.get(service, {}), **env}
        elif words[:2] == ["docker", "run"]:
            rest = words[2:]
            while rest and rest[0].startswith("-"):
                rest.pop(0)
            if rest and rest[0].startswith("bucketshift:"):
                argv = rest[1:]
        if argv is not None:
            out.append(Invocation(f"README: {line[:60]}", tuple(argv), env))
    return out


def readme_problems(text: str, job: str, compose: str) -> list[str]:
    """Every command the README runs exists with those flags, and every `status`/`verify` it runs reads
    the shared state (a DSN or a reference to one), not a file of its own."""
    invocations = readme_invocations(text, job, compose)
    problems = cli_problems(invocations)
    for inv in invocations:
        if inv.argv[:1] not in (("status",), ("verify",)):
            continue
        state = resolved_state(inv)
        if state is None or not (is_dsn(state) or SECRET_REF.fullmatch(state) or state.startswith("$")):
            problems.append(f"{inv.where}: `{inv.argv[0]}` reads {state or 'the default file'}, not the shared state")
    return problems


def readme_verify_job(text: str, job: str) -> str:
    """The Job the README's `sed ... job.yaml | kubectl apply` makes, made here by the same sed."""
    lines = [ln for ln in _shell_lines(text) if ln.startswith("sed ") and "kubectl apply" in ln]
    assert len(lines) == 1, lines
    words = shlex.split(lines[0].split("|", 1)[0])
    assert words[-1] == "deploy/kubernetes/job.yaml", words
    sed = shutil.which("sed")
    assert sed is not None, "sed is needed to run the README's command"
    made = subprocess.run([sed, *words[1:-1]], input=job, capture_output=True, text=True, timeout=10, check=True)
    return made.stdout


def verify_job_problems(text: str) -> list[str]:
    """One pod verifies the whole run, from the same state the copy used."""
    job = _job(text)
    spec = job["spec"]
    problems = []
    if job["metadata"]["name"] == "bucketshift-copy":
        problems.append("the verify Job keeps the copy Job's name: kubectl apply would change the copy Job")
    if spec.get("completions") != 1 or spec.get("parallelism") != 1:
        problems.append(f"verify runs {spec.get('completions')} times: one verify reads the whole run")
    invocations = job_invocations(text)
    problems += cli_problems(invocations)
    for inv in invocations:
        if inv.argv[:1] != ("verify",):
            problems.append(f"{inv.where}: runs {inv.argv[:1]}, not verify")
        if not SECRET_REF.fullmatch(resolved_state(inv) or ""):
            problems.append(f"{inv.where}: verify does not read the shared state")
    return problems


def all_invocations() -> list[Invocation]:
    job, compose = _read("kubernetes/job.yaml"), _read("compose.yaml")
    return (
        dockerfile_invocations(_read("Dockerfile"))
        + job_invocations(job)
        + compose_invocations(compose)
        + readme_invocations(_read("README.md"), job, compose)
    )


# The files as they are


def test_every_command_the_deploy_files_run_exists_with_those_flags() -> None:
    invocations = all_invocations()
    where = {inv.where.split()[0] for inv in invocations}
    assert where == {"Dockerfile", "job.yaml", "compose.yaml", "README:"}, where
    copies = [i for i in invocations if i.argv[:1] == ("copy",)]
    assert len(copies) == 4 + 3, copies
    assert {i.argv[0] for i in invocations if i.where.startswith("README")} >= {"status", "verify", "--version"}
    assert cli_problems(invocations) == []


def test_the_job_runs_n_identical_workers_on_the_shared_state_from_a_secret() -> None:
    text = _read("kubernetes/job.yaml")
    assert job_problems(text) == []
    invocations = job_invocations(text)
    assert len(invocations) == 4
    assert {inv.argv for inv in invocations} == {("copy", "--config=/plan/bucketshift.toml")}
    assert {resolved_state(inv) for inv in invocations} == {"<secret bucketshift/BUCKETSHIFT_STATE_DSN>"}


def test_the_state_variable_the_files_set_is_the_one_the_cli_reads_for_state() -> None:
    """Asked of the CLI itself: a renamed variable leaves the workers on the default SQLite file."""
    inv = job_invocations(_read("kubernetes/job.yaml"))[0]
    renamed = Invocation(
        inv.where, inv.argv, {("OTHER_STATE" if k == "BUCKETSHIFT_STATE" else k): v for k, v in inv.env.items()}
    )
    assert resolved_state(renamed) is None
    flagged = Invocation(inv.where, (*inv.argv, "--state=/tmp/m.sqlite3"), inv.env)
    assert resolved_state(flagged) == "/tmp/m.sqlite3"  # the flag wins over the variable, as in click


def test_the_readme_verifies_once_with_a_one_pod_job_on_the_same_state() -> None:
    job = readme_verify_job(_read("README.md"), _read("kubernetes/job.yaml"))
    assert verify_job_problems(job) == []
    assert [inv.argv for inv in job_invocations(job)] == [("verify", "--config=/plan/bucketshift.toml")]


def test_the_compose_file_runs_replicas_on_a_healthy_state_database_without_secrets() -> None:
    text = _read("compose.yaml")
    assert compose_problems(text) == []
    states = {resolved_state(inv) for inv in compose_invocations(text)}
    assert len(compose_invocations(text)) == 3
    assert states == {"postgresql://bucketshift:${STATE_DB_PASSWORD:?set STATE_DB_PASSWORD}@state:5432/bucketshift"}


def test_the_readme_runs_status_and_verify_on_the_shared_state() -> None:
    assert readme_problems(_read("README.md"), _read("kubernetes/job.yaml"), _read("compose.yaml")) == []


def test_the_static_shard_variant_is_one_line_the_cli_accepts_with_a_manifest_per_shard() -> None:
    job = _read("kubernetes/job.yaml")
    static = static_job(job)
    assert static_job_problems(static) == []
    assert cli_problems(job_invocations(static)) == []
    assert [_flag(i.argv, "--shard") for i in job_invocations(static)] == ["0/4", "1/4", "2/4", "3/4"]
    assert static_compose_problems(_read("compose.yaml")) == []
    documented = re.findall(r"^args: \[.*--shard.*\]$", _read("README.md"), re.MULTILINE)
    assert documented == STATIC_ARGS.findall(job), "the README's static-shard line differs from job.yaml's"


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


# The checks fail where they should


@pytest.mark.parametrize(
    ("name", "old", "new", "expected"),
    [
        ("kubernetes/job.yaml", "args: [copy,", "args: [copy, --turbo,", "`bucketshift copy` has no option --turbo"),
        ("kubernetes/job.yaml", "args: [copy,", "args: [cpy,", "bucketshift has no command 'cpy'"),
        ("kubernetes/job.yaml", "args: [copy,", "args: [copy, --lease=0,", "refuses its arguments"),
        ("compose.yaml", "command: [copy,", "command: [copy, --max-workers=3,", "has no option --max-workers"),
        ("compose.yaml", "[copy, --config", "[copy, --concurrency=0, --config", "refuses its arguments"),
        ("compose.yaml", "--shard=K/3", "--shard=K/3, --shards=2", "has no option --shards"),
        ("kubernetes/job.yaml", "--shard=$(JOB_COMPLETION_INDEX)/4", "--shard=$(JOB_COMPLETION_INDEX)/2", "give K/N"),
        ("Dockerfile", 'CMD ["--help"]', 'CMD ["--helpme"]', "bucketshift has no option --helpme"),
        ("README.md", "worker status --config", "worker status --watch --config", "has no option --watch"),
        ("README.md", "bucketshift status --config=/plan", "bucketshift stat --config=/plan", "no command 'stat'"),
    ],
)
def test_an_invented_flag_or_verb_is_caught(name: str, old: str, new: str, expected: str) -> None:
    texts = {n: _read(n) for n in ("kubernetes/job.yaml", "compose.yaml", "Dockerfile", "README.md")}
    assert old in texts[name]
    texts[name] = texts[name].replace(old, new)
    job, compose = texts["kubernetes/job.yaml"], texts["compose.yaml"]
    invocations = {
        "kubernetes/job.yaml": job_invocations(job) + job_invocations(static_job(job)),
        "compose.yaml": compose_invocations(compose) + static_compose_invocations(compose),
        "Dockerfile": dockerfile_invocations(texts["Dockerfile"]),
        "README.md": readme_invocations(texts["README.md"], job, compose),
    }[name]
    problems = cli_problems(invocations)
    assert any(expected in p for p in problems), problems


_SECRET_DB_URL = (
    "            - name: DATABASE_URL\n              valueFrom:\n                secretKeyRef:\n"
    "                  name: bucketshift\n                  key: DATABASE_URL\n"
)


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("completionMode: Indexed", "completionMode: NonIndexed", "not Indexed"),
        ("parallelism: 4", "parallelism: 2", "must be the same N"),
        ("restartPolicy: OnFailure", "restartPolicy: Never", "not OnFailure"),
        ("backoffLimit: 6", "activeDeadlineSeconds: 6", "no backoffLimit"),
        ("runAsNonRoot: true", "runAsNonRoot: false", "runAsNonRoot"),
        ("type: RuntimeDefault", "type: Unconfined", "seccompProfile"),
        ("readOnlyRootFilesystem: true", "readOnlyRootFilesystem: false", "root filesystem is writable"),
        ("configMap:\n            name", "secret:\n            name", "ConfigMap"),
        ("requests:\n              cpu", "wanted:\n              cpu", "no resources requests and limits"),
        (
            "args: [copy, --config=/plan/bucketshift.toml]",
            "args: [copy, --config=/plan/bucketshift.toml, --shard=$(JOB_COMPLETION_INDEX)/4]",
            "different commands",
        ),
        (
            "args: [copy, --config=/plan/bucketshift.toml]",
            "args: [copy, --config=/plan/bucketshift.toml, --shard=0/4]",
            "copy one shard only",
        ),
        ("- name: BUCKETSHIFT_STATE\n", "- name: BUCKETSHIFT_STATE_DSN\n", "not a PostgreSQL DSN from a Secret"),
        ("key: BUCKETSHIFT_STATE_DSN", "key: DATABASE_URL", "the Supabase project's own database"),
        (
            "args: [copy, --config=/plan/bucketshift.toml]",
            "args: [copy, --config=/plan/bucketshift.toml, --state=$(BUCKETSHIFT_STATE_DSN)]",
            "$(BUCKETSHIFT_STATE_DSN) is not in the container's env",
        ),
        (
            "args: [copy, --config=/plan/bucketshift.toml]",
            "args: [copy, --config=/plan/bucketshift.toml, --state=/state/manifest.sqlite3]",
            "not a PostgreSQL DSN from a Secret",
        ),
        (
            "      volumes:\n",
            "      volumes:\n        - name: manifests\n          persistentVolumeClaim:\n"
            "            claimName: bucketshift-manifests\n",
            "a volume for manifests",
        ),
        (
            _SECRET_DB_URL,
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
    problems = job_problems(text.replace(old, new, 1))
    assert any(expected in p for p in problems), problems


def test_a_state_dsn_in_args_from_the_secret_is_accepted_too() -> None:
    """`--state=$(VAR)` with VAR from the Secret is the same state (on the command line, though)."""
    text = _read("kubernetes/job.yaml")
    moved = text.replace("args: [copy, --config=/plan/bucketshift.toml]",
                         "args: [copy, --config=/plan/bucketshift.toml, --state=$(BUCKETSHIFT_STATE)]")  # fmt: skip
    assert moved != text
    assert job_problems(moved) == []


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("/4, --state", "/3, --state", "not 0/4 .. 3/4"),
        ("--state=/state/manifest-$(JOB_COMPLETION_INDEX)", "--state=/state/manifest", "a manifest file of their own"),
        ("$(JOB_COMPLETION_INDEX).sqlite3", "$(JOB_INDEX).sqlite3", "$(JOB_INDEX) is not in the container's env"),
        (", --state=/state/manifest-$(JOB_COMPLETION_INDEX).sqlite3", "", "a manifest file of their own"),
    ],
)
def test_the_static_shard_checker_catches_each_mistake(old: str, new: str, expected: str) -> None:
    text = _read("kubernetes/job.yaml")
    assert old in text
    problems = static_job_problems(static_job(text.replace(old, new, 1)))
    assert any(expected in p for p in problems), problems


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("${STATE_DB_PASSWORD:?set STATE_DB_PASSWORD}@state", "s3cret-pw@state", "literal secret"),
        ("    - DATABASE_URL\n", "    - DATABASE_URL=anything\n", "DATABASE_URL has a literal value"),
        ("replicas: 3", "replicas: 1", "the file is there to run several"),
        ("@state:5432", "@elsewhere:5432", "not a PostgreSQL service with a pg_isready healthcheck"),
        ("      - BUCKETSHIFT_STATE=", "      - BUCKETSHIFT_STAT=", "not a PostgreSQL service"),
        ("[CMD, pg_isready,", "[CMD, true,", "not a PostgreSQL service with a pg_isready healthcheck"),
        ("condition: service_healthy", "condition: service_started", "does not wait for the state"),
        (
            "command: [copy, --config=/plan/bucketshift.toml]",
            "command: [copy, --config=/plan/bucketshift.toml, --shard=0/3]",
            "copy one shard only",
        ),
    ],
)
def test_the_compose_checker_catches_each_mistake(old: str, new: str, expected: str) -> None:
    text = _read("compose.yaml")
    assert old in text
    problems = compose_problems(text.replace(old, new, 1))
    assert any(expected in p for p in problems), problems


def test_the_compose_static_variant_checker_catches_a_gap_and_a_shared_manifest() -> None:
    text = _read("compose.yaml")
    assert any("not 0/3" in p for p in static_compose_problems(text.replace("--shard=K/3", "--shard=K/4")))
    shared = text.replace("manifest-K.sqlite3", "manifest.sqlite3")
    assert shared != text
    assert any("a manifest file of their own" in p for p in static_compose_problems(shared))


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ('BUCKETSHIFT_STATE="$BUCKETSHIFT_STATE_DSN" bucketshift status', "bucketshift status", "not the shared state"),
        ("kubectl exec job/bucketshift-copy -- bucketshift status", "bucketshift status", "not the shared state"),
    ],
)
def test_the_readme_checker_catches_a_status_off_the_shared_state(old: str, new: str, expected: str) -> None:
    text = _read("README.md")
    assert old in text
    problems = readme_problems(text.replace(old, new, 1), _read("kubernetes/job.yaml"), _read("compose.yaml"))
    assert any(expected in p for p in problems), problems


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "  -e 's/^  completions: [0-9]*/  completions: 1/' -e 's/^  parallelism: [0-9]*/  parallelism: 1/' \\\n",
            "",
            "verify runs 4 times",
        ),
        ("-e 's/name: bucketshift-copy/name: bucketshift-verify/' ", "", "keeps the copy Job's name"),
        ("-e 's/args: \\[copy,/args: [verify,/' ", "", "not verify"),
        (
            "-e 's/args: \\[copy,/args: [verify,/' ",
            "-e 's/args: \\[copy,/args: [verify, --fast,/' ",
            "no option --fast",
        ),
    ],
)
def test_the_verify_job_checker_catches_each_mistake(old: str, new: str, expected: str) -> None:
    text = _read("README.md")
    assert old in text
    job = readme_verify_job(text.replace(old, new, 1), _read("kubernetes/job.yaml"))
    problems = verify_job_problems(job)
    assert any(expected in p for p in problems), problems


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
