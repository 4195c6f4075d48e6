"""Reads that do not scan history (issue 27): the platform figures' snapshot and the award
notices' ``latest`` flag, each checked against a full recount after a randomized history."""

from __future__ import annotations

import random
from typing import Any

import asyncpg
import msgspec
from litestar.testing import AsyncTestClient

from marketplace.app import create_app
from marketplace.auctions import lifecycle
from marketplace.settings import Settings
from marketplace.transparency import figures
from tests.helpers import CLOSE_SETTINGS, Api, bid, end_auction_now, published_auction

MAX_AGE = 60.0


def _without_time(f: figures.Figures) -> dict[str, Any]:
    body: dict[str, Any] = msgspec.to_builtins(f)
    body["metrics"].pop("generated_at")
    return body


async def _recount(pool: Any) -> dict[str, Any]:
    return _without_time(await figures.current(pool, 0))


# The latest award of each closed auction, counted from every round as notices were before
# sql/0025_read_scale.sql: the highest round.
RECOUNT_LATEST = """SELECT DISTINCT ON (auction_id) id FROM awards
                    ORDER BY auction_id, round DESC"""


async def _latest_agrees(db: asyncpg.Connection) -> None:
    flagged = {r["id"] for r in await db.fetch("SELECT id FROM awards WHERE latest")}
    assert flagged == {r["id"] for r in await db.fetch(RECOUNT_LATEST)}


async def _reaward(db: asyncpg.Connection, auction_id: int) -> bool:
    """Give the auction's award to another bidder in a new round (as a decline does)."""
    last = await db.fetchrow(
        "SELECT round, winner_id FROM awards WHERE auction_id = $1 ORDER BY round DESC LIMIT 1",
        auction_id,
    )
    other = await db.fetchrow(
        """SELECT id, bidder_id, amount_cents FROM bids
           WHERE auction_id = $1 AND bidder_id <> $2 AND status = 'active'
           ORDER BY amount_cents, id LIMIT 1""",
        auction_id,
        last["winner_id"],
    )
    if other is None:
        return False
    async with db.transaction():
        await db.execute(
            "UPDATE awards SET status = 'declined' WHERE auction_id = $1 AND status = 'active'",
            auction_id,
        )
        await db.execute(
            """INSERT INTO awards (auction_id, round, winner_id, bid_id, amount_cents)
               VALUES ($1, $2, $3, $4, $5)""",
            auction_id,
            last["round"] + 1,
            other["bidder_id"],
            other["id"],
            other["amount_cents"],
        )
    return True


async def test_figures_and_latest_awards_equal_a_recount_after_a_random_history(
    api: Api, db: asyncpg.Connection, pool: Any
) -> None:
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    department = await api.department()
    buyer = await api.buyer(department)
    vendors = [await api.verified_vendor() for _ in range(4)]
    open_ids: list[int] = []
    closed: list[int] = []
    for _ in range(40):
        step = rng.choice(["publish", "bid", "bid", "bid", "close", "cancel", "reaward"])
        if step == "publish" or not open_ids:
            kind = rng.choice(["reverse", "sealed"])
            open_ids.append(int((await published_auction(api, buyer, type=kind))["id"]))
        elif step == "bid":
            aid = rng.choice(open_ids)
            await bid(api, rng.choice(vendors), aid, rng.randrange(1_000, 500_000))
        elif step == "close":
            aid = open_ids.pop(rng.randrange(len(open_ids)))
            await end_auction_now(db, aid)
            await lifecycle.close_auction(pool, aid, CLOSE_SETTINGS)
            closed.append(aid)
        elif step == "cancel":
            aid = open_ids.pop(rng.randrange(len(open_ids)))
            r = await api.client.post(
                f"/api/auctions/{aid}/cancel",
                json={"reason": "no longer needed"},
                headers=buyer.headers,
            )
            assert r.status_code == 200, (seed, r.text)
        elif closed:
            awarded = [a for a in closed if await db.fetchval(RECOUNT_AWARDED, a)]
            if awarded:
                await _reaward(db, rng.choice(awarded))
        await _latest_agrees(db)
        # The snapshot, once refreshed, says exactly what a recount says.
        refreshed = await figures.refresh(pool, wait=True)
        assert refreshed is not None
        assert _without_time(refreshed) == await _recount(pool), seed
        assert _without_time(await figures.current(pool, MAX_AGE)) == await _recount(pool), seed


