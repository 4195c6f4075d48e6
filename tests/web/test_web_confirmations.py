"""Irreversible and money-moving web actions ask first, in words, and act only on the
second, explicit step: here as a browser without script meets them (a confirmation page
that sends the same form again with ``confirmed=yes``)."""

from __future__ import annotations

from typing import Any

import asyncpg
import msgspec
import pytest
from litestar.testing import AsyncTestClient

from marketplace.payments import service as payments
from marketplace.payments.provider import LedgerProvider
from marketplace.settings import Settings
from marketplace.web.confirm import hold_words
from tests.helpers import Api, answer_yes, auction_body, csrf_of, question_of, sign_in
from tests.scenes import accepted_payment, awarded_auction, decline_by_api, delivered_for_review


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """A day between acceptance and release, as deployments have by default."""
    return msgspec.structs.replace(settings, payment_hold_seconds=86_400)


async def first_step(client: AsyncTestClient[Any], page: str, action: str, **data: str) -> Any:
    """Open ``page`` and press the button that sends ``data`` to ``action``, once."""
    opened = await client.get(page)
    assert opened.status_code == 200, opened.text
    return await client.post(
        action, data={**data, "csrf_token": csrf_of(opened.text)}, follow_redirects=False
    )


def asks(page: Any, question: str, back: str) -> None:
    """``page`` is a confirmation page asking ``question``, its way back to ``back``."""
    assert page.status_code == 200, page.text
    assert question_of(page.text) == question, question_of(page.text)
    assert f'<a class="button secondary" href="{back}">No, go back</a>' in page.text
    # Keyboard and screen readers start at the question; the answer is one real button.
    assert 'id="confirm-question" class="confirm-question" tabindex="-1" autofocus' in page.text
    assert '<input type="hidden" name="confirmed" value="yes">' in page.text


@pytest.mark.parametrize(
    ("seconds", "words"),
    [
        (0, "at once"),
        (86_400, "after the one-day hold"),
        (3 * 86_400, "after the three-day hold"),
        (7200, "after the two-hour hold"),
        (300, "after the five-minute hold"),
        (90, "after the 90-second hold"),
    ],
)
def test_the_hold_in_words(seconds: int, words: str) -> None:
    assert hold_words(seconds) == words


async def test_publish_asks_with_the_cap_and_times_then_publishes(
    api: Api, client: AsyncTestClient[Any], db: asyncpg.Connection
) -> None:
    buyer = await api.buyer()
    r = await client.post(
        "/api/auctions",
        json=auction_body(
            title="Fix the permit map",
            price_cap_cents=510_050,
            starts_at="2030-01-01T09:00:00Z",
            ends_at="2030-01-08T09:00:00Z",
        ),
        headers=buyer.headers,
    )
    aid = r.json()["id"]
    await sign_in(client, buyer)
    page = f"/auctions/{aid}"
    opened = await client.get(page)
    assert 'data-confirm="Publish “Fix the permit map” for bids up to $5,100.50?"' in opened.text
    r = await first_step(client, page, f"/buyer/tasks/{aid}/publish")
    asks(r, "Publish “Fix the permit map” for bids up to $5,100.50?", page)
    assert "Bidding opens Jan 1, 2030, 09:00 UTC and closes Jan 8, 2030, 09:00 UTC" in r.text
    assert "can no longer be edited, only cancelled" in r.text
    assert await db.fetchval("SELECT status FROM auctions WHERE id = $1", aid) == "draft"
    r = await answer_yes(client, r)
    assert r.status_code == 303 and r.headers["location"] == page
    assert await db.fetchval("SELECT status FROM auctions WHERE id = $1", aid) == "scheduled"


async def test_publish_refusals_come_before_the_question(
    api: Api, client: AsyncTestClient[Any], db: asyncpg.Connection
) -> None:
    buyer = await api.buyer()
    r = await client.post("/api/auctions", json=auction_body(summary=""), headers=buyer.headers)
    aid = r.json()["id"]
    await sign_in(client, buyer)
    r = await first_step(client, f"/auctions/{aid}", f"/buyer/tasks/{aid}/publish")
    assert r.status_code == 422 and 'id="summary-error"' in r.text
    assert question_of(r.text) is None


async def test_cancel_of_an_open_auction_asks_first(
    api: Api, client: AsyncTestClient[Any], db: asyncpg.Connection
) -> None:
    buyer = await api.buyer()
    r = await client.post(
        "/api/auctions", json=auction_body(title="Map layers"), headers=buyer.headers
    )
    aid = r.json()["id"]
    assert (await api.client.post(f"/api/auctions/{aid}/publish", headers=buyer.headers)).is_success
    await sign_in(client, buyer)
    page = f"/auctions/{aid}"
    r = await first_step(client, page, f"/buyer/tasks/{aid}/cancel", reason="budget withdrawn")
    asks(r, "Cancel “Map layers”?", page)
    assert "any bids are voided and the bidders are told. This cannot be undone." in r.text
    assert 'name="reason" value="budget withdrawn"' in r.text
    assert await db.fetchval("SELECT status FROM auctions WHERE id = $1", aid) != "cancelled"
    r = await answer_yes(client, r)
    assert r.status_code == 303
    assert await db.fetchval("SELECT status FROM auctions WHERE id = $1", aid) == "cancelled"
    row = await db.fetchval("SELECT cancel_reason FROM auctions WHERE id = $1", aid)
    assert row == "budget withdrawn"


