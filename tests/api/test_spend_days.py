"""Department spend kept per local day (sql/functions/spend_days.sql): the kept days
equal a full recount after a random history written by concurrent transactions and
rebuilds, and GET /api/departments/{id}/spend gives the same report from them as from the
awards themselves, whatever from/to cut."""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import zoneinfo
from typing import Any

import asyncpg
import msgspec
import pytest

from marketplace.settings import Settings
from marketplace.transparency.queries import PAID
from tests.helpers import Api

ZONE, THRESHOLD = "America/St_Johns", 400_000  # a half-hour offset, with summer time
STATUSES = [
    "awarded",
    "delivered",
    "pending_review",
    "accepted",
    "rejected",
    "paid",
    "payment_confirmed",
    "missed_delivery",
    "cancelled",
]
EPOCH = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
ZONEINFO = zoneinfo.ZoneInfo(ZONE)

RECOUNT = """SELECT a.department_id, (w.awarded_at AT TIME ZONE $1)::date AS day,
        count(*) AS awards, sum(w.amount_cents)::bigint AS committed_cents,
        count(*) FILTER (WHERE a.status = ANY($3::text[])) AS paid_awards,
        coalesce(sum(w.amount_cents) FILTER (WHERE a.status = ANY($3::text[])), 0)::bigint
            AS paid_cents,
        count(*) FILTER (WHERE w.amount_cents * 10 >= $2::bigint * 9) AS near_threshold,
        count(*) FILTER (WHERE w.amount_cents * 10 >= a.price_cap_cents * 9) AS near_cap
    FROM awards w JOIN auctions a ON a.id = w.auction_id
    WHERE w.status = 'active' GROUP BY 1, 2"""
KEPT = """SELECT department_id, day, awards, committed_cents, paid_awards, paid_cents,
        near_threshold, near_cap FROM department_spend_days"""


def _at(rng: random.Random) -> dt.datetime:
    """A time in 2024-2025, often within an hour of a month's turn somewhere."""
    if rng.random() < 0.4:
        month = dt.datetime(2024 + rng.randrange(2), rng.randrange(1, 13), 1, tzinfo=dt.UTC)
        return month + dt.timedelta(minutes=rng.randrange(-300, 300))
    return EPOCH + dt.timedelta(seconds=rng.randrange(2 * 365 * 86400))


async def _seed(conn: asyncpg.Connection, rng: random.Random, auctions: int) -> list[int]:
    """Departments, vendors and awarded auctions with three bids each, through SQL."""
    depts = [
        await conn.fetchval("INSERT INTO departments (name) VALUES ($1) RETURNING id", f"D{i}")
        for i in range(3)
    ]
    buyer = await conn.fetchval(
        "INSERT INTO users (email, name, roles, department_id) "
        "VALUES ('b@spend.test', 'B', '{buyer}', $1) RETURNING id",
        depts[0],
    )
    vendors = [
        await conn.fetchval(
            "INSERT INTO users (email, name, roles) VALUES ($1, 'V', '{vendor}') RETURNING id",
            f"v{i}@spend.test",
        )
        for i in range(3)
    ]
    ids = []
    for _ in range(auctions):
        cap = rng.choice([100_000, 420_000, 500_000])
        aid = await conn.fetchval(
            """INSERT INTO auctions (department_id, created_by, title, summary, repo, type,
                   status, price_cap_cents, min_decrement_cents, starts_at, ends_at,
                   scheduled_ends_at, delivery_business_days, opened_at, published_at,
                   closed_at)
               VALUES ($1, $2, 'Task', 'A summary.', 'o/r', 'reverse', 'awarded', $3, 100,
                   now() - interval '3 hours', now() - interval '1 hour',
                   now() - interval '1 hour', 10, now() - interval '3 hours',
                   now() - interval '4 hours', now() - interval '1 hour')
               RETURNING id""",
            rng.choice(depts),
            buyer,
            cap,
        )
        for n, vendor in enumerate(vendors, start=1):
            await conn.execute(
                "INSERT INTO auction_bidders (auction_id, bidder_id, alias_number) "
                "VALUES ($1, $2, $3)",
                aid,
                vendor,
                n,
            )
            await conn.execute(
                "INSERT INTO bids (auction_id, bidder_id, amount_cents) VALUES ($1, $2, $3)",
                aid,
                vendor,
                cap - 1000 * n,
            )
        await _award(conn, rng, aid, 1)
        ids.append(aid)
    return ids


