"""Submitting a delivery (DESIGN §5) and reading its verification records, through the API."""

from __future__ import annotations

from typing import Any

import msgspec

from marketplace.settings import Settings
from tests.fakes.github import FakeGitHub
from tests.github_scene import REPO, WINNER_LOGIN, awarded, link, queued_job_ids, submit
from tests.helpers import Api


async def test_refusals_then_submission_and_resubmission(
    gh_api: Api, db: Any, pool: Any, gh_settings: Settings, fake_github: FakeGitHub, redis: Any
) -> None:
    s = await awarded(gh_api, db, pool, gh_settings, fake_github, linked=False)
    url = s.pr_url(fake_github)

    r = await submit(gh_api, s.loser, s.auction_id, url)
    assert r.status_code == 403 and r.json()["code"] == "not_the_winner"
    r = await submit(gh_api, s.buyer, s.auction_id, url)
    assert r.status_code == 403
    r = await submit(gh_api, s.winner, 999_999, url)
    assert r.status_code == 404

    r = await submit(gh_api, s.winner, s.auction_id, url)
    assert r.status_code == 409 and r.json()["code"] == "github_not_linked"
    assert "link your GitHub account" in r.json()["detail"]

    assert (await link(gh_api, fake_github, s.winner, WINNER_LOGIN)).status_code == 200
    r = await submit(gh_api, s.winner, s.auction_id, "https://gitlab.com/city-of-x/permits/pull/7")
    assert r.status_code == 422 and r.json()["code"] == "invalid_pull_request_url"
    r = await submit(gh_api, s.winner, s.auction_id, s.pr_url(fake_github, repo="acme/other"))
    assert r.status_code == 422 and r.json()["code"] == "wrong_repository"
    r = await gh_api.client.post(
        f"/api/auctions/{s.auction_id}/delivery",
        json={"pull_request_url": url, "extra": 1},
        headers=s.winner.headers,
    )
    assert r.status_code == 400
    assert await db.fetchval("SELECT status FROM auctions WHERE id = $1", s.auction_id) == (
        "awarded"
    )
    assert await db.fetchval("SELECT count(*) FROM deliveries") == 0

    r = await submit(gh_api, s.winner, s.auction_id, url)
    assert r.status_code == 201, r.text
    first = r.json()
    assert (first["status"], first["auction_status"], first["repo"], first["pr_number"]) == (
        "submitted",
        "delivered",
        REPO,
        7,
    )
    assert first["delivery_due_at"] is not None
    assert await db.fetchval("SELECT status FROM auctions WHERE id = $1", s.auction_id) == (
        "delivered"
    )
    delivered_at = await db.fetchval(
        "SELECT delivered_at FROM awards WHERE auction_id = $1", s.auction_id
    )
    assert delivered_at is not None
    assert f"verify:{first['id']}:0" in await queued_job_ids(redis)

    # a second pull request while delivered supersedes the first
    r = await submit(gh_api, s.winner, s.auction_id, s.pr_url(fake_github, 8))
    assert r.status_code == 201, r.text
    second = r.json()
    rows = await db.fetch("SELECT id, status, pr_number FROM deliveries ORDER BY id")
    assert [(x["id"], x["status"], x["pr_number"]) for x in rows] == [
        (first["id"], "superseded", 7),
        (second["id"], "submitted", 8),
    ]
    assert (
        await db.fetchval("SELECT delivered_at FROM awards WHERE auction_id = $1", s.auction_id)
        == delivered_at
    )
    events = await db.fetch(
        "SELECT payload FROM outbox WHERE type = 'delivery.submitted' ORDER BY id"
    )
    decoded = [msgspec.json.decode(e["payload"]) for e in events]
    assert [(e["delivery_id"], e["resubmission"]) for e in decoded] == [
        (first["id"], False),
        (second["id"], True),
    ]
    audit = await db.fetchval(
        "SELECT count(*) FROM audit_log WHERE data LIKE '%\"delivery.submitted\"%'"
    )
    assert audit == 2


async def test_submission_refused_outside_awarded_or_delivered(
    gh_api: Api, db: Any, pool: Any, gh_settings: Settings, fake_github: FakeGitHub
) -> None:
    s = await awarded(gh_api, db, pool, gh_settings, fake_github)
    await db.execute("UPDATE auctions SET status = 'pending_review' WHERE id = $1", s.auction_id)
    r = await submit(gh_api, s.winner, s.auction_id, s.pr_url(fake_github))
    assert r.status_code == 409 and r.json()["code"] == "not_awaiting_delivery"


async def test_verification_visibility(
    gh_api: Api, db: Any, pool: Any, gh_settings: Settings, fake_github: FakeGitHub
) -> None:
    s = await awarded(gh_api, db, pool, gh_settings, fake_github)
    assert (await submit(gh_api, s.winner, s.auction_id, s.pr_url(fake_github))).status_code == 201
    path = f"/api/auctions/{s.auction_id}/verification"
    allowed = {
        "buyer": s.buyer,
        "reviewer": await gh_api.user("reviewer"),
        "reviewer of the department": await gh_api.user("reviewer", department_id=s.dept),
        "winner": s.winner,
        "auditor": await gh_api.user("auditor"),
        "admin": gh_api.admin,
    }
    for who, user in allowed.items():
        r = await gh_api.client.get(path, headers=user.headers)
        assert r.status_code == 200, (who, r.text)
        body = r.json()
        assert body["delivery"]["pull_request_url"] == s.pr_url(fake_github), who
        assert body["delivery"]["submitted_at"] and body["delivery_due_at"], who
        assert body["items"] == [] and body["next"] is None, who  # nothing verified yet
    other_dept = await gh_api.department()
    refused = {
        "another vendor": s.loser,
        "a buyer of another department": await gh_api.buyer(other_dept),
        "a reviewer of another department": await gh_api.user("reviewer", department_id=other_dept),
    }
    for who, user in refused.items():
        r = await gh_api.client.get(path, headers=user.headers)
        assert r.status_code == 403, (who, r.text)
    assert (await gh_api.client.get(path)).status_code == 401
    r = await gh_api.client.get("/api/auctions/999999/verification", headers=s.buyer.headers)
    assert r.status_code == 404
