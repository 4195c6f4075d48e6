"""Shared set-ups: auctions brought to each state the service can reach, through the API
(and, for a verified delivery, rows written directly: GitHub verification has its own tests);
clarification questions, answers and amendments as a vendor and a buyer send them."""

from __future__ import annotations

from typing import Any

import asyncpg

from marketplace.auctions import lifecycle
from tests.helpers import CLOSE_SETTINGS, Api, User, bid, end_auction_now, published_auction

PR_URL = "https://github.com/city-of-x/permits/pull/7"


async def vendor_of_kind(api: Api, db: asyncpg.Connection, kind: str, name: str) -> User:
    vendor = await api.verified_vendor()
    await db.execute(
        "UPDATE users SET verification_kind = $2, name = $3 WHERE id = $1", vendor.id, kind, name
    )
    return vendor


async def closed(api: Api, db: asyncpg.Connection, pool: Any, aid: int) -> str:
    await end_auction_now(db, aid)
    status: str = await lifecycle.close_auction(pool, aid, CLOSE_SETTINGS)
    return status


async def verified_delivery(db: asyncpg.Connection, aid: int, winner: User) -> None:
    award_id = await db.fetchval(
        "SELECT id FROM awards WHERE auction_id = $1 AND status = 'active'", aid
    )
    delivery_id = await db.fetchval(
        """INSERT INTO deliveries (auction_id, award_id, submitted_by, pull_request_url,
                                   repo_full_name, pr_number)
           VALUES ($1, $2, $3, $4, 'city-of-x/permits', 7) RETURNING id""",
        aid,
        award_id,
        winner.id,
        PR_URL,
    )
    await db.execute(
        """INSERT INTO verifications (delivery_id, auction_id, passed, checks)
           VALUES ($1, $2, true, '[{"name": "merged", "passed": true, "evidence": {}}]')""",
        delivery_id,
        aid,
    )
    await db.execute(
        """INSERT INTO outbox (auction_id, type, payload) VALUES ($1, 'delivery.verified',
               convert_to(json_build_object('type', 'delivery.verified', 'auction_id', $1::bigint,
                   'award_id', $2::bigint, 'delivery_id', $3::bigint, 'verification_id', 1,
                   'pull_request_url', $4::text)::text, 'UTF8'))""",
        aid,
        award_id,
        delivery_id,
        PR_URL,
    )
    await db.execute("UPDATE auctions SET status = 'pending_review' WHERE id = $1", aid)
    await db.execute(
        "UPDATE awards SET delivered_at = now(), verified_at = now() WHERE id = $1", award_id
    )


async def review(api: Api, reviewer: User, aid: int, decision: str) -> Any:
    r = await api.client.post(
        f"/api/auctions/{aid}/review",
        json={"decision": decision, "reason": "checked against the acceptance criteria"},
        headers=reviewer.headers,
    )
    assert r.status_code == 200, r.text
    return r.json()


