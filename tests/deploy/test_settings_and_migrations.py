"""Settings parsing and the migration runner against a real database."""

from __future__ import annotations

import itertools
import os
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from marketplace.migrate import MigrationError, load_functions, load_migrations, migrate
from marketplace.settings import Settings, SettingsError, load_settings
from tests.conftest import Servers, with_database


def test_defaults_give_a_local_embedded_setup() -> None:
    s = load_settings({})
    assert s.database_url is None and s.redis_url is None
    assert s.port == 8000 and s.threshold_cents == 1_000_000 and s.min_auction_seconds == 3600
    assert s.public_url == "http://127.0.0.1:8000"
    assert s.sse_per_client == 20
    assert load_settings({"MARKETPLACE_SSE_PER_CLIENT": "5"}).sse_per_client == 5


def test_no_variable_set_reads_as_the_settings_defaults() -> None:
    """Each default is written once, on the Settings field: with nothing set, every field
    reads as its default but the two derived from others (the data dir made absolute, the
    public URL from host and port)."""
    read, defaults = load_settings({}), Settings()
    differ = {
        name
        for name in Settings.__struct_fields__
        if getattr(read, name) != getattr(defaults, name)
    }
    assert differ == {"data_dir", "public_url"}
    assert read.data_dir == defaults.data_dir.absolute()


def test_every_numeric_setting_is_read_from_its_variable() -> None:
    """Each number of Settings is MARKETPLACE_<FIELD>: a field added without being read
    (or read under another name) fails here."""
    defaults = Settings()
    numeric = [
        name
        for name in Settings.__struct_fields__
        if isinstance(getattr(defaults, name), int | float)
        and not isinstance(getattr(defaults, name), bool)
    ]
    assert len(numeric) >= 20, numeric
    for name in numeric:
        changed = getattr(defaults, name) + 1
        read = load_settings({f"MARKETPLACE_{name.upper()}": str(changed)})
        assert getattr(read, name) == changed, name


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PORT", "eighty"),
        ("PORT", "70000"),
        ("THRESHOLD_CENTS", "10.5"),
        ("MIN_AUCTION_SECONDS", "-1"),
        ("TIMEZONE", "Mars/Olympus"),
        ("HOLIDAYS", "2026-12-25,christmas"),
        ("DATABASE_URL", "mysql://x"),
        ("PAYMENT_HOLD_SECONDS", "soon"),
        ("SSE_PER_CLIENT", "0"),
    ],
)
def test_malformed_value_names_the_variable(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=f"MARKETPLACE_{name}"):
        load_settings({f"MARKETPLACE_{name}": value})


def test_holidays_and_zone_parse() -> None:
    s = load_settings(
        {"MARKETPLACE_HOLIDAYS": "2026-12-25, 2026-01-01", "MARKETPLACE_TIMEZONE": "Asia/Singapore"}
    )
    assert [d.isoformat() for d in s.holidays] == ["2026-01-01", "2026-12-25"]
    assert s.zone.key == "Asia/Singapore"


async def test_runner_is_idempotent_and_refuses_changed_files(
    db: asyncpg.Connection, tmp_path: Path
) -> None:
    # The per-test database is already migrated: a second run applies nothing.
    assert await migrate(db) == []
    rows = await db.fetch("SELECT version, checksum FROM schema_migrations ORDER BY version")
    assert [r["version"] for r in rows] == [m.version for m in load_migrations()]

    changed = tmp_path / "sql"
    changed.mkdir()
    for m in load_migrations():
        (changed / m.name).write_text(m.sql + ("\n-- edited" if m.version == 1 else ""))
    with pytest.raises(MigrationError, match="was changed"):
        await migrate(db, changed)


async def test_function_files_are_applied_again_when_changed(
    db: asyncpg.Connection, tmp_path: Path
) -> None:
    """sql/functions/*.sql: the one home of each SQL function. The per-test database has
    them all; a run with one file changed applies that file alone, and the new text is live."""
    folder = tmp_path / "sql"
    (folder / "functions").mkdir(parents=True)
    for m in load_migrations():
        (folder / m.name).write_text(m.sql)
    functions = load_functions()
    assert "functions/place_bid.sql" in [f.name for f in functions]
    for f in functions:
        text = f.sql
        if f.name == "functions/bid_max_allowed.sql":
            text = text.replace("p_lowest_cents - p_min_decrement_cents", "p_lowest_cents - 7")
        (folder / f.name).write_text(text)
    assert await migrate(db, folder) == ["functions/bid_max_allowed.sql"]
    assert await db.fetchval("SELECT bid_max_allowed('reverse', 100, 1, 500)") == 93
    assert await migrate(db, folder) == []
    assert await migrate(db) == ["functions/bid_max_allowed.sql"]
    assert await db.fetchval("SELECT bid_max_allowed('reverse', 100, 1, 500)") == 99


