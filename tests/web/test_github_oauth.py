"""Linking a GitHub account and signing in with GitHub, through the API and the fake GitHub."""

from __future__ import annotations

import time
import urllib.parse
from typing import Any

import httpx
import msgspec
import pytest

from marketplace.github.oauth import sign_state
from marketplace.settings import Settings
from tests.fakes.github import FakeGitHub
from tests.github_scene import PUBLIC, approve_on_github, link, on_fake_github
from tests.helpers import Api, csrf_of, sign_in


@pytest.fixture
def gh_settings(settings: Settings, fake_github: FakeGitHub) -> Settings:
    """Signing in and linking only: no worker token, no webhook secret."""
    return on_fake_github(settings, fake_github)


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
    r = await gh_api.client.get("/auth/github/callback", params=params, headers=vendor.headers)
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
    r = await gh_api.client.get("/auth/github/callback", params=params, headers=vendor.headers)
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
        "/auth/github/callback",
        params={"code": "not-a-code", "state": state},
        headers=vendor.headers,
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


# ---- issue 21, findings 1 and 2: the callback and the hand-off bound to their starter ----

BROWSER = {"Accept": "text/html,application/xhtml+xml"}


async def _linked(db: Any) -> list[tuple[int, int]]:
    rows = await db.fetch("SELECT id, github_id FROM users WHERE github_id IS NOT NULL")
    return [(r["id"], r["github_id"]) for r in rows]


async def test_an_authorize_url_sent_to_a_victim_links_nothing(
    gh_api: Api, fake_github: FakeGitHub, db: Any
) -> None:
    """Finding 1 replayed: the attacker starts a link and sends its authorize URL to a
    victim signed in to GitHub; the victim's browser brings GitHub's code back. Whether that
    browser has no marketplace session, the victim's own session, or the victim's token,
    nothing is linked (else the attacker is paid for the victim's pull requests)."""
    fake_github.add_user("victim-gh", id=5001, email=None)
    client = gh_api.client
    attacker, victim = await gh_api.verified_vendor(), await gh_api.verified_vendor()
    r = await client.post("/api/me/github/link", headers=attacker.headers)
    authorize_url = r.json()["authorize_url"]

    params = await approve_on_github(fake_github, authorize_url, "victim-gh")
    client.cookies.clear()  # a browser with no marketplace session
    r = await client.get("/auth/github/callback", params=params, headers=BROWSER)
    assert r.status_code == 400 and "Nothing was linked" in r.text, r.text

    await sign_in(client, victim)  # the victim's own session
    r = await client.get("/auth/github/callback", params=params, headers=BROWSER)
    assert r.status_code == 403, r.text
    assert "started from another marketplace account" in r.text and "Nothing was linked" in r.text

    client.cookies.clear()  # an API client with the victim's token
    r = await client.get("/auth/github/callback", params=params, headers=victim.headers)
    assert r.status_code == 403 and r.json()["code"] == "github_link_not_yours", r.text

    assert await _linked(db) == []
    assert not [q for q in fake_github.requests if q.path == "/login/oauth/access_token"]
    assert await db.fetchval("SELECT count(*) FROM outbox WHERE type = 'user.github_linked'") == 0


