"""docker/compose.yaml and the Dockerfiles hang together (no Docker engine needed).

Checks the services, their ports and environment, that every environment variable is a real
``callcenter`` setting, and that every path compose mounts or builds from -- and every COPY
source of each Dockerfile -- exists in the repository.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from callcenter.config import describe_options

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]
DOCKER = REPO / "docker"
COMPOSE_FILE = DOCKER / "compose.yaml"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(data, dict)
    return data


def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return dict(compose["services"])


def env_of(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):  # ["KEY=value", ...]
        env = dict(item.split("=", 1) for item in env)
    return {str(k): str(v) for k, v in env.items()}


def build_of(service: dict[str, Any]) -> tuple[Path, Path]:
    """(context directory, Dockerfile) of a service that builds."""
    build = service["build"]
    if isinstance(build, str):
        build = {"context": build}
    context = (DOCKER / build.get("context", ".")).resolve()
    dockerfile = context / build.get("dockerfile", "Dockerfile")
    return context, dockerfile


def published(service: dict[str, Any]) -> list[tuple[str, int, int]]:
    """(host ip, host port, container port) of short-syntax port entries."""
    out: list[tuple[str, int, int]] = []
    for entry in service.get("ports") or []:
        parts = str(entry).split("/")[0].split(":")
        assert len(parts) == 3, f"publish with an explicit host address: {entry}"
        out.append((parts[0], int(parts[1]), int(parts[2])))
    return out


def logical_lines(dockerfile: Path) -> list[str]:
    """Dockerfile instructions with continuation lines joined and comments dropped."""
    lines: list[str] = []
    pending = ""
    for raw in dockerfile.read_text().splitlines():
        stripped = raw.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        lines.append((pending + stripped).strip())
        pending = ""
    if pending:
        lines.append(pending.strip())
    return lines


def instructions(dockerfile: Path, keyword: str) -> list[str]:
    return [
        line.split(None, 1)[1] if " " in line else ""
        for line in logical_lines(dockerfile)
        if line.split(None, 1)[0].upper() == keyword
    ]


def copy_sources(args: str) -> list[str]:
    if args.lstrip().startswith("["):
        parts = json.loads(args)
    else:
        parts = shlex.split(args)
    parts = [p for p in parts if not p.startswith("--")]
    return parts[:-1]  # the last one is the destination


# --------------------------------------------------------------------------- services


def test_services(compose: dict[str, Any]) -> None:
    assert set(services(compose)) == {"asterisk", "redis", "postgres", "server"}


def test_asterisk_service(compose: dict[str, Any]) -> None:
    asterisk = services(compose)["asterisk"]
    context, dockerfile = build_of(asterisk)
    assert context == DOCKER / "asterisk"
    assert dockerfile.is_file()
    assert asterisk.get("network_mode") == "host"
    mounts = [str(v) for v in asterisk.get("volumes", [])]
    assert any(v.split(":")[:2] == ["./asterisk", "/etc/asterisk"] for v in mounts), mounts
    assert asterisk.get("healthcheck", {}).get("test")


def test_asterisk_image_is_debian_unstable_with_the_packages() -> None:
    dockerfile = DOCKER / "asterisk" / "Dockerfile"
    base = instructions(dockerfile, "FROM")[0]
    assert re.fullmatch(r"debian:(sid|unstable)(-slim)?", base), base
    run = " ".join(instructions(dockerfile, "RUN"))
    assert "asterisk-modules" in run and re.search(r"\basterisk\b", run)
    assert "Check-Valid-Until=false" in run


def test_redis_and_postgres_publish_on_loopback(compose: dict[str, Any]) -> None:
    svc = services(compose)
    assert published(svc["redis"]) == [("127.0.0.1", 6379, 6379)]
    assert published(svc["postgres"]) == [("127.0.0.1", 5432, 5432)]
    for name in ("redis", "postgres"):
        assert svc[name].get("healthcheck", {}).get("test"), f"{name} needs a healthcheck"


def test_host_network_services_publish_nothing(compose: dict[str, Any]) -> None:
    for name, service in services(compose).items():
        if service.get("network_mode") == "host":
            assert not service.get("ports"), f"{name}: ports are ignored with host networking"


def test_server_service(compose: dict[str, Any]) -> None:
    server = services(compose)["server"]
    context, dockerfile = build_of(server)
    assert context == REPO
    assert dockerfile == DOCKER / "Dockerfile"
    assert server.get("network_mode") == "host"
    for dep, spec in (server.get("depends_on") or {}).items():
        assert dep in services(compose)
        if isinstance(spec, dict) and spec.get("condition") == "service_healthy":
            assert services(compose)[dep].get("healthcheck"), f"{dep} has no healthcheck"


def test_server_environment_names_are_real_settings(compose: dict[str, Any]) -> None:
    known = {name for name, _default, _doc in describe_options()}
    env = env_of(services(compose)["server"])
    assert env
    unknown = {k for k in env if k.startswith("CALLCENTER_")} - known
    assert not unknown, f"not callcenter settings: {sorted(unknown)}"


def test_server_environment_points_at_the_other_services(compose: dict[str, Any]) -> None:
    svc = services(compose)
    env = env_of(svc["server"])

    database = urlsplit(env["CALLCENTER_DATABASE_URL"])
    assert database.scheme == "postgresql+asyncpg"
    pg_env = env_of(svc["postgres"])
    assert (database.hostname, database.port) == ("127.0.0.1", published(svc["postgres"])[0][1])
    assert database.username == pg_env["POSTGRES_USER"]
    assert database.password == pg_env["POSTGRES_PASSWORD"]
    assert database.path.lstrip("/") == pg_env["POSTGRES_DB"]

    redis = urlsplit(env["CALLCENTER_REDIS_URL"])
    assert redis.scheme == "redis"
    assert (redis.hostname, redis.port) == ("127.0.0.1", published(svc["redis"])[0][1])

    manager = (DOCKER / "asterisk" / "manager.conf").read_text()
    assert env["CALLCENTER_AMI__HOST"] == "127.0.0.1"
    assert re.search(rf"^port\s*=\s*{env['CALLCENTER_AMI__PORT']}\b", manager, re.MULTILINE)
    user = env["CALLCENTER_AMI__USERNAME"]
    block = manager.split(f"[{user}]", 1)
    assert len(block) == 2, f"no [{user}] in manager.conf"
    assert re.search(
        rf"^secret\s*=\s*{re.escape(env['CALLCENTER_AMI__SECRET'])}\s*$", block[1], re.MULTILINE
    )


def test_bind_mounts_and_named_volumes_exist(compose: dict[str, Any]) -> None:
    declared = set((compose.get("volumes") or {}).keys())
    for name, service in services(compose).items():
        for volume in service.get("volumes") or []:
            source = str(volume).split(":")[0] if isinstance(volume, str) else volume["source"]
            if source.startswith((".", "/")):
                assert (DOCKER / source).exists(), f"{name}: mount source {source} missing"
            else:
                assert source in declared, f"{name}: named volume {source} not declared"


def test_build_contexts_exist(compose: dict[str, Any]) -> None:
    for name, service in services(compose).items():
        if "build" in service:
            context, dockerfile = build_of(service)
            assert context.is_dir(), f"{name}: build context {context} missing"
            assert dockerfile.is_file(), f"{name}: {dockerfile} missing"


# --------------------------------------------------------------------------- Dockerfiles


def all_dockerfiles(compose: dict[str, Any]) -> list[tuple[Path, Path]]:
    return [build_of(s) for s in services(compose).values() if "build" in s]


def test_every_copy_source_exists(compose: dict[str, Any]) -> None:
    checked = 0
    for context, dockerfile in all_dockerfiles(compose):
        for keyword in ("COPY", "ADD"):
            for args in instructions(dockerfile, keyword):
                if "--from=" in args:
                    continue
                for source in copy_sources(args):
                    matches = (
                        list(context.glob(source))
                        if any(c in source for c in "*?[")
                        else [context / source]
                    )
                    assert matches and all(m.exists() for m in matches), (
                        f"{dockerfile.relative_to(REPO)}: COPY source {source} missing in {context}"
                    )
                    checked += 1
    assert checked


def test_server_image() -> None:
    dockerfile = DOCKER / "Dockerfile"
    assert instructions(dockerfile, "FROM") == ["python:3.11-slim"]
    run = " ".join(instructions(dockerfile, "RUN"))
    assert "pip install" in run
    cmd = instructions(dockerfile, "CMD")[-1]
    argv = json.loads(cmd) if cmd.startswith("[") else shlex.split(cmd)
    assert argv == ["callcenter", "serve"]
    exposed = {int(p.split("/")[0]) for e in instructions(dockerfile, "EXPOSE") for p in e.split()}
    globals_ = (DOCKER / "asterisk" / "extensions.conf").read_text()
    audiosocket = re.search(r"^CALLCENTER_AUDIOSOCKET\s*=\s*[\d.]+:(\d+)", globals_, re.MULTILINE)
    assert audiosocket and int(audiosocket.group(1)) in exposed
    assert 8080 in exposed
