"""Static checks of the container setup: docker-compose.yml, docker/Dockerfile.*, .dockerignore.

Docker is not needed: the files are parsed and cross-checked against the real CLI
(service.__main__.build_parser) and the API sources, so a renamed subcommand, a changed port or a
removed /healthz route breaks this test instead of a deployment.
"""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
import sys
import tomllib
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
COMPOSE_FILE = REPO / "docker-compose.yml"
DOCKERIGNORE = REPO / ".dockerignore"
BUILT_SERVICES = ("api", "worker")
# What both images must copy in: the package build inputs; the worker also needs the trained weights.
REQUIRED_COPY_SOURCES = {"pyproject.toml", "README.md", "service", "models"}
WORKER_COPY_SOURCES = REQUIRED_COPY_SOURCES | {"weights"}
API_PORT = 8000


# --------------------------------------------------------------------------- helpers


def _compose() -> dict:
    with COMPOSE_FILE.open(encoding="utf-8") as fh:
        data = yaml.safe_load(fh)
    assert isinstance(data, dict), "docker-compose.yml is not a mapping"
    return data


def _service(name: str) -> dict:
    return _compose()["services"][name]


def _dockerfile_path(name: str) -> Path:
    build = _service(name)["build"]
    return (REPO / build["context"] / build["dockerfile"]).resolve()


def _instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs; comments dropped, backslash continuations joined."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in path.read_text(encoding="utf-8").splitlines():
        stripped = raw.strip()
        if stripped.startswith("#") or (not stripped and not pending):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        line = (pending + stripped).strip()
        pending = ""
        if not line:
            continue
        keyword, _, args = line.partition(" ")
        out.append((keyword.upper(), args.strip()))
    assert not pending, f"{path}: dangling line continuation"
    return out


def _args_of(path: Path, keyword: str) -> list[str]:
    return [args for kw, args in _instructions(path) if kw == keyword]


def _exec_form(args: str, where: str) -> list[str]:
    try:
        value = json.loads(args)
    except json.JSONDecodeError as exc:
        raise AssertionError(f"{where} is not a JSON-array (exec form): {args!r}") from exc
    assert isinstance(value, list) and all(isinstance(v, str) for v in value), f"{where}: {args!r}"
    return value


def _dockerfile_cmd(path: Path) -> list[str]:
    cmds = _args_of(path, "CMD")
    assert len(cmds) == 1, f"{path.name}: expected exactly one CMD, found {len(cmds)}"
    return _exec_form(cmds[0], f"{path.name} CMD")


def _dockerfile_healthcheck(path: Path) -> list[str] | None:
    checks = _args_of(path, "HEALTHCHECK")
    if not checks:
        return None
    assert len(checks) == 1, f"{path.name}: more than one HEALTHCHECK"
    args = checks[0]
    assert args.upper() != "NONE", f"{path.name}: HEALTHCHECK NONE"
    m = re.search(r"(?:^|\s)CMD\s+(.*)$", args)
    assert m, f"{path.name}: HEALTHCHECK without CMD: {args!r}"
    rest = m.group(1).strip()
    return _exec_form(rest, f"{path.name} HEALTHCHECK") if rest.startswith("[") else shlex.split(rest)


def _compose_healthcheck(name: str) -> list[str] | None:
    hc = _service(name).get("healthcheck")
    if hc is None:
        return None
    assert not hc.get("disable"), f"{name}: healthcheck disabled"
    test = hc["test"]
    if isinstance(test, str):
        return ["CMD-SHELL", test]
    assert test and test[0] in ("CMD", "CMD-SHELL"), f"{name}: bad healthcheck test {test!r}"
    return list(test)


def _healthchecks(name: str) -> list[list[str]]:
    """Every healthcheck command that applies to a service (compose and/or Dockerfile)."""
    found = []
    hc = _compose_healthcheck(name)
    if hc is not None:
        found.append(hc[1:])
    if "build" in _service(name):
        df = _dockerfile_healthcheck(_dockerfile_path(name))
        if df is not None:
            found.append(df)
    return found


def _effective_command(name: str) -> list[str]:
    cmd = _service(name).get("command")
    if cmd is None:
        return _dockerfile_cmd(_dockerfile_path(name))
    return shlex.split(cmd) if isinstance(cmd, str) else list(cmd)


