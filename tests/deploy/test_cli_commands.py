"""`marketplace users create` refuses a bad e-mail, name, role or department with the
option's rule and creates nothing; a good one prints the token alone on its last line."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import asyncpg
import httpx
from litestar.testing import AsyncTestClient

from marketplace.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def users_create(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "MARKETPLACE_DATABASE_URL": str(settings.database_url),
        "MARKETPLACE_REDIS_URL": str(settings.redis_url),
        "MARKETPLACE_DATA_DIR": str(settings.data_dir),
    }
    return subprocess.run(
        [sys.executable, "-m", "marketplace.cli", "users", "create", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )


async def test_users_create_validates_with_clear_messages(
    settings: Settings, db: asyncpg.Connection, client: AsyncTestClient[httpx.Response]
) -> None:
    refused = {
        ("--email", "notanemail", "--name", "Ada", "--role", "auditor"): "--email must be an "
        "e-mail address, for example dana@permits.example.gov; got 'notanemail'",
        ("--email", "ada@example.gov", "--name", "", "--role", "auditor"): "--name must be",
        ("--email", "ada@example.gov", "--name", "Ada", "--role", "boss"): "argument --role: "
        "invalid choice: 'boss' (choose from 'buyer', 'vendor', 'reviewer', 'finance', "
        "'auditor', 'admin')",
        ("--email", "ada@example.gov", "--name", "Ada", "--role", "buyer"): "a buyer must "
        "belong to a department: give --department with its id or name",
        (
            "--email",
            "ada@example.gov",
            "--name",
            "Ada",
            "--role",
            "buyer",
            "--department",
            "Nowhere",
        ): "no department 'Nowhere'",
    }
    for args, words in refused.items():
        done = users_create(settings, *args)
        assert done.returncode != 0, (args, done.stdout)
        assert words in done.stderr, (args, done.stderr)
        assert "Traceback" not in done.stderr
    assert await db.fetchval("SELECT count(*) FROM users") == 0

    done = users_create(
        settings, "--email", "ada@example.gov", "--name", "Ada", "--role", "auditor"
    )
    assert done.returncode == 0, done.stderr
    token = done.stdout.strip().splitlines()[-1]
    me = await client.get("/api/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200 and me.json()["roles"] == ["auditor"]


def test_the_readme_command_table_lists_every_command() -> None:
    """Each command of the parser (and each of its subcommands) has its row in the table."""
    from marketplace.cli import build_parser

    def commands(parser: argparse.ArgumentParser, prefix: str) -> list[str]:
        found = []
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    below = commands(sub, f"{prefix} {name}")
                    found += below or [f"{prefix} {name}"]
        return found

    readme = (ROOT / "README.md").read_text()
    table = readme[readme.index("## Commands") :]
    table = table[: table.index("\n\n", table.index("| Command"))]
    rows = [line.split("`")[1] for line in table.splitlines() if line.startswith("| `")]
    every = commands(build_parser(), "marketplace")
    assert {"marketplace audit export", "marketplace github check", "marketplace demo"} <= set(
        every
    )
    missing = [c for c in every if not any(r == c or r.startswith(c + " ") for r in rows)]
    assert not missing, f"commands missing from the README's table: {missing}"
