"""Clarification questions and amendments through HTTP (issue 28): vendors ask, the buyer
answers everyone, amendments keep what they replaced and leave bidders time; who asked is
told to nobody outside the department; bad input is refused with nothing stored."""

from __future__ import annotations

import datetime as dt
from typing import Any

import asyncpg
import msgspec
import pytest
from litestar.testing import AsyncTestClient

from marketplace import jobs, outbox
from marketplace.auctions import lifecycle
from marketplace.notifications import messages
from marketplace.settings import Settings
from marketplace.streams.consumer import StreamConsumer, read_event
from tests.helpers import (
    CLOSE_SETTINGS,
    Api,
    auction_body,
    bid,
    end_auction_now,
    iso_in,
    published_auction,
)
from tests.scenes import ANSWER, ASKER, QUESTION, amend, answer, ask, named_asker, questions


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return msgspec.structs.replace(settings, question_limit_per_minute=5)


async def mail_out(pool: Any, settings: Settings, db: asyncpg.Connection) -> list[Any]:
    """Hand every outbox event to the notifications consumer, as the relay would; the mail
    it wrote."""
    consumer = StreamConsumer(pool, None, messages.GROUP, messages.Mailer(settings))
    for row in await db.fetch("SELECT id, type, payload, created_at FROM outbox ORDER BY id"):
        event = outbox.stamped(row["id"], row["created_at"], bytes(row["payload"]))
        assert await consumer.apply(read_event(row["type"], msgspec.json.encode(event)))
    rows: list[Any] = await db.fetch(
        "SELECT recipient_id, subject, body FROM mail_outbox ORDER BY id"
    )
    return rows


async def test_a_vendor_asks_the_buyer_answers_and_every_bidder_hears(
    api: Api, db: asyncpg.Connection, pool: Any, settings: Settings
) -> None:
    dept = await api.department()
    buyer = await api.buyer(dept)
    asker = await named_asker(api, db)
    bidder, bystander = await api.verified_vendor(), await api.verified_vendor()
    aid = (await published_auction(api, buyer))["id"]
    assert (await bid(api, bidder, aid, 340_000)).status_code == 201

    r = await ask(api, asker, aid)
    assert r.status_code == 201, r.text
    qid = r.json()["id"]
    assert r.json()["mine"] is True and r.json()["answer"] is None
    # Unanswered: the asker and the department see it, nobody else.
    assert await questions(api, aid) == []
    assert await questions(api, aid, bidder) == []
    assert [q["id"] for q in await questions(api, aid, asker)] == [qid]
    [seen] = await questions(api, aid, buyer)
    assert (seen["asker_id"], seen["asker_name"], seen["text"]) == (asker.id, ASKER, QUESTION)
    [seen] = await questions(api, aid, api.admin)
    assert seen["asker_name"] == ASKER

    r = await answer(api, buyer, aid, qid)
    assert r.status_code == 200, r.text
    for who in (None, bidder, bystander, asker):
        [shown] = await questions(api, aid, who)
        assert (shown["text"], shown["answer"]) == (QUESTION, ANSWER)
        assert shown["asker_id"] is None and shown["asker_name"] is None
        assert shown["mine"] is (who is asker)
    public = (await api.client.get(f"/api/auctions/{aid}/questions")).text
    assert ASKER not in public and f'"asker_id":{asker.id}' not in public

    # The answer is an event on the auction's stream; the question alone is not.
    events = {
        r["type"]: r
        for r in await db.fetch("SELECT type, auction_id, payload FROM outbox ORDER BY id")
    }
    assert events["question.asked"]["auction_id"] is None
    assert events["question.answered"]["auction_id"] == aid
    payload = msgspec.json.decode(events["question.answered"]["payload"])
    assert (payload["question"], payload["answer"], payload["question_id"]) == (
        QUESTION,
        ANSWER,
        qid,
    )
    assert ASKER not in events["question.answered"]["payload"].decode()
    assert not {"asked_by", "asker_id", "asker_name", "user_id"} & set(payload)
    # Both are rows of the auction's audit chain, with who did them.
    audit = await db.fetch(
        "SELECT data::jsonb AS d FROM audit_log WHERE chain = $1 ORDER BY seq", f"auction:{aid}"
    )
    acts = [
        (msgspec.json.decode(r["d"])["action"], msgspec.json.decode(r["d"])["actor_id"])
        for r in audit
    ]
    assert ("question.asked", asker.id) in acts and ("question.answered", buyer.id) in acts

    mail = await mail_out(pool, settings, db)
    answered = [m for m in mail if m["subject"].startswith("Question answered")]
    assert sorted(m["recipient_id"] for m in answered) == sorted([bidder.id, asker.id])
    assert all(QUESTION in m["body"] and ANSWER in m["body"] for m in answered)
    assert all(ASKER not in m["body"] for m in mail if m["recipient_id"] != asker.id)
    asked = [m for m in mail if m["subject"].startswith("New question")]
    assert [m["recipient_id"] for m in asked] == [buyer.id]


