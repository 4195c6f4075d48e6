"""Applies sql/NNNN_*.sql in order, then sql/functions/*.sql that changed: one transaction
per file, under an advisory lock.

Numbered migrations are forward-only and never edited once applied (a changed one is
refused). A function file holds the ``CREATE OR REPLACE`` functions (and triggers) of one
rule, their one home: it is applied after every migration, and again whenever its text changes, so a
rule written in SQL is read and changed in one place rather than in the latest migration
that happened to redefine it.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import asyncpg

# Any constant works; it only has to be the same for every migrating process.
_LOCK_ID = 7_312_004_118
_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
_FUNCTION_NAME = re.compile(r"^[a-z0-9_]+\.sql$")


class MigrationError(RuntimeError):
    """The database and the sql/ folder disagree in a way the runner must not paper over."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def sql_dir() -> Path:
    """The sql/ folder: beside the package in a checkout, inside it in a wheel."""
    here = Path(__file__).resolve().parent
    for candidate in (here.parent / "sql", here / "sql"):
        if candidate.is_dir():
            return candidate
    raise MigrationError("the sql/ folder with the migrations was not found")


def load_migrations(folder: Path | None = None) -> list[Migration]:
    folder = folder or sql_dir()
    found = []
    for path in sorted(folder.iterdir()):
        match = _NAME.match(path.name)
        if match:
            found.append(Migration(int(match.group(1)), path.name, path.read_text()))
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise MigrationError("two migration files share a version number")
    return found


def load_functions(folder: Path | None = None) -> list[Migration]:
    """The function files of ``folder``/functions, in name order (version 0: unnumbered)."""
    functions = (folder or sql_dir()) / "functions"
    if not functions.is_dir():
        return []
    return [
        Migration(0, f"functions/{path.name}", path.read_text())
        for path in sorted(functions.iterdir())
        if _FUNCTION_NAME.match(path.name)
    ]


async def migrate(conn: asyncpg.Connection, folder: Path | None = None) -> list[str]:
    """Apply pending migrations, then new or changed function files; returns the names
    applied. Refuses if an applied migration changed."""
    migrations = load_migrations(folder)
    functions = load_functions(folder)
    await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_ID)
    try:
        await conn.execute(
            """CREATE TABLE IF NOT EXISTS schema_migrations (
                   version    integer PRIMARY KEY,
                   name       text NOT NULL,
                   checksum   text NOT NULL,
                   applied_at timestamptz NOT NULL DEFAULT now())"""
        )
        rows = await conn.fetch("SELECT version, name, checksum FROM schema_migrations")
        applied = {r["version"]: r for r in rows}
        for m in migrations:
            row = applied.get(m.version)
            if row is not None and row["checksum"] != m.checksum:
                raise MigrationError(
                    f"migration {m.name} was changed after it was applied "
                    f"(applied as {row['name']}); add a new migration instead"
                )
        known = {m.version for m in migrations}
        unknown = sorted(set(applied) - known)
        if unknown:
            raise MigrationError(f"the database has migrations this code lacks: {unknown}")
        done = []
        for m in migrations:
            if m.version in applied:
                continue
            async with conn.transaction():
                await conn.execute(m.sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                    m.version,
                    m.name,
                    m.checksum,
                )
            done.append(m.name)
        done += await _apply_functions(conn, functions)
        return done
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_ID)


async def _apply_functions(conn: asyncpg.Connection, functions: list[Migration]) -> list[str]:
    await conn.execute(
        """CREATE TABLE IF NOT EXISTS schema_functions (
               name       text PRIMARY KEY,
               checksum   text NOT NULL,
               applied_at timestamptz NOT NULL DEFAULT now())"""
    )
    rows = await conn.fetch("SELECT name, checksum FROM schema_functions")
    applied = {r["name"]: r["checksum"] for r in rows}
    done = []
    for f in functions:
        if applied.get(f.name) == f.checksum:
            continue
        async with conn.transaction():
            await conn.execute(f.sql)
            await conn.execute(
                """INSERT INTO schema_functions (name, checksum) VALUES ($1, $2)
                   ON CONFLICT (name) DO UPDATE
                   SET checksum = excluded.checksum, applied_at = now()""",
                f.name,
                f.checksum,
            )
        done.append(f.name)
    return done


async def migrate_url(url: str) -> list[str]:
    conn = await asyncpg.connect(url)
    try:
        return await migrate(conn)
    finally:
        await conn.close()
