"""Award notices, platform metrics, department spend and Prometheus metrics, via the HTTP API."""

from __future__ import annotations

import math
import re
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import msgspec
import pytest
from litestar.testing import AsyncTestClient

from marketplace.app import create_app
from marketplace.auctions import lifecycle
from marketplace.audit.record import SYSTEM, record
from marketplace.redis import WORKER_HEARTBEAT_KEY
from marketplace.settings import Settings
from marketplace.transparency import prom
from tests.helpers import CLOSE_SETTINGS, Api, User, bid, end_auction_now, published_auction
from workers import heartbeat


async def _auction(api: Api, buyer: User, bids: list[tuple[User, int]], **kw: Any) -> int:
    aid = int((await published_auction(api, buyer, **kw))["id"])
    for vendor, amount in bids:
        r = await bid(api, vendor, aid, amount)
        assert r.status_code == 201, r.text
    return aid


async def _close(db: asyncpg.Connection, pool: Any, aid: int) -> str | None:
    await end_auction_now(db, aid)
    return await lifecycle.close_auction(pool, aid, CLOSE_SETTINGS)


async def test_awards_and_metrics_figures(api: Api, db: asyncpg.Connection, pool: Any) -> None:
    d1, d2 = await api.department("Parks"), await api.department("Roads")
    b1, b2 = await api.buyer(d1), await api.buyer(d2)
    v1, v2, v3, v4 = [await api.verified_vendor() for _ in range(4)]

    a = await _auction(
        api, b1, [(v1, 300_000), (v2, 250_000), (v1, 200_000)], price_cap_cents=350_000
    )
    b = await _auction(api, b2, [(v3, 100_000)], price_cap_cents=100_000)
    c = await _auction(
        api,
        b1,
        [(v1, 150_000), (v2, 120_000), (v3, 180_000)],
        type="sealed",
        price_cap_cents=200_000,
    )
    d = await _auction(api, b1, [])
    # Still open: a sealed auction (secret) and a reverse one (its bids are public).
    e = await _auction(api, b2, [(v1, 50_000), (v4, 60_000)], type="sealed")
    await _auction(api, b2, [(v2, 90_000)])
    assert [await _close(db, pool, x) for x in (a, b, c, d)] == [
        "awarded",
        "awarded",
        "awarded",
        "closed_no_bids",
    ]

    notices = (await api.client.get("/api/awards")).json()
    assert notices["next"] is None
    assert [n["auction_id"] for n in notices["items"]] == [c, b, a]
    na = notices["items"][2]
    assert na["department"]["id"] == d1 and na["department"]["name"] == "Parks"
    assert na["winner"]["id"] == v1.id and na["winner"]["name"] == "User vendor"
    assert (na["amount_cents"], na["price_cap_cents"], na["savings_cents"]) == (
        200_000,
        350_000,
        150_000,
    )
    assert na["savings_percent"] == 42.86 and na["auction_status"] == "awarded"
    assert na["round"] == 1 and na["award_status"] == "active" and na["closed_at"]
    assert na["delivery_business_days"] == 10 and na["delivery_due_date"]
    assert notices["items"][0]["winner"]["id"] == v2.id  # sealed: lowest of the revealed bids
    assert notices["items"][0]["savings_percent"] == 40.0

    m = (await api.client.get("/api/metrics")).json()
    assert m["auctions"] == {
        "published": 6,
        "closed": 4,
        "by_status": {"awarded": 3, "closed_no_bids": 1, "open": 2},
    }
    # a: 3 bids by 2, b: 1 by 1, c: 3 by 3, d: none; the open reverse auction's bid counts in
    # the total, the open sealed auction's two bids nowhere.
    assert m["bids"] == {
        "total": 8,
        "closed_auctions": 4,
        "per_auction_mean": 1.75,
        "per_auction_median": 2.0,
        "unique_bidders_per_auction_mean": 1.5,
        "unique_bidders_per_auction_median": 1.5,
    }
    assert m["awards"] == {
        "awards": 3,
        "winning_bid_mean_cents": 140_000,
        "winning_bid_median_cents": 120_000,
        "savings_total_cents": 230_000,
        "savings_mean_cents": 76_667,
        "savings_percent_mean": 27.62,
        "savings_percent_overall": 35.38,
    }
    assert m["vendors"] == {"bidders": 3, "winners": 3}  # v4 bid only on the open sealed one
    assert m["outcomes"] == {"succeeded": 0, "decided": 0, "success_rate": None}
    assert m["delivery"] == {
        "measured": 0,
        "award_to_delivery_mean_seconds": None,
        "award_to_delivery_median_seconds": None,
    }
    assert "outcomes.success_rate" in m["definitions"]

    # Outcomes: a paid, b missed its delivery; a was delivered 2 days 3 hours after award.
    await db.execute("UPDATE auctions SET status = 'paid' WHERE id = $1", a)
    await db.execute("UPDATE auctions SET status = 'missed_delivery' WHERE id = $1", b)
    async with pool.acquire() as conn:
        row_id = await record(
            conn,
            SYSTEM,
            "delivery.submitted",
            "auction",
            a,
            before={"status": "awarded"},
            after={"status": "delivered"},
            auction_id=a,
        )
    await db.execute(
        """UPDATE awards SET awarded_at = (SELECT occurred_at FROM audit_log WHERE id = $2)
                  - interval '2 days 3 hours' WHERE auction_id = $1""",
        a,
        row_id,
    )
    m = (await api.client.get("/api/metrics")).json()
    assert m["outcomes"] == {"succeeded": 1, "decided": 2, "success_rate": 0.5}
    assert m["delivery"] == {
        "measured": 1,
        "award_to_delivery_mean_seconds": 183_600.0,
        "award_to_delivery_median_seconds": 183_600.0,
    }
    assert m["auctions"]["by_status"] == {
        "paid": 1,
        "missed_delivery": 1,
        "awarded": 1,
        "closed_no_bids": 1,
        "open": 2,
    }

    # Once the sealed auction closes, its bids and award count.
    await _close(db, pool, e)
    m = (await api.client.get("/api/metrics")).json()
    assert m["bids"]["total"] == 10 and m["vendors"]["bidders"] == 4
    assert m["awards"]["awards"] == 4
    assert (await api.client.get("/api/awards")).json()["items"][0]["auction_id"] == e


