"""docker-compose.yml cannot run here (no Docker engine); check its shape and commands."""

from __future__ import annotations

from pathlib import Path

import yaml

from marketplace.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]


def test_compose_services_and_commands_exist() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"postgres", "redis", "migrate", "api", "worker"} <= set(services)
    assert "--appendonly" in services["redis"]["command"]
    commands = build_parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    for name in ("migrate", "api", "worker"):
        command = services[name]["command"]
        assert command[0] == "marketplace" and command[1] in commands, command
        assert "healthcheck" in services[name] or name == "migrate"
        env = services[name]["environment"]
        assert env["MARKETPLACE_DATABASE_URL"].startswith("postgresql://")
        assert env["MARKETPLACE_REDIS_URL"].startswith("redis://")
    # Stateless API and worker: no fixed host ports or container names, so --scale works.
    for name in ("api", "worker"):
        assert "container_name" not in services[name]
        for port in services[name].get("ports", []):
            assert ":" not in str(port), "a fixed host port would stop --scale api=3"
    assert services["api"]["depends_on"]["migrate"]["condition"] == (
        "service_completed_successfully"
    )
    assert (ROOT / "Dockerfile").exists()