async def test_accept_says_the_amount_payee_and_hold_and_reject_asks_too(
    api: Api, client: AsyncTestClient[Any], db: asyncpg.Connection, pool: Any
) -> None:
    s = await delivered_for_review(api, db, pool)
    aid = s["auction_id"]
    await db.execute(
        "UPDATE users SET name = 'Tidewater Software LLC' WHERE id = $1", s["winner"].id
    )
    await sign_in(client, await api.user("reviewer"))
    queue = await client.get("/reviews")
    assert (
        'data-confirm="Accept and release $3,900.00 to Tidewater Software LLC after the one-day hold?"'
        in (queue.text)
    )
    r = await first_step(client, "/reviews", f"/reviews/{aid}", decision="reject", reason="no")
    asks(
        r,
        "Reject the work Tidewater Software LLC delivered for “Fix the date picker on the "
        "permits form”?",
        f"/reviews#review-{aid}",
    )
    r = await first_step(
        client, "/reviews", f"/reviews/{aid}", decision="accept", reason="meets criteria"
    )
    asks(
        r,
        "Accept and release $3,900.00 to Tidewater Software LLC after the one-day hold?",
        f"/reviews#review-{aid}",
    )
    assert await db.fetchval("SELECT status FROM auctions WHERE id = $1", aid) == "pending_review"
    assert await db.fetchval("SELECT count(*) FROM payments") == 0
    r = await answer_yes(client, r)
    assert r.status_code == 303
    assert await db.fetchval("SELECT status FROM auctions WHERE id = $1", aid) == "accepted"
    assert await db.fetchval("SELECT count(*) FROM payments") == 1


async def test_resolving_a_dispute_and_confirming_receipt_ask_first(
    api: Api, client: AsyncTestClient[Any], db: asyncpg.Connection, pool: Any
) -> None:
    s = await accepted_payment(api, db, pool)
    pid, page = s["payment_id"], f"/payments/{s['payment_id']}"
    r = await api.client.post(
        f"/api/payments/{pid}/dispute", json={"reason": "broken build"}, headers=s["buyer"].headers
    )
    assert r.status_code == 201, r.text
    await sign_in(client, await api.user("finance"))
    r = await first_step(client, page, f"{page}/resolve", outcome="cancel", reason="fraud")
    asks(r, f"Cancel payment {pid} of $3,900.00 to User vendor?", page)
    r = await first_step(client, page, f"{page}/resolve", outcome="release", reason="fixed")
    asks(r, "Release $3,900.00 to User vendor now?", page)
    assert await db.fetchval("SELECT status FROM disputes WHERE payment_id = $1", pid) == "open"
    r = await answer_yes(client, r)
    assert r.status_code == 303
    assert await db.fetchval("SELECT status FROM disputes WHERE payment_id = $1", pid) == (
        "resolved"
    )

    assert await payments.release(pool, pid, LedgerProvider()) == "released"
    await sign_in(client, s["winner"])
    r = await first_step(client, "/me/payments", f"/payments/{pid}/confirm", back="me")
    asks(
        r,
        "Confirm that you received $3,900.00 for “Fix the date picker on the permits form”?",
        "/me/payments",
    )
    assert await db.fetchval("SELECT status FROM payments WHERE id = $1", pid) == "released"
    r = await answer_yes(client, r)
    assert r.status_code == 303 and r.headers["location"] == "/me/payments"
    assert await db.fetchval("SELECT status FROM payments WHERE id = $1", pid) == "confirmed"


async def test_declining_and_reawarding_ask_first_with_the_runner_up_named(
    api: Api, client: AsyncTestClient[Any], db: asyncpg.Connection, pool: Any
) -> None:
    s = await awarded_auction(api, db, pool)
    aid = s["auction_id"]
    title = "Fix the date picker on the permits form"
    await sign_in(client, s["winner"])
    r = await first_step(client, "/me/awards", f"/me/awards/{aid}/decline", reason="I fell ill")
    asks(r, f"Decline the award of “{title}” for $4,200.00?", "/me/awards")
    assert await db.fetchval("SELECT status FROM auctions WHERE id = $1", aid) == "awarded"
    # Someone else sending the same form is refused outright, not asked.
    await sign_in(client, s["runner_up"])
    r = await first_step(client, "/me/awards", f"/me/awards/{aid}/decline", reason="no")
    assert r.status_code == 403 and question_of(r.text) is None

    await decline_by_api(api, s["winner"], aid)
    await db.execute("UPDATE users SET name = 'Harbor Code Co' WHERE id = $1", s["runner_up"].id)
    await sign_in(client, s["buyer"])
    page = f"/auctions/{aid}"
    r = await first_step(client, page, f"/buyer/tasks/{aid}/reaward")
    asks(r, f"Award “{title}” to the runner-up, Harbor Code Co, for $4,500.00?", page)
    active = "SELECT winner_id FROM awards WHERE auction_id = $1 AND status = 'active'"
    assert await db.fetchval(active, aid) == s["winner"].id  # until the re-award
    r = await answer_yes(client, r)
    assert r.status_code == 303
    assert await db.fetchval(active, aid) == s["runner_up"].id


async def test_a_confirmation_still_needs_the_session_csrf_token(
    api: Api, client: AsyncTestClient[Any], db: asyncpg.Connection
) -> None:
    buyer = await api.buyer()
    aid = (await client.post("/api/auctions", json=auction_body(), headers=buyer.headers)).json()[
        "id"
    ]
    await sign_in(client, buyer)
    r = await client.post(f"/buyer/tasks/{aid}/publish", data={"confirmed": "yes"})
    assert r.status_code == 403
    assert await db.fetchval("SELECT status FROM auctions WHERE id = $1", aid) == "draft"
