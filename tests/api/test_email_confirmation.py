"""A self sign-up proves it owns its address before it can be verified or bid (issue 21,
finding 6): signing up with someone else's address no longer gives a working vendor account."""

from __future__ import annotations

import re
from typing import Any

import asyncpg

from tests.helpers import Api, User, bid, csrf_of, published_auction, sign_in

LINK = re.compile(r"/confirm-email\?token=([A-Za-z0-9_-]+)")


async def _sign_up(api: Api, email: str) -> User:
    r = await api.client.post("/api/signup", json={"email": email, "name": "Sam Squat"})
    assert r.status_code == 201, r.text
    return User(r.json()["id"], r.json()["token"])


async def _links(db: asyncpg.Connection, email: str) -> list[str]:
    bodies = await db.fetch(
        "SELECT body FROM mail_outbox WHERE to_address = $1 AND subject = $2 ORDER BY id",
        email,
        "Confirm your e-mail address",
    )
    return [m for b in bodies for m in LINK.findall(b["body"])]


async def _verify(api: Api, user: User) -> Any:
    return await api.client.post(
        f"/api/vendors/{user.id}/verification",
        json={"status": "verified", "reason": "registry checked"},
        headers=api.admin.headers,
    )


async def test_an_unconfirmed_sign_up_cannot_be_verified_or_bid(
    api: Api, db: asyncpg.Connection
) -> None:
    vendor = await _sign_up(api, "ada@example.com")
    me = (await api.client.get("/api/me", headers=vendor.headers)).json()
    assert me["email_confirmed"] is False
    r = await api.client.post(
        "/api/me/verification",
        json={"kind": "individual", "registry_id": "SAM-123456"},
        headers=vendor.headers,
    )
    assert r.status_code in (200, 201), r.text  # asking is allowed
    r = await _verify(api, vendor)
    assert r.status_code == 409 and r.json()["code"] == "email_not_confirmed", r.text
    status = await db.fetchval("SELECT verification_status FROM users WHERE id = $1", vendor.id)
    assert status == "pending"
    buyer = await api.buyer()
    aid = (await published_auction(api, buyer, price_cap_cents=100_000))["id"]
    r = await bid(api, vendor, aid, 100_000)
    assert r.status_code == 403 and r.json()["code"] == "vendor_not_verified"
    # Rejecting needs no confirmation.
    other = await _sign_up(api, "other@example.com")
    r = await api.client.post(
        f"/api/vendors/{other.id}/verification",
        json={"status": "rejected", "reason": "not eligible"},
        headers=api.admin.headers,
    )
    assert r.status_code == 201, r.text

    # The admin's queue says why Verify waits, and shows the registry id given.
    await sign_in(api.client, User(api.admin.id, api.admin.token))
    page = await api.client.get("/admin/vendors")
    card = page.text[page.text.index(f'id="vendor-{vendor.id}"') :]
    assert "not confirmed" in card[:1500] and "SAM-123456" in card[:1500]


async def test_the_mailed_link_confirms_once_after_a_button(
    api: Api, db: asyncpg.Connection
) -> None:
    vendor = await _sign_up(api, "grace@example.com")
    [token] = await _links(db, "grace@example.com")
    api.client.cookies.clear()
    # Opening the link (as a mail scanner would) changes nothing.
    page = await api.client.get("/confirm-email", params={"token": token})
    assert page.status_code == 200 and "Confirm grace@example.com" in page.text
    assert not await db.fetchval(
        "SELECT email_confirmed_at IS NOT NULL FROM users WHERE id = $1", vendor.id
    )
    # A forged form (no CSRF token) and a made-up token change nothing either.
    r = await api.client.post("/confirm-email", data={"token": token})
    assert r.status_code == 403
    r = await api.client.post(
        "/confirm-email", data={"token": token[:-2] + "xx", "csrf_token": csrf_of(page.text)}
    )
    assert r.status_code == 400 and "Nothing was changed" in r.text
    r = await api.client.post(
        "/confirm-email", data={"token": token, "csrf_token": csrf_of(page.text)}
    )
    assert r.status_code == 200 and "Your e-mail address is confirmed" in r.text
    me = (await api.client.get("/api/me", headers=vendor.headers)).json()
    assert me["email_confirmed"] is True
    # Used once: the same link again is refused and changes nothing.
    again = await api.client.get("/confirm-email", params={"token": token})
    assert again.status_code == 400
    assert (await _verify(api, vendor)).status_code == 201
    audit = await db.fetchval(
        "SELECT count(*) FROM audit_log WHERE data LIKE '%user.email_confirmed%'"
    )
    assert audit == 1


async def test_expired_links_fail_and_a_new_one_can_be_sent(
    api: Api, db: asyncpg.Connection
) -> None:
    vendor = await _sign_up(api, "late@example.com")
    [old] = await _links(db, "late@example.com")
    await db.execute("UPDATE email_confirmations SET expires_at = now() - interval '1 second'")
    assert (await api.client.get("/confirm-email", params={"token": old})).status_code == 400
    r = await api.client.post("/api/me/email-confirmation", headers=vendor.headers)
    assert r.status_code == 204, r.text
    links = await _links(db, "late@example.com")
    assert len(links) == 2 and links[0] == old
    page = await api.client.get("/confirm-email", params={"token": links[1]})
    r = await api.client.post(
        "/confirm-email", data={"token": links[1], "csrf_token": csrf_of(page.text)}
    )
    assert r.status_code == 200
    r = await api.client.post("/api/me/email-confirmation", headers=vendor.headers)
    assert r.status_code == 409 and r.json()["code"] == "email_already_confirmed"


async def test_admin_made_users_are_confirmed(api: Api) -> None:
    vendor = await api.verified_vendor()  # made by an admin: verifying it worked
    me = (await api.client.get("/api/me", headers=vendor.headers)).json()
    assert me["email_confirmed"] is True