def _service_argv(command: list[str]) -> list[str]:
    """['python', '-m', 'service', 'serve', ...] -> ['serve', ...]."""
    assert command[:3] == ["python", "-m", "service"], f"not `python -m service ...`: {command}"
    return command[3:]


def _env(name: str) -> dict[str, str]:
    env = _service(name).get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, None) for item in env)
    return env


def _seconds(duration) -> float:
    if isinstance(duration, (int, float)):
        return float(duration)
    total = 0.0
    for value, unit in re.findall(r"(\d+(?:\.\d+)?)(ms|us|h|m|s)", str(duration)):
        total += float(value) * {"h": 3600, "m": 60, "s": 1, "ms": 1e-3, "us": 1e-6}[unit]
    return total


def _parser():
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    from service.__main__ import build_parser

    return build_parser()


def _subcommands(parser) -> set[str]:
    import argparse

    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return set(action.choices)
    raise AssertionError("service CLI parser has no subcommands")


def _copy_sources(path: Path) -> list[str]:
    sources = []
    for kw, args in _instructions(path):
        if kw not in ("COPY", "ADD"):
            continue
        parts = _exec_form(args, f"{path.name} {kw}") if args.startswith("[") else shlex.split(args)
        flags = [p for p in parts if p.startswith("--")]
        paths = [p for p in parts if not p.startswith("--")]
        if any(f.startswith("--from=") for f in flags):
            continue  # from another stage / image, not from the build context
        assert len(paths) >= 2, f"{path.name}: {kw} {args!r}"
        sources.extend(paths[:-1])
    return sources


def _dockerignore_patterns() -> list[str]:
    lines = DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
    return [ln.strip().rstrip("/") for ln in lines if ln.strip() and not ln.strip().startswith("#")]


def _ignored(rel: str, patterns: list[str]) -> bool:
    """Rough .dockerignore semantics: last match wins, '!' re-includes, a dir pattern covers its files."""
    ignored = False
    for pat in patterns:
        negate = pat.startswith("!")
        pat = pat[1:] if negate else pat
        pat = pat.lstrip("/")
        candidates = [pat, pat.replace("**/", "")] if pat.startswith("**/") else [pat]
        parts = rel.split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        if any(fnmatch.fnmatchcase(p, c) for c in candidates for p in prefixes):
            ignored = not negate
    return ignored


# --------------------------------------------------------------------------- compose structure


def test_compose_has_exactly_redis_api_worker():
    data = _compose()
    assert set(data["services"]) == {"redis", "api", "worker"}
    assert "version" not in data, "compose spec files have no top-level `version:` key"


@pytest.mark.parametrize("name, dockerfile", [("api", "docker/Dockerfile.api"), ("worker", "docker/Dockerfile.worker")])
def test_builds_point_at_existing_dockerfiles(name, dockerfile):
    build = _service(name)["build"]
    assert build["context"] == "."
    assert build["dockerfile"] == dockerfile
    assert _dockerfile_path(name) == (REPO / dockerfile).resolve()
    assert _dockerfile_path(name).is_file(), f"{dockerfile} is missing"


def test_redis_service_is_official_persistent_and_healthchecked():
    redis = _service("redis")
    assert redis["image"] == "redis:7-alpine"
    command = redis["command"]
    command = shlex.split(command) if isinstance(command, str) else command
    assert command[0] == "redis-server"
    assert command[command.index("--appendonly") + 1] == "yes"
    volumes = [v if isinstance(v, str) else f"{v['source']}:{v['target']}" for v in redis["volumes"]]
    assert "redis-data:/data" in volumes
    assert "redis-data" in (_compose().get("volumes") or {}), "redis-data must be a top-level named volume"
    assert _compose_healthcheck("redis") == ["CMD", "redis-cli", "ping"]


# --------------------------------------------------------------------------- commands vs. the real CLI


def test_dockerfile_cmds_are_service_subcommands():
    assert _dockerfile_cmd(REPO / "docker/Dockerfile.api") == [
        "python",
        "-m",
        "service",
        "serve",
        "--host",
        "0.0.0.0",
        "--port",
        str(API_PORT),
    ]
    assert _dockerfile_cmd(REPO / "docker/Dockerfile.worker") == ["python", "-m", "service", "worker"]
    assert _service_argv(_effective_command("api"))[0] == "serve"
    assert _service_argv(_effective_command("worker"))[0] == "worker"


