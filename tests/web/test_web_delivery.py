"""The delivery pages over HTTP: the winner links GitHub and delivers a pull request (refusals
beside the field), and the verification results show each rule with its evidence; who may
see them; the finance list names tasks, payees and departments."""

from __future__ import annotations

import html
import re
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import asyncpg

from marketplace.settings import Settings
from tests.fakes.github import FakeGitHub
from tests.github_scene import HEAD, REPO, approve_on_github, awarded, good_pull, link
from tests.helpers import Api, csrf_of, form_post, sign_in
from tests.scenes import accepted_payment
from workers.verification import verify_delivery


async def deliver(client: Any, aid: int, url: str) -> Any:
    return await form_post(
        client, f"/auctions/{aid}/delivery", f"/auctions/{aid}/delivery", {"pull_request_url": url}
    )


def field_error(page: str) -> str:
    match = re.search(r'<p class="field-error" id="pull_request_url-error"[^>]*>([^<]+)</p>', page)
    assert match, "no error beside the pull request field"
    return html.unescape(match.group(1))


async def test_winner_delivers_and_sees_each_rule_with_its_evidence(
    gh_api: Api,
    db: asyncpg.Connection,
    pool: Any,
    gh_settings: Settings,
    fake_github: FakeGitHub,
    ctx: dict[str, Any],
) -> None:
    s = await awarded(gh_api, db, pool, gh_settings, fake_github, linked=False)
    aid, client = s.auction_id, gh_api.client
    page = f"/auctions/{aid}/delivery"
    await sign_in(client, s.winner)

    # Reached from the auction page and from my awards.
    r = await client.get(f"/auctions/{aid}")
    assert f'href="{page}"' in r.text and "Deliver your pull request" in r.text
    r = await client.get("/me/awards")
    assert f'href="{page}"' in r.text and "Deliver the work" in r.text

    r = await client.get(page)
    assert r.status_code == 200
    assert "Link your GitHub account before delivering" in r.text
    assert '<label for="pull_request_url">Pull request address</label>' in r.text
    assert "Nothing has been delivered yet." in r.text

    # Not linked yet: refused beside the field, and the button starts the OAuth flow.
    url = s.pr_url(fake_github)
    r = await deliver(client, aid, url)
    assert r.status_code == 409 and "Link your GitHub account first" in field_error(r.text)
    assert 'aria-invalid="true"' in r.text and f'value="{url}"' in r.text
    r = await form_post(client, page, "/me/github/link", {"back": page})
    assert r.status_code == 303
    target = urlsplit(r.headers["location"])
    assert f"{target.scheme}://{target.netloc}{target.path}" == (
        f"{fake_github.web_url}/login/oauth/authorize"
    )
    assert dict(parse_qsl(target.query))["client_id"] == fake_github.client_id
    assert (await link(gh_api, fake_github, s.winner, "ada")).status_code == 200
    r = await client.get(page)
    assert "Your linked GitHub account is <strong>@ada</strong>" in r.text

    # Bad addresses: plain words beside the field, nothing stored.
    r = await deliver(client, aid, "")
    assert r.status_code == 400 and "Paste the address of your pull request" in field_error(r.text)
    r = await deliver(client, aid, "https://gitlab.com/city-of-x/permits/pull/7")
    assert r.status_code == 422
    assert field_error(r.text).startswith("That is not the address of a pull request on")
    r = await deliver(client, aid, f"{fake_github.web_url}/{REPO}/issues/12")
    assert r.status_code == 422 and "not the address of a pull request" in field_error(r.text)
    r = await deliver(client, aid, s.pr_url(fake_github, repo="acme/other"))
    assert r.status_code == 422
    assert "the pull request is in acme/other; this auction's repository is city-of-x/permits" in (
        field_error(r.text).lower()
    )
    assert await db.fetchval("SELECT count(*) FROM deliveries") == 0

    # Delivered: the page shows it, verification is queued; a failing attempt shows why.
    awarded_at = await db.fetchval("SELECT awarded_at FROM awards WHERE auction_id = $1", aid)
    good_pull(fake_github, awarded_at)  # merged, but no check ran on its head commit
    r = await deliver(client, aid, url)
    assert r.status_code == 303 and r.headers["location"] == page
    r = await client.get(page)
    assert f"Pull request #7 on {REPO} is delivered" in r.text
    assert f'id="delivered-pr" href="{url}"' in r.text
    assert "Submitted: verification is running" in r.text
    assert "No verification has finished yet" in r.text
    delivery_id = await db.fetchval("SELECT id FROM deliveries WHERE auction_id = $1", aid)
    assert await verify_delivery(ctx, delivery_id) == "failed"  # no check ran: a verdict
    r = await client.get(page)
    assert "1 of 9 rules failed" in r.text
    failed = re.findall(r'<tr class="check fail" data-check="([a-z_]+)">', r.text)
    assert failed == ["checks_succeeded"]
    assert len(re.findall(r'<tr class="check pass"', r.text)) == 8
    assert "Its author is the winner&#39;s linked GitHub account" in r.text
    assert "<dt>author id</dt><dd>501</dd>" in r.text  # the evidence, as recorded
    assert re.search(r"checked <time [^>]*>[^<]+UTC</time>", r.text)
    assert await db.fetchval("SELECT status FROM auctions WHERE id = $1", aid) == "delivered"

    # The check passes on GitHub; the next attempt passes and the auction awaits review.
    fake_github.add_check_run(REPO, HEAD, "tests")
    await verify_delivery(ctx, delivery_id, "webhook")
    r = await client.get(page)
    assert r.text.count('class="card verification"') == 2
    newest = r.text.index('class="card verification"')
    assert '<span class="verdict pass">Passed</span>' in r.text[newest : newest + 400]
    assert "Verified: waiting for a reviewer" in r.text
    assert "it no longer takes a pull request" in r.text
    r = await deliver(client, aid, url)
    assert r.status_code == 409 and "not waiting for a delivery any more" in field_error(r.text)

    # Who may read it: the buyer yes, the losing bidder and anonymous visitors no.
    await sign_in(client, s.buyer)
    r = await client.get(page)
    assert r.status_code == 200 and 'id="delivery-form"' not in r.text
    assert 'data-check="checks_succeeded"' in r.text
    await sign_in(client, s.loser)
    assert (await client.get(page)).status_code == 403
    r = await form_post(client, f"/auctions/{aid}", page, {"pull_request_url": url})
    assert r.status_code == 303  # refused with a message on the auction page
    assert "Only the winner of this auction" in (await client.get(r.headers["location"])).text
    client.cookies.clear()
    r = await client.get(page, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/signin?next=")
    # Without the form's CSRF token nothing is taken.
    await sign_in(client, s.winner)
    r = await client.post(page, data={"pull_request_url": url}, follow_redirects=False)
    assert r.status_code == 403


async def test_github_link_without_oauth_configured_says_so(
    api: Api, client: Any, db: asyncpg.Connection
) -> None:
    vendor = await api.verified_vendor()
    await sign_in(client, vendor)
    r = await client.get("/me")
    assert 'id="github-account">not linked<' in r.text
    assert "Link your GitHub account" not in r.text  # no OAuth app: no button
    page = await client.get("/me")
    r = await client.post(
        "/me/github/link", data={"csrf_token": csrf_of(page.text), "back": "//evil.example"}
    )
    assert r.status_code == 200 and "GitHub linking is not set up here" in r.text


async def test_finance_list_names_the_task_payee_and_department(
    api: Api, client: Any, db: asyncpg.Connection, pool: Any
) -> None:
    s = await accepted_payment(api, db, pool)
    finance = await api.user("finance")
    await sign_in(client, finance)
    r = await client.get("/finance/payments")
    assert r.status_code == 200
    row = re.search(r'<tr id="payment-\d+">(.*?)</tr>', r.text, re.S)
    assert row
    title = await db.fetchval("SELECT title FROM auctions WHERE id = $1", s["auction_id"])
    department = await db.fetchval(
        "SELECT d.name FROM departments d JOIN auctions a ON a.department_id = d.id "
        "WHERE a.id = $1",
        s["auction_id"],
    )
    payee = await db.fetchval(
        "SELECT name FROM users u JOIN payments p ON p.payee_id = u.id WHERE p.auction_id = $1",
        s["auction_id"],
    )
    assert f">{title}</a>" in row.group(1) and department in row.group(1)
    assert f"<td>{payee}</td>" in row.group(1)
    assert f">Auction {s['auction_id']}<" not in row.group(1)


async def test_sign_in_with_github_gives_the_browser_a_session(
    gh_api: Api, fake_github: FakeGitHub, db: asyncpg.Connection
) -> None:
    fake_github.add_user("grace", id=777, email=None, name="Grace Hopper")
    client = gh_api.client
    r = await client.get("/signin")
    assert 'href="/auth/github/login"' in r.text
    r = await client.get("/auth/github/login", follow_redirects=False)
    assert r.status_code == 302
    params = await approve_on_github(fake_github, r.headers["location"], "grace")
    browser = {"Accept": "text/html,application/xhtml+xml"}
    r = await client.get(
        "/auth/github/callback", params=params, headers=browser, follow_redirects=False
    )
    assert r.status_code == 303, r.text
    handoff = r.headers["location"]
    assert handoff.startswith("/signin/github?handoff=") and "mp_" not in handoff
    r = await client.get(handoff)
    assert r.status_code == 200 and "Signed in with GitHub as Grace Hopper." in r.text
    r = await client.get("/me")
    assert r.status_code == 200 and 'id="github-account">@grace<' in r.text
    # The hand-off works once: a replayed or made-up one signs nobody in.
    client.cookies.clear()
    for attempt in (handoff, "/signin/github?handoff=made-up", "/signin/github"):
        r = await client.get(attempt)
        assert r.status_code == 400 and "expired or was already used" in r.text
    assert (await client.get("/me", follow_redirects=False)).status_code == 303
    assert await db.fetchval("SELECT count(*) FROM users WHERE github_id = 777") == 1
