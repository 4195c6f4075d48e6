"""The GitHub side of a delivery, shared by the tests of linking, delivery, verification and
their pages: settings pointing at the fake GitHub, an auction on REPO won by a vendor whose
GitHub account is linked through the OAuth flow, a pull request that passes every rule, and
readers of the verification records and events.

Its fixtures (``gh_settings``, ``gh_api``, ``ctx``) are registered for every test module by
tests/conftest.py; a module that needs other settings overrides ``gh_settings``."""

from __future__ import annotations

import datetime as dt
import urllib.parse
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import msgspec
import pytest
from litestar.testing import AsyncTestClient

from marketplace.app import create_app
from marketplace.auctions import lifecycle
from marketplace.github.client import GithubClient
from marketplace.redis import ARQ_QUEUE
from marketplace.settings import Settings
from tests.fakes.github import FakeGitHub
from tests.helpers import Api, User, bid, end_auction_now, published_auction

PUBLIC = "http://marketplace.test"
REPO = "city-of-x/permits"
REPO_ID = 4242
WINNER_LOGIN, WINNER_GITHUB_ID = "ada", 501
WEBHOOK_SECRET = "webhook-secret-for-delivery-tests"
HEAD = "a" * 40


async def approve_on_github(fake: FakeGitHub, authorize_url: str, login: str) -> dict[str, str]:
    """Play the user's browser on GitHub: sign in as ``login``, approve, follow the redirect."""
    fake.signed_in_login = login
    async with httpx.AsyncClient(timeout=5) as browser:
        answer = await browser.get(authorize_url)
    assert answer.status_code == 302, answer.text
    location = answer.headers["location"]
    assert location.startswith(f"{PUBLIC}/auth/github/callback?")
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(location).query))


async def link(api: Api, fake: FakeGitHub, user: User, login: str) -> httpx.Response:
    r = await api.client.post("/api/me/github/link", headers=user.headers)
    assert r.status_code == 200, r.text
    params = await approve_on_github(fake, r.json()["authorize_url"], login)
    # An API client finishes the link with the same credentials it started it with.
    response: httpx.Response = await api.client.get(
        "/auth/github/callback", params=params, headers=user.headers
    )
    return response


def on_fake_github(settings: Settings, fake: FakeGitHub, **more: Any) -> Settings:
    """``settings`` served as PUBLIC, signing in with the fake GitHub's OAuth App and
    reading its API; ``more`` adds the worker's token, the webhook secret and the like."""
    return msgspec.structs.replace(
        settings,
        public_url=PUBLIC,
        secret_key="test-secret-key-for-oauth-states",
        github_api_url=fake.api_url,
        github_url=fake.web_url,
        github_client_id=fake.client_id,
        github_client_secret=fake.client_secret,
        **more,
    )


@pytest.fixture
def gh_settings(settings: Settings, fake_github: FakeGitHub) -> Settings:
    return on_fake_github(
        settings, fake_github, github_token="worker-token", github_webhook_secret=WEBHOOK_SECRET
    )


@pytest.fixture
async def gh_api(gh_settings: Settings) -> AsyncIterator[Api]:
    assert gh_settings.database_url and gh_settings.redis_url
    app = create_app(gh_settings, gh_settings.database_url, gh_settings.redis_url)
    async with AsyncTestClient(app=app) as client:
        yield await Api.start(client, gh_settings.database_url)


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


@pytest.fixture
async def ctx(
    pool: Any, gh_settings: Settings, fake_github: FakeGitHub, redis: Any
) -> AsyncIterator[dict[str, Any]]:
    """A worker context as workers/main.py builds it; the client does not retry inside, so
    an outage reaches the job (which retries through arq)."""
    client = GithubClient(fake_github.api_url, "worker-token", timeout=2, retries=0)
    yield {
        "pool": pool,
        "settings": gh_settings,
        "redis_client": redis,
        "github": client,
        "job_try": 1,
    }
    client.close()


def good_pull(fake: FakeGitHub, awarded_at: dt.datetime, **changes: Any) -> None:
    """PR #7 that passes every rule, then ``changes`` applied to it."""
    fields: dict[str, Any] = {
        "author": WINNER_LOGIN,
        "title": "Accept dates typed in Safari",
        "body": "Fixes #12",
        "head_sha": HEAD,
        "merged_at": awarded_at + dt.timedelta(hours=1),
        "merged_by": "bob",
    }
    fields.update(changes)
    fake.add_pull(REPO, 7, **fields)


async def setup(
    api: Api, db: Any, pool: Any, settings: Settings, fake: FakeGitHub
) -> tuple[Awarded, int, dt.datetime]:
    """Awarded and delivered (PR #7); returns the delivery id and the award's time."""
    s = await awarded(api, db, pool, settings, fake)
    r = await submit(api, s.winner, s.auction_id, s.pr_url(fake))
    assert r.status_code == 201, r.text
    awarded_at = await db.fetchval(
        "SELECT awarded_at FROM awards WHERE auction_id = $1", s.auction_id
    )
    return s, r.json()["id"], awarded_at


async def records(db: Any, delivery_id: int) -> list[dict[str, Any]]:
    """The delivery's verdicts (error records, when GitHub could not be read, left out)."""
    rows = await db.fetch(
        """SELECT id, passed, checks, trigger FROM verifications
           WHERE delivery_id = $1 AND error IS NULL ORDER BY id""",
        delivery_id,
    )
    return [{**r, "checks": msgspec.json.decode(r["checks"])} for r in rows]


async def errors(db: Any, delivery_id: int) -> list[str]:
    """Why GitHub could not be read, per error record of the delivery, oldest first."""
    rows = await db.fetch(
        """SELECT error FROM verifications WHERE delivery_id = $1 AND error IS NOT NULL
           ORDER BY id""",
        delivery_id,
    )
    return [r["error"] for r in rows]


async def status(db: Any, auction_id: int) -> str:
    value: str = await db.fetchval("SELECT status FROM auctions WHERE id = $1", auction_id)
    return value


async def events(db: Any, kind: str) -> list[dict[str, Any]]:
    rows = await db.fetch("SELECT payload FROM outbox WHERE type = $1 ORDER BY id", kind)
    return [msgspec.json.decode(r["payload"]) for r in rows]
