"""Deadlines, missed delivery, re-award, decline and re-run (DESIGN §3, §5)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import asyncpg

from marketplace.calendar import add_business_days
from marketplace.settings import Settings
from tests.helpers import Api, iso_in
from tests.scenes import delivered_for_review
from workers.deadlines import sweep_deadlines_once


def test_business_days_skip_weekends_and_holidays_in_the_zone() -> None:
    friday_evening_ny = dt.datetime(2026, 12, 25, 22, 30, tzinfo=dt.UTC)  # Fri 17:30 in New York
    due = add_business_days(friday_evening_ny, 3, "America/New_York", [dt.date(2026, 12, 29)])
    # Mon 28 (1), Tue 29 holiday, Wed 30 (2), Thu 31 (3): end of Thursday in New York.
    assert due == dt.datetime(2027, 1, 1, 4, 59, 59, 999_999, tzinfo=dt.UTC)
    # In UTC the same instant is already Friday night: Mon, Tue, Wed.
    assert add_business_days(friday_evening_ny, 3).date() == dt.date(2026, 12, 30)


async def _ctx(pool: Any, redis: Any, settings: Settings) -> dict[str, Any]:
    return {"pool": pool, "redis_client": redis, "settings": settings}


async def test_award_deadline_from_business_days(
    api: Api, db: asyncpg.Connection, pool: Any
) -> None:
    s = await delivered_for_review(api, db, pool)
    row = await db.fetchrow(
        "SELECT w.delivery_due_at, a.closed_at FROM awards w JOIN auctions a ON a.id = w.auction_id "
        "WHERE w.id = $1",
        s["award_id"],
    )
    assert row["delivery_due_at"] == add_business_days(row["closed_at"], 10)
    mine = (await api.client.get("/api/me/awards", headers=s["winner"].headers)).json()["items"]
    assert [(m["auction_id"], m["round"], m["status"]) for m in mine] == [
        (s["auction_id"], 1, "active")
    ]


async def test_missed_delivery_is_decided_by_merge_time(
    api: Api, db: asyncpg.Connection, pool: Any, redis: Any, settings: Settings
) -> None:
    ctx = await _ctx(pool, redis, settings)
    s = await delivered_for_review(api, db, pool)
    aid, award_id = s["auction_id"], s["award_id"]
    # Back to 'delivered' with the deadline passed; the only record predates the deadline.
    await db.execute("UPDATE auctions SET status = 'delivered' WHERE id = $1", aid)
    await db.execute(
        """UPDATE awards SET delivery_due_at = (SELECT max(created_at) FROM verifications
                                                 WHERE auction_id = $2) + interval '1 millisecond'
           WHERE id = $1""",
        award_id,
        aid,
    )
    assert await sweep_deadlines_once(ctx) == 0  # GitHub not read since the deadline: wait
    delivery = await db.fetchval("SELECT id FROM deliveries WHERE award_id = $1", award_id)
    # A verification after the deadline saw the PR merged before it: not missed.
    await db.execute(
        """INSERT INTO verifications (delivery_id, auction_id, passed, checks, merged_at)
           VALUES ($1, $2, false, '[]', now() - interval '2 minutes')""",
        delivery,
        aid,
    )
    assert await sweep_deadlines_once(ctx) == 0
    assert await db.fetchval("SELECT status FROM auctions WHERE id = $1", aid) == "delivered"
    # Another auction whose PR, read after the deadline, was never merged in time: missed.
    t = await delivered_for_review(api, db, pool)
    await db.execute("UPDATE auctions SET status = 'delivered' WHERE id = $1", t["auction_id"])
    await db.execute(
        "UPDATE awards SET delivery_due_at = now() - interval '1 minute' WHERE id = $1",
        t["award_id"],
    )
    d2 = await db.fetchval("SELECT id FROM deliveries WHERE award_id = $1", t["award_id"])
    await db.execute(
        """INSERT INTO verifications (delivery_id, auction_id, passed, checks, merged_at)
           VALUES ($1, $2, false, '[]', now())""",
        d2,
        t["auction_id"],
    )
    assert await sweep_deadlines_once(ctx) == 1
    assert await db.fetchval("SELECT status FROM auctions WHERE id = $1", t["auction_id"]) == (
        "missed_delivery"
    )


async def test_winner_who_never_delivers_then_runner_up_is_awarded(
    api: Api, db: asyncpg.Connection, pool: Any, redis: Any, settings: Settings
) -> None:
    ctx = await _ctx(pool, redis, settings)
    s = await delivered_for_review(api, db, pool)
    aid = s["auction_id"]
    await db.execute("UPDATE auctions SET status = 'awarded' WHERE id = $1", aid)
    await db.execute(
        "UPDATE awards SET delivery_due_at = now() - interval '1 second', delivered_at = NULL "
        "WHERE id = $1",
        s["award_id"],
    )
    assert await sweep_deadlines_once(ctx) == 1
    assert await db.fetchval("SELECT status FROM auctions WHERE id = $1", aid) == "missed_delivery"

    # Only the department's buyers re-award.
    r = await api.client.post(f"/api/auctions/{aid}/reaward", headers=(await api.buyer()).headers)
    assert r.status_code == 403
    r = await api.client.post(f"/api/auctions/{aid}/reaward", headers=s["buyer"].headers)
    assert r.status_code == 200, r.text
    award = r.json()
    assert award["winner_id"] == s["loser"].id and award["round"] == 2
    assert award["amount_cents"] == 400_000 and award["status"] == "active"
    assert await db.fetchval("SELECT status FROM awards WHERE id = $1", s["award_id"]) == "declined"
    assert await db.fetchval("SELECT status FROM auctions WHERE id = $1", aid) == "awarded"

    # The runner-up declines; nobody remains; the buyer re-runs the task as a draft.
    r = await api.client.post(
        f"/api/auctions/{aid}/decline", json={"reason": "no time"}, headers=s["winner"].headers
    )
    assert r.status_code == 403
    r = await api.client.post(
        f"/api/auctions/{aid}/decline", json={"reason": "no time now"}, headers=s["loser"].headers
    )
    assert r.status_code == 200 and r.json()["auction_status"] == "missed_delivery"
    r = await api.client.post(f"/api/auctions/{aid}/reaward", headers=s["buyer"].headers)
    assert r.status_code == 409 and r.json()["code"] == "no_runner_up"
    r = await api.client.post(f"/api/auctions/{aid}/rerun", headers=s["buyer"].headers)
    assert r.status_code == 201, r.text
    new_id = r.json()["auction_id"]
    draft = (await api.client.get(f"/api/auctions/{new_id}", headers=s["buyer"].headers)).json()
    assert draft["status"] == "draft" and draft["repo"] == "city-of-x/permits"
    assert (await api.client.get(f"/api/auctions/{new_id}")).status_code == 404  # still a draft


async def test_admin_extends_deadline_and_reopens_a_missed_delivery(
    api: Api, db: asyncpg.Connection, pool: Any, redis: Any, settings: Settings
) -> None:
    ctx = await _ctx(pool, redis, settings)
    s = await delivered_for_review(api, db, pool)
    aid = s["auction_id"]
    await db.execute("UPDATE auctions SET status = 'awarded' WHERE id = $1", aid)
    await db.execute(
        "UPDATE awards SET delivery_due_at = now() - interval '1 second', "
        "delivered_at = NULL WHERE id = $1",
        s["award_id"],
    )
    assert await sweep_deadlines_once(ctx) == 1
    body = {"due_at": iso_in(7 * 86400), "reason": "GitHub outage during the last week"}
    r = await api.client.post(
        f"/api/auctions/{aid}/delivery-deadline", json=body, headers=s["buyer"].headers
    )
    assert r.status_code == 403
    r = await api.client.post(
        f"/api/auctions/{aid}/delivery-deadline", json=body, headers=api.admin.headers
    )
    assert r.status_code == 200, r.text
    assert r.json()["auction_status"] == "awarded"
    r = await api.client.post(
        f"/api/auctions/{aid}/delivery-deadline",
        json={"due_at": iso_in(3600), "reason": "shorter"},
        headers=api.admin.headers,
    )
    assert r.status_code == 422 and r.json()["code"] == "deadline_not_later"
    r = await api.client.post(
        f"/api/auctions/{aid}/delivery-deadline",
        json={"due_at": "2030-01-01T00:00:00", "reason": "no zone"},
        headers=api.admin.headers,
    )
    assert r.status_code == 400
