"""Nobody decides on something they are a party to (DESIGN §2, §6; issue 21 finding 3).

Every (decision, relation) pair in ``policy.CONFLICTS`` has a scene here, played through
HTTP by a user who holds every role the decision needs *and* that relation: the refusal is
403 ``conflict_of_interest`` naming the relation, and nothing is decided (checked in the
database). A pair added to the table without a scene fails ``test_every_conflict_has_a_scene``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import pytest

from marketplace import policy
from marketplace.payments import service as payments
from marketplace.payments.provider import LedgerProvider
from marketplace.policy import Decision, Relation
from tests.helpers import Api, User, sign_in
from tests.test_payments import accept, delivered_for_review

Scene = Callable[[Api, asyncpg.Connection, Any], Awaitable[None]]
SCENES: dict[tuple[Decision, Relation], Scene] = {}


def scene(decision: Decision, relation: Relation) -> Callable[[Scene], Scene]:
    def register(play: Scene) -> Scene:
        SCENES[(decision, relation)] = play
        return play

    return register


def assert_conflict(r: Any, decision: Decision, relation: Relation) -> None:
    assert r.status_code == 403, r.text
    body = r.json()
    assert (body["code"], body["conflict"]) == ("conflict_of_interest", relation.value), body
    assert body["detail"] == policy.CONFLICTS[decision][relation]


async def _accepted_payment(api: Api, db: asyncpg.Connection, pool: Any) -> dict[str, Any]:
    s = await delivered_for_review(api, db, pool)
    reviewer = await api.user("reviewer")
    s["payment_id"] = (await accept(api, reviewer, s["auction_id"])).json()["payment_id"]
    return s


async def _dispute(api: Api, payment_id: int, who: User) -> None:
    r = await api.client.post(
        f"/api/payments/{payment_id}/dispute",
        json={"reason": "the print view broke"},
        headers=who.headers,
    )
    assert r.status_code == 201, r.text


async def _resolve(api: Api, payment_id: int, who: User) -> Any:
    return await api.client.post(
        f"/api/payments/{payment_id}/resolve",
        json={"outcome": "release", "reason": "fine after all"},
        headers=who.headers,
    )


async def _still_disputed(db: asyncpg.Connection, payment_id: int) -> None:
    row = await db.fetchrow(
        "SELECT p.status, d.status AS dispute FROM payments p JOIN disputes d"
        " ON d.payment_id = p.id WHERE p.id = $1",
        payment_id,
    )
    assert (row["status"], row["dispute"]) == ("pending", "open"), dict(row)


@scene(Decision.RESOLVE_DISPUTE, Relation.PAYEE)
async def _payee_with_central_finance_resolves(api: Api, db: asyncpg.Connection, pool: Any) -> None:
    """The finding: a vendor who also holds the central finance role released their own
    disputed payment."""
    s = await _accepted_payment(api, db, pool)
    await db.execute("UPDATE users SET roles = roles || '{finance}' WHERE id = $1", s["winner"].id)
    await _dispute(api, s["payment_id"], s["buyer"])
    assert_conflict(
        await _resolve(api, s["payment_id"], s["winner"]), Decision.RESOLVE_DISPUTE, Relation.PAYEE
    )
    await _still_disputed(db, s["payment_id"])
    # The payment's page, which asks the same policy, offers them no resolve form.
    await sign_in(api.client, s["winner"])
    page = await api.client.get(f"/payments/{s['payment_id']}")
    assert (
        page.status_code == 200 and f'action="/payments/{s["payment_id"]}/resolve"' not in page.text
    )
    finance = await api.user("finance")
    await sign_in(api.client, finance)
    page = await api.client.get(f"/payments/{s['payment_id']}")
    assert f'action="/payments/{s["payment_id"]}/resolve"' in page.text
    # An admin who is the payee is refused the same way.
    await db.execute("UPDATE users SET roles = roles || '{admin}' WHERE id = $1", s["winner"].id)
    assert_conflict(
        await _resolve(api, s["payment_id"], s["winner"]), Decision.RESOLVE_DISPUTE, Relation.PAYEE
    )
    await _still_disputed(db, s["payment_id"])


@scene(Decision.RESOLVE_DISPUTE, Relation.DISPUTE_OPENER)
async def _opener_with_finance_resolves(api: Api, db: asyncpg.Connection, pool: Any) -> None:
    """The finding: one user with buyer + finance opened a dispute and resolved it."""
    s = await _accepted_payment(api, db, pool)
    both = await api.user("buyer", "finance", department_id=s["dept"])
    await _dispute(api, s["payment_id"], both)
    assert_conflict(
        await _resolve(api, s["payment_id"], both),
        Decision.RESOLVE_DISPUTE,
        Relation.DISPUTE_OPENER,
    )
    await _still_disputed(db, s["payment_id"])
    # Someone else in finance decides it.
    finance = await api.user("finance", department_id=s["dept"])
    r = await _resolve(api, s["payment_id"], finance)
    assert r.status_code == 200 and r.json()["disputed"] is False, r.text


@scene(Decision.RECORD_EXECUTION, Relation.PAYEE)
async def _payee_with_finance_records_own_payout(
    api: Api, db: asyncpg.Connection, pool: Any
) -> None:
    s = await _accepted_payment(api, db, pool)
    await db.execute("UPDATE payments SET missing_details = false WHERE id = $1", s["payment_id"])
    assert await payments.release(pool, s["payment_id"], LedgerProvider()) == "released"
    await db.execute("UPDATE users SET roles = roles || '{finance}' WHERE id = $1", s["winner"].id)
    r = await api.client.post(
        f"/api/payments/{s['payment_id']}/executed",
        json={"reference": "TRX-SELF"},
        headers=s["winner"].headers,
    )
    assert_conflict(r, Decision.RECORD_EXECUTION, Relation.PAYEE)
    executed = await db.fetchval("SELECT executed_at FROM payments WHERE id = $1", s["payment_id"])
    assert executed is None


async def _review_refused(
    api: Api, db: asyncpg.Connection, s: dict[str, Any], who: User, relation: Relation
) -> None:
    assert_conflict(await accept(api, who, s["auction_id"]), Decision.REVIEW, relation)
    status = await db.fetchval("SELECT status FROM auctions WHERE id = $1", s["auction_id"])
    assert status == "pending_review"
    assert await db.fetchval("SELECT count(*) FROM reviews") == 0


@scene(Decision.REVIEW, Relation.WINNER)
async def _winner_reviews(api: Api, db: asyncpg.Connection, pool: Any) -> None:
    s = await delivered_for_review(api, db, pool)
    await db.execute("UPDATE users SET roles = roles || '{reviewer}' WHERE id = $1", s["winner"].id)
    await _review_refused(api, db, s, s["winner"], Relation.WINNER)


@scene(Decision.REVIEW, Relation.DEPARTMENT_BUYER)
async def _department_buyer_reviews(api: Api, db: asyncpg.Connection, pool: Any) -> None:
    s = await delivered_for_review(api, db, pool)
    both = await api.user("buyer", "reviewer", department_id=s["dept"])
    await _review_refused(api, db, s, both, Relation.DEPARTMENT_BUYER)


@scene(Decision.REVIEW, Relation.BIDDER)
async def _bidder_reviews(api: Api, db: asyncpg.Connection, pool: Any) -> None:
    s = await delivered_for_review(api, db, pool)
    await db.execute("UPDATE users SET roles = roles || '{reviewer}' WHERE id = $1", s["loser"].id)
    await _review_refused(api, db, s, s["loser"], Relation.BIDDER)


def test_every_conflict_has_a_scene() -> None:
    table = {(d, r) for d, relations in policy.CONFLICTS.items() for r in relations}
    assert table == set(SCENES), table ^ set(SCENES)


@pytest.mark.parametrize("pair", sorted(SCENES), ids=lambda p: f"{p[0]}-{p[1]}")
async def test_a_party_cannot_decide(
    pair: tuple[Decision, Relation], api: Api, db: asyncpg.Connection, pool: Any
) -> None:
    await SCENES[pair](api, db, pool)