async def test_bad_questions_and_answers_are_refused_and_nothing_is_stored(
    api: Api, db: asyncpg.Connection
) -> None:
    dept = await api.department()
    buyer, other_buyer = await api.buyer(dept), await api.buyer()
    vendor = await api.verified_vendor()
    aid = (await published_auction(api, buyer))["id"]
    for text in ("", "   \n ", "x" * 4001, "bell \x07 rings", "escape \x1b[2J", None, 12):
        r = await ask(api, vendor, aid, text)
        assert r.status_code == 400, (text, r.text)
        assert r.json()["code"] and r.json()["detail"]
    assert await db.fetchval("SELECT count(*) FROM auction_questions") == 0
    r = await ask(api, vendor, aid, "Line one\n\tLine two " + "y" * 3970)
    assert r.status_code == 201, r.text
    qid = r.json()["id"]

    unverified = await api.user("vendor")
    r = await ask(api, unverified, aid)
    assert (r.status_code, r.json()["code"]) == (403, "not_verified")
    inside = await api.user("vendor", "buyer", department_id=dept)
    await db.execute("UPDATE users SET verification_status = 'verified' WHERE id = $1", inside.id)
    r = await ask(api, inside, aid)
    assert (r.status_code, r.json()["code"]) == (403, "conflict_of_interest")
    assert (await ask(api, buyer, aid)).status_code == 403  # not a vendor

    for who, want in ((other_buyer, 403), (vendor, 403), (api.admin, 403)):
        r = await answer(api, who, aid, qid)
        assert r.status_code == want, r.text
    assert (await answer(api, buyer, aid, qid + 999)).status_code == 404
    other_aid = (await published_auction(api, buyer))["id"]
    assert (await answer(api, buyer, other_aid, qid)).status_code == 404
    for text in ("", "  ", "z" * 4001, "nul \x00"):
        assert (await answer(api, buyer, aid, qid, text)).status_code == 400, text
    assert await db.fetchval("SELECT count(*) FROM auction_questions WHERE answer IS NOT NULL") == 0
    assert (await answer(api, buyer, aid, qid)).status_code == 200
    r = await answer(api, buyer, aid, qid, "A second answer")
    assert (r.status_code, r.json()["code"]) == (409, "already_answered")
    assert await db.fetchval("SELECT answer FROM auction_questions WHERE id = $1", qid) == ANSWER
    assert await db.fetchval("SELECT count(*) FROM auction_questions") == 1