async def test_awards_pagination_filters_and_reawards(
    api: Api, db: asyncpg.Connection, pool: Any
) -> None:
    d1, d2 = await api.department(), await api.department()
    b1, b2 = await api.buyer(d1), await api.buyer(d2)
    v1, v2 = await api.verified_vendor(), await api.verified_vendor()
    a = await _auction(api, b1, [(v1, 300_000), (v2, 250_000)], price_cap_cents=350_000)
    b = await _auction(api, b2, [(v1, 100_000)])
    c = await _auction(api, b1, [(v2, 99_000)])
    sealed = await _auction(api, b1, [(v1, 1_000)], type="sealed")
    for x in (a, b, c):
        await _close(db, pool, x)

    r = await api.client.get("/api/awards", params={"limit": 2})
    page = r.json()
    assert [n["auction_id"] for n in page["items"]] == [c, b] and page["next"]
    page = (await api.client.get("/api/awards", params={"limit": 2, "cursor": page["next"]})).json()
    assert [n["auction_id"] for n in page["items"]] == [a] and page["next"] is None

    r = await api.client.get("/api/awards", params={"department_id": d2})
    assert [n["auction_id"] for n in r.json()["items"]] == [b]
    assert all(n["auction_id"] != sealed for n in r.json()["items"])
    r = await api.client.get("/api/awards", params={"from": "2999-01-01T00:00:00Z"})
    assert r.status_code == 200 and r.json()["items"] == []
    r = await api.client.get("/api/awards", params={"to": "2000-01-01T00:00:00+02:00"})
    assert r.json()["items"] == []
    for bad in ({"from": "2024-01-01T00:00:00"}, {"to": "yesterday"}, {"cursor": "nope"}):
        r = await api.client.get("/api/awards", params=bad)
        assert r.status_code == 400, (bad, r.text)
        assert r.json()["code"] in ("invalid_time", "invalid_cursor")
    r = await api.client.get(
        "/api/awards", params={"from": "2024-02-01T00:00:00Z", "to": "2024-01-01T00:00:00Z"}
    )
    assert r.status_code == 400 and r.json()["code"] == "invalid_period"

    # A re-award to the runner-up: the notice shows round 2; history shows both rounds.
    runner_bid = await db.fetchval(
        "SELECT id FROM bids WHERE auction_id = $1 AND bidder_id = $2", a, v2.id
    )
    await db.execute("UPDATE awards SET status = 'declined' WHERE auction_id = $1", a)
    await db.execute(
        """INSERT INTO awards (auction_id, round, winner_id, bid_id, amount_cents, awarded_at)
           VALUES ($1, 2, $2, $3, 250000, now())""",
        a,
        v2.id,
        runner_bid,
    )
    items = (await api.client.get("/api/awards", params={"department_id": d1})).json()["items"]
    assert [(n["auction_id"], n["round"], n["winner"]["id"]) for n in items] == [
        (a, 2, v2.id),
        (c, 1, v2.id),
    ]
    items = (
        await api.client.get("/api/awards", params={"department_id": d1, "include_history": "true"})
    ).json()["items"]
    assert [(n["auction_id"], n["round"], n["award_status"]) for n in items] == [
        (a, 2, "active"),
        (c, 1, "active"),
        (a, 1, "declined"),
    ]
    m = (await api.client.get("/api/metrics")).json()
    assert m["awards"]["savings_total_cents"] == (350_000 - 250_000) + (350_000 - 99_000) + (
        350_000 - 100_000
    )


