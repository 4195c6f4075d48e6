"""Side channels of sealed bids and veiled bidders (DESIGN §4, §8), tried as an attacker would.

Each test is one channel an outsider found: a sealed bidder's alias, sequential bid ids,
gaps in audit row ids, reverse-auction identities in the auditor's views while bidding is
open, and the count of voided sealed bids in department webhooks.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import asyncpg
from litestar.testing import AsyncTestClient

from marketplace.auctions import lifecycle
from marketplace.settings import Settings
from tests.helpers import (
    CLOSE_SETTINGS,
    Api,
    bid,
    end_auction_now,
    eventually,
    published_auction,
    running,
    running_relays_forever,
    sign_in,
    worker_ctx,
)
from tests.webhook_receiver import Endpoint, has_all, webhook_consumer, webhook_sender


async def test_a_sealed_bid_has_no_alias_until_close(
    api: Api, client: AsyncTestClient[Any], db: asyncpg.Connection, pool: Any
) -> None:
    buyer = await api.buyer()
    first, second = await api.verified_vendor(), await api.verified_vendor()
    sealed = (await published_auction(api, buyer, type="sealed"))["id"]
    assert (await bid(api, first, sealed, 340_000)).status_code == 201
    r = await bid(api, second, sealed, 300_000)
    assert r.status_code == 201, r.text
    # "Bidder 2" would tell the second bidder that one other bid came first.
    assert r.json()["bidder_alias"] is None
    r = await client.get(f"/api/auctions/{sealed}/bids", headers=second.headers)
    assert [b["bidder_alias"] for b in r.json()["items"]] == [None]
    r = await client.get("/api/me/bids", headers=second.headers)
    assert [b["bidder_alias"] for b in r.json()["items"]] == [None]
    await sign_in(client, second)
    page = await client.get("/me/bids")
    assert page.status_code == 200
    assert "Bidder 2" not in page.text and "Bidder 1" not in page.text
    # At close every sealed bid gets its alias, in the order the bids were accepted.
    await end_auction_now(db, sealed)
    assert await lifecycle.close_auction(pool, sealed, CLOSE_SETTINGS) == "awarded"
    r = await client.get(f"/api/auctions/{sealed}/bids")
    assert sorted(b["bidder_alias"] for b in r.json()["items"]) == ["Bidder 1", "Bidder 2"]
    by_amount = {b["amount_cents"]: b["bidder_alias"] for b in r.json()["items"]}
    assert by_amount == {340_000: "Bidder 1", 300_000: "Bidder 2"}


async def test_bid_ids_do_not_count_the_sealed_bids_between_two_probes(
    api: Api, client: AsyncTestClient[Any], db: asyncpg.Connection, pool: Any
) -> None:
    buyer = await api.buyer()
    probe = await api.verified_vendor()
    rivals = [await api.verified_vendor() for _ in range(3)]
    reverse = (await published_auction(api, buyer))["id"]
    sealed = (await published_auction(api, buyer, type="sealed"))["id"]
    before = (await bid(api, probe, reverse, 340_000)).json()["id"]
    sealed_ids = []
    for i, rival in enumerate(rivals):
        r = await bid(api, rival, sealed, 300_000 + i)
        assert r.status_code == 201, r.text
        sealed_ids.append(r.json()["id"])
    # The probe is outbid by someone else, then bids again.
    assert (await bid(api, rivals[0], reverse, 330_000)).status_code == 201
    after = (await bid(api, probe, reverse, 320_000)).json()["id"]
    assert after - before != len(rivals) + 2, "the gap counts the sealed bids"
    # Nor do the ids revealed at close sit between the probe's, in order.
    await end_auction_now(db, sealed)
    assert await lifecycle.close_auction(pool, sealed, CLOSE_SETTINGS) == "awarded"
    r = await client.get(f"/api/auctions/{sealed}/bids")
    revealed = sorted(b["id"] for b in r.json()["items"])
    assert revealed == sorted(sealed_ids)
    # Ids stay exact for JavaScript clients (below 2**53) and pages still work.
    assert all(0 < i < 2**53 for i in [before, after, *revealed])
    r = await client.get(f"/api/auctions/{reverse}/bids?limit=1")
    page1 = r.json()
    r = await client.get(f"/api/auctions/{reverse}/bids?limit=5&cursor={page1['next']}")
    assert [b["amount_cents"] for b in page1["items"] + r.json()["items"]] == [
        340_000,
        330_000,
        320_000,
    ]
    r = await client.get("/api/me/bids?limit=1", headers=probe.headers)
    mine1 = r.json()
    r = await client.get(f"/api/me/bids?limit=5&cursor={mine1['next']}", headers=probe.headers)
    assert [b["id"] for b in mine1["items"] + r.json()["items"]] == [after, before]
    # Nor do ids follow the order bids were taken in. (Three random ids falling between the
    # probe's two happens one time in ten, so that is no test; twelve in a row in order by
    # chance is one in 12!.)
    another = (await published_auction(api, buyer))["id"]
    taken = []
    for i in range(12):
        who = rivals[1] if i % 2 == 0 else probe
        r = await bid(api, who, another, 315_000 - 5_000 * i)
        assert r.status_code == 201, r.text
        taken.append(r.json()["id"])
    assert taken != sorted(taken) and taken != sorted(taken, reverse=True)


def _decoded(cursor: str) -> str:
    try:
        return base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("latin-1")
    except ValueError:
        return ""


async def test_audit_rows_do_not_count_the_hidden_rows_between_them(
    api: Api, client: AsyncTestClient[Any], db: asyncpg.Connection
) -> None:
    auditor = await api.user("auditor")
    buyer = await api.buyer()
    rivals = [await api.verified_vendor() for _ in range(3)]
    sealed = (await published_auction(api, buyer, type="sealed"))["id"]
    first_dept = await api.department("Visible one")
    for i, rival in enumerate(rivals):
        assert (await bid(api, rival, sealed, 300_000 + i)).status_code == 201
    second_dept = await api.department("Visible two")
    rows: list[dict[str, Any]] = []
    cursors: list[str] = []
    url = "/api/audit/events?limit=2"
    while url:
        r = await client.get(url, headers=auditor.headers)
        assert r.status_code == 200, r.text
        rows += r.json()["items"]
        nxt = r.json()["next"]
        if nxt:
            cursors.append(nxt)
        url = f"/api/audit/events?limit=2&cursor={nxt}" if nxt else ""
    made = {
        row["object_id"]: row
        for row in rows
        if row["action"] == "department.created" and row["object_id"] in (first_dept, second_dept)
    }
    one, two = made[first_dept], made[second_dept]
    for name in one:
        if isinstance(one[name], int) and isinstance(two[name], int):
            # Any counter shown must not have moved by the three hidden bids.
            assert two[name] - one[name] != len(rivals) + 1, name
    # The browsing cursors do not carry the database's row ids either.
    ids = await db.fetch("SELECT id FROM audit_log ORDER BY id")
    shown = [_decoded(c) for c in cursors]
    assert not any(str(row["id"]) in text for row in ids[-3:] for text in shown)


async def test_reverse_bidders_stay_veiled_from_auditors_and_admins_until_close(
    api: Api, client: AsyncTestClient[Any], db: asyncpg.Connection, pool: Any
) -> None:
    auditor = await api.user("auditor")
    buyer = await api.buyer()
    vendor = await api.verified_vendor()
    aid = (await published_auction(api, buyer))["id"]
    assert (await bid(api, vendor, aid, 340_000)).status_code == 201
    r = await bid(api, vendor, aid, 330_000)  # refused: the low bidder
    assert r.status_code == 409

    def identifies(text: str) -> bool:
        return any(row["actor_id"] == vendor.id for row in json.loads(text)["items"])

    for who in (auditor, api.admin):
        for path in (
            f"/api/audit/events?auction_id={aid}",
            f"/api/audit/events?auction_id={aid}&action=bid.placed",
            f"/api/audit/events?auction_id={aid}&action=bid.refused",
        ):
            r = await client.get(path, headers=who.headers)
            assert r.status_code == 200, r.text
            assert not identifies(r.text), (path, r.text[:400])
    r = await client.get(f"/api/audit/export?auction_id={aid}", headers=auditor.headers)
    assert r.status_code == 200
    assert f'\\"actor_id\\":{vendor.id}' not in r.text
    await sign_in(client, auditor)
    page = await client.get(f"/audit?auction={aid}")
    assert page.status_code == 200
    assert f"user {vendor.id}<" not in page.text and f"user {vendor.id} " not in page.text
    # At close the rows appear, with the bidder, in the browser and in exports.
    await end_auction_now(db, aid)
    assert await lifecycle.close_auction(pool, aid, CLOSE_SETTINGS) == "awarded"
    r = await client.get(
        f"/api/audit/events?auction_id={aid}&action=bid.placed", headers=auditor.headers
    )
    assert [row["actor_id"] for row in r.json()["items"]] == [vendor.id]
    r = await client.get(f"/api/audit/export?auction_id={aid}", headers=auditor.headers)
    assert f'\\"actor_id\\":{vendor.id}' in r.text


async def test_a_cancelled_sealed_auction_does_not_tell_webhooks_how_many_bid(
    api: Api, settings: Settings, endpoint: Endpoint
) -> None:
    dept = await api.department()
    buyer = await api.buyer(dept)
    r = await api.client.post(
        f"/api/departments/{dept}/webhooks", json={"url": endpoint.url}, headers=buyer.headers
    )
    assert r.status_code == 201, r.text
    sealed = (await published_auction(api, buyer, type="sealed"))["id"]
    for amount in (340_000, 300_000):
        assert (await bid(api, await api.verified_vendor(), sealed, amount)).status_code == 201
    r = await api.client.post(
        f"/api/auctions/{sealed}/cancel", json={"reason": "scope changed"}, headers=buyer.headers
    )
    assert r.status_code == 200, r.text
    async with worker_ctx(settings) as ctx:
        async with running(
            lambda: running_relays_forever(ctx),
            webhook_consumer(ctx).run_forever,
            webhook_sender(ctx).run_forever,
        ):
            await eventually(
                lambda: has_all(endpoint, {"auction.cancelled"}), "the cancellation delivered"
            )
    [cancelled] = [
        x for x in endpoint.received if x.headers["x-marketplace-event"] == "auction.cancelled"
    ]
    data = json.loads(cancelled.body)
    assert data["auction_id"] == sealed
    assert "voided_bids" not in data, data
