"""The role pages over HTTP: reviewer, vendor awards and payments, finance, buyer and admin
actions after the award, and the auditor's event browser, export and offline verification."""

from __future__ import annotations

import json
import re
from typing import Any

import asyncpg
from litestar.testing import AsyncTestClient

from marketplace.auctions import lifecycle
from marketplace.payments import service as payments
from marketplace.payments.provider import LedgerProvider
from tests.helpers import (
    CLOSE_SETTINGS,
    Api,
    bid,
    csrf_of,
    end_auction_now,
    form_post,
    published_auction,
    sign_in,
)
from tests.scenes import accepted_payment, awarded_auction, decline_by_api, delivered_for_review


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
    assert "unless disputed before then" in page.text
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


# ---- vendor: payment details, awards, payments ------------------------------------------


async def test_vendor_saves_payment_details_and_confirms_a_released_payment(
    api: Api, client: AsyncTestClient[Any], db: asyncpg.Connection, pool: Any
) -> None:
    s = await accepted_payment(api, db, pool)
    pid, winner = s["payment_id"], s["winner"]
    await sign_in(client, winner)
    r = await client.get("/me")
    assert "You have not given payment details yet" in r.text

    r = await form_post(client, "/me", "/me/payment-details", {"method": "cash", "reference": "x"})
    assert r.status_code == 400
    assert "Choose how you want to be paid" in r.text and "2 to 200 characters" in r.text
    r = await form_post(
        client, "/me", "/me/payment-details", {"method": "transfer", "reference": "DE89 3704 0044"}
    )
    assert r.status_code == 303
    r = await client.get("/me")
    assert "Your payment details are saved" in r.text and "DE89 3704 0044" in r.text
    row = await db.fetchrow(
        "SELECT method, reference FROM payment_details WHERE user_id = $1", winner.id
    )
    assert (row["method"], row["reference"]) == ("transfer", "DE89 3704 0044")

    # Pending: listed, but nothing to confirm yet; confirming anyway is refused in plain words.
    r = await client.get("/me/payments")
    assert r.status_code == 200 and f'id="payment-{pid}"' in r.text
    assert "Confirm payment received" not in r.text
    r = await form_post(client, "/me/payments", f"/payments/{pid}/confirm", {"back": "me"})
    assert r.status_code == 409 and "has not been released yet" in r.text

    assert await payments.release(pool, pid, LedgerProvider()) == "released"
    r = await client.get("/me/payments")
    assert "Confirm payment received" in r.text
    r = await form_post(client, "/me/payments", f"/payments/{pid}/confirm", {"back": "me"})
    assert r.status_code == 303 and r.headers["location"] == "/me/payments"
    r = await client.get("/me/payments")
    assert "you confirmed receiving $3,900.00" in r.text and "confirmed" in r.text
    assert await db.fetchval("SELECT status FROM payments WHERE id = $1", pid) == "confirmed"
    assert await db.fetchval("SELECT status FROM auctions WHERE id = $1", s["auction_id"]) == (
        "payment_confirmed"
    )

    # Another vendor cannot see it; finance pages refuse vendors.
    await sign_in(client, s["loser"])
    assert f'id="payment-{pid}"' not in (await client.get("/me/payments")).text
    assert (await client.get("/finance/payments")).status_code == 403


async def test_vendor_declines_an_award_not_yet_delivered(
    api: Api, client: AsyncTestClient[Any], db: asyncpg.Connection, pool: Any
) -> None:
    s = await awarded_auction(api, db, pool)
    aid = s["auction_id"]
    await sign_in(client, s["winner"])
    r = await client.get("/me/awards")
    assert r.status_code == 200 and "$4,200.00" in r.text and "Decline this award" in r.text
    r = await form_post(client, "/me/awards", f"/me/awards/{aid}/decline", {"reason": ""})
    assert r.status_code == 400 and "Give a reason" in r.text
    r = await form_post(client, "/me/awards", f"/me/awards/{aid}/decline", {"reason": "I fell ill"})
    assert r.status_code == 303
    r = await client.get("/me/awards")
    assert "You declined the award" in r.text and "Decline this award" not in r.text
    assert await db.fetchval("SELECT status FROM auctions WHERE id = $1", aid) == "missed_delivery"
    # The runner-up cannot decline what is not theirs.
    await sign_in(client, s["runner_up"])
    r = await form_post(client, "/me/awards", f"/me/awards/{aid}/decline", {"reason": "no"})
    assert r.status_code == 403 and "Only the current winner" in r.text
    # Buyers have no awards page.
    await sign_in(client, s["buyer"])
    assert (await client.get("/me/awards")).status_code == 403


# ---- buyer and admin after the award -----------------------------------------------------


