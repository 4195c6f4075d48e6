"""Linking a GitHub account and signing in with GitHub, through the API and the fake GitHub."""

from __future__ import annotations

import time
import urllib.parse
from collections.abc import AsyncIterator
from typing import Any

import httpx
import msgspec
import pytest
from litestar.testing import AsyncTestClient

from marketplace.app import create_app
from marketplace.github.oauth import sign_state
from marketplace.settings import Settings
from tests.fakes.github import FakeGitHub
from tests.helpers import Api, User

PUBLIC = "http://marketplace.test"


@pytest.fixture
def gh_settings(settings: Settings, fake_github: FakeGitHub) -> Settings:
    return msgspec.structs.replace(
        settings,
        public_url=PUBLIC,
        secret_key="test-secret-key-for-oauth-states",
        github_api_url=fake_github.api_url,
        github_url=fake_github.web_url,
        github_client_id=fake_github.client_id,
        github_client_secret=fake_github.client_secret,
    )


@pytest.fixture
async def gh_api(gh_settings: Settings) -> AsyncIterator[Api]:
    assert gh_settings.database_url and gh_settings.redis_url
    app = create_app(gh_settings, gh_settings.database_url, gh_settings.redis_url)
    async with AsyncTestClient(app=app) as client:
        yield await Api.start(client, gh_settings.database_url)


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
    response: httpx.Response = await api.client.get("/auth/github/callback", params=params)
    return response


async def test_link_stores_numeric_id_with_audit_and_event(
    gh_api: Api, fake_github: FakeGitHub, db: Any
) -> None:
    fake_github.add_user("ada-dev", id=9001, email=None)
    vendor = await gh_api.user("vendor")
    r = await gh_api.client.post("/api/me/github/link", headers=vendor.headers)
    assert r.status_code == 200
    url = urllib.parse.urlsplit(r.json()["authorize_url"])
    assert (
        f"{url.scheme}://{url.netloc}{url.path}" == f"{fake_github.web_url}/login/oauth/authorize"
    )
    query = dict(urllib.parse.parse_qsl(url.query))
    assert query["client_id"] == fake_github.client_id
    assert query["redirect_uri"] == f"{PUBLIC}/auth/github/callback"
    assert query["state"]

    params = await approve_on_github(fake_github, r.json()["authorize_url"], "ada-dev")
    r = await gh_api.client.get("/auth/github/callback", params=params)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "@ada-dev" in r.text and "linked" in r.text

    me = (await gh_api.client.get("/api/me", headers=vendor.headers)).json()
    assert me["github"] == {"id": 9001, "login": "ada-dev"}
    events = await db.fetch("SELECT payload FROM outbox WHERE type = 'user.github_linked'")
    assert [msgspec.json.decode(e["payload"])["github_id"] for e in events] == [9001]
    audit = await db.fetch("SELECT data FROM audit_log WHERE data LIKE '%user.github_linked%'")
    assert len(audit) == 1 and '"github_id":9001' in audit[0]["data"]
    token_calls = [r for r in fake_github.requests if r.path == "/login/oauth/access_token"]
    assert len(token_calls) == 1

    # the same callback again: the state is spent
    r = await gh_api.client.get("/auth/github/callback", params=params)
    assert r.status_code == 400 and r.json()["code"] == "used_oauth_state"


async def test_forged_and_expired_states_are_refused(
    gh_api: Api, gh_settings: Settings, fake_github: FakeGitHub, db: Any
) -> None:
    vendor = await gh_api.user("vendor")
    code = fake_github.authorize("mallory")
    good = sign_state(gh_settings.secret_key, "link", vendor.id)
    payload, _, mac = good.partition(".")
    forged = [
        "",
        "garbage",
        sign_state("another-deployments-key", "link", vendor.id),
        f"{payload}.{mac[:-2]}xx",
        # a state bound to another user, re-signed without the key, is just a bad MAC
        f"{sign_state(gh_settings.secret_key, 'link', vendor.id + 1).partition('.')[0]}.{mac}",
        # not ASCII (schemathesis found these a 500: compare_digest refuses such text)
        "\U000c45a4\U000886e5\U000b80ed\x05.\U000bfdc63S",
        f"{payload}.{mac[:-1]}é",
    ]
    for state in forged:
        r = await gh_api.client.get("/auth/github/callback", params={"code": code, "state": state})
        assert r.status_code == 400 and r.json()["code"] == "invalid_oauth_state", state
    expired = sign_state(gh_settings.secret_key, "link", vendor.id, now=time.time() - 3600)
    r = await gh_api.client.get("/auth/github/callback", params={"code": code, "state": expired})
    assert r.status_code == 400 and r.json()["code"] == "expired_oauth_state"
    assert await db.fetchval("SELECT count(*) FROM users WHERE github_id IS NOT NULL") == 0
    assert not [r for r in fake_github.requests if r.path == "/login/oauth/access_token"]