async def _award(
    conn: asyncpg.Connection, rng: random.Random, aid: int, round_: int, now: bool = False
) -> None:
    bid = await conn.fetchrow(
        "SELECT id, bidder_id, amount_cents FROM bids WHERE auction_id = $1 ORDER BY random() "
        "LIMIT 1",
        aid,
    )
    cap = await conn.fetchval("SELECT price_cap_cents FROM auctions WHERE id = $1", aid)
    await conn.execute(
        """INSERT INTO awards (auction_id, round, winner_id, bid_id, amount_cents, awarded_at)
           VALUES ($1, $2, $3, $4, $5, $6)""",
        aid,
        round_,
        bid["bidder_id"],
        bid["id"],
        rng.randrange(cap // 2, cap + 1),
        dt.datetime.now(dt.UTC) if now else _at(rng),
    )


async def _step(
    conn: asyncpg.Connection, rng: random.Random, aid: int, *, live: bool = False
) -> None:
    """One change a history makes to an award or its auction (some undone). ``live``: only
    what happens to awards in service, where a new award is made now and none moves (the
    order in which day rows are taken, sql/functions/spend_days.sql)."""
    ops = ["reaward", "status", "status", "amount", "end", "undone"]
    op = rng.choice(ops if live else [*ops, "move", "move"])
    async with conn.transaction():
        if op == "reaward":
            top = await conn.fetchval("SELECT max(round) FROM awards WHERE auction_id = $1", aid)
            await conn.execute(
                "UPDATE awards SET status = 'declined', ended_at = now() "
                "WHERE auction_id = $1 AND status = 'active'",
                aid,
            )
            await _award(conn, rng, aid, top + 1, now=live)
        elif op == "status":
            await conn.execute(
                "UPDATE auctions SET status = $2 WHERE id = $1", aid, rng.choice(STATUSES)
            )
        elif op == "move":
            await conn.execute(
                "UPDATE awards SET awarded_at = $2 WHERE auction_id = $1 AND status = 'active'",
                aid,
                _at(rng),
            )
        elif op == "amount":
            await conn.execute(
                "UPDATE awards SET amount_cents = amount_cents - $2 "
                "WHERE auction_id = $1 AND status = 'active' AND amount_cents > $2",
                aid,
                rng.randrange(1, 50_000),
            )
        elif op == "end":
            await conn.execute(
                "UPDATE awards SET status = $2, ended_at = now() "
                "WHERE auction_id = $1 AND status = 'active'",
                aid,
                rng.choice(["superseded", "declined"]),
            )
        else:
            tx = conn.transaction()
            await tx.start()
            await conn.execute("UPDATE auctions SET status = 'paid' WHERE id = $1", aid)
            await conn.execute("UPDATE awards SET awarded_at = now() WHERE auction_id = $1", aid)
            await tx.rollback()


def _rows(records: list[asyncpg.Record]) -> set[tuple[Any, ...]]:
    return {tuple(r.values()) for r in records}


async def _kept_and_recount(db: asyncpg.Connection) -> tuple[set[Any], set[Any]]:
    kept = await db.fetch(KEPT)
    empty = [r for r in kept if r["awards"] == 0]
    assert all(tuple(r.values())[2:] == (0,) * 6 for r in empty), empty
    return (
        _rows([r for r in kept if r["awards"] != 0]),
        _rows(await db.fetch(RECOUNT, ZONE, THRESHOLD, PAID)),
    )


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_kept_days_equal_a_recount_after_a_random_history(
    db: asyncpg.Connection, database_url: str, seed: int
) -> None:
    rng = random.Random(seed)
    assert await db.fetchval("SELECT spend_rebuild($1, $2)", ZONE, THRESHOLD) in (True, False)
    ids = await _seed(db, rng, 40)
    for _ in range(80):
        await _step(db, rng, rng.choice(ids))
    kept, recount = await _kept_and_recount(db)
    assert recount and kept == recount, f"seed {seed}: one change at a time"

    conns = [await asyncpg.connect(database_url) for _ in range(4)]

    async def writer(k: int, steps: int) -> None:
        mine = [a for a in ids if a % 4 == k]  # no two writers change one auction
        for _ in range(steps):
            await _step(conns[k], random.Random(rng.random()), rng.choice(mine), live=True)

    async def rebuilder() -> None:
        conn = await asyncpg.connect(database_url)
        try:
            for basis in [("Asia/Kathmandu", 100_000), (ZONE, THRESHOLD)] * 3:
                await asyncio.sleep(rng.random() / 20)
                await conn.fetchval("SELECT spend_rebuild($1, $2)", *basis)
        finally:
            await conn.close()

    try:
        # Rebuilds among concurrent writers, then writers alone: the last rebuild's
        # recount must not be what makes the days right.
        await asyncio.gather(*(writer(k, 30) for k in range(4)), rebuilder())
        await asyncio.gather(*(writer(k, 30) for k in range(4)))
    finally:
        for conn in conns:
            await conn.close()
    kept, recount = await _kept_and_recount(db)
    assert recount and kept == recount, f"seed {seed}: concurrent changes and rebuilds"
    # A rebuild from nothing gives the same days.
    await db.execute("UPDATE spend_basis SET zone = ''")
    assert await db.fetchval("SELECT spend_rebuild($1, $2)", ZONE, THRESHOLD) is True
    assert await _kept_and_recount(db) == (kept, recount)


async def test_paid_means_the_same_in_sql_and_python(db: asyncpg.Connection) -> None:
    for status in [*STATUSES, "draft", "scheduled", "open", "closed_no_bids"]:
        assert await db.fetchval("SELECT spend_paid($1)", status) is (status in PAID), status


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """A deployment in St. John's with a 4,000.00 threshold (the api fixture serves it)."""
    return msgspec.structs.replace(settings, timezone=ZONE, threshold_cents=THRESHOLD)


def _bounds(rng: random.Random, awarded: list[dt.datetime]) -> dict[str, str]:
    """from/to as a client sends them: absent, at a local month's or day's start, or within
    hours of an award (so that the day it cuts has awards on both sides)."""

    def one() -> dt.datetime | None:
        kind = rng.choice(["none", "month", "day", "near", "near"])
        if kind == "none":
            return None
        at = rng.choice(awarded) + dt.timedelta(minutes=rng.randrange(-600, 600))
        if kind == "month":
            local = at.astimezone(ZONEINFO)
            at = dt.datetime(local.year, local.month, 1, tzinfo=ZONEINFO)
        if kind == "day":
            local = at.astimezone(ZONEINFO)
            at = dt.datetime(local.year, local.month, local.day, tzinfo=ZONEINFO)
        return at

    since, until = one(), one()
    if since and until and since >= until:
        since, until = until, since
    params = {"period": rng.choice(["month", "quarter", "year"])}
    if since:
        params["from"] = since.isoformat()
    if until and until != since:
        params["to"] = until.isoformat()
    return params


async def test_the_report_is_the_same_from_kept_days_as_from_the_awards(
    api: Api, db: asyncpg.Connection
) -> None:
    # Start-up made the kept days this deployment's.
    assert tuple(await db.fetchrow("SELECT zone, threshold_cents FROM spend_basis")) == (
        ZONE,
        THRESHOLD,
    )
    rng = random.Random(7)
    ids = await _seed(db, rng, 60)
    for _ in range(60):
        await _step(db, rng, rng.choice(ids))
    departments = [
        r["id"] for r in await db.fetch("SELECT id FROM departments WHERE name LIKE 'D_'")
    ]

    async def report(dept: int, params: dict[str, str]) -> Any:
        r = await api.client.get(
            f"/api/departments/{dept}/spend", params=params, headers=api.admin.headers
        )
        assert r.status_code == 200, (params, r.text)
        return r.json()

    awarded = [r["awarded_at"] for r in await db.fetch("SELECT awarded_at FROM awards")]
    for _ in range(80):
        dept, params = rng.choice(departments), _bounds(rng, awarded)
        kept = await report(dept, params)
        await db.execute("UPDATE spend_basis SET threshold_cents = threshold_cents + 1")
        counted = await report(dept, params)  # the basis differs: counted from the awards
        await db.execute("UPDATE spend_basis SET threshold_cents = threshold_cents - 1")
        assert kept == counted, params
    # And the report did read the kept days: a change to one shows.
    dept = departments[0]
    before = await report(dept, {"period": "year"})
    await db.execute(
        "UPDATE department_spend_days SET awards = awards + 1000 WHERE department_id = $1",
        dept,
    )
    after = await report(dept, {"period": "year"})
    assert after["totals"]["awards"] > before["totals"]["awards"] > 0
