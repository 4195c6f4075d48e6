"""Clarifications in open data (issue 28, build 4): an answered question is a tender
document of type ``clarifications``, an amendment a ``tenderAmendment`` release with
``tender.amendments[]``; the tender release keeps the text as first published; who asked,
and questions not yet answered, appear nowhere; the record validates clean."""

from __future__ import annotations

import json

import asyncpg
import msgspec
import pytest

from marketplace.settings import Settings
from tests.helpers import Api, bid, published_auction
from tests.ocds_offline import problems, validate
from tests.scenes import ANSWER, ASKER, QUESTION, amend, answer, ask, named_asker

PREFIX = "ocds-000000"
UNANSWERED = "Is the Safari 16 layout in scope as well?"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return msgspec.structs.replace(settings, question_limit_per_minute=5)


async def test_an_amended_auction_with_answers_publishes_both_and_validates(
    api: Api, db: asyncpg.Connection
) -> None:
    buyer = await api.buyer()
    bidder = await api.verified_vendor()
    asker = await named_asker(api, db)
    aid = (await published_auction(api, buyer, description="Fix it.", acceptance="Tests pass."))[
        "id"
    ]
    assert (await bid(api, bidder, aid, 340_000)).status_code == 201
    r = await ask(api, asker, aid)
    assert r.status_code == 201, r.text
    qid = r.json()["id"]
    assert (await ask(api, asker, aid, UNANSWERED)).status_code == 201
    assert (await answer(api, buyer, aid, qid)).status_code == 200
    r = await amend(
        api,
        buyer,
        aid,
        description="Fix the date picker.",
        acceptance="Tests pass in Safari 17 and Firefox.",
        reason="Firefox was left out by mistake.",
    )
    assert r.status_code == 201, r.text
    amendment = r.json()

    r = await api.client.get(f"/api/ocds/records/{PREFIX}-{aid}")
    assert r.status_code == 200, r.text
    package = r.json()
    found = problems(validate(package))
    assert not any(found.values()), json.dumps(found, indent=1, default=str)[:3000]
    text = json.dumps(package)
    assert ASKER not in text
    parties = package["records"][0]["compiledRelease"]["parties"]
    assert str(asker.id) not in {p.get("identifier", {}).get("id") for p in parties}
    assert UNANSWERED not in text

    releases = package["records"][0]["releases"]
    tender = releases[0]["tender"]
    assert releases[0]["tag"] == ["tender"]
    assert "Fix it." in tender["description"] and "Tests pass." in tender["description"]
    assert "Safari 17" not in tender["description"]  # the text as first published

    answered = next(r for r in releases if "hasEnquiries" in r["tender"])
    assert answered["tag"] == ["tenderUpdate"]
    [doc] = [d for d in answered["tender"]["documents"] if d["documentType"] == "clarifications"]
    assert QUESTION in doc["description"] and ANSWER in doc["description"]
    assert doc["url"].endswith(f"/auctions/{aid}#question-{qid}")
    assert answered["tender"]["hasEnquiries"] is True

    last = releases[-1]
    assert last["tag"] == ["tenderAmendment"]
    [change] = last["tender"]["amendments"]
    assert change["rationale"] == "Firefox was left out by mistake."
    assert change["id"] == f"amendment-{amendment['id']}"
    assert change["amendsReleaseID"] == answered["id"] and change["releaseID"] == last["id"]
    assert "description" in change["description"] and "acceptance" in change["description"]
    assert "Fix the date picker." in last["tender"]["description"]
    assert "Safari 17 and Firefox" in last["tender"]["description"]
    assert last["tender"]["tenderPeriod"]["endDate"].startswith(amendment["ends_at"][:16])
    compiled = package["records"][0]["compiledRelease"]["tender"]
    assert [d["id"] for d in compiled["documents"] if d["documentType"] == "clarifications"] == [
        f"question-{qid}"
    ]
