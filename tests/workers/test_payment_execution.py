"""Finance records a released order's payout; a payee's late details reach their orders
(DESIGN §6, §10 POST /api/payments/{id}/executed; issue 21, build item 3)."""

from __future__ import annotations

from typing import Any

import asyncpg
import msgspec

from marketplace.notifications.messages import Mailer
from marketplace.payments import service as payments
from marketplace.payments.provider import LedgerProvider
from marketplace.settings import Settings
from marketplace.streams.consumer import read_event
from tests.helpers import Api, User, csrf_of, sign_in
from tests.scenes import accept, delivered_for_review


async def _released(
    api: Api, db: asyncpg.Connection, pool: Any, details: bool = True
) -> dict[str, Any]:
    """An accepted award's payment (not released yet); the payee gave details unless not."""
    s = await delivered_for_review(api, db, pool)
    if details:
        await _give_details(api, s["winner"])
    reviewer = await api.user("reviewer")
    s["payment_id"] = (await accept(api, reviewer, s["auction_id"])).json()["payment_id"]
    return s


async def _give_details(api: Api, payee: User) -> None:
    r = await api.client.put(
        "/api/me/payment-details",
        json={"method": "transfer", "reference": "GB33BUKB20201555555555"},
        headers=payee.headers,
    )
    assert r.status_code == 200, r.text


async def _executed(api: Api, payment_id: int, who: User, reference: Any = "TRX-2026-0042") -> Any:
    return await api.client.post(
        f"/api/payments/{payment_id}/executed", json={"reference": reference}, headers=who.headers
    )


async def test_finance_records_the_payout_once_and_the_payee_is_told(
    api: Api, db: asyncpg.Connection, pool: Any
) -> None:
    s = await _released(api, db, pool)
    pid = s["payment_id"]
    finance = await api.user("finance", department_id=s["dept"])
    # Not released yet: nothing was sent, so nothing can be recorded as paid out.
    r = await _executed(api, pid, finance)
    assert r.status_code == 409 and r.json()["code"] == "not_released", r.text
    assert await payments.release(pool, pid, LedgerProvider()) == "released"

    for bad in ("", "x", "y" * 201, 42, None):
        r = await _executed(api, pid, finance, bad)
        assert r.status_code == 400, (bad, r.text)
    other = await api.user("finance", department_id=await api.department())
    assert (await _executed(api, pid, other)).status_code == 404
    assert (await _executed(api, pid, s["buyer"])).status_code == 403
    assert await db.fetchval("SELECT executed_at FROM payments WHERE id = $1", pid) is None

    r = await _executed(api, pid, finance)
    assert r.status_code == 200, r.text
    assert r.json()["execution_reference"] == "TRX-2026-0042" and r.json()["executed_at"]
    again = await _executed(api, pid, finance, "TRX-OTHER")
    assert again.status_code == 409 and again.json()["code"] == "already_executed"
    row = await db.fetchrow(
        "SELECT executed_by, execution_reference FROM payments WHERE id = $1", pid
    )
    assert (row["executed_by"], row["execution_reference"]) == (finance.id, "TRX-2026-0042")
    events = await db.fetch("SELECT payload FROM outbox WHERE type = 'payment.executed'")
    assert len(events) == 1
    audit = await db.fetch("SELECT data FROM audit_log WHERE data LIKE '%payment.executed%'")
    assert len(audit) == 1 and "TRX-2026-0042" in audit[0]["data"]
    # The payee still confirms receipt afterwards.
    r = await api.client.post(f"/api/payments/{pid}/confirm", headers=s["winner"].headers)
    assert r.status_code == 200 and r.json()["status"] == "confirmed"


