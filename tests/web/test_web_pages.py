"""The server-rendered pages over plain HTTP: rendering, sign-in, CSRF, visibility."""

from __future__ import annotations

import re
from typing import Any

from litestar.testing import AsyncTestClient

from tests.helpers import (
    Api,
    User,
    auction_body,
    bid,
    csrf_of,
    published_auction,
    sign_in,
)


async def test_pages_render_for_anonymous_users(api: Api, client: AsyncTestClient[Any]) -> None:
    buyer = await api.buyer()
    vendor = await api.verified_vendor()
    auction = await published_auction(api, buyer, price_cap_cents=349_900, title="Fix the map")
    assert (await bid(api, vendor, auction["id"], 300_000)).status_code == 201

    r = await client.get("/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "Fix the map" in r.text and "$3,499.00" in r.text and "Closing soon" in r.text
    assert "Sign in" in r.text

    r = await client.get(f"/auctions/{auction['id']}")
    assert r.status_code == 200
    assert "$3,499.00" in r.text and "$3,000.00" in r.text
    assert "Bidder 1" in r.text
    assert 'aria-live="polite"' in r.text
    assert re.search(r'<time datetime="\d{4}-\d\d-\d\dT[^"]+Z" data-local>[^<]+UTC</time>', r.text)
    # Veiled: the vendor's name or id never shows while the auction is open.
    assert "User vendor" not in r.text
    assert (await client.get("/static/app.js")).status_code == 200
    assert (await client.get("/static/app.css")).status_code == 200


async def test_list_filters_and_bad_input_give_messages_not_errors(
    api: Api, client: AsyncTestClient[Any]
) -> None:
    buyer = await api.buyer()
    await published_auction(api, buyer, title="Accessible forms", skills=["a11y"])
    await published_auction(api, buyer, title="Payments export", skills=["python"])
    r = await client.get("/", params={"skill": "a11y"})
    assert "Accessible forms" in r.text and "Payments export" not in r.text
    r = await client.get("/", params={"q": "export"})
    assert "Payments export" in r.text and "Accessible forms" not in r.text
    r = await client.get("/", params={"status": "bogus", "sort": "sideways"})
    assert r.status_code == 200
    assert "no status called" in r.text and "Unknown sort order" in r.text
    r = await client.get("/", params={"cursor": "!!!"})
    assert r.status_code == 400 and "text/html" in r.headers["content-type"]


async def test_list_paginates(api: Api, client: AsyncTestClient[Any]) -> None:
    buyer = await api.buyer()
    for i in range(22):
        await published_auction(api, buyer, title=f"Task number {i:02d}")
    first = await client.get("/", params={"sort": "newest"})
    assert "Task number 21" in first.text and "Task number 01" not in first.text
    link = re.search(r'href="(/\?[^"]*cursor=[^"]+)" rel="next"', first.text)
    assert link
    second = await client.get(link.group(1).replace("&amp;", "&"))
    assert second.status_code == 200
    assert "Task number 01" in second.text and "Task number 21" not in second.text
    # The first page links back to itself only from the pages after it, keeping the sort.
    assert ">First page</a>" not in first.text
    assert '<a href="/?sort=newest">First page</a>' in second.text


async def test_sign_in_and_out_with_a_token(api: Api, client: AsyncTestClient[Any]) -> None:
    vendor = await api.verified_vendor()
    await sign_in(client, vendor)
    r = await client.get("/me")
    assert r.status_code == 200 and "User vendor" in r.text and "verified" in r.text
    cookie = client.cookies.get("mp_session")
    assert cookie and vendor.token not in cookie
    r = await client.post("/signout", data={"csrf_token": csrf_of(r.text)}, follow_redirects=False)
    assert r.status_code == 303
    r = await client.get("/me", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/signin")
    # The old cookie's session token was revoked at sign-out.
    client.cookies.set("mp_session", cookie)
    r = await client.get("/me", follow_redirects=False)
    assert r.status_code == 303
    # The user's own API token still works.
    assert (await client.get("/api/me", headers=vendor.headers)).status_code == 200


async def test_sign_in_with_a_wrong_token_says_so(client: AsyncTestClient[Any]) -> None:
    page = await client.get("/signin")
    r = await client.post("/signin", data={"token": "mp_nope", "csrf_token": csrf_of(page.text)})
    assert r.status_code == 401
    assert "unknown or has been revoked" in r.text
    r = await client.post("/signin", data={"token": "", "csrf_token": csrf_of(page.text)})
    assert r.status_code == 401 and "Enter your API token" in r.text


async def test_forms_without_the_csrf_token_are_refused(
    api: Api, client: AsyncTestClient[Any]
) -> None:
    vendor = await api.verified_vendor()
    r = await client.post("/signin", data={"token": vendor.token})
    assert r.status_code == 403 and "did not come from this site" in r.text
    await sign_in(client, vendor)
    buyer = await api.buyer()
    auction = await published_auction(api, buyer)
    for path, data in (
        (f"/auctions/{auction['id']}/bid", {"amount": "3000"}),
        (f"/auctions/{auction['id']}/bid", {"amount": "3000", "csrf_token": "forged"}),
        ("/signout", {}),
        ("/me/verification", {"kind": "student", "registry_id": "S1"}),
    ):
        r = await client.post(path, data=data)
        assert r.status_code == 403, (path, r.text)
    assert (await client.get(f"/api/auctions/{auction['id']}/bids")).json()["items"] == []
    assert (await client.get("/me")).status_code == 200  # still signed in
    # The JSON API with Bearer tokens is not subject to the pages' CSRF check.
    r = await bid(api, vendor, auction["id"], 300_000)
    assert r.status_code == 201, r.text


async def test_a_draft_is_404_to_other_departments_and_anonymous(
    api: Api, client: AsyncTestClient[Any]
) -> None:
    buyer = await api.buyer()
    r = await client.post(
        "/api/auctions", json=auction_body(title="Secret draft"), headers=buyer.headers
    )
    draft = r.json()["id"]
    r = await client.get(f"/auctions/{draft}")
    assert r.status_code == 404 and "Secret draft" not in r.text
    assert "text/html" in r.headers["content-type"]
    outsider = await api.buyer()
    await sign_in(client, outsider)
    r = await client.get(f"/auctions/{draft}")
    assert r.status_code == 404 and "Secret draft" not in r.text
    assert "Secret draft" not in (await client.get("/", params={"status": "draft"})).text
    colleague = await api.user("buyer", department_id=await _department_of(api, buyer))
    await sign_in(client, colleague)
    r = await client.get(f"/auctions/{draft}")
    assert r.status_code == 200 and "Secret draft" in r.text and "Publish" in r.text


async def _department_of(api: Api, user: User) -> int:
    r = await api.client.get("/api/me", headers=user.headers)
    return int(r.json()["department_id"])


async def test_task_form_shows_errors_beside_fields_and_publish_checks_again(
    api: Api, client: AsyncTestClient[Any], db: Any
) -> None:
    buyer = await api.buyer()
    await sign_in(client, buyer)
    page = await client.get("/buyer/tasks/new")
    assert page.status_code == 200
    token = csrf_of(page.text)
    form = {
        "csrf_token": token,
        "title": "Fix the footer",
        "summary": "",
        "description": "",
        "repo": "not a repo",
        "price_cap": "3500",
        "min_decrement": "1.00",
        "starts_at": "2030-01-01T09:00",
        "ends_at": "2030-01-08T09:00",
        "delivery": "days",
        "delivery_business_days": "10",
        "soft_close_seconds": "120",
        "max_extensions": "10",
        "tz": "America/New_York",
    }
    r = await client.post("/buyer/tasks/new", data=form)
    assert r.status_code == 422
    assert re.search(r'id="repo-error">GitHub repository: give it as owner/name', r.text)
    r = await client.post("/buyer/tasks/new", data={**form, "repo": "x/y", "price_cap": "ten"})
    assert r.status_code == 422 and 'id="price_cap-error"' in r.text
    r = await client.post("/buyer/tasks/new", data={**form, "repo": "x/y"}, follow_redirects=False)
    assert r.status_code == 303
    draft = int(r.headers["location"].rsplit("/", 1)[1])
    row = await db.fetchrow("SELECT starts_at, price_cap_cents FROM auctions WHERE id = $1", draft)
    assert row["price_cap_cents"] == 350_000
    assert row["starts_at"].isoformat() == "2030-01-01T14:00:00+00:00"  # 09:00 in New York
    # Publishing needs a summary: the refusal is shown beside the summary field.
    r = await client.post(f"/buyer/tasks/{draft}/publish", data={"csrf_token": token})
    assert r.status_code == 422 and 'id="summary-error"' in r.text
    assert await db.fetchval("SELECT status FROM auctions WHERE id = $1", draft) == "draft"
    cancel = {"csrf_token": token, "reason": "dup"}
    r = await client.post(f"/buyer/tasks/{draft}/cancel", data=cancel)
    assert r.status_code == 200 and "Cancel “Fix the footer”?" in r.text
    assert await db.fetchval("SELECT status FROM auctions WHERE id = $1", draft) == "draft"
    r = await client.post(f"/buyer/tasks/{draft}/cancel", data={**cancel, "confirmed": "yes"})
    assert r.status_code == 200 and "The auction is cancelled" in r.text
    # Vendors do not get buyer pages.
    await sign_in(client, await api.verified_vendor())
    assert (await client.get("/buyer")).status_code == 403


async def test_admin_verifies_and_rejects_vendors_from_the_queue(
    api: Api, client: AsyncTestClient[Any]
) -> None:
    asking = await api.user("vendor")
    r = await client.post(
        "/api/me/verification",
        json={"kind": "student", "registry_id": "S-1"},
        headers=asking.headers,
    )
    assert r.status_code == 201, r.text
    other = await api.user("vendor")
    await sign_in(client, api.admin)
    page = await client.get("/admin/vendors")
    assert page.status_code == 200
    assert f'id="vendor-{asking.id}"' in page.text and f'id="vendor-{other.id}"' in page.text
    token = csrf_of(page.text)
    path = f"/admin/vendors/{asking.id}/verification"
    r = await client.post(path, data={"csrf_token": token, "status": "verified", "reason": ""})
    assert r.status_code == 400 and f'id="reason-{asking.id}-error"' in r.text
    verify = {"csrf_token": token, "status": "verified", "reason": "student id checked"}
    r = await client.post(path, data=verify)
    assert r.status_code == 200 and "Verify User vendor as a student?" in r.text
    assert "is now verified" not in r.text
    r = await client.post(path, data={**verify, "confirmed": "yes"})
    assert r.status_code == 200 and "is now verified" in r.text
    assert f'id="vendor-{asking.id}"' not in r.text
    r = await client.post(
        f"/admin/vendors/{other.id}/verification",
        data={
            "csrf_token": token,
            "status": "rejected",
            "reason": "no evidence",
            "confirmed": "yes",
        },
    )
    assert "is now rejected" in r.text
    me = await client.get("/api/me", headers=asking.headers)
    assert me.json()["verification_status"] == "verified"
    r = await client.post(
        path,
        data={
            "csrf_token": token,
            "status": "rejected",
            "reason": "changed my mind",
            "confirmed": "yes",
        },
    )
    assert r.status_code == 409 and "already verified" in r.text


async def test_sealed_auction_pages_tell_nothing_about_bids_until_close(
    api: Api, client: AsyncTestClient[Any]
) -> None:
    buyer = await api.buyer()
    vendor = await api.verified_vendor()
    auction = await published_auction(api, buyer, type="sealed", price_cap_cents=350_000)
    assert (await bid(api, vendor, auction["id"], 271_800)).status_code == 201
    r = await client.get(f"/auctions/{auction['id']}")
    assert r.status_code == 200
    assert "$2,718.00" not in r.text and "Bidder" not in r.text and 'id="bid-count"' not in r.text
    assert "nothing about the bids is shown until it closes" in r.text
    await sign_in(client, vendor)
    r = await client.get(f"/auctions/{auction['id']}")
    assert "Your sealed bid of $2,718.00 is in" in r.text


async def test_award_notices_and_insights_pages(
    api: Api, client: AsyncTestClient[Any], db: Any, pool: Any
) -> None:
    from tests.scenes import awarded_auction

    r = await client.get("/awards")
    assert r.status_code == 200 and "No award notices yet." in r.text
    s = await awarded_auction(api, db, pool)
    r = await client.get("/awards")
    row = re.search(r'<tr id="award-\d+">(.*?)</tr>', r.text, re.S)
    assert row and f'href="/auctions/{s["auction_id"]}"' in row.group(1)
    assert "$4,200.00" in row.group(1) and "$5,000.00" in row.group(1)
    assert "$800.00 (16.0%)" in row.group(1)
    assert re.search(r"<time [^>]*>[^<]+UTC</time>", row.group(1))
    r = await client.get("/awards", params={"department": "999999"})
    assert r.status_code == 200 and 'id="award-' in r.text  # unknown department: every one
    r = await client.get("/awards", params={"cursor": "garbage"})
    assert r.status_code == 400 and "Back to the auctions" in r.text
    r = await client.get("/insights")
    assert r.status_code == 200 and "Platform insights" in r.text
    figures = re.search(r'<dl class="facts" id="figures">(.*?)</dl>', r.text, re.S)
    assert figures and "<dt>Awards</dt><dd>1</dd>" in figures.group(1)
    assert "How each figure is counted" in r.text