async def test_buyer_reawards_then_reruns_when_no_runner_up_remains(
    api: Api, client: AsyncTestClient[Any], db: asyncpg.Connection, pool: Any
) -> None:
    s = await awarded_auction(api, db, pool)
    aid, page = s["auction_id"], f"/auctions/{s['auction_id']}"
    await decline_by_api(api, s["winner"], aid)

    await sign_in(client, s["buyer"])
    r = await client.get(page)
    assert "Re-award to the runner-up" in r.text and "Re-run as a new draft" not in r.text
    r = await form_post(client, page, f"/buyer/tasks/{aid}/reaward", {})
    assert r.status_code == 303
    r = await client.get(page)
    assert "Re-awarded to the next runner-up for $4,500.00" in r.text
    winner = await db.fetchval(
        "SELECT winner_id FROM awards WHERE auction_id = $1 AND status = 'active'", aid
    )
    assert winner == s["runner_up"].id

    # The runner-up declines too: nobody is left, so the page offers a re-run at once
    # (and no re-award), as the API would accept; a re-award sent anyway is refused.
    await decline_by_api(api, s["runner_up"], aid)
    r = await client.get(page)
    assert "Re-run as a new draft" in r.text and "Re-award to the runner-up" not in r.text
    assert "No runner-up remains to award" in r.text
    r = await form_post(client, page, f"/buyer/tasks/{aid}/reaward", {})
    assert r.status_code == 409 and "No runner-up remains" in r.text
    assert "Re-run as a new draft" in r.text
    r = await client.post(
        f"/buyer/tasks/{aid}/rerun", data={"csrf_token": csrf_of(r.text)}, follow_redirects=False
    )
    assert r.status_code == 303
    moved = re.fullmatch(r"/buyer/tasks/(\d+)/edit", r.headers["location"])
    assert moved
    new_id = int(moved.group(1))
    assert await db.fetchval("SELECT status FROM auctions WHERE id = $1", new_id) == "draft"
    assert (await client.get(r.headers["location"])).status_code == 200

    # A vendor cannot re-award.
    await sign_in(client, s["runner_up"])
    r = await form_post(client, page, f"/buyer/tasks/{aid}/reaward", {})
    assert r.status_code == 403


async def test_buyer_dashboard_lists_overdue_deliveries_and_work_awaiting_payment(
    api: Api, client: AsyncTestClient[Any], db: asyncpg.Connection, pool: Any
) -> None:
    paid = await accepted_payment(api, db, pool)
    dept = paid["dept"]
    buyer = paid["buyer"]
    late = (await published_auction(api, buyer, title="Late delivery"))["id"]
    on_time = (await published_auction(api, buyer, title="Still on time"))["id"]
    for aid in (late, on_time):
        assert (await bid(api, await api.verified_vendor(), aid, 300_000)).status_code == 201
        await end_auction_now(db, aid)
        assert await lifecycle.close_auction(pool, aid, CLOSE_SETTINGS) == "awarded"
    await db.execute(
        "UPDATE awards SET delivery_due_at = now() - interval '1 hour' WHERE auction_id = $1", late
    )
    assert await db.fetchval("SELECT department_id FROM auctions WHERE id = $1", late) == dept

    await sign_in(client, buyer)
    r = await client.get("/buyer")
    assert r.status_code == 200

    def section(status: str) -> str:
        match = re.search(rf'<section aria-labelledby="h-{status}">(.*?)</section>', r.text, re.S)
        return match.group(1) if match else ""

    assert "Late delivery" in section("overdue") and "Still on time" not in section("overdue")
    assert f'href="/auctions/{late}/delivery"' in section("overdue")
    assert "Still on time" in section("awarded") and "Late delivery" not in section("awarded")
    title = await db.fetchval("SELECT title FROM auctions WHERE id = $1", paid["auction_id"])
    assert title in section("accepted")
    assert "Accepted, awaiting payment (1)" in r.text