@pytest.fixture
async def ny_api(settings: Settings) -> AsyncIterator[Api]:
    """The API of a deployment in New York with a 4,000.00 threshold."""
    assert settings.database_url and settings.redis_url
    local = msgspec.structs.replace(settings, timezone="America/New_York", threshold_cents=400_000)
    app = create_app(local, settings.database_url, settings.redis_url)
    async with AsyncTestClient(app=app) as client:
        yield await Api.start(client, settings.database_url)


async def test_spend_per_local_period(ny_api: Api, db: asyncpg.Connection, pool: Any) -> None:
    api = ny_api
    dept, other = await api.department("Library"), await api.department("Water")
    buyer = await api.buyer(dept)
    v1, v2 = await api.verified_vendor(), await api.verified_vendor()
    feb = await _auction(api, buyer, [(v1, 360_000)], price_cap_cents=400_000)
    mar = await _auction(api, buyer, [(v2, 100_000)], price_cap_cents=300_000)
    apr = await _auction(api, buyer, [(v1, 200_000)], price_cap_cents=210_000)
    for x in (feb, mar, apr):
        await _close(db, pool, x)
    # 02:30 UTC on 1 March is still 29 February in New York; 05:30 UTC is 1 March there.
    for aid, at in ((feb, "2024-03-01T02:30:00Z"), (mar, "2024-03-01T05:30:00Z")):
        await db.execute(
            "UPDATE awards SET awarded_at = $2::text::timestamptz WHERE auction_id = $1", aid, at
        )
    await db.execute(
        "UPDATE awards SET awarded_at = '2024-04-10T12:00:00Z', status = 'superseded' "
        "WHERE auction_id = $1",
        apr,
    )
    await db.execute("UPDATE auctions SET status = 'paid' WHERE id = $1", mar)

    params = {"from": "2024-01-01T00:00:00-05:00", "to": "2024-05-01T00:00:00-04:00"}
    r = await api.client.get(f"/api/departments/{dept}/spend", params=params, headers=buyer.headers)
    assert r.status_code == 200, r.text
    spend = r.json()
    assert spend["timezone"] == "America/New_York" and spend["period"] == "month"
    assert spend["department"] == {"id": dept, "name": "Library"}
    assert spend["threshold_cents"] == 400_000
    rows = [
        (
            p["label"],
            p["start"],
            p["awards"],
            p["committed_cents"],
            p["paid_cents"],
            p["near_threshold"],
            p["near_cap"],
        )
        for p in spend["periods"]
    ]
    assert rows == [
        ("2024-01", "2024-01-01T00:00:00-05:00", 0, 0, 0, 0, 0),
        ("2024-02", "2024-02-01T00:00:00-05:00", 1, 360_000, 0, 1, 1),
        ("2024-03", "2024-03-01T00:00:00-05:00", 1, 100_000, 100_000, 0, 0),
        ("2024-04", "2024-04-01T00:00:00-04:00", 0, 0, 0, 0, 0),
    ]
    assert spend["periods"][2]["end"] == "2024-04-01T00:00:00-04:00"
    assert spend["totals"]["committed_cents"] == 460_000 and spend["totals"]["paid_awards"] == 1

    r = await api.client.get(
        f"/api/departments/{dept}/spend",
        params={**params, "period": "quarter"},
        headers=buyer.headers,
    )
    assert [(p["label"], p["awards"]) for p in r.json()["periods"]] == [
        ("2024-Q1", 2),
        ("2024-Q2", 0),
    ]
    r = await api.client.get(
        f"/api/departments/{dept}/spend", params={"period": "year"}, headers=api.admin.headers
    )
    assert r.json()["periods"][0]["label"] == "2024"
    assert r.json()["periods"][0]["committed_cents"] == 460_000

    finance_here = await api.user("finance", department_id=dept)
    finance_central = await api.user("finance")
    auditor = await api.user("auditor")
    for who in (finance_here, finance_central, auditor):
        r = await api.client.get(f"/api/departments/{dept}/spend", headers=who.headers)
        assert r.status_code == 200, r.text
    for who in (await api.buyer(other), await api.user("finance", department_id=other)):
        r = await api.client.get(f"/api/departments/{dept}/spend", headers=who.headers)
        assert r.status_code == 403 and r.json()["code"] == "not_your_department"
    r = await api.client.get(f"/api/departments/{dept}/spend", headers=v1.headers)
    assert r.status_code == 403
    assert (await api.client.get(f"/api/departments/{dept}/spend")).status_code == 401
    r = await api.client.get("/api/departments/999999/spend", headers=auditor.headers)
    assert r.status_code == 404 and r.json()["code"] == "department_not_found"
    for bad in (
        {"period": "week"},
        {"from": "2024-01-01"},
        {"from": "2024-03-01T00:00:00Z", "to": "2024-02-01T00:00:00Z"},
        {"from": "1000-01-01T00:00:00Z", "to": "2900-01-01T00:00:00Z"},
    ):
        r = await api.client.get(
            f"/api/departments/{dept}/spend", params=bad, headers=auditor.headers
        )
        assert r.status_code == 400, (bad, r.text)
        assert r.json()["code"] and r.json()["detail"]


