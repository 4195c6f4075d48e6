"""Attribution (DESIGN §8; issue 21 finding 4): every audit row records the token that
authorised it, and a token issued by someone other than its user marks every row made with
it, so an admin acting as a user leaves a trace the event browser, exports and the user see.
"""

from __future__ import annotations

from typing import Any

import asyncpg
import msgspec

from tests.helpers import Api, User, bid, confirm_address, published_auction, sign_in


async def _rows(db: asyncpg.Connection, action: str) -> list[dict[str, Any]]:
    rows = await db.fetch(
        "SELECT data FROM audit_log WHERE data LIKE $1 ORDER BY id", f"%{action}%"
    )
    return [msgspec.json.decode(r["data"]) for r in rows if f'"action":"{action}"' in r["data"]]


async def test_an_admin_acting_with_a_token_it_issued_is_on_every_row(
    api: Api, db: asyncpg.Connection
) -> None:
    # A vendor who signed up themselves: their token is their own.
    r = await api.client.post("/api/signup", json={"email": "v@example.com", "name": "Vera"})
    assert r.status_code == 201, r.text
    own = r
    vendor = own_token = User(r.json()["id"], r.json()["token"])
    await confirm_address(api.client, db, "v@example.com")
    r = await api.client.post(
        f"/api/vendors/{vendor.id}/verification",
        json={"status": "verified", "reason": "registry checked"},
        headers=api.admin.headers,
    )
    assert r.status_code == 201, r.text
    minted = await api.client.post(f"/api/users/{vendor.id}/tokens", headers=api.admin.headers)
    assert minted.status_code == 201
    as_vendor = User(vendor.id, minted.json()["token"])

    # The token rows themselves say who issued them.
    issued = await db.fetch(
        "SELECT id, issued_by FROM api_tokens WHERE user_id = $1 ORDER BY id", vendor.id
    )
    assert [(r["id"], r["issued_by"]) for r in issued][-2:] == [
        (own.json()["id"], None),
        (minted.json()["id"], api.admin.id),
    ]

    # A change through the API and a bid (written by place_bid() in SQL) with each token.
    body = {"method": "transfer", "reference": "GB33BUKB20201555555555"}
    for user in (own_token, as_vendor):
        r = await api.client.put("/api/me/payment-details", json=body, headers=user.headers)
        assert r.status_code == 200, r.text
    buyer = await api.buyer()
    aid = (await published_auction(api, buyer, price_cap_cents=100_000))["id"]
    assert (await bid(api, own_token, aid, 100_000)).status_code == 201
    assert (await bid(api, as_vendor, aid, 99_000)).status_code == 409  # already low: refused

    details = await _rows(db, "payment_details.updated")
    assert [(d["token_id"], d.get("issued_by")) for d in details] == [
        (own.json()["id"], None),
        (minted.json()["id"], api.admin.id),
    ]
    placed, refused = await _rows(db, "bid.placed"), await _rows(db, "bid.refused")
    assert [(d["token_id"], d.get("issued_by")) for d in placed] == [(own.json()["id"], None)]
    assert [(d["token_id"], d.get("issued_by")) for d in refused] == [
        (minted.json()["id"], api.admin.id)
    ]

    # The event browser shows it to auditors.
    auditor = await api.user("auditor")
    r = await api.client.get(
        "/api/audit/events",
        params={"action": "payment_details.updated", "limit": 10},
        headers=auditor.headers,
    )
    events = r.json()["items"]
    assert [(e["token_id"], e["issued_by"]) for e in events] == [
        (own.json()["id"], None),
        (minted.json()["id"], api.admin.id),
    ]
    await sign_in(api.client, auditor)
    page = await api.client.get("/audit", params={"action": "payment_details.updated"})
    assert page.status_code == 200
    assert f"with a token issued by user {api.admin.id}" in page.text

    # The vendor is told (the mail itself: tests/workers/test_notifications.py).
    told = await db.fetch(
        "SELECT payload FROM outbox WHERE type = 'token.issued_for_user' ORDER BY id"
    )
    mine = [msgspec.json.decode(t["payload"]) for t in told]
    assert [(t["token_id"], t["issued_by"]) for t in mine if t["user_id"] == vendor.id] == [
        (minted.json()["id"], api.admin.id)
    ]


async def test_a_web_session_opened_with_an_admin_issued_token_stays_marked(
    api: Api, db: asyncpg.Connection
) -> None:
    """Pasting an admin-issued token into the sign-in page gives the browser a token of its
    own: it carries the same issuer, so acting through the pages leaves the same trace."""
    vendor = await api.verified_vendor()
    await sign_in(api.client, vendor)
    session_token = await db.fetchrow(
        "SELECT id, issued_by FROM api_tokens WHERE user_id = $1 ORDER BY id DESC LIMIT 1",
        vendor.id,
    )
    assert session_token["issued_by"] == api.admin.id
    created = await _rows(db, "token.created")
    assert created[-1]["object_id"] == session_token["id"]
    assert created[-1]["issued_by"] == api.admin.id