async def every_state(api: Api, db: asyncpg.Connection, pool: Any) -> dict[str, Any]:
    """One auction per state: open (reverse and sealed), sealed awarded, cancelled,
    closed without bids and its re-run, paid and confirmed, rejected then re-awarded."""
    from marketplace.payments import service as payments
    from marketplace.payments.provider import LedgerProvider

    dept = await api.department()
    buyer = await api.buyer(dept)
    reviewer = await api.user("reviewer")
    acme = await vendor_of_kind(api, db, "business", "Acme Widgets LLC")
    ada = await vendor_of_kind(api, db, "individual", "Ada Quietperson")
    sam = await vendor_of_kind(api, db, "student", "Sam Student")
    ids: dict[str, Any] = {"dept": dept, "buyer": buyer, "acme": acme, "ada": ada, "sam": sam}

    async def auction(offers: list[tuple[User, int]], **extra: Any) -> int:
        aid: int = (await published_auction(api, buyer, **extra))["id"]
        for who, amount in offers:
            assert (await bid(api, who, aid, amount)).status_code == 201
        return aid

    ids["open_reverse"] = await auction([(ada, 300_000), (acme, 290_000)])
    ids["open_sealed"] = await auction([(ada, 310_000)], type="sealed")
    ids["sealed_awarded"] = await auction([(ada, 200_000), (acme, 250_000)], type="sealed")
    assert await closed(api, db, pool, ids["sealed_awarded"]) == "awarded"
    ids["cancelled"] = await auction([(sam, 300_000)])
    r = await api.client.post(
        f"/api/auctions/{ids['cancelled']}/cancel",
        json={"reason": "budget withdrawn"},
        headers=buyer.headers,
    )
    assert r.status_code == 200, r.text
    ids["no_bids"] = await auction([])
    assert await closed(api, db, pool, ids["no_bids"]) == "closed_no_bids"
    r = await api.client.post(f"/api/auctions/{ids['no_bids']}/rerun", headers=buyer.headers)
    assert r.status_code in (200, 201), r.text
    rerun = r.json()["auction_id"]
    r = await api.client.post(f"/api/auctions/{rerun}/publish", headers=buyer.headers)
    assert r.status_code == 200, r.text
    ids["rerun"] = rerun

    ids["paid"] = await auction([(ada, 300_000), (sam, 280_000), (acme, 270_000)])
    assert await closed(api, db, pool, ids["paid"]) == "awarded"
    await verified_delivery(db, ids["paid"], acme)
    payment_id = (await review(api, reviewer, ids["paid"], "accept"))["payment_id"]
    assert await payments.release(pool, payment_id, LedgerProvider()) == "released"
    r = await api.client.post(f"/api/payments/{payment_id}/confirm", headers=acme.headers)
    assert r.status_code == 200, r.text

    ids["reawarded"] = await auction([(ada, 300_000), (sam, 280_000)])
    assert await closed(api, db, pool, ids["reawarded"]) == "awarded"
    await verified_delivery(db, ids["reawarded"], sam)
    await review(api, reviewer, ids["reawarded"], "reject")
    r = await api.client.post(f"/api/auctions/{ids['reawarded']}/reaward", headers=buyer.headers)
    assert r.status_code == 200, r.text
    return ids


async def flagged_department(api: Api, db: asyncpg.Connection, pool: Any) -> dict[str, Any]:
    """A department whose four awards raise price_at_cap, R018, R003, split_purchase, R028
    and winner_concentration."""
    dept = await api.department()
    buyer = await api.buyer(dept)
    v1 = await vendor_of_kind(api, db, "business", "Busy Vendor Inc")
    v2 = await vendor_of_kind(api, db, "business", "Other Vendor Co")

    async def won(offers: list[tuple[User, int]], **extra: Any) -> int:
        aid: int = (await published_auction(api, buyer, **extra))["id"]
        for who, amount in offers:
            assert (await bid(api, who, aid, amount)).status_code == 201
        assert await closed(api, db, pool, aid) == "awarded"
        return aid

    at_cap = await won([(v1, 600_000)], price_cap_cents=600_000, repo="city/one")
    second = await won([(v1, 590_000)], price_cap_cents=600_000, repo="city/two")
    same_price = await won([(v1, 300_000), (v2, 300_000)], type="sealed", repo="city/three")
    fourth = await won([(v2, 200_000), (v1, 190_000)], repo="city/four")
    return {
        "dept": dept,
        "at_cap": at_cap,
        "second": second,
        "same_price": same_price,
        "fourth": fourth,
    }


