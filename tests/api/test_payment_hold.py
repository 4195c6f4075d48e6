"""Payments that make sense to finance and the payee (issue 23, findings 4 and 5, build 3):
a department's own hold, a resolved dispute released within seconds by the real worker,
the missing-details mark following the details, and pages that say what happens when."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import asyncpg
import msgspec
import pytest

from marketplace.payments import service as payments
from marketplace.payments.provider import LedgerProvider
from marketplace.settings import Settings
from tests.helpers import Api, csrf_of, sign_in
from tests.scenes import accept, delivered_for_review
from workers.main import build_worker

HOUR = 3600


async def _hold(api: Api, department_id: int, seconds: int | None) -> Any:
    return await api.client.patch(
        f"/api/departments/{department_id}",
        json={"payment_hold_seconds": seconds},
        headers=api.admin.headers,
    )


async def test_a_department_chooses_its_own_hold(api: Api, db: asyncpg.Connection) -> None:
    r = await api.client.post(
        "/api/departments",
        json={"name": "Parks", "payment_hold_seconds": 2 * HOUR},
        headers=api.admin.headers,
    )
    assert r.status_code == 201, r.text
    parks = r.json()
    assert parks["payment_hold_seconds"] == 2 * HOUR and parks["payment_hold_is_default"] is False
    r = await api.client.post("/api/departments", json={"name": "Roads"}, headers=api.admin.headers)
    roads = r.json()
    # The test deployment's default (tests/conftest.py) applies where none is chosen.
    assert roads["payment_hold_seconds"] == 0 and roads["payment_hold_is_default"] is True
    for bad in (-1, 31_536_001, 1.5, "3600", True):
        r = await api.client.post(
            "/api/departments",
            json={"name": f"Bad {bad!r}", "payment_hold_seconds": bad},
            headers=api.admin.headers,
        )
        assert r.status_code == 400, (bad, r.text)
        assert (await _hold(api, roads["id"], bad)).status_code == 400  # type: ignore[arg-type]

    r = await _hold(api, roads["id"], HOUR)
    assert r.status_code == 200 and r.json()["payment_hold_seconds"] == HOUR, r.text
    listed = (await api.client.get("/api/departments?limit=100")).json()["items"]
    shown = {d["id"]: d["payment_hold_seconds"] for d in listed}
    assert shown[roads["id"]] == HOUR and shown[parks["id"]] == 2 * HOUR
    r = await _hold(api, roads["id"], None)
    assert r.json()["payment_hold_is_default"] is True and r.json()["payment_hold_seconds"] == 0
    assert (await _hold(api, 999_999, 60)).status_code == 404
    buyer = await api.buyer(roads["id"])
    r = await api.client.patch(
        f"/api/departments/{roads['id']}",
        json={"payment_hold_seconds": 0},
        headers=buyer.headers,
    )
    assert r.status_code == 403
    r = await api.client.patch(
        f"/api/departments/{roads['id']}", json={"name": "x"}, headers=api.admin.headers
    )
    assert r.status_code == 400  # unknown field; the hold must be given
    audit = await db.fetchval(
        "SELECT count(*) FROM audit_log WHERE data LIKE '%department.updated%'"
    )
    assert audit == 2


async def test_accepted_work_waits_for_the_departments_hold(
    api: Api, db: asyncpg.Connection, pool: Any
) -> None:
    s = await delivered_for_review(api, db, pool)
    assert (await _hold(api, s["dept"], 2 * HOUR)).status_code == 200
    r = await accept(api, await api.user("reviewer"), s["auction_id"])
    assert r.status_code == 200, r.text
    held = dt.datetime.fromisoformat(r.json()["release_after"]) - dt.datetime.now(dt.UTC)
    assert 2 * HOUR - 60 < held.total_seconds() <= 2 * HOUR
    assert await payments.release(pool, r.json()["payment_id"], LedgerProvider()) == "on_hold"


def test_the_deployment_default_is_a_day() -> None:
    from marketplace.settings import SettingsError, load_settings

    assert Settings().payment_hold_seconds == 86_400
    assert load_settings({}).payment_hold_seconds == 86_400
    assert load_settings({"MARKETPLACE_PAYMENT_HOLD_SECONDS": "0"}).payment_hold_seconds == 0
    for bad in ("-1", "31536001", "a day"):
        with pytest.raises(SettingsError, match="MARKETPLACE_PAYMENT_HOLD_SECONDS"):
            load_settings({"MARKETPLACE_PAYMENT_HOLD_SECONDS": bad})


@pytest.fixture
def slow_sweep(settings: Settings) -> Settings:
    """A deployment whose payment sweep comes by rarely (as in production, a minute or
    more): what releases a payment within seconds must be its own job."""
    return msgspec.structs.replace(settings, sweep_seconds=60.0, payment_hold_seconds=HOUR)


async def test_a_dispute_resolved_with_release_pays_within_seconds(
    api: Api, db: asyncpg.Connection, pool: Any, slow_sweep: Settings
) -> None:
    s = await delivered_for_review(api, db, pool)
    assert (await _hold(api, s["dept"], HOUR)).status_code == 200
    worker = build_worker(
        slow_sweep, slow_sweep.database_url or "", slow_sweep.redis_url or "", handle_signals=False
    )
    task = asyncio.create_task(worker.async_run())
    try:
        pid = (await accept(api, await api.user("reviewer"), s["auction_id"])).json()["payment_id"]
        r = await api.client.post(
            f"/api/payments/{pid}/dispute", json={"reason": "scope"}, headers=s["buyer"].headers
        )
        assert r.status_code == 201, r.text
        finance = await api.user("finance", department_id=s["dept"])
        r = await api.client.post(
            f"/api/payments/{pid}/resolve",
            json={"outcome": "release", "reason": "delivered as agreed"},
            headers=finance.headers,
        )
        assert r.status_code == 200, r.text
        status = None
        for _ in range(100):
            status = await db.fetchval("SELECT status FROM payments WHERE id = $1", pid)
            if status == "released":
                break
            await asyncio.sleep(0.1)
        assert status == "released", "released within seconds of the resolution"
    finally:
        await worker.close()
        task.cancel()


async def test_the_missing_details_mark_follows_the_details(
    api: Api, client: Any, db: asyncpg.Connection, pool: Any
) -> None:
    s = await delivered_for_review(api, db, pool)
    pid = (await accept(api, await api.user("reviewer"), s["auction_id"])).json()["payment_id"]
    assert await payments.release(pool, pid, LedgerProvider()) == "released"
    payee = s["winner"]
    await sign_in(client, payee)
    page = (await client.get(f"/payments/{pid}")).text
    assert "missing payment details" in page
    # Before asking to confirm receipt, the page says nothing can have been sent yet.
    assert "Finance has not recorded paying this order yet" in page
    assert "nothing can have been sent" in page
    mine = (await client.get("/me/payments")).text
    assert "nothing can have been sent" in mine and "Confirm payment received" in mine
    r = await client.post(f"/payments/{pid}/confirm", data={"csrf_token": csrf_of(page)})
    assert r.status_code == 200, r.text  # confirming stays possible from release on

    profile = await client.get("/me")
    r = await client.post(
        "/me/payment-details",
        data={
            "csrf_token": csrf_of(profile.text),
            "method": "transfer",
            "reference": "GB33BUKB20201555555555",
        },
    )
    assert r.status_code == 200, r.text
    for path in (f"/payments/{pid}", "/me/payments"):
        assert "missing payment details" not in (await client.get(path)).text, path
    assert (await client.get(f"/api/payments/{pid}", headers=payee.headers)).json()[
        "missing_details"
    ] is False
    finance = await api.user("finance", department_id=s["dept"])
    await sign_in(client, finance)
    listed = (await client.get("/finance/payments")).text
    row = listed[listed.index(f'id="payment-{pid}"') :][:1500]
    assert "missing payment details" not in row


async def test_every_payment_page_says_when_it_is_released_unless_disputed(
    api: Api, client: Any, db: asyncpg.Connection, pool: Any
) -> None:
    s = await delivered_for_review(api, db, pool)
    assert (await _hold(api, s["dept"], 86_400)).status_code == 200
    r = await accept(api, await api.user("reviewer"), s["auction_id"])
    pid = r.json()["payment_id"]
    await sign_in(client, s["winner"])
    for path in (f"/payments/{pid}", "/me/payments"):
        page = (await client.get(path)).text
        assert "unless disputed" in page and "Released automatically" in page, path
    finance = await api.user("finance", department_id=s["dept"])
    await sign_in(client, finance)
    page = (await client.get("/finance/payments")).text
    assert "unless disputed" in page
    r = await api.client.post(
        f"/api/payments/{pid}/dispute", json={"reason": "scope"}, headers=s["buyer"].headers
    )
    page = (await client.get(f"/payments/{pid}")).text
    assert "Held by an open dispute" in page and "unless disputed" not in page

    # Released: the payee is told whether finance has recorded the payout yet.
    await api.client.post(
        f"/api/payments/{pid}/resolve",
        json={"outcome": "release", "reason": "fine"},
        headers=finance.headers,
    )
    assert await payments.release(pool, pid, LedgerProvider()) in ("released", "paid")
    await db.execute(
        "INSERT INTO payment_details (user_id, method, reference) VALUES ($1, 'card', 'PC-1')"
        " ON CONFLICT DO NOTHING",
        s["winner"].id,
    )
    await sign_in(client, s["winner"])
    page = (await client.get(f"/payments/{pid}")).text
    assert "Finance has not recorded paying this order yet" in page
    r = await api.client.post(
        f"/api/payments/{pid}/executed", json={"reference": "TRX-9"}, headers=finance.headers
    )
    assert r.status_code == 200, r.text
    page = (await client.get(f"/payments/{pid}")).text
    assert "Finance recorded paying this order" in page and "TRX-9" in page


async def test_the_admin_sets_a_departments_hold_on_its_page(api: Api, client: Any) -> None:
    dept = await api.department("Libraries")
    await sign_in(client, api.admin)
    page = await client.get("/admin/departments")
    row = page.text[page.text.index(f'id="department-{dept}"') :][:1500]
    assert (
        "no hold (the deployment&#39;s default)" in row
        or "no hold (the deployment's default)" in row
    )
    for bad in ("a day", "-1", "9000", "1.234"):
        r = await client.post(
            f"/admin/departments/{dept}/hold", data={"csrf_token": csrf_of(page.text), "hours": bad}
        )
        assert r.status_code == 200 and "Enter the hold in hours" in r.text, bad
    r = await client.post(
        f"/admin/departments/{dept}/hold", data={"csrf_token": csrf_of(page.text), "hours": "1.5"}
    )
    assert "Libraries: accepted work now waits 90 minutes" in r.text
    listed = (await api.client.get("/api/departments?limit=100")).json()["items"]
    assert {d["id"]: d["payment_hold_seconds"] for d in listed}[dept] == 5400
    r = await client.post(
        f"/admin/departments/{dept}/hold", data={"csrf_token": csrf_of(page.text), "hours": ""}
    )
    assert (
        "waits the deployment&#39;s default" in r.text or "waits the deployment's default" in r.text
    )
    before = (await api.client.get("/api/departments?limit=100")).json()["items"]
    buyer = await api.buyer(dept)
    await sign_in(client, buyer)
    r = await client.post(
        f"/admin/departments/{dept}/hold",
        data={"csrf_token": csrf_of((await client.get("/")).text), "hours": "0"},
        follow_redirects=False,
    )
    assert r.status_code == 403, r.text  # signed in, but not an admin
    after = (await api.client.get("/api/departments?limit=100")).json()["items"]
    assert after == before  # the buyer's 0 h hold was not stored