async def test_one_github_account_per_user(gh_api: Api, fake_github: FakeGitHub) -> None:
    fake_github.add_user("ada-dev", id=9001)
    fake_github.add_user("ada-alt", id=9002)
    first = await gh_api.user("vendor")
    second = await gh_api.user("vendor")
    assert (await link(gh_api, fake_github, first, "ada-dev")).status_code == 200

    r = await link(gh_api, fake_github, second, "ada-dev")
    assert r.status_code == 409 and r.json()["code"] == "github_account_taken"
    me = (await gh_api.client.get("/api/me", headers=second.headers)).json()
    assert me["github"] is None

    r = await link(gh_api, fake_github, first, "ada-alt")
    assert r.status_code == 409 and r.json()["code"] == "github_already_linked"
    assert (await link(gh_api, fake_github, first, "ada-dev")).status_code == 200  # same: fine
    me = (await gh_api.client.get("/api/me", headers=first.headers)).json()
    assert me["github"] == {"id": 9001, "login": "ada-dev"}


async def test_bad_code_or_denied_authorization_is_a_clear_400(
    gh_api: Api, gh_settings: Settings
) -> None:
    vendor = await gh_api.user("vendor")
    state = sign_state(gh_settings.secret_key, "link", vendor.id)
    r = await gh_api.client.get(
        "/auth/github/callback", params={"code": "not-a-code", "state": state}
    )
    assert r.status_code == 400 and r.json()["code"] == "github_oauth_failed"
    state = sign_state(gh_settings.secret_key, "link", vendor.id)
    r = await gh_api.client.get(
        "/auth/github/callback", params={"error": "access_denied", "state": state}
    )
    assert r.status_code == 400 and r.json()["code"] == "github_authorization_denied"


async def test_sign_in_creates_a_vendor_once_then_signs_the_same_user_in(
    gh_api: Api, fake_github: FakeGitHub, db: Any
) -> None:
    fake_github.add_user("grace", id=777, email=None, name="Grace Hopper")

    async def sign_in() -> httpx.Response:
        r = await gh_api.client.get("/auth/github/login", follow_redirects=False)
        assert r.status_code == 302
        assert r.headers["location"].startswith(f"{fake_github.web_url}/login/oauth/authorize?")
        params = await approve_on_github(fake_github, r.headers["location"], "grace")
        response: httpx.Response = await gh_api.client.get("/auth/github/callback", params=params)
        return response

    r = await sign_in()
    assert r.status_code == 201, r.text
    first = r.json()
    assert first["created"] is True and first["github"] == {"id": 777, "login": "grace"}
    me = (
        await gh_api.client.get("/api/me", headers={"Authorization": f"Bearer {first['token']}"})
    ).json()
    assert me["roles"] == ["vendor"] and me["email"] == "grace@users.noreply.github.com"
    assert me["name"] == "Grace Hopper" and me["verification_status"] == "unverified"

    r = await sign_in()
    assert r.status_code == 200
    again = r.json()
    assert again["id"] == first["id"] and again["created"] is False
    assert again["token"] != first["token"]
    assert await db.fetchval("SELECT count(*) FROM users WHERE github_id = 777") == 1
    created = await db.fetchval("SELECT count(*) FROM outbox WHERE type = 'user.created'")
    assert created == 2  # the admin (made by the harness) and grace, once


async def test_unconfigured_oauth_is_a_503_not_a_crash(api: Api) -> None:
    vendor = await api.user("vendor")
    r = await api.client.post("/api/me/github/link", headers=vendor.headers)
    assert r.status_code == 503 and r.json()["code"] == "github_oauth_not_configured"
    r = await api.client.get("/auth/github/login", follow_redirects=False)
    assert r.status_code == 503 and r.json()["code"] == "github_oauth_not_configured"
    r = await api.client.get("/auth/github/callback", params={"code": "x", "state": "y"})
    assert r.status_code == 503
    assert (await api.client.post("/api/me/github/link")).status_code == 401