async def test_a_browser_link_is_confirmed_by_its_starter_before_anything_is_linked(
    gh_api: Api, fake_github: FakeGitHub, db: Any
) -> None:
    fake_github.add_user("ada-dev", id=9001, email=None, name="Ada Lovelace")
    client = gh_api.client
    vendor = await gh_api.verified_vendor()
    await sign_in(client, vendor)
    me = await client.get("/me")
    r = await client.post(
        "/me/github/link",
        data={"csrf_token": csrf_of(me.text), "back": "/me"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    params = await approve_on_github(fake_github, r.headers["location"], "ada-dev")
    r = await client.get(
        "/auth/github/callback", params=params, headers=BROWSER, follow_redirects=False
    )
    assert r.status_code == 303 and r.headers["location"].startswith("/me/github/confirm?")
    page = await client.get(r.headers["location"])
    assert page.status_code == 200, page.text
    assert "Link GitHub <strong>@ada-dev</strong>" in page.text
    assert "Ada Lovelace" in page.text and await _linked(db) == []

    # Without the page's CSRF token (a form on another site) nothing happens.
    r = await client.post("/me/github/confirm", data={"decision": "link"}, follow_redirects=False)
    assert r.status_code == 403 and await _linked(db) == []
    r = await client.post(
        "/me/github/confirm",
        data={"csrf_token": csrf_of(page.text), "decision": "link"},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == "/me"
    assert await _linked(db) == [(vendor.id, 9001)]
    r = await client.get("/me")
    assert "Your GitHub account @ada-dev is linked" in r.text

    # The confirmation is spent: the same form again changes nothing.
    r = await client.post(
        "/me/github/confirm",
        data={"csrf_token": csrf_of(page.text), "decision": "link"},
        follow_redirects=True,
    )
    assert "expired" in r.text and await _linked(db) == [(vendor.id, 9001)]


async def test_cancelling_the_confirmation_links_nothing(
    gh_api: Api, fake_github: FakeGitHub, db: Any
) -> None:
    fake_github.add_user("bob-dev", id=9002, email=None)
    client = gh_api.client
    vendor = await gh_api.verified_vendor()
    await sign_in(client, vendor)
    r = await client.post("/api/me/github/link", headers=vendor.headers)
    params = await approve_on_github(fake_github, r.json()["authorize_url"], "bob-dev")
    page = await client.get("/me/github/confirm", params=params)
    assert page.status_code == 200 and "@bob-dev" in page.text
    r = await client.post(
        "/me/github/confirm",
        data={"csrf_token": csrf_of(page.text), "decision": "cancel"},
        follow_redirects=True,
    )
    assert "Nothing was linked." in r.text and await _linked(db) == []


async def test_a_sign_in_hand_off_or_state_sent_to_a_victim_signs_nobody_in(
    gh_api: Api, fake_github: FakeGitHub, db: Any
) -> None:
    """Finding 2 replayed: the attacker signs in with GitHub in their own browser but stops
    at the hand-off link, and sends it to a victim; or sends the victim their sign-in's
    callback. The victim's browser is signed in as nobody."""
    fake_github.add_user("mallory-gh", id=6001, email=None)
    client = gh_api.client

    async def attacker_signs_in_up_to(step: str) -> dict[str, str] | str:
        client.cookies.clear()  # the attacker's browser
        r = await client.get("/auth/github/login", follow_redirects=False)
        params = await approve_on_github(fake_github, r.headers["location"], "mallory-gh")
        if step == "callback":
            return params
        r = await client.get(
            "/auth/github/callback", params=params, headers=BROWSER, follow_redirects=False
        )
        assert r.status_code == 303, r.text
        return r.headers["location"]

    handoff = await attacker_signs_in_up_to("handoff")
    assert isinstance(handoff, str) and handoff.startswith("/signin/github?handoff=")
    client.cookies.clear()  # the victim's browser
    r = await client.get(handoff)
    assert r.status_code == 400 and "started in another browser" in r.text, r.text
    r = await client.get("/me", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/signin")
    # The link is spent: not even the attacker's browser can use it any more.
    assert (await client.get(handoff)).status_code == 400

    params = await attacker_signs_in_up_to("callback")
    client.cookies.clear()  # the victim's browser
    r = await client.get("/auth/github/callback", params=params, headers=BROWSER)
    assert r.status_code == 400 and r.json()["code"] == "oauth_state_other_browser", r.text
    r = await client.get("/me", follow_redirects=False)
    assert r.status_code == 303
    # One sign-in reached GitHub's code exchange: the attacker's own, in their browser.
    tokens = await db.fetchval(
        "SELECT count(*) FROM api_tokens t JOIN users u ON u.id = t.user_id"
        " WHERE u.github_id = 6001"
    )
    assert tokens == 1


async def test_github_refuses_a_redirect_uri_other_than_the_registered_callback(
    gh_api: Api, fake_github: FakeGitHub, db: Any
) -> None:
    """GitHub hands out no code for a redirect_uri outside the registered callback URL: it
    sends the browser to the callback with error=redirect_uri_mismatch, which the product
    answers with a 400 and links nothing."""
    fake_github.add_user("ada-dev", id=9001, email=None)
    vendor = await gh_api.user("vendor")
    r = await gh_api.client.post("/api/me/github/link", headers=vendor.headers)
    url = urllib.parse.urlsplit(r.json()["authorize_url"])
    query = dict(urllib.parse.parse_qsl(url.query))
    fake_github.signed_in_login = "ada-dev"
    authorize = f"{fake_github.web_url}/login/oauth/authorize"
    async with httpx.AsyncClient(timeout=5) as browser:
        for elsewhere in (
            "http://evil.test/auth/github/callback",
            f"{PUBLIC}:8080/auth/github/callback",
            f"{PUBLIC}/auth/github/callbackx",
            f"{PUBLIC}/",
        ):
            answer = await browser.get(authorize, params={**query, "redirect_uri": elsewhere})
            assert answer.status_code == 302, elsewhere
            location = urllib.parse.urlsplit(answer.headers["location"])
            assert f"{location.scheme}://{location.netloc}{location.path}" == (
                f"{PUBLIC}/auth/github/callback"
            )
            params = dict(urllib.parse.parse_qsl(location.query))
            assert params["error"] == "redirect_uri_mismatch" and "code" not in params
            assert params["state"] == query["state"]
        below = await browser.get(
            authorize, params={**query, "redirect_uri": f"{PUBLIC}/auth/github/callback/x"}
        )
        assert "code=" in below.headers["location"]  # a path below the callback is GitHub's too
    r = await gh_api.client.get("/auth/github/callback", params=params, headers=vendor.headers)
    assert r.status_code == 400 and r.json()["code"] == "github_authorization_denied"
    assert (await gh_api.client.get("/api/me", headers=vendor.headers)).json()["github"] is None