async def test_questions_close_before_the_end_and_on_closed_or_draft_auctions(
    api: Api, db: asyncpg.Connection
) -> None:
    buyer = await api.buyer()
    vendor = await api.verified_vendor()
    # A three-day window: questions close 24 hours before the end.
    aid = (await published_auction(api, buyer, ends_at=iso_in(3 * 86400)))["id"]
    auction = (await api.client.get(f"/api/auctions/{aid}")).json()
    ends = dt.datetime.fromisoformat(auction["ends_at"])
    closes = dt.datetime.fromisoformat(auction["questions_close_at"])
    assert ends - closes == dt.timedelta(hours=24)
    assert (await ask(api, vendor, aid)).status_code == 201
    await db.execute(
        "UPDATE auctions SET starts_at = now() - interval '3 days',"
        " ends_at = now() + interval '23 hours' WHERE id = $1",
        aid,
    )
    r = await ask(api, vendor, aid, "A late question")
    assert (r.status_code, r.json()["code"]) == (409, "questions_closed"), r.text
    assert "questions_close_at" in r.json()
    # A one-hour window: questions run to the end.
    short = (await published_auction(api, buyer))["id"]
    auction = (await api.client.get(f"/api/auctions/{short}")).json()
    assert auction["questions_close_at"] == auction["ends_at"]
    await db.execute("UPDATE auctions SET status = 'closed_no_bids' WHERE id = $1", short)
    assert (await ask(api, vendor, short)).status_code == 409
    r = await api.client.post("/api/auctions", json=auction_body(), headers=buyer.headers)
    draft = r.json()["id"]
    assert (await ask(api, vendor, draft)).status_code == 404
    assert await db.fetchval("SELECT count(*) FROM auction_questions") == 1


async def test_questions_are_rate_limited_per_vendor(api: Api) -> None:
    buyer = await api.buyer()
    one, two = await api.verified_vendor(), await api.verified_vendor()
    aid = (await published_auction(api, buyer))["id"]
    for i in range(5):
        assert (await ask(api, one, aid, f"Question {i}")).status_code == 201
    r = await ask(api, one, aid, "One too many")
    assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1, r.text
    assert (await ask(api, two, aid)).status_code == 201  # another vendor is counted apart


async def test_an_amendment_keeps_the_old_text_moves_the_close_and_tells_bidders(
    api: Api, db: asyncpg.Connection, pool: Any, redis: Any, settings: Settings
) -> None:
    buyer = await api.buyer()
    bidder, asker, bystander = [await api.verified_vendor() for _ in range(3)]
    aid = (await published_auction(api, buyer, acceptance="Tests pass."))["id"]
    assert (await bid(api, bidder, aid, 340_000)).status_code == 201
    assert (await ask(api, asker, aid)).status_code == 201
    before = (await api.client.get(f"/api/auctions/{aid}")).json()
    assert before["acceptance"] == "Tests pass."
    r = await amend(
        api,
        buyer,
        aid,
        acceptance="Tests pass in Safari 17 and Firefox.",
        reason="Firefox was left out by mistake.",
    )
    assert r.status_code == 201, r.text
    amendment = r.json()
    assert amendment["changed"] == ["acceptance"]
    assert amendment["previous_acceptance"] == "Tests pass."
    assert amendment["description"] is None and amendment["previous_description"] is None
    after = (await api.client.get(f"/api/auctions/{aid}")).json()
    assert after["acceptance"] == "Tests pass in Safari 17 and Firefox."
    assert after["description"] == before["description"]
    ends = dt.datetime.fromisoformat(after["ends_at"])
    now = dt.datetime.fromisoformat(after["server_time"])
    assert ends - now >= dt.timedelta(hours=23, minutes=59)
    assert amendment["previous_ends_at"] == before["ends_at"]
    # The close moved: when the old close time comes, the auction stays open, and the close
    # job is enqueued for the new time.
    await db.execute(
        "UPDATE auctions SET starts_at = starts_at - interval '2 hours' WHERE id = $1", aid
    )
    assert await lifecycle.close_auction(pool, aid, CLOSE_SETTINGS) is None
    job = jobs.close_job_id(aid, ends)
    assert await redis.exists(f"arq:job:{job}"), job
    r = await api.client.get(f"/api/auctions/{aid}/amendments")
    assert [a["previous_acceptance"] for a in r.json()["items"]] == ["Tests pass."]
    row = await db.fetchrow("SELECT auction_id, payload FROM outbox WHERE type = 'auction.amended'")
    assert row["auction_id"] == aid
    event = msgspec.json.decode(row["payload"])
    assert event["amendment_id"] == amendment["id"]
    assert event["previous_acceptance"] == "Tests pass." and event["reason"]
    action = await db.fetchval(
        "SELECT data::jsonb ->> 'action' FROM audit_log WHERE chain = $1 ORDER BY seq DESC LIMIT 1",
        f"auction:{aid}",
    )
    assert action == "auction.amended"

    mail = await mail_out(pool, settings, db)
    told = sorted(m["recipient_id"] for m in mail if m["subject"].startswith("Amended"))
    assert told == sorted([bidder.id, asker.id])
    assert bystander.id not in told
    body = next(m["body"] for m in mail if m["subject"].startswith("Amended"))
    assert "acceptance criteria" in body and "Firefox was left out" in body
    assert "now closes" in body

    # An amendment with more than enough time left does not move the close.
    await db.execute("UPDATE auctions SET ends_at = now() + interval '3 days' WHERE id = $1", aid)
    r = await amend(api, buyer, aid, description="New description.", reason="Clearer steps.")
    assert r.status_code == 201 and r.json()["ends_at"] == r.json()["previous_ends_at"], r.text