async def test_the_payment_page_offers_finance_the_payout_form(
    api: Api, db: asyncpg.Connection, pool: Any
) -> None:
    s = await _released(api, db, pool)
    pid = s["payment_id"]
    assert await payments.release(pool, pid, LedgerProvider()) == "released"
    await sign_in(api.client, s["winner"])
    page = await api.client.get(f"/payments/{pid}")
    assert 'action="/payments/' + str(pid) + '/executed"' not in page.text  # not the payee's
    finance = await api.user("finance", department_id=s["dept"])
    await sign_in(api.client, finance)
    listed = await api.client.get("/finance/payments")
    assert f'href="/payments/{pid}#executed-heading">Record the payout' in listed.text
    page = await api.client.get(f"/payments/{pid}")
    assert f'action="/payments/{pid}/executed"' in page.text
    r = await api.client.post(
        f"/payments/{pid}/executed",
        data={"csrf_token": csrf_of(page.text), "reference": "x"},
    )
    assert r.status_code == 400 and "2 to 200 characters" in r.text
    r = await api.client.post(
        f"/payments/{pid}/executed",
        data={"csrf_token": csrf_of(page.text), "reference": "CARD-7781"},
    )  # without script the first POST asks: recording the payout cannot be undone
    assert r.status_code == 200 and "as paid out?" in r.text and "cannot be changed" in r.text
    assert await db.fetchval("SELECT executed_at FROM payments WHERE id = $1", pid) is None
    r = await api.client.post(
        f"/payments/{pid}/executed",
        data={"csrf_token": csrf_of(page.text), "reference": "CARD-7781", "confirmed": "yes"},
    )
    assert r.status_code == 200 and "was paid out (reference CARD-7781)" in r.text
    assert 'id="executed"' in r.text and f'action="/payments/{pid}/executed"' not in r.text
    listed = await api.client.get("/finance/payments")
    row = listed.text[listed.text.index(f'id="payment-{pid}"') :][:2000]
    assert "paid out" in row and "Record the payout" not in row


async def test_details_given_after_release_clear_the_missing_details_mark(
    api: Api, db: asyncpg.Connection, pool: Any
) -> None:
    s = await _released(api, db, pool, details=False)
    pid = s["payment_id"]
    assert await payments.release(pool, pid, LedgerProvider()) == "released"
    assert await db.fetchval("SELECT missing_details FROM payments WHERE id = $1", pid)
    # Finance cannot record a payout that could not have been sent.
    finance = await api.user("finance", department_id=s["dept"])
    r = await _executed(api, pid, finance)
    assert r.status_code == 409 and r.json()["code"] == "payment_details_missing", r.text
    await _give_details(api, s["winner"])
    assert (await _executed(api, pid, finance)).status_code == 200
    r = await api.client.get(f"/api/payments/{pid}", headers=s["winner"].headers)
    assert r.json()["missing_details"] is False
    told = await db.fetch("SELECT payload FROM outbox WHERE type = 'payment.details_provided'")
    assert len(told) == 1


async def test_the_payee_and_finance_are_mailed(
    api: Api, db: asyncpg.Connection, pool: Any, settings: Settings
) -> None:
    """The notifications handler, run on the events themselves: the payee hears of the
    payout; the department's (and central) finance hear that late details arrived."""
    s = await _released(api, db, pool, details=False)
    pid = s["payment_id"]
    assert await payments.release(pool, pid, LedgerProvider()) == "released"
    finance = await api.user("finance", department_id=s["dept"])
    central = await api.user("finance")
    await _give_details(api, s["winner"])
    assert (await _executed(api, pid, finance)).status_code == 200
    handle = Mailer(settings)
    rows = await db.fetch(
        "SELECT id, type, payload FROM outbox WHERE type IN"
        " ('payment.details_provided', 'payment.executed') ORDER BY id"
    )
    async with pool.acquire() as conn, conn.transaction():
        for row in rows:
            data = {**msgspec.json.decode(row["payload"]), "event_id": row["id"]}
            await handle(conn, read_event(row["type"], msgspec.json.encode(data)))
    mails = await db.fetch("SELECT recipient_id, subject FROM mail_outbox ORDER BY id")
    got = {(m["recipient_id"], m["subject"].split(":")[0]) for m in mails}
    assert {
        (finance.id, "Payment details given"),
        (central.id, "Payment details given"),
        (s["winner"].id, "Paid out"),
    } <= got, got