_SAMPLE = re.compile(
    r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*",?)*\})? '
    r"(-?[0-9.e+-]+|NaN|\+Inf|-Inf)$"
)
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_exposition(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """A strict reader of the text format 0.0.4: every line must be a comment or a sample,
    every sample's family declared by TYPE first."""
    assert text.endswith("\n")
    declared: dict[str, str] = {}
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
    for line in text.splitlines():
        if line.startswith("# HELP "):
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            assert kind in ("counter", "gauge", "histogram") and name not in declared
            declared[name] = kind
            continue
        match = _SAMPLE.match(line)
        assert match, line
        name = match.group(1)
        family = re.sub(r"_(bucket|sum|count)$", "", name)
        assert name in declared or declared.get(family) == "histogram", line
        labels = frozenset(_LABEL.findall(match.group(2) or ""))
        samples[(name, labels)] = float(match.group(3).replace("+Inf", "inf"))
    return samples


def _value(samples: dict[Any, float], name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


SCRAPE = {"Authorization": "Bearer scrape-token-for-tests"}


@pytest.fixture
async def scraped(settings: Settings, api: Api) -> AsyncIterator[Api]:
    """The API of an app whose /metrics takes the scrape token (tests/api/test_service_edges.py
    has who else may scrape), with ``api``'s admin."""
    guarded = msgspec.structs.replace(settings, metrics_token=SCRAPE["Authorization"][7:])
    assert guarded.database_url and guarded.redis_url
    app = create_app(guarded, guarded.database_url, guarded.redis_url)
    async with AsyncTestClient(app=app) as client:
        yield Api(client, api.admin)


async def test_prometheus_metrics(
    scraped: Api, db: asyncpg.Connection, pool: Any, redis: Any
) -> None:
    api = scraped
    buyer = await api.buyer()
    vendor = await api.verified_vendor()
    await _auction(api, buyer, [(vendor, 10_000)], type="sealed")
    await _auction(api, buyer, [(vendor, 20_000)])

    r = await api.client.get("/metrics", headers=SCRAPE)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
    before = parse_exposition(r.text)
    assert (await api.client.get("/api/metrics")).status_code == 200
    assert (await api.client.get("/api/auctions/987654")).status_code == 404
    after = parse_exposition((await api.client.get("/metrics", headers=SCRAPE)).text)

    total = "marketplace_http_requests_total"
    for route, status in (("/api/metrics", "200"), ("/api/auctions/{auction_id}", "404")):
        labels = {"method": "GET", "route": route, "status": status}
        assert _value(after, total, **labels) == _value(before, total, **labels) + 1, route
        hist = "marketplace_http_request_duration_seconds_count"
        assert _value(after, hist, method="GET", route=route) >= 1
        inf = _value(
            after,
            "marketplace_http_request_duration_seconds_bucket",
            method="GET",
            route=route,
            le="+Inf",
        )
        assert inf == _value(after, hist, method="GET", route=route)
    assert _value(after, "marketplace_auctions", status="open") == 2
    assert _value(after, "marketplace_open_auctions") == 2
    assert _value(after, "marketplace_bids") == 1  # the sealed auction's bid stays secret
    backlog = await db.fetchval("SELECT count(*) FROM outbox WHERE relayed_at IS NULL")
    assert backlog > 0 and _value(after, "marketplace_outbox_backlog") == backlog
    assert _value(after, "marketplace_worker_up") == 0
    assert math.isnan(_value(after, "marketplace_worker_heartbeat_age_seconds"))

    await redis.set(WORKER_HEARTBEAT_KEY, "test:1", ex=heartbeat.TTL)
    samples = parse_exposition((await api.client.get("/metrics", headers=SCRAPE)).text)
    assert _value(samples, "marketplace_worker_up") == 1
    assert 0 <= _value(samples, "marketplace_worker_heartbeat_age_seconds") <= heartbeat.TTL
    assert prom.HEARTBEAT_TTL_SECONDS == heartbeat.TTL
