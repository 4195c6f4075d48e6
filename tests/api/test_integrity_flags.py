"""Red flags over HTTP (issue 24): GET /api/integrity/flags for auditors and admins."""

from __future__ import annotations

from typing import Any

import asyncpg

from tests.helpers import Api, User
from tests.scenes import flagged_department


async def flags(api: Api, who: User, **params: Any) -> list[dict[str, Any]]:
    r = await api.client.get("/api/integrity/flags", params=params, headers=who.headers)
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["items"]
    return items


async def test_flags_of_each_kind_the_data_can_raise(
    api: Api, db: asyncpg.Connection, pool: Any
) -> None:
    s = await flagged_department(api, db, pool)
    auditor = await api.user("auditor")
    found = await flags(api, auditor, department_id=s["dept"], limit=200)
    kinds = {(f["auction_id"], f["indicator"]) for f in found}
    assert (s["at_cap"], "price_at_cap") in kinds and (s["at_cap"], "R018") in kinds
    assert (s["at_cap"], "R003") in kinds  # a one-hour window, under two days
    assert {(s["at_cap"], "split_purchase"), (s["second"], "split_purchase")} <= kinds
    assert (s["same_price"], "R028") in kinds
    assert {
        (s[k], "winner_concentration") for k in ("at_cap", "second", "same_price", "fourth")
    } <= kinds
    assert (s["fourth"], "price_at_cap") not in kinds
    for f in found:
        assert f["ocid"] == f"ocds-000000-{f['auction_id']}" and f["explanation"].endswith(".")
        assert f["department_id"] == s["dept"]
    split = next(f for f in found if f["indicator"] == "split_purchase")
    assert split["value"] == 16_800.0 and split["threshold"] == 10_000.0  # all four of v1
    cap = next(f for f in found if f["indicator"] == "price_at_cap")
    assert cap["value"] == 1.0 and cap["threshold"] == 0.98

    only = await flags(api, auditor, department_id=s["dept"], indicator="R028")
    assert [(f["auction_id"], f["indicator"]) for f in only] == [(s["same_price"], "R028")]
    page = (
        await api.client.get("/api/integrity/flags", params={"limit": 2}, headers=auditor.headers)
    ).json()
    assert len(page["items"]) == 2 and page["next"]
    admin_view = await flags(api, api.admin, department_id=s["dept"], limit=200)
    assert admin_view == found


async def test_who_may_read_flags_and_bad_input(api: Api) -> None:
    vendor = await api.verified_vendor()
    assert (await api.client.get("/api/integrity/flags")).status_code == 401
    r = await api.client.get("/api/integrity/flags", headers=vendor.headers)
    assert r.status_code == 403
    auditor = await api.user("auditor")
    for params, code in (
        ({"indicator": "R999"}, "unknown_indicator"),
        ({"from": "2026-02-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"}, "invalid_period"),
        ({"from": "2026-02-01"}, "invalid_time"),
        ({"cursor": "nope"}, "invalid_cursor"),
    ):
        r = await api.client.get("/api/integrity/flags", params=params, headers=auditor.headers)
        assert r.status_code == 400 and r.json()["code"] == code, (params, r.text)


async def test_the_demo_shows_each_flag_its_data_can_raise(settings: Any, client: Any) -> None:
    from marketplace.demo import seed
    from tests.ocds_offline import problems, validate

    assert settings.database_url and settings.redis_url
    demo = await seed(settings, settings.database_url, settings.redis_url)
    auditor = {"Authorization": f"Bearer {demo.tokens['auditor'][1]}"}
    r = await client.get("/api/integrity/flags", params={"limit": 200}, headers=auditor)
    assert r.status_code == 200, r.text
    kinds = {f["indicator"] for f in r.json()["items"]}
    assert {
        "R003",
        "R018",
        "R028",
        "split_purchase",
        "winner_concentration",
        "price_at_cap",
    } <= kinds, kinds
    # And the demo's open data passes the standard's validator clean.
    package = (await client.get("/api/ocds/releases")).json()
    found = problems(validate(package))
    assert not any(found.values()), found