def test_subcommands_exist_in_real_cli():
    choices = _subcommands(_parser())
    for needed in ("serve", "worker", "check"):
        assert needed in choices, f"`python -m service {needed}` is used by the containers but not in the CLI"


@pytest.mark.parametrize("name", BUILT_SERVICES)
def test_container_commands_parse_with_real_cli(name):
    argv = _service_argv(_effective_command(name))
    _parse(argv)


def _parse(argv: list[str]):
    try:
        return _parser().parse_args(argv)
    except SystemExit as exc:  # argparse exits on an unknown subcommand or option
        pytest.fail(f"`python -m service {' '.join(argv)}` is rejected by the real CLI (exit {exc.code})")


def test_worker_healthcheck_is_service_check_and_parses():
    checks = _healthchecks("worker")
    assert checks, "worker has no healthcheck"
    for cmd in checks:
        assert cmd == ["python", "-m", "service", "check", "--role", "worker"]
    args = _parse(["check", "--role", "worker"])
    assert args.role == "worker"


# --------------------------------------------------------------------------- ports and health


def _published_targets(name: str) -> dict[int, str]:
    """{container port: published host port} from short ("[ip:]host:container[/proto]") or long syntax."""
    targets = {}
    for entry in _service(name).get("ports") or []:
        if isinstance(entry, dict):
            targets[int(entry["target"])] = str(entry.get("published", ""))
            continue
        parts = str(entry).split("/")[0].split(":")
        targets[int(parts[-1])] = parts[-2] if len(parts) >= 2 else ""
    return targets


def test_api_port_mapping_targets_serve_port():
    argv = _service_argv(_effective_command("api"))
    serve_port = int(argv[argv.index("--port") + 1])
    assert serve_port == API_PORT
    assert _published_targets("api") == {API_PORT: str(API_PORT)}
    exposed = " ".join(_args_of(REPO / "docker/Dockerfile.api", "EXPOSE")).split()
    assert [p.split("/")[0] for p in exposed] == [str(API_PORT)]


def test_worker_is_scalable():
    worker = _service("worker")
    assert "container_name" not in worker, "container_name prevents `--scale worker=N`"
    assert not worker.get("ports"), "published ports prevent `--scale worker=N`"


@pytest.mark.parametrize("name", ["redis", "api", "worker"])
def test_every_service_has_a_healthcheck(name):
    assert _healthchecks(name), f"{name} has neither a compose healthcheck nor a Dockerfile HEALTHCHECK"


def test_api_healthcheck_hits_healthz_on_api_port():
    checks = _healthchecks("api")
    assert checks
    for cmd in checks:
        text = " ".join(cmd)
        assert f"http://127.0.0.1:{API_PORT}/healthz" in text, cmd
        assert "urllib" in text, "python:3.11-slim has no curl; use urllib"


def test_healthz_route_exists_in_api_sources():
    api_dir = REPO / "service" / "api"
    assert api_dir.is_dir(), "service/api is missing"
    route = re.compile(r"""\.(?:get|api_route|add_api_route|route)\(\s*["']/healthz["']""")
    hits = [p for p in sorted(api_dir.rglob("*.py")) if route.search(p.read_text(encoding="utf-8"))]
    assert hits, "no `/healthz` route in service/api: the API healthcheck would always fail"


# --------------------------------------------------------------------------- environment, GPU, lifecycle


@pytest.mark.parametrize("name", BUILT_SERVICES)
def test_env_redis_and_local_files(name):
    env = _env(name)
    assert env["EMOTION_ALLOW_LOCAL_FILES"] == "false"
    assert env["REDIS_URL"] == "redis://redis:6379/0"
    url = urlparse(env["REDIS_URL"])
    assert url.scheme == "redis"
    assert url.hostname in _compose()["services"], "REDIS_URL must point at the compose redis service"
    assert url.port == 6379
    assert env["EMOTION_API_KEY"] == "${EMOTION_API_KEY:-}"


def test_worker_uses_cuda():
    assert _env("worker")["EMOTION_DEVICE"] == "cuda"


@pytest.mark.parametrize("name", BUILT_SERVICES)
def test_depends_on_healthy_redis(name):
    assert _service(name)["depends_on"] == {"redis": {"condition": "service_healthy"}}