async def test_audit_log_refuses_update_delete_truncate(db: asyncpg.Connection) -> None:
    await db.execute("SELECT audit_append('global', NULL, false, '{\"action\":\"t\"}')")
    for sql in ("UPDATE audit_log SET data = 'x'", "DELETE FROM audit_log", "TRUNCATE audit_log"):
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await db.execute(sql)
    assert await db.fetchval("SELECT count(*) FROM audit_log") >= 1


async def test_audit_rows_chain_by_hash(db: asyncpg.Connection, api: Any) -> None:
    await api.department("Chained")
    rows = await db.fetch(
        "SELECT seq, prev_hash, hash FROM audit_log WHERE chain = 'global' ORDER BY seq"
    )
    assert len(rows) >= 2
    for earlier, later in itertools.pairwise(rows):
        assert later["prev_hash"] == earlier["hash"] and later["seq"] == earlier["seq"] + 1


async def test_the_renamed_tables_keep_their_rows_ids_and_sequences(
    servers: Servers, tmp_path: Path
) -> None:
    """sql/0035: GitHub's webhook deliveries become github_events and the department
    webhooks' outbound POSTs webhook_sends, in place, on a database that has rows in both."""
    name = f"mp_rename_{os.getpid()}"
    admin = await asyncpg.connect(servers.database_url)
    await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    await admin.execute(f"CREATE DATABASE {name}")
    conn = await asyncpg.connect(with_database(servers.database_url, name))
    try:
        before = tmp_path / "sql"
        (before / "functions").mkdir(parents=True)
        for m in load_migrations():
            if m.version < 35:
                (before / m.name).write_text(m.sql)
        for f in load_functions():
            (before / f.name).write_text(f.sql)
        await migrate(conn, before)
        github = await conn.fetchval(
            """INSERT INTO github_deliveries (delivery_id, event, payload)
               VALUES ('guid-1', 'ping', '{}') RETURNING id"""
        )
        dept = await conn.fetchval("INSERT INTO departments (name) VALUES ('Parks') RETURNING id")
        hook = await conn.fetchval(
            """INSERT INTO department_webhooks (department_id, url, secret)
               VALUES ($1, 'https://parks.example/hook', 's') RETURNING id""",
            dept,
        )
        send = await conn.fetchval(
            """INSERT INTO webhook_deliveries (webhook_id, event_id, event_type, payload, guid)
               VALUES ($1, 1, 'auction.published', '\\x7b7d', gen_random_uuid()) RETURNING id""",
            hook,
        )

        # 0035 and whatever came after it (0036 onwards), nothing before.
        later = [m.name for m in load_migrations() if m.version >= 35]
        assert later[0] == "0035_one_word_one_thing.sql"
        assert await migrate(conn) == later
        assert await conn.fetchval("SELECT to_regclass('github_deliveries')") is None
        assert await conn.fetchval("SELECT to_regclass('webhook_deliveries')") is None
        assert (
            await conn.fetchval("SELECT id FROM github_events WHERE delivery_id = 'guid-1'")
            == github
        )
        assert (
            await conn.fetchval("SELECT webhook_id FROM webhook_sends WHERE id = $1", send) == hook
        )
        # Their sequences go on from where they were, and the constraints still hold.
        assert (
            await conn.fetchval(
                "INSERT INTO github_events (delivery_id, event, payload) VALUES ('guid-2', 'ping', '{}')"
                " RETURNING id"
            )
            == github + 1
        )
        with pytest.raises(asyncpg.UniqueViolationError, match="github_events_delivery_id_key"):
            await conn.execute(
                "INSERT INTO github_events (delivery_id, event, payload) VALUES ('guid-1', 'x', '{}')"
            )
        with pytest.raises(asyncpg.UniqueViolationError, match="webhook_sends_event_key"):
            await conn.execute(
                """INSERT INTO webhook_sends (webhook_id, event_id, event_type, payload, guid)
                   VALUES ($1, 1, 'auction.published', '\\x7b7d', gen_random_uuid())""",
                hook,
            )
        names = await conn.fetchval(
            """SELECT count(*) FROM pg_class
               WHERE relname LIKE 'github_deliveries%' OR relname LIKE 'webhook_deliveries%'"""
        )
        assert names == 0
    finally:
        await conn.close()
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        await admin.close()
