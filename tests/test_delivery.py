"""Submitting a delivery (DESIGN §5) and reading its verification records, through the API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import msgspec
import pytest
from litestar.testing import AsyncTestClient

from marketplace.app import create_app
from marketplace.auctions import lifecycle
from marketplace.db import create_pool
from marketplace.redis import ARQ_QUEUE
from marketplace.settings import Settings
from tests.fakes.github import FakeGitHub
from tests.helpers import Api, User, bid, end_auction_now, published_auction
from tests.test_github_oauth import PUBLIC, link

REPO = "city-of-x/permits"
REPO_ID = 4242
WINNER_LOGIN, WINNER_GITHUB_ID = "ada", 501
WEBHOOK_SECRET = "webhook-secret-for-delivery-tests"


@pytest.fixture
def gh_settings(settings: Settings, fake_github: FakeGitHub) -> Settings:
    return msgspec.structs.replace(
        settings,
        public_url=PUBLIC,
        secret_key="test-secret-key-for-oauth-states",
        github_api_url=fake_github.api_url,
        github_url=fake_github.web_url,
        github_token="worker-token",
        github_client_id=fake_github.client_id,
        github_client_secret=fake_github.client_secret,
        github_webhook_secret=WEBHOOK_SECRET,
    )


@pytest.fixture
async def gh_api(gh_settings: Settings) -> AsyncIterator[Api]:
    assert gh_settings.database_url and gh_settings.redis_url
    app = create_app(gh_settings, gh_settings.database_url, gh_settings.redis_url)
    async with AsyncTestClient(app=app) as client:
        yield await Api.start(client, gh_settings.database_url)


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[Any]:
    p = await create_pool(database_url, min_size=1, max_size=6)
    yield p
    await p.close()


@dataclass
class Awarded:
    auction_id: int
    dept: int
    buyer: User
    winner: User
    loser: User

    def pr_url(self, fake: FakeGitHub, number: int = 7, repo: str = REPO) -> str:
        return f"{fake.web_url}/{repo}/pull/{number}"


async def awarded(
    api: Api, db: Any, pool: Any, settings: Settings, fake: FakeGitHub, *, linked: bool = True
) -> Awarded:
    """An auction on REPO (issue #12) won by a vendor, whose GitHub account 'ada' is linked
    through the OAuth flow when ``linked``."""
    if REPO.lower() not in {r.lower() for r in fake._state.repos}:
        fake.add_repo(REPO, id=REPO_ID, default_branch="main")
        fake.add_issue(REPO, 12, title="The date picker rejects valid dates")
        fake.add_user(WINNER_LOGIN, id=WINNER_GITHUB_ID)
        fake.add_user("bob", id=502)
    dept = await api.department()
    buyer = await api.buyer(dept)
    winner, loser = await api.verified_vendor(), await api.verified_vendor()
    aid = (await published_auction(api, buyer, repo=REPO, price_cap_cents=500_000))["id"]
    assert (await bid(api, loser, aid, 400_000)).status_code == 201
    assert (await bid(api, winner, aid, 390_000)).status_code == 201
    await end_auction_now(db, aid)
    assert await lifecycle.close_auction(pool, aid, settings) == "awarded"
    if linked:
        assert (await link(api, fake, winner, WINNER_LOGIN)).status_code == 200
    return Awarded(aid, dept, buyer, winner, loser)


async def submit(api: Api, user: User, aid: int, url: str) -> Any:
    return await api.client.post(
        f"/api/auctions/{aid}/delivery", json={"pull_request_url": url}, headers=user.headers
    )


async def queued_job_ids(redis: Any) -> list[str]:
    return sorted(j.decode() for j in await redis.zrange(ARQ_QUEUE, 0, -1))


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