def test_worker_reserves_an_nvidia_gpu():
    devices = _service("worker")["deploy"]["resources"]["reservations"]["devices"]
    assert len(devices) == 1
    device = devices[0]
    assert device["driver"] == "nvidia"
    assert device["capabilities"] == ["gpu"]
    assert device.get("count") == 1


def test_worker_restart_and_graceful_stop():
    worker = _service("worker")
    assert worker["restart"] == "unless-stopped"
    assert _seconds(worker["stop_grace_period"]) == 30
    assert worker.get("stop_signal", "SIGTERM") == "SIGTERM"


# --------------------------------------------------------------------------- Dockerfiles


def _from(path: Path) -> str:
    froms = _args_of(path, "FROM")
    assert len(froms) == 1, f"{path.name}: expected a single stage"
    return froms[0].split()[0]


def test_base_images():
    worker_base = _from(REPO / "docker/Dockerfile.worker").lower()
    assert "cuda" in worker_base or "pytorch" in worker_base, worker_base
    assert _from(REPO / "docker/Dockerfile.api") == "python:3.11-slim"


@pytest.mark.parametrize("dockerfile", ["docker/Dockerfile.api", "docker/Dockerfile.worker"])
def test_dockerfile_basics(dockerfile):
    path = REPO / dockerfile
    assert _args_of(path, "WORKDIR") == ["/app"]
    users = _args_of(path, "USER")
    assert users, f"{dockerfile}: runs as root"
    assert users[-1].split(":")[0] not in ("root", "0")


@pytest.mark.parametrize(
    "dockerfile, required",
    [("docker/Dockerfile.api", REQUIRED_COPY_SOURCES), ("docker/Dockerfile.worker", WORKER_COPY_SOURCES)],
)
def test_copy_sources_exist(dockerfile, required):
    sources = _copy_sources(REPO / dockerfile)
    normalised = {s.rstrip("/").removeprefix("./") for s in sources}
    assert normalised >= required, f"{dockerfile} does not copy {required - normalised}"
    missing = [s for s in sorted(normalised) if not (REPO / s).exists()]
    assert not missing, f"{dockerfile} copies paths missing from the repo: {missing}"


def test_weights_manifest_exists():
    assert (REPO / "weights" / "manifest.json").is_file(), "weights/manifest.json is baked into the images"


def test_worker_install_order():
    dockerfile = "docker/Dockerfile.worker"
    runs = " && ".join(_args_of(REPO / dockerfile, "RUN"))
    torch_at = runs.find("pip install torch==2.14.1 torchvision==0.29.1")
    project_at = runs.find('pip install ".[worker]"')
    facenet_at = runs.find("pip install --no-deps facenet-pytorch==2.6.0")
    assert torch_at >= 0, f"{dockerfile}: torch not installed as torch==2.14.1 torchvision==0.29.1"
    assert project_at >= 0, f"{dockerfile}: project not installed with its worker extra"
    assert facenet_at >= 0, f"{dockerfile}: facenet-pytorch must be installed with --no-deps"
    assert torch_at < project_at < facenet_at, f"{dockerfile}: order must be torch, project, facenet-pytorch"


def test_api_image_installs_no_torch():
    runs = " && ".join(_args_of(REPO / "docker/Dockerfile.api", "RUN"))
    assert "pip install ." in runs, "the API image installs the project's base dependencies"
    for heavy in ("torch", "facenet", "[worker]"):
        assert heavy not in runs, f"the API image must not install {heavy}"
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert not any(dep.startswith(("torch", "av")) for dep in project["dependencies"])
    assert {"torch", "torchvision", "av"} <= {dep.split(">")[0] for dep in project["optional-dependencies"]["worker"]}


def test_dockerignore_keeps_build_inputs_and_drops_junk():
    patterns = _dockerignore_patterns()
    for rel in sorted(REQUIRED_COPY_SOURCES) + [
        "weights/manifest.json",
        "weights/emotion.pt",
        "weights/temporal.pt",
        "service/__main__.py",
    ]:
        assert not _ignored(rel, patterns), f".dockerignore excludes {rel}, which the images need"
    for rel in (
        ".venv",
        ".git",
        "runs",
        "service/__pycache__",
        "tests/data",
        "runs_train.log",
        "weights/emotion_teacher_b.pt",
        "research/widen.py",
    ):
        assert _ignored(rel, patterns), f".dockerignore should exclude {rel}"