async def delivered_for_review(api: Api, db: asyncpg.Connection, pool: Any) -> dict[str, Any]:
    """An auction won by a vendor whose delivery passed verification (pending_review).

    Delivery and verification are covered by their own tests against a fake GitHub; here
    the verified delivery is written directly so review and payment can be tested alone.
    """
    dept = await api.department()
    buyer = await api.buyer(dept)
    winner, loser = await api.verified_vendor(), await api.verified_vendor()
    aid = (await published_auction(api, buyer, price_cap_cents=500_000))["id"]
    assert (await bid(api, loser, aid, 400_000)).status_code == 201
    assert (await bid(api, winner, aid, 390_000)).status_code == 201
    await end_auction_now(db, aid)
    assert await lifecycle.close_auction(pool, aid, CLOSE_SETTINGS) == "awarded"
    award = await db.fetchrow("SELECT id FROM awards WHERE auction_id = $1", aid)
    delivery_id = await db.fetchval(
        """INSERT INTO deliveries (auction_id, award_id, submitted_by, pull_request_url,
                                   repo_full_name, pr_number)
           VALUES ($1, $2, $3, 'https://github.com/city-of-x/permits/pull/7', 'city-of-x/permits', 7)
           RETURNING id""",
        aid,
        award["id"],
        winner.id,
    )
    await db.execute(
        """INSERT INTO verifications (delivery_id, auction_id, passed, checks)
           VALUES ($1, $2, true, '[{"name": "merged", "passed": true, "evidence": {}}]')""",
        delivery_id,
        aid,
    )
    await db.execute("UPDATE auctions SET status = 'pending_review' WHERE id = $1", aid)
    await db.execute(
        "UPDATE awards SET delivered_at = now(), verified_at = now() WHERE id = $1", award["id"]
    )
    return {
        "auction_id": aid,
        "dept": dept,
        "buyer": buyer,
        "winner": winner,
        "loser": loser,
        "award_id": award["id"],
    }


async def accept(api: Api, reviewer: User, aid: int) -> Any:
    return await api.client.post(
        f"/api/auctions/{aid}/review",
        json={"decision": "accept", "reason": "meets the acceptance criteria"},
        headers=reviewer.headers,
    )


# -- clarifications ------------------------------------------------------------------
ASKER = "Asker Marigold Vance"
QUESTION = "Must the fix also cover the renewal form's date picker?"
ANSWER = "Yes: both forms share the picker, and both must pass in Safari 17."


async def ask(api: Api, who: User, auction_id: int, text: Any = QUESTION) -> Any:
    return await api.client.post(
        f"/api/auctions/{auction_id}/questions", json={"text": text}, headers=who.headers
    )


async def answer(api: Api, who: User, auction_id: int, qid: int, text: Any = ANSWER) -> Any:
    return await api.client.post(
        f"/api/auctions/{auction_id}/questions/{qid}/answer",
        json={"text": text},
        headers=who.headers,
    )


async def amend(api: Api, who: User, auction_id: int, **body: Any) -> Any:
    return await api.client.post(
        f"/api/auctions/{auction_id}/amendments", json=body, headers=who.headers
    )


async def questions(api: Api, auction_id: int, who: User | None = None) -> list[dict[str, Any]]:
    r = await api.client.get(
        f"/api/auctions/{auction_id}/questions", headers=who.headers if who else {}
    )
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["items"]
    return items


async def named_asker(api: Api, db: asyncpg.Connection) -> User:
    asker = await api.verified_vendor()
    await db.execute("UPDATE users SET name = $2 WHERE id = $1", asker.id, ASKER)
    return asker


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


async def awarded_auction(api: Api, db: asyncpg.Connection, pool: Any) -> dict[str, Any]:
    """A closed auction awarded to ``winner`` with ``runner_up`` next in line."""
    buyer = await api.buyer()
    winner, runner_up = await api.verified_vendor(), await api.verified_vendor()
    aid = (await published_auction(api, buyer, price_cap_cents=500_000))["id"]
    assert (await bid(api, runner_up, aid, 450_000)).status_code == 201
    assert (await bid(api, winner, aid, 420_000)).status_code == 201
    await end_auction_now(db, aid)
    assert await lifecycle.close_auction(pool, aid, CLOSE_SETTINGS) == "awarded"
    return {"auction_id": aid, "buyer": buyer, "winner": winner, "runner_up": runner_up}


async def decline_by_api(api: Api, vendor: Any, aid: int) -> None:
    r = await api.client.post(
        f"/api/auctions/{aid}/decline", json={"reason": "cannot do it"}, headers=vendor.headers
    )
    assert r.status_code == 200, r.text
