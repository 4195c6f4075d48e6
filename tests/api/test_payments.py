"""Review and exactly-once payment (DESIGN §6), through the API and the release job."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import httpx
import pytest

from marketplace.payments import service as payments
from marketplace.payments.provider import LedgerProvider, PaymentOrder, ProviderError, Receipt
from marketplace.settings import Settings
from tests.helpers import Api
from tests.scenes import accept, delivered_for_review
from workers import payments as payment_jobs


async def test_accept_release_confirm(api: Api, db: asyncpg.Connection, pool: Any) -> None:
    s = await delivered_for_review(api, db, pool)
    reviewer = await api.user("reviewer")
    queue = (await api.client.get("/api/reviews", headers=reviewer.headers)).json()["items"]
    assert [q["auction_id"] for q in queue] == [s["auction_id"]]
    assert queue[0]["verification_passed"] is True and queue[0]["checks"][0]["name"] == "merged"

    r = await accept(api, reviewer, s["auction_id"])
    assert r.status_code == 200, r.text
    payment_id = r.json()["payment_id"]
    assert r.json()["auction_status"] == "accepted"
    assert (await accept(api, reviewer, s["auction_id"])).status_code == 409

    assert await payments.release(pool, payment_id, LedgerProvider()) == "released"
    assert await payments.release(pool, payment_id, LedgerProvider()) == "released"  # no-op
    winner = s["winner"]
    mine = (await api.client.get("/api/payments", headers=winner.headers)).json()["items"]
    assert [(p["id"], p["status"], p["amount_cents"], p["payee_id"]) for p in mine] == [
        (payment_id, "released", 390_000, winner.id)
    ]
    assert mine[0]["missing_details"] is True  # released to finance without payee details
    assert (await api.client.get("/api/payments", headers=s["loser"].headers)).json()["items"] == []

    r = await api.client.post(f"/api/payments/{payment_id}/confirm", headers=s["loser"].headers)
    assert r.status_code == 404
    r = await api.client.post(f"/api/payments/{payment_id}/confirm", headers=winner.headers)
    assert r.status_code == 200 and r.json()["status"] == "confirmed"
    assert await db.fetchval("SELECT status FROM auctions WHERE id = $1", s["auction_id"]) == (
        "payment_confirmed"
    )
    assert await db.fetchval("SELECT count(*) FROM ledger_entries") == 1


async def test_release_killed_at_each_point_then_rerun_pays_once(
    api: Api, db: asyncpg.Connection, pool: Any
) -> None:
    s = await delivered_for_review(api, db, pool)
    reviewer = await api.user("reviewer")
    payment_id = (await accept(api, reviewer, s["auction_id"])).json()["payment_id"]

    class Dies(LedgerProvider):
        def __init__(self, when: str) -> None:
            self.when = when

        async def release(self, conn: Any, order: PaymentOrder) -> Receipt:
            if self.when == "before":
                raise asyncio.CancelledError
            if self.when == "during":
                await conn.execute("SELECT 1")
                raise asyncio.CancelledError
            await super().release(conn, order)
            raise asyncio.CancelledError  # after the provider recorded the order

    for when in ("before", "during", "after"):
        with pytest.raises(asyncio.CancelledError):
            await payments.release(pool, payment_id, Dies(when))
        assert (
            await db.fetchval("SELECT status FROM payments WHERE id = $1", payment_id) == "pending"
        )
    assert await payments.release(pool, payment_id, LedgerProvider()) == "released"
    assert await db.fetchval("SELECT count(*) FROM ledger_entries") == 1
    assert await db.fetchval("SELECT count(*) FROM outbox WHERE type = 'payment.released'") == 1


async def test_two_releases_racing_pay_once(api: Api, db: asyncpg.Connection, pool: Any) -> None:
    s = await delivered_for_review(api, db, pool)
    reviewer = await api.user("reviewer")
    payment_id = (await accept(api, reviewer, s["auction_id"])).json()["payment_id"]
    outcomes = await asyncio.gather(
        *(payments.release(pool, payment_id, LedgerProvider()) for _ in range(5))
    )
    assert set(outcomes) == {"released"}
    assert await db.fetchval("SELECT count(*) FROM ledger_entries") == 1
    assert await db.fetchval("SELECT count(*) FROM payments") == 1
    assert await db.fetchval("SELECT count(*) FROM outbox WHERE type = 'payment.released'") == 1
    assert await db.fetchval("SELECT status FROM auctions WHERE id = $1", s["auction_id"]) == "paid"


async def test_redis_flushed_between_accept_and_release(
    api: Api, db: asyncpg.Connection, pool: Any, redis: Any, settings: Settings
) -> None:
    s = await delivered_for_review(api, db, pool)
    reviewer = await api.user("reviewer")
    payment_id = (await accept(api, reviewer, s["auction_id"])).json()["payment_id"]
    assert await redis.zcard("arq:queue") >= 1  # the release job was enqueued
    await redis.flushdb()
    ctx = {
        "pool": pool,
        "redis_client": redis,
        "settings": settings,
        "payment_provider": LedgerProvider(),
    }
    assert await payment_jobs.sweep_payments_once(ctx) == 1
    queued = await redis.zrange("arq:queue", 0, -1)
    assert any(f"payment:{payment_id}:release".encode() in job for job in queued)
    assert await payment_jobs.release_payment(ctx, payment_id) == "released"
    assert await payment_jobs.sweep_payments_once(ctx) == 0


async def test_failing_provider_is_retried(api: Api, db: asyncpg.Connection, pool: Any) -> None:
    s = await delivered_for_review(api, db, pool)
    reviewer = await api.user("reviewer")
    payment_id = (await accept(api, reviewer, s["auction_id"])).json()["payment_id"]

    class Down(LedgerProvider):
        async def release(self, conn: Any, order: PaymentOrder) -> Receipt:
            raise ProviderError("finance system unavailable")

    assert await payments.release(pool, payment_id, Down()) == "failed"
    row = await db.fetchrow(
        "SELECT status, attempts, last_error FROM payments WHERE id = $1", payment_id
    )
    assert row["status"] == "failed" and row["attempts"] == 1
    assert await payments.release(pool, payment_id, LedgerProvider()) == "on_hold"  # backoff
    await db.execute("UPDATE payments SET release_after = now() WHERE id = $1", payment_id)
    assert await payments.release(pool, payment_id, LedgerProvider()) == "released"


async def test_reviewer_conflicts_and_scope(api: Api, db: asyncpg.Connection, pool: Any) -> None:
    s = await delivered_for_review(api, db, pool)
    aid = s["auction_id"]
    # The winner cannot review their own delivery (even holding the reviewer role).
    await db.execute("UPDATE users SET roles = roles || '{reviewer}' WHERE id = $1", s["winner"].id)
    r = await accept(api, s["winner"], aid)
    assert r.status_code == 403 and r.json()["code"] == "conflict_of_interest"
    await db.execute("UPDATE users SET roles = roles || '{reviewer}' WHERE id = $1", s["loser"].id)
    r = await accept(api, s["loser"], aid)
    assert r.status_code == 403 and r.json()["code"] == "conflict_of_interest"
    buyer_reviewer = await api.user("buyer", "reviewer", department_id=s["dept"])
    r = await accept(api, buyer_reviewer, aid)
    assert r.status_code == 403
    other_dept = await api.user("reviewer", department_id=await api.department())
    assert (await accept(api, other_dept, aid)).status_code == 404
    assert (await api.client.get("/api/reviews", headers=other_dept.headers)).json()["items"] == []
    vendor = await api.verified_vendor()
    assert (await accept(api, vendor, aid)).status_code == 403
    same_dept = await api.user("reviewer", department_id=s["dept"])
    r = await api.client.post(
        f"/api/auctions/{aid}/review",
        json={"decision": "reject", "reason": "tests fail on Safari"},
        headers=same_dept.headers,
    )
    assert r.status_code == 200 and r.json()["auction_status"] == "rejected"
    assert await db.fetchval("SELECT count(*) FROM payments") == 0


async def test_dispute_freezes_release_and_cancel_pays_nothing(
    api: Api, db: asyncpg.Connection, pool: Any
) -> None:
    s = await delivered_for_review(api, db, pool)
    reviewer = await api.user("reviewer")
    payment_id = (await accept(api, reviewer, s["auction_id"])).json()["payment_id"]
    outsider = await api.verified_vendor()
    r = await api.client.post(
        f"/api/payments/{payment_id}/dispute", json={"reason": "x"}, headers=outsider.headers
    )
    assert r.status_code == 404
    r = await api.client.post(
        f"/api/payments/{payment_id}/dispute",
        json={"reason": "the fix broke the print view"},
        headers=s["buyer"].headers,
    )
    assert r.status_code == 201 and r.json()["disputed"] is True
    r = await api.client.post(
        f"/api/payments/{payment_id}/dispute", json={"reason": "again"}, headers=s["winner"].headers
    )
    assert r.status_code == 409 and r.json()["code"] == "dispute_open"
    assert await payments.release(pool, payment_id, LedgerProvider()) == "disputed"

    finance_other = await api.user("finance", department_id=await api.department())
    r = await api.client.post(
        f"/api/payments/{payment_id}/resolve",
        json={"outcome": "cancel", "reason": "x"},
        headers=finance_other.headers,
    )
    assert r.status_code == 404
    finance = await api.user("finance", department_id=s["dept"])
    r = await api.client.post(
        f"/api/payments/{payment_id}/resolve",
        json={"outcome": "cancel", "reason": "work withdrawn by agreement"},
        headers=finance.headers,
    )
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    assert await payments.release(pool, payment_id, LedgerProvider()) == "cancelled"
    assert await db.fetchval("SELECT count(*) FROM ledger_entries") == 0
    listed = (await api.client.get("/api/payments", headers=finance.headers)).json()["items"]
    assert [p["id"] for p in listed] == [payment_id]
    assert (await api.client.get("/api/payments", headers=finance_other.headers)).json()[
        "items"
    ] == []


async def test_dispute_resolved_with_release_pays(
    api: Api, db: asyncpg.Connection, pool: Any
) -> None:
    s = await delivered_for_review(api, db, pool)
    reviewer = await api.user("reviewer")
    payment_id = (await accept(api, reviewer, s["auction_id"])).json()["payment_id"]
    await api.client.post(
        f"/api/payments/{payment_id}/dispute",
        json={"reason": "amount"},
        headers=s["winner"].headers,
    )
    r = await api.client.post(
        f"/api/payments/{payment_id}/resolve",
        json={"outcome": "release", "reason": "amount is right"},
        headers=api.admin.headers,
    )
    assert r.status_code == 200
    assert await payments.release(pool, payment_id, LedgerProvider()) == "released"


async def test_dispute_opened_while_release_runs(
    api: Api, db: asyncpg.Connection, pool: Any, live_server: str
) -> None:
    s = await delivered_for_review(api, db, pool)
    reviewer = await api.user("reviewer")
    payment_id = (await accept(api, reviewer, s["auction_id"])).json()["payment_id"]
    inside = asyncio.Event()
    go_on = asyncio.Event()

    class Slow(LedgerProvider):
        async def release(self, conn: Any, order: PaymentOrder) -> Receipt:
            inside.set()
            await go_on.wait()
            return await super().release(conn, order)

    release = asyncio.create_task(payments.release(pool, payment_id, Slow()))
    await inside.wait()
    # A real HTTP server: the in-process test client would block this event loop.
    http = httpx.AsyncClient(base_url=live_server, timeout=30)
    dispute = asyncio.create_task(
        http.post(
            f"/api/payments/{payment_id}/dispute",
            json={"reason": "wait"},
            headers=s["buyer"].headers,
        )
    )
    await asyncio.sleep(0.3)  # the dispute is now waiting on the payment's row lock
    assert not dispute.done()
    go_on.set()
    assert await release == "released"
    r = await dispute
    await http.aclose()
    assert r.status_code == 409 and r.json()["code"] == "not_disputable"
    assert await db.fetchval("SELECT count(*) FROM disputes") == 0


async def test_payment_details(api: Api) -> None:
    vendor = await api.verified_vendor()
    assert (
        await api.client.get("/api/me/payment-details", headers=vendor.headers)
    ).status_code == 404
    r = await api.client.put(
        "/api/me/payment-details",
        json={"method": "transfer", "reference": "ACH 021000021 / 123456789"},
        headers=vendor.headers,
    )
    assert r.status_code == 200 and r.json()["method"] == "transfer"
    r = await api.client.put(
        "/api/me/payment-details",
        json={"method": "cash", "reference": "xx"},
        headers=vendor.headers,
    )
    assert r.status_code == 400