async def test_admin_extends_the_delivery_deadline(
    api: Api, client: AsyncTestClient[Any], db: asyncpg.Connection, pool: Any
) -> None:
    s = await awarded_auction(api, db, pool)
    aid, page = s["auction_id"], f"/auctions/{s['auction_id']}"
    admin = api.admin
    await sign_in(client, admin)
    r = await client.get(page)
    assert "Extend the delivery deadline" in r.text
    r = await form_post(
        client,
        page,
        f"/admin/auctions/{aid}/delivery-deadline",
        {"due_at": "2020-01-01T10:00", "tz": "UTC", "reason": "holidays"},
    )
    assert r.status_code == 422 and "later than the current one" in r.text
    r = await form_post(
        client,
        page,
        f"/admin/auctions/{aid}/delivery-deadline",
        {"due_at": "2099-03-01T17:30", "tz": "America/New_York", "reason": ""},
    )
    assert r.status_code == 400 and "Give a reason" in r.text
    r = await form_post(
        client,
        page,
        f"/admin/auctions/{aid}/delivery-deadline",
        {"due_at": "2099-03-01T17:30", "tz": "America/New_York", "reason": "holidays"},
    )
    assert r.status_code == 303
    r = await client.get(page)
    assert "The delivery deadline is now Mar 1, 2099, 17:30 EST" in r.text
    due = await db.fetchval(
        "SELECT delivery_due_at FROM awards WHERE auction_id = $1 AND status = 'active'", aid
    )
    assert due.isoformat() == "2099-03-01T22:30:00+00:00"
    # Buyers do not see the admin's form, and cannot post it.
    await sign_in(client, s["buyer"])
    assert "Extend the delivery deadline" not in (await client.get(page)).text
    r = await form_post(
        client,
        page,
        f"/admin/auctions/{aid}/delivery-deadline",
        {"due_at": "2099-04-01T17:30", "tz": "UTC", "reason": "x"},
    )
    assert r.status_code == 403


# ---- auditor -----------------------------------------------------------------------------


async def test_auditor_filters_events_exports_and_verifies_uploads(
    api: Api, client: AsyncTestClient[Any], db: asyncpg.Connection, pool: Any
) -> None:
    first = await awarded_auction(api, db, pool)
    other = await awarded_auction(api, db, pool)
    aid = first["auction_id"]
    auditor = await api.user("auditor")
    await sign_in(client, auditor)

    r = await client.get("/audit", params={"auction": str(aid), "tz": "UTC"})
    assert r.status_code == 200
    assert "bid.placed" in r.text and f"auction {aid}<" in r.text
    assert f'href="/auctions/{other["auction_id"]}"' not in r.text
    assert re.search(r"<time [^>]*>[^<]+UTC</time>", r.text)
    r = await client.get("/audit", params={"auction": str(aid), "action": "auction.awarded"})
    actions = set(re.findall(r"<td><code>([^<]+)</code></td>", r.text))
    assert actions == {"auction.awarded"}
    # A period in the viewer's zone: everything happened before 2099, nothing before 2000.
    r = await client.get(
        "/audit",
        params={"until": "2000-01-01T00:00", "tz": "America/New_York", "auction": str(aid)},
    )
    assert (
        "No recorded events match" in r.text
        and "To, not included (<span data-zone-label>America/New_York</span>)" in r.text
    )
    assert "to=2000-01-01T05%3A00%3A00Z" in r.text  # the export link carries it in UTC
    r = await client.get("/audit", params={"since": "yesterday", "auction": "x"})
    assert r.status_code == 200 and "is not a date and time" in r.text
    assert "must be an auction number" in r.text

    # The export links stream the signed export through the session.
    r = await client.get("/audit/export", params={"format": "jsonl", "auction_id": str(aid)})
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/x-ndjson")
    jsonl = r.content
    assert b'"manifest"' in jsonl.splitlines()[-1]
    r = await client.get("/audit/export", params={"format": "csv", "auction_id": str(aid)})
    assert r.status_code == 200 and r.text.startswith("chain,seq")

    async def verify(content: bytes, name: str = "audit.jsonl") -> Any:
        page = await client.get("/audit/verify")
        return await client.post(
            "/audit/verify",
            data={"csrf_token": csrf_of(page.text)},
            files={"export": (name, content, "application/x-ndjson")},
        )

    r = await verify(jsonl)
    assert r.status_code == 200 and "<strong>OK:</strong>" in r.text, r.text
    lines = jsonl.splitlines()
    at = next(i for i, line in enumerate(lines) if b"420000" in line)  # the winning bid
    lines[at] = lines[at].replace(b"420000", b"120000")
    r = await verify(b"\n".join(lines) + b"\n")
    assert r.status_code == 422 and "Not valid" in r.text
    assert f"line {at + 1} ({row_name(lines[at])})" in r.text
    page = await client.get("/audit/verify")
    r = await client.post("/audit/verify", data={"csrf_token": csrf_of(page.text)})
    assert r.status_code == 400 and "Choose the export file" in r.text

    # Other roles are refused; exports need the auditor role.
    await sign_in(client, first["buyer"])
    assert (await client.get("/audit")).status_code == 403
    assert (await client.get("/audit/export")).status_code == 403
    assert (await client.get("/audit/verify")).status_code == 403


def row_name(line: bytes) -> str:
    row = json.loads(line)
    return f"{row['chain']} seq {row['seq']}"
