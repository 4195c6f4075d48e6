"""Zoned form fields without script: shown and read in MARKETPLACE_TIMEZONE; a zone the
server does not know is said, never guessed (issue 23, build 1; marketplace/web/zoned.py)."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import msgspec
from litestar.testing import AsyncTestClient

from marketplace.app import create_app
from marketplace.settings import Settings
from tests.helpers import Api, auction_body, csrf_of, sign_in

ZONE = "America/New_York"


def _form(page: str, **fields: str) -> dict[str, str]:
    """The form's inputs as the page renders them (what a browser without script sends)."""
    data = dict(re.findall(r'<input[^>]* name="([a-z_]+)"[^>]* value="([^"]*)"', page))
    data.update(fields)
    return data


async def test_without_script_the_deployment_zone_both_ways(settings: Settings) -> None:
    local = msgspec.structs.replace(settings, timezone=ZONE)
    assert local.database_url and local.redis_url
    app = create_app(local, local.database_url, local.redis_url)
    async with AsyncTestClient(app=app) as client:
        api = await Api.start(client, local.database_url)
        buyer = await api.buyer()
        starts = dt.datetime(2031, 7, 1, 16, 30, 15, tzinfo=dt.UTC)
        body = auction_body(starts_at="2031-07-01T16:30:15Z", ends_at="2031-07-08T16:30:00Z")
        r = await client.post("/api/auctions", json=body, headers=buyer.headers)
        assert r.status_code == 201, r.text
        aid = r.json()["id"]
        await sign_in(client, buyer)
        page = await client.get(f"/buyer/tasks/{aid}/edit")
        # 16:30:15Z is 12:30:15 in New York (EDT), and the form says which zone.
        assert 'value="2031-07-01T12:30:15" data-instant="2031-07-01T16:30:15Z"' in page.text
        assert f'name="tz" value="{ZONE}"' in page.text
        form = _form(page.text, description="Tests pass.", delivery="days")
        r = await client.post(f"/buyer/tasks/{aid}/edit", data=form, follow_redirects=False)
        assert r.status_code == 303, r.text
        saved = (await client.get(f"/api/auctions/{aid}", headers=buyer.headers)).json()
        assert saved["starts_at"] == starts.isoformat().replace("+00:00", "Z")

        # A zone the server does not know: nothing saved, the times asked for again.
        page = await client.get(f"/buyer/tasks/{aid}/edit")
        form = _form(
            page.text,
            description="Tests pass.",
            delivery="days",
            tz="Mars/Olympus_Mons",
            starts_at="2031-07-02T09:00",
        )
        r = await client.post(f"/buyer/tasks/{aid}/edit", data=form)
        assert r.status_code == 422
        assert "does not know your browser&#39;s time zone" in r.text or (
            "does not know your browser's time zone" in r.text
        )
        assert "data-zone-fixed" in r.text and f'name="tz" value="{ZONE}"' in r.text
        saved = (await client.get(f"/api/auctions/{aid}", headers=buyer.headers)).json()
        assert saved["starts_at"] == starts.isoformat().replace("+00:00", "Z")

        auditor = await api.user("auditor")
        await sign_in(client, auditor)
        at = dt.datetime.now(dt.UTC)
        page = await client.get("/audit", params={"auction": str(aid)})
        assert (
            f'name="tz" value="{ZONE}"' in page.text
            and f"From (<span data-zone-label>{ZONE}" in page.text
        )
        around = {
            "auction": str(aid),
            "since": (at - dt.timedelta(hours=1)).astimezone(local.zone).strftime("%Y-%m-%dT%H:%M"),
            "until": (at + dt.timedelta(minutes=5))
            .astimezone(local.zone)
            .strftime("%Y-%m-%dT%H:%M"),
        }
        r = await client.get("/audit", params=around)
        assert r.text.count("<code>auction.updated</code>") == 1, r.text
        r = await client.get(
            "/audit", params={**around, "tz": "UTC"}
        )  # the same wall times, in UTC
        assert "<code>auction.updated</code>" not in r.text
        r = await client.get("/audit", params={**around, "tz": "Nowhere/Special"})
        assert r.status_code == 200 and "does not know your browser" in r.text
        assert "data-zone-fixed" in r.text


async def test_hostile_zoned_values_are_refused_in_words(api: Api, client: Any) -> None:
    buyer = await api.buyer()
    await sign_in(client, buyer)
    page = await client.get("/buyer/tasks/new")
    for tz, starts in (
        ("Pacific/Kiritimati", "0001-01-01T00:00"),
        ("x" * 500, "2031-01-01T00:00"),
        ("UTC", "not a time"),
        ("../../etc/passwd", "2031-01-01T00:00"),
    ):
        form = _form(
            page.text,
            tz=tz,
            starts_at=starts,
            title="T",
            summary="S",
            description="D",
            repo="city-of-x/permits",
            price_cap="100",
        )
        r = await client.post("/buyer/tasks/new", data=form)
        assert r.status_code == 422, (tz, starts, r.text[:300])
    assert csrf_of(page.text)
