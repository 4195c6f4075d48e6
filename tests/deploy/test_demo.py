"""`marketplace demo`: a believable marketplace, seeded once, with working tokens each run."""

from __future__ import annotations

from typing import Any

import asyncpg

from marketplace.demo import report, seed
from marketplace.settings import Settings


async def test_demo_seeds_every_status_once_and_prints_working_tokens(
    settings: Settings, db: asyncpg.Connection, client: Any
) -> None:
    assert settings.database_url and settings.redis_url
    first = await seed(settings, settings.database_url, settings.redis_url)

    statuses = dict(await db.fetch("SELECT status, count(*) FROM auctions GROUP BY status"))
    for status in ("open", "scheduled", "awarded", "closed_no_bids", "draft"):
        assert statuses.get(status, 0) >= 1, statuses
    assert 8 <= sum(statuses.values()) <= 15
    assert first.statuses == statuses
    assert await db.fetchval("SELECT count(*) FROM departments") >= 3
    verified = await db.fetchval(
        "SELECT count(*) FROM users WHERE 'vendor' = ANY (roles) AND verification_status = 'verified'"
    )
    assert 8 <= verified <= 12
    # Some open auction closes within minutes, and sealed ones exist.
    assert await db.fetchval(
        "SELECT count(*) FROM auctions WHERE status = 'open' AND ends_at < now() + interval '20 minutes'"
    )
    assert await db.fetchval("SELECT count(*) FROM auctions WHERE type = 'sealed'") >= 2
    assert first.added["bids"] == await db.fetchval("SELECT count(*) FROM bids") > 10
    # Every awarded auction has its award, at its lowest bid.
    awards = await db.fetch(
        """SELECT a.id, w.amount_cents, (SELECT min(amount_cents) FROM bids b
                                         WHERE b.auction_id = a.id) AS low
           FROM auctions a JOIN awards w ON w.auction_id = a.id"""
    )
    assert len(awards) == statuses["awarded"]
    assert all(r["amount_cents"] == r["low"] for r in awards)
    # Reverse histories went down and the stored low bid is the last one.
    for aid in await db.fetch("SELECT id FROM auctions WHERE type = 'reverse' AND bid_count > 0"):
        amounts = [
            r["amount_cents"]
            for r in await db.fetch(
                "SELECT amount_cents FROM bids WHERE auction_id = $1 ORDER BY id", aid["id"]
            )
        ]
        assert amounts == sorted(amounts, reverse=True) and len(set(amounts)) == len(amounts)
        lowest = await db.fetchval("SELECT lowest_cents FROM auctions WHERE id = $1", aid["id"])
        assert lowest == amounts[-1]

    users = await db.fetchval("SELECT count(*) FROM users")
    second = await seed(settings, settings.database_url, settings.redis_url)
    assert second.added == {"departments": 0, "users": 0, "auctions": 0, "bids": 0}
    assert dict(await db.fetch("SELECT status, count(*) FROM auctions GROUP BY status")) == statuses
    assert await db.fetchval("SELECT count(*) FROM users") == users

    assert set(second.tokens) == {"admin", "buyer", "vendor", "reviewer", "finance", "auditor"}
    for role, (_, token) in second.tokens.items():
        assert token != first.tokens[role][1]
        r = await client.get("/api/me", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200, r.text
        assert role in r.json()["roles"]

    # The vendor token can bid on the auction the printed example names.
    assert second.open_auction_id is not None
    vendor = {"Authorization": f"Bearer {second.tokens['vendor'][1]}"}
    detail = (await client.get(f"/api/auctions/{second.open_auction_id}", headers=vendor)).json()
    assert detail["position"]["can_bid"] is True
    r = await client.post(
        f"/api/auctions/{second.open_auction_id}/bids",
        json={"amount_cents": detail["max_allowed_cents"]},
        headers=vendor,
    )
    assert r.status_code == 201, r.text

    text = report(second, "http://127.0.0.1:8000")
    assert "already seeded" in text
    assert f"curl -N http://127.0.0.1:8000/api/auctions/{second.open_auction_id}/events" in text
    assert second.tokens["auditor"][1] in text