RECOUNT_AWARDED = "SELECT EXISTS (SELECT 1 FROM awards WHERE auction_id = $1)"


async def _age(db: asyncpg.Connection, seconds: float) -> None:
    await db.execute(
        "UPDATE figure_snapshots SET computed_at = now() - make_interval(secs => $1)", seconds
    )


async def test_a_snapshot_is_served_until_it_is_stale(
    api: Api, db: asyncpg.Connection, pool: Any
) -> None:
    buyer = await api.buyer(await api.department())
    vendor = await api.verified_vendor()
    aid = int((await published_auction(api, buyer))["id"])
    first = await figures.current(pool, MAX_AGE)  # none yet: counted and stored
    assert first.metrics.bids.total == 0
    assert await db.fetchval("SELECT count(*) FROM figure_snapshots") == 1

    assert (await bid(api, vendor, aid, 5_000)).status_code == 201
    # Young enough: the snapshot is served, no recount.
    assert (await figures.current(pool, MAX_AGE)).metrics.bids.total == 0
    assert not await figures.refresh_if_due(pool, MAX_AGE)
    # Older than the age it may have, with an audit row since: counted again.
    await _age(db, MAX_AGE + 1)
    assert (await figures.current(pool, MAX_AGE)).metrics.bids.total == 1

    # Nothing audited since: an older snapshot still serves, up to IDLE_FACTOR times the age.
    await _age(db, MAX_AGE * 2)
    kept = await figures.current(pool, MAX_AGE)
    assert kept.metrics.generated_at == (await figures.current(pool, MAX_AGE)).metrics.generated_at
    assert not await figures.refresh_if_due(pool, MAX_AGE * 10)
    await _age(db, MAX_AGE * figures.IDLE_FACTOR + 1)
    assert await figures.refresh_if_due(pool, MAX_AGE)  # the worker's step counts it again
    assert not await figures.refresh_if_due(pool, MAX_AGE)


async def test_while_one_process_counts_the_others_are_served_the_previous_snapshot(
    api: Api, db: asyncpg.Connection, pool: Any
) -> None:
    buyer = await api.buyer(await api.department())
    vendor = await api.verified_vendor()
    aid = int((await published_auction(api, buyer))["id"])
    await figures.current(pool, MAX_AGE)
    assert (await bid(api, vendor, aid, 5_000)).status_code == 201
    await _age(db, MAX_AGE + 1)
    counter = await asyncpg.connect(dsn=pool._connect_args[0])
    try:
        async with counter.transaction():
            await counter.execute("SELECT pg_advisory_xact_lock($1)", figures.LOCK)
            # Another process holds the refresh: no waiting, the previous figures.
            assert (await figures.current(pool, MAX_AGE)).metrics.bids.total == 0
            assert await figures.refresh(pool) is None
    finally:
        await counter.close()
    assert (await figures.current(pool, MAX_AGE)).metrics.bids.total == 1


async def test_the_api_and_the_pages_serve_the_snapshot(
    api: Api, db: asyncpg.Connection, pool: Any, settings: Settings
) -> None:
    """As deployed (figures may lag), /api/metrics, /insights and /metrics read the snapshot:
    a bid placed after it shows once it is stale and counted again."""
    assert settings.database_url and settings.redis_url
    deployed = msgspec.structs.replace(
        settings, figures_max_age_seconds=MAX_AGE, metrics_token="scrape"
    )
    scrape = {"Authorization": "Bearer scrape"}
    app = create_app(deployed, settings.database_url, settings.redis_url)
    buyer = await api.buyer(await api.department())
    vendor = await api.verified_vendor()
    aid = int((await published_auction(api, buyer))["id"])
    async with AsyncTestClient(app=app) as client:
        assert (await client.get("/api/metrics")).json()["bids"]["total"] == 0
        assert (await bid(api, vendor, aid, 5_000)).status_code == 201
        assert (await client.get("/api/metrics")).json()["bids"]["total"] == 0
        assert "marketplace_bids 0" in (await client.get("/metrics", headers=scrape)).text
        await _age(db, MAX_AGE + 1)
        assert (await client.get("/api/metrics")).json()["bids"]["total"] == 1
        assert "marketplace_bids 1" in (await client.get("/metrics", headers=scrape)).text
        assert (await client.get("/insights")).status_code == 200
    row = await db.fetchrow("SELECT watermark, body FROM figure_snapshots")
    assert row["watermark"] == await db.fetchval("SELECT max(id) FROM audit_log")
