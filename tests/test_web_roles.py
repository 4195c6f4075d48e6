"""The role pages over HTTP: reviewer, vendor awards and payments, finance, buyer and admin
actions after the award, and the auditor's event browser, export and offline verification."""

from __future__ import annotations

import re
from typing import Any

import asyncpg
from litestar.testing import AsyncTestClient

from marketplace.payments import service as payments
from marketplace.payments.provider import LedgerProvider
from tests.helpers import Api
from tests.test_payments import delivered_for_review
from tests.test_web_pages import csrf_of, sign_in


async def form_post(
    client: AsyncTestClient[Any], page: str, action: str, data: dict[str, str]
) -> Any:
    """Open ``page``, then send a form to ``action`` with the page's CSRF token."""
    opened = await client.get(page)
    assert opened.status_code == 200, opened.text
    return await client.post(
        action, data={**data, "csrf_token": csrf_of(opened.text)}, follow_redirects=False
    )


async def accept_in_page(client: AsyncTestClient[Any], aid: int, decision: str = "accept") -> Any:
    return await form_post(
        client, "/reviews", f"/reviews/{aid}", {"decision": decision, "reason": "meets criteria"}
    )


# ---- reviewer ----------------------------------------------------------------------------


async def test_reviewer_sees_evidence_and_accepting_creates_the_payment(
    api: Api, client: AsyncTestClient[Any], db: asyncpg.Connection, pool: Any
) -> None:
    s = await delivered_for_review(api, db, pool)
    aid = s["auction_id"]
    reviewer = await api.user("reviewer")
    await sign_in(client, reviewer)
    page = await client.get("/reviews")
    assert page.status_code == 200
    assert f'id="review-{aid}"' in page.text
    assert 'href="https://github.com/city-of-x/permits/pull/7"' in page.text
    assert "merged" in page.text and "Passed" in page.text and "Verification passed" in page.text

    # Without a reason: refused beside the form, nothing decided.
    r = await form_post(client, "/reviews", f"/reviews/{aid}", {"decision": "accept"})
    assert r.status_code == 400 and "Give a reason" in r.text
    assert await db.fetchval("SELECT count(*) FROM payments") == 0

    r = await accept_in_page(client, aid)
    assert r.status_code == 303 and r.headers["location"] == "/reviews"
    payment = await db.fetchrow("SELECT id, status, amount_cents FROM payments")
    assert (payment["status"], payment["amount_cents"]) == ("pending", 390_000)
    assert await db.fetchval("SELECT status FROM auctions WHERE id = $1", aid) == "accepted"
    page = await client.get("/reviews")
    assert f"Payment order {payment['id']} is created" in page.text
    assert f'id="review-{aid}"' not in page.text

    # Deciding again: not awaiting review, said in plain words.
    r = await form_post(
        client, "/reviews", f"/reviews/{aid}", {"decision": "reject", "reason": "x"}
    )
    assert r.status_code == 409 and "no longer awaiting review" in r.text


async def test_review_refusals_and_other_roles(
    api: Api, client: AsyncTestClient[Any], db: asyncpg.Connection, pool: Any
) -> None:
    s = await delivered_for_review(api, db, pool)
    aid = s["auction_id"]
    # The losing bidder who is also a reviewer: a conflict of interest.
    conflicted = s["loser"]
    await db.execute(
        "UPDATE users SET roles = array_append(roles, 'reviewer') WHERE id = $1", conflicted.id
    )
    await sign_in(client, conflicted)
    page = await client.get("/reviews")
    assert page.status_code == 200 and f'id="review-{aid}"' not in page.text
    r = await form_post(
        client, "/reviews", f"/reviews/{aid}", {"decision": "accept", "reason": "ok"}
    )
    assert r.status_code == 403 and "You bid on this auction" in r.text
    assert await db.fetchval("SELECT count(*) FROM payments") == 0

    # A vendor without the reviewer role may not open the queue.
    await sign_in(client, s["winner"])
    r = await client.get("/reviews")
    assert r.status_code == 403 and "reviewer" in r.text
    # Signed out: sent to sign in.
    client.cookies.clear()
    r = await client.get("/reviews", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/signin")


async def accepted_payment(api: Api, db: asyncpg.Connection, pool: Any) -> dict[str, Any]:
    """An auction accepted by a reviewer through the API: its payment order is pending."""
    s = await delivered_for_review(api, db, pool)
    reviewer = await api.user("reviewer")
    r = await api.client.post(
        f"/api/auctions/{s['auction_id']}/review",
        json={"decision": "accept", "reason": "meets the acceptance criteria"},
        headers=reviewer.headers,
    )
    assert r.status_code == 200, r.text
    s["payment_id"] = r.json()["payment_id"]
    return s


# ---- finance, disputes -------------------------------------------------------------------


async def test_buyer_disputes_and_finance_resolves_in_the_pages(
    api: Api, client: AsyncTestClient[Any], db: asyncpg.Connection, pool: Any
) -> None:
    s = await accepted_payment(api, db, pool)
    pid = s["payment_id"]
    page = f"/payments/{pid}"

    await sign_in(client, s["buyer"])
    r = await client.get(page)
    assert r.status_code == 200 and "$3,900.00" in r.text and "Open a dispute" in r.text
    r = await form_post(client, page, f"{page}/dispute", {"reason": ""})
    assert r.status_code == 400 and "Give a reason" in r.text
    r = await form_post(client, page, f"{page}/dispute", {"reason": "the PR broke the build"})
    assert r.status_code == 303
    r = await client.get(page)
    assert "Dispute opened" in r.text and "the PR broke the build" in r.text
    assert "Resolve the dispute" not in r.text  # a buyer cannot resolve
    # The buyer may not open the finance list; nor may a vendor open someone else's payment.
    assert (await client.get("/finance/payments")).status_code == 403
    await sign_in(client, s["loser"])
    assert (await client.get(page)).status_code == 404

    finance = await api.user("finance")
    await sign_in(client, finance)
    r = await client.get("/finance/payments", params={"status": "pending"})
    assert r.status_code == 200
    row = re.search(rf'<tr id="payment-{pid}">.*?</tr>', r.text, re.S)
    assert row and "disputed" in row.group(0) and "missing payment details" in row.group(0)
    assert (
        f'id="payment-{pid}"'
        not in (await client.get("/finance/payments", params={"status": "released"})).text
    )
    r = await client.get("/finance/payments", params={"status": "bogus"})
    assert r.status_code == 200 and "no payment status called" in r.text

    r = await form_post(client, page, f"{page}/resolve", {"outcome": "release", "reason": ""})
    assert r.status_code == 400 and "Give a reason" in r.text
    r = await form_post(
        client, page, f"{page}/resolve", {"outcome": "release", "reason": "build fixed upstream"}
    )
    assert r.status_code == 303
    r = await client.get(page)
    assert "will be released" in r.text and "build fixed upstream" in r.text
    assert await db.fetchval("SELECT status FROM disputes WHERE payment_id = $1", pid) == (
        "resolved"
    )
    # Nothing left to resolve: said in plain words.
    r = await form_post(client, page, f"{page}/resolve", {"outcome": "cancel", "reason": "again"})
    assert r.status_code == 409 and "no open dispute" in r.text
    assert await payments.release(pool, pid, LedgerProvider()) == "released"
    r = await client.get(page)
    assert 'id="payment-status">released<' in r.text