async def test_amendments_that_change_the_rules_or_nothing_are_refused(
    api: Api, db: asyncpg.Connection
) -> None:
    dept = await api.department()
    buyer, other_buyer = await api.buyer(dept), await api.buyer()
    vendor = await api.verified_vendor()
    aid = (await published_auction(api, buyer))["id"]
    before = await db.fetchrow("SELECT * FROM auctions WHERE id = $1", aid)
    for extra in (
        {"price_cap_cents": 1},
        {"type": "sealed"},
        {"repo": "someone/else"},
        {"min_decrement_cents": 1},
    ):
        r = await amend(api, buyer, aid, description="New text.", reason="why", **extra)
        assert (r.status_code, r.json()["code"]) == (400, "not_amendable"), r.text
        assert r.json()["field"] == next(iter(extra))
    for body, code in (
        ({"reason": "nothing"}, 400),
        ({"description": "x"}, 400),  # no reason
        ({"description": "x", "reason": ""}, 400),
        ({"description": "x", "reason": "bell \x07"}, 400),
        ({"description": "   ", "reason": "blank"}, 422),
        ({"description": before["description"], "reason": "same"}, 422),
        ({"title": "New title", "reason": "why"}, 400),
    ):
        r = await amend(api, buyer, aid, **body)
        assert r.status_code == code, (body, r.text)
    for who in (other_buyer, vendor):
        assert (await amend(api, who, aid, description="x", reason="y")).status_code == 403
    # Bidding time over, the close not yet run: an amendment does not reopen it.
    await end_auction_now(db, aid)
    r = await amend(api, buyer, aid, description="x", reason="y")
    assert (r.status_code, r.json()["code"]) == (409, "not_amendable_now"), r.text
    assert await db.fetchval("SELECT ends_at < now() FROM auctions WHERE id = $1", aid)
    await db.execute("UPDATE auctions SET status = 'closed_no_bids' WHERE id = $1", aid)
    r = await amend(api, buyer, aid, description="x", reason="y")
    assert (r.status_code, r.json()["code"]) == (409, "not_amendable_now")
    after = await db.fetchrow("SELECT * FROM auctions WHERE id = $1", aid)
    assert after["description"] == before["description"]
    assert await db.fetchval("SELECT count(*) FROM auction_amendments") == 0
    assert await db.fetchval("SELECT count(*) FROM outbox WHERE type = 'auction.amended'") == 0


async def test_a_scheduled_auction_is_amended_without_moving_its_close(
    api: Api, client: AsyncTestClient[Any]
) -> None:
    buyer = await api.buyer()
    aid = (await published_auction(api, buyer, starts_at=iso_in(600), ends_at=iso_in(4000)))["id"]
    before = (await api.client.get(f"/api/auctions/{aid}")).json()
    assert before["status"] == "scheduled"
    r = await amend(api, buyer, aid, description="Corrected steps.", reason="Typo in step 2.")
    assert r.status_code == 201, r.text
    assert r.json()["ends_at"] == before["ends_at"]
    assert r.json()["previous_description"] == before["description"]
