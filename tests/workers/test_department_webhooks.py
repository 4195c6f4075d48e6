"""Department webhooks: signed deliveries of a department's auction events, retried,
disabled after repeated failures and redelivered by the department's buyers."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import asyncpg
from litestar.testing import AsyncTestClient

from marketplace.auctions import lifecycle
from marketplace.settings import Settings
from tests.helpers import (
    Api,
    bid,
    end_auction_now,
    eventually,
    published_auction,
    running,
    running_relays_forever,
    worker_ctx,
)
from tests.webhook_receiver import Endpoint, has_all, webhook_consumer, webhook_sender


async def test_webhooks_are_managed_by_the_department_buyers_and_admins(
    api: Api, client: AsyncTestClient[Any], endpoint: Endpoint
) -> None:
    dept = await api.department()
    buyer = await api.buyer(dept)
    outsider = await api.buyer()
    vendor = await api.verified_vendor()
    url = f"/api/departments/{dept}/webhooks"
    r = await client.post(url, json={"url": endpoint.url}, headers=buyer.headers)
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["secret"].startswith("whsec_") and created["status"] == "active"
    r = await client.post(url, json={"url": endpoint.url}, headers=api.admin.headers)
    assert r.status_code == 201
    r = await client.get(url, headers=buyer.headers)
    assert r.status_code == 200
    items = r.json()["items"]
    assert [w["id"] for w in items] == [created["id"], created["id"] + 1]
    assert all("secret" not in w for w in items)
    assert created["secret"] not in r.text
    for bad in ("ftp://example.gov/x", "example.gov/hook", "http://", "javascript:alert(1)"):
        r = await client.post(url, json={"url": bad}, headers=buyer.headers)
        assert r.status_code == 400, bad
        assert r.json()["code"] == "invalid_webhook_url"
    r = await client.post(url, json={"url": endpoint.url, "extra": 1}, headers=buyer.headers)
    assert r.status_code == 400
    assert (
        await client.post(url, json={"url": endpoint.url}, headers=outsider.headers)
    ).status_code == 403
    assert (await client.get(url, headers=outsider.headers)).status_code == 403
    assert (await client.get(url, headers=vendor.headers)).status_code == 403
    assert (await client.get(url)).status_code == 401
    r = await client.get("/api/departments/999999/webhooks", headers=api.admin.headers)
    assert r.status_code == 404
    one = f"{url}/{created['id']}"
    assert (await client.delete(one, headers=outsider.headers)).status_code == 403
    assert (await client.delete(one, headers=buyer.headers)).status_code == 204
    assert (await client.delete(one, headers=buyer.headers)).status_code == 404
    r = await client.get(url, headers=buyer.headers)
    assert [w["id"] for w in r.json()["items"]] == [created["id"] + 1]


async def test_award_reaches_the_department_endpoint_signed(
    api: Api, settings: Settings, db: asyncpg.Connection, endpoint: Endpoint
) -> None:
    dept = await api.department()
    buyer = await api.buyer(dept)
    other = await api.buyer()
    r = await api.client.post(
        f"/api/departments/{dept}/webhooks", json={"url": endpoint.url}, headers=buyer.headers
    )
    secret = r.json()["secret"]
    a, b = await api.verified_vendor(), await api.verified_vendor()
    aid = (await published_auction(api, buyer))["id"]
    await published_auction(api, other)  # another department's: never delivered here
    assert (await bid(api, a, aid, 300_000)).status_code == 201
    assert (await bid(api, b, aid, 250_000)).status_code == 201
    async with worker_ctx(settings) as ctx:
        await end_auction_now(db, aid)
        assert await lifecycle.close_auction(ctx["pool"], aid, ctx["settings"]) == "awarded"
        async with running(
            lambda: running_relays_forever(ctx),
            webhook_consumer(ctx).run_forever,
            webhook_sender(ctx).run_forever,
        ):
            # Deliveries are posted concurrently: the award may land before the bids.
            await eventually(
                lambda: has_all(endpoint, {"auction.awarded", "bid.placed"}),
                "the award and the bids at the endpoint",
            )
    [award] = [
        x for x in endpoint.received if x.headers["x-marketplace-event"] == "auction.awarded"
    ]
    expected = "sha256=" + hmac.new(secret.encode(), award.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(award.headers["x-marketplace-signature-256"], expected)
    data = json.loads(award.body)
    assert data["type"] == "auction.awarded" and data["auction_id"] == aid
    assert data["winner_id"] == b.id and data["amount_cents"] == 250_000
    assert award.headers["content-type"] == "application/json"
    ids = [x.headers["x-marketplace-delivery"] for x in endpoint.received]
    assert len(ids) == len(set(ids))
    assert all(json.loads(x.body)["auction_id"] == aid for x in endpoint.received)
    assert "bid.placed" in endpoint.types()


async def _has(endpoint: Endpoint, kind: str) -> bool:
    return kind in endpoint.types()


async def test_failing_endpoint_is_retried_disabled_then_redelivered_by_the_buyer(
    api: Api, settings: Settings, client: AsyncTestClient[Any], endpoint: Endpoint
) -> None:
    endpoint.status = 500
    dept = await api.department()
    buyer = await api.buyer(dept)
    outsider = await api.buyer()
    url = f"/api/departments/{dept}/webhooks"
    hook = (await client.post(url, json={"url": endpoint.url}, headers=buyer.headers)).json()
    aid = (await published_auction(api, buyer))["id"]
    async with (
        worker_ctx(settings) as ctx,
        running(
            lambda: running_relays_forever(ctx),
            webhook_consumer(ctx).run_forever,
            webhook_sender(ctx).run_forever,
        ),
    ):

        async def disabled() -> Any:
            [w] = (await client.get(url, headers=buyer.headers)).json()["items"]
            return w if w["status"] == "disabled" else None

        webhook = await eventually(disabled, "the webhook disabled")
        assert webhook["consecutive_failures"] == 8
        assert webhook["last_status_code"] == 500 and webhook["pending_deliveries"] >= 1
        assert webhook["disabled_at"] is not None and webhook["last_delivery_at"] is not None
        assert len(endpoint.received) >= 8
        again = f"{url}/{hook['id']}/redeliver"
        assert (await client.post(again, json={}, headers=outsider.headers)).status_code == 403
        r = await client.post(again, json={"event_id": 999999}, headers=buyer.headers)
        assert r.status_code == 404
        endpoint.status = 204
        r = await client.post(again, json={}, headers=buyer.headers)
        assert r.status_code == 202, r.text
        assert r.json()["webhook"]["status"] == "active" and r.json()["requeued"] >= 1

        async def drained() -> Any:
            [w] = (await client.get(url, headers=buyer.headers)).json()["items"]
            return w if w["pending_deliveries"] == 0 and w["last_status_code"] == 204 else None

        webhook = await eventually(drained, "every delivery made")
        assert webhook["status"] == "active" and webhook["consecutive_failures"] == 0
        delivered = [x for x in endpoint.received if x.headers.get("x-marketplace-event")]
        assert "auction.published" in [x.headers["x-marketplace-event"] for x in delivered]
        # One event again, on request, with the same delivery id as before.
        event_id = json.loads(delivered[-1].body)["event_id"]
        before = len(endpoint.received)
        r = await client.post(again, json={"event_id": event_id}, headers=buyer.headers)
        assert r.status_code == 202 and r.json()["requeued"] == 1

        async def resent() -> bool:
            return len(endpoint.received) > before

        await eventually(resent, "the redelivery")
    same = [x for x in endpoint.received if json.loads(x.body)["event_id"] == event_id]
    assert len({x.headers["x-marketplace-delivery"] for x in same}) == 1
    assert all(json.loads(x.body)["auction_id"] == aid for x in endpoint.received)
