"""Questions, answers and amendments from the pages over plain HTTP (issue 28): the same
service as the API, refusals beside their field, the asker shown to the department only."""

from __future__ import annotations

from typing import Any

import asyncpg
from litestar.testing import AsyncTestClient

from tests.helpers import Api, csrf_of, published_auction, sign_in

ASKER = "Asker Bartholomew Quince"


async def post_form(client: AsyncTestClient[Any], page: str, action: str, **fields: str) -> Any:
    html = (await client.get(page)).text
    return await client.post(
        action, data={"csrf_token": csrf_of(html), **fields}, follow_redirects=False
    )


async def test_a_vendor_asks_from_the_page_and_the_buyer_answers_from_it(
    api: Api, client: AsyncTestClient[Any], db: asyncpg.Connection
) -> None:
    dept = await api.department()
    buyer = await api.buyer(dept)
    vendor = await api.verified_vendor()
    await db.execute("UPDATE users SET name = $2 WHERE id = $1", vendor.id, ASKER)
    aid = (await published_auction(api, buyer, acceptance="Tests pass in Safari 17."))["id"]
    page = f"/auctions/{aid}"

    await sign_in(client, vendor)
    html = (await client.get(page)).text
    assert "Ask a clarification question" in html and "Tests pass in Safari 17." in html
    r = await post_form(client, page, f"/auctions/{aid}/questions", question="bell \x07")
    assert r.status_code == 400 and 'id="question-error"' in r.text
    assert "control characters" in r.text
    r = await post_form(client, page, f"/auctions/{aid}/questions", question="x" * 4001)
    assert r.status_code == 400 and "at most 4,000 characters" in r.text
    r = await post_form(client, page, f"/auctions/{aid}/questions", question="   ")
    assert r.status_code == 400 and "Write the question first" in r.text
    assert await db.fetchval("SELECT count(*) FROM auction_questions") == 0
    r = await post_form(
        client, page, f"/auctions/{aid}/questions", question="Which Safari versions?"
    )
    assert r.status_code == 303, r.text
    html = (await client.get(page)).text
    assert "Which Safari versions?" in html and "(yours)" in html

    client.cookies.clear()
    html = (await client.get(page)).text
    assert (
        "Which Safari versions?" not in html and "Sign in</a> as a verified vendor to ask" in html
    )

    await sign_in(client, buyer)
    dashboard = (await client.get("/buyer")).text
    assert dashboard.index("Questions awaiting your answer") < dashboard.index("Open for bidding")
    assert "Which Safari versions?" in dashboard and ASKER in dashboard
    html = (await client.get(page)).text
    assert f"from {ASKER}" in html and "Publish the answer" in html
    qid = await db.fetchval("SELECT id FROM auction_questions")
    r = await post_form(client, page, f"/auctions/{aid}/questions/{qid}/answer", answer="")
    assert r.status_code == 400 and f'id="answer-{qid}-error"' in r.text
    r = await post_form(
        client, page, f"/auctions/{aid}/questions/{qid}/answer", answer="Safari 17 and 18."
    )
    assert r.status_code == 303, r.text
    assert "Questions awaiting your answer" not in (await client.get("/buyer")).text

    client.cookies.clear()
    html = (await client.get(page)).text
    assert "Which Safari versions?" in html and "Safari 17 and 18." in html
    assert ASKER not in html


async def test_the_buyer_amends_from_the_page_and_refusals_show_beside_the_field(
    api: Api, client: AsyncTestClient[Any], db: asyncpg.Connection
) -> None:
    buyer = await api.buyer()
    aid = (await published_auction(api, buyer, description="Step one.\nStep two."))["id"]
    page = f"/auctions/{aid}"
    await sign_in(client, buyer)
    description = "Step one.\r\nStep two.\r\n"  # as a browser sends the unchanged text
    r = await post_form(
        client,
        page,
        f"/auctions/{aid}/amendments",
        description=description,
        acceptance="",
        reason="",
    )
    assert r.status_code == 400 and 'id="amend-reason-error"' in r.text
    r = await post_form(
        client,
        page,
        f"/auctions/{aid}/amendments",
        description=description,
        acceptance="",
        reason="no change",
    )
    assert r.status_code == 422 and "same as the current ones" in r.text
    r = await post_form(
        client,
        page,
        f"/auctions/{aid}/amendments",
        description="",
        acceptance="",
        reason="blank",
    )
    assert r.status_code == 422 and 'id="amend-description-error"' in r.text
    assert await db.fetchval("SELECT count(*) FROM auction_amendments") == 0
    r = await post_form(
        client,
        page,
        f"/auctions/{aid}/amendments",
        description=description,
        acceptance="Works in Firefox too.",
        reason="Firefox was left out.",
    )
    assert r.status_code == 303, r.text
    row = await db.fetchrow("SELECT description, acceptance FROM auction_amendments")
    assert (row["description"], row["acceptance"]) == (None, "Works in Firefox too.")
    client.cookies.clear()
    html = (await client.get(page)).text
    assert "Amendments" in html and "Firefox was left out." in html
    assert "Works in Firefox too." in html and "Bidding now closes" in html
    assert "Acceptance criteria before this amendment" in html
