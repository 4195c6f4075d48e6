"""GitHub App mode against the fake GitHub (DESIGN §5): installation lookup, installation
tokens minted, refreshed before expiry and minted again when refused, a missed webhook
repaired through GitHub's delivery log, the buyer told when the App cannot read an
auction's repository; and the same delivery path in token mode with a repository webhook."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from marketplace.github.client import GithubClient
from marketplace.sandbox.github_app import FakeApp
from marketplace.settings import Settings, load_settings
from tests.fakes.github import FakeGitHub
from tests.github_scene import PUBLIC, REPO, REPO_ID, WEBHOOK_SECRET, WINNER_LOGIN, awarded, submit
from tests.helpers import Api, deliver_events, published_auction, served
from workers.github import github_event_received
from workers.github_app import github_app_once
from workers.verification import verify_delivery

APP_ID = 4711
HEAD = "b" * 40


@pytest.fixture(scope="module")
def app_key() -> tuple[str, bytes]:
    """A fresh RSA key for the test App (never a committed one): private PEM, public PEM."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, public


@pytest.fixture
def fake_app(fake_github: FakeGitHub, app_key: tuple[str, bytes]) -> Iterator[FakeApp]:
    yield FakeApp(fake_github, APP_ID, app_key[1])


@pytest.fixture
def gh_settings(
    settings: Settings, fake_github: FakeGitHub, app_key: tuple[str, bytes], tmp_path: Path
) -> Settings:
    """App mode, configured through the environment as an operator would."""
    key_file = tmp_path / "app.pem"
    key_file.write_text(app_key[0])
    from_env = load_settings(
        {
            "MARKETPLACE_GITHUB_APP_ID": str(APP_ID),
            "MARKETPLACE_GITHUB_APP_PRIVATE_KEY_FILE": str(key_file),
        }
    )
    assert from_env.github_app_mode
    return msgspec.structs.replace(
        settings,
        public_url=PUBLIC,
        secret_key="test-secret-key-for-oauth-states",
        github_api_url=fake_github.api_url,
        github_url=fake_github.web_url,
        github_client_id=fake_github.client_id,
        github_client_secret=fake_github.client_secret,
        github_webhook_secret=WEBHOOK_SECRET,
        github_app_id=from_env.github_app_id,
        github_app_private_key_file=from_env.github_app_private_key_file,
    )


@pytest.fixture
def every_log_line() -> Iterator[list[str]]:
    """Every log record of the test, at every level, as formatted text (with arguments)."""
    lines: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(self.format(record))

    handler, root, pygithub = Keep(logging.DEBUG), logging.getLogger(), logging.getLogger("github")
    previous = root.level, pygithub.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    pygithub.setLevel(logging.DEBUG)  # PyGithub's own request lines too
    try:
        yield lines
    finally:
        root.removeHandler(handler)
        root.setLevel(previous[0])
        pygithub.setLevel(previous[1])


@pytest.fixture
async def ctx(pool: Any, gh_settings: Settings, redis: Any) -> AsyncIterator[dict[str, Any]]:
    """A worker context as workers/main.py builds it; one client for every step, so its
    token cache lives across them as in one worker process."""
    client = GithubClient.from_settings(msgspec.structs.replace(gh_settings, github_retries=0))
    assert client.mode == "app"
    yield {"pool": pool, "settings": gh_settings, "redis_client": redis, "github": client}
    client.close()


def tokens_on_repo_reads(fake: FakeGitHub, since: int = 0) -> list[str]:
    """The Authorization of each read of a repository (not the App's own requests)."""
    return [
        r.headers.get("authorization", "")
        for r in fake.requests[since:]
        if ("/repos/" in r.path or "/repositories/" in r.path)
        and not r.path.endswith("/installation")
        and "/hooks/" not in r.path
    ]


def pull_request_event(installation_id: int | None) -> dict[str, Any]:
    event: dict[str, Any] = {
        "action": "closed",
        "number": 7,
        "pull_request": {"number": 7, "head": {"sha": HEAD}, "merged": True},
        "repository": {"id": REPO_ID, "full_name": REPO},
    }
    if installation_id is not None:
        event["installation"] = {"id": installation_id}
    return event


async def test_app_mode_delivery_path_with_a_missed_webhook_repaired(
    gh_api: Api,
    db: Any,
    pool: Any,
    gh_settings: Settings,
    fake_github: FakeGitHub,
    fake_app: FakeApp,
    ctx: dict[str, Any],
    every_log_line: list[str],
) -> None:
    s = await awarded(gh_api, db, pool, gh_settings, fake_github)
    installation = fake_app.install("city-of-x", REPO)
    fake_github.add_pull(
        REPO, 7, author=WINNER_LOGIN, title="Fix dates", body="Fixes #12", head_sha=HEAD
    )
    fake_github.add_check_run(REPO, HEAD, "tests")
    r = await submit(gh_api, s.winner, s.auction_id, s.pr_url(fake_github))
    assert r.status_code == 201, r.text
    delivery_id = r.json()["id"]

    # Installation lookup, then one token for every read of the installation's repository.
    assert await verify_delivery(ctx, delivery_id, "submission") == "failed"  # not merged
    lookups = fake_github.api_requests(f"/repos/{REPO}/installation")
    assert [r.status for r in lookups] == [200]
    assert lookups[0].headers["authorization"].startswith("Bearer ey")  # the App's JWT
    assert len(fake_app.minted) == 1
    token = fake_app.minted[0][1]
    reads = tokens_on_repo_reads(fake_github)
    assert len(reads) >= 4 and set(reads) == {f"token {token}"}

    # A token GitHub refuses (revoked) is minted again, once, and the reads succeed.
    fake_app.revoke_tokens()
    mark = len(fake_github.requests)
    assert await verify_delivery(ctx, delivery_id, "recheck") == "unchanged"
    assert 401 in {r.status for r in fake_github.requests[mark:]}
    assert len(fake_app.minted) == 2

    # A token closer to its expiry than the refresh margin (5 minutes) is replaced before it
    # is used: with tokens living 2 minutes, every read goes out with one minted for it, and
    # GitHub never sees an expired one.
    fake_app.token_lifetime = 120
    ctx["github"].installations.forget_token(installation.id, None)
    mark = len(fake_github.requests)
    minted_before = len(fake_app.minted)
    assert await verify_delivery(ctx, delivery_id, "recheck") == "unchanged"
    assert 401 not in {r.status for r in fake_github.requests[mark:]}
    reads = tokens_on_repo_reads(fake_github, mark)
    assert len(reads) >= 3 and len(set(reads)) == len(reads)
    assert len(fake_app.minted) - minted_before == len(reads)
    fake_app.token_lifetime = 3600

    # The PR is merged; GitHub's webhook never reaches us (the hook's URL fails).
    awarded_at = await db.fetchval(
        "SELECT awarded_at FROM awards WHERE auction_id = $1", s.auction_id
    )
    fake_github.update_pull(
        REPO, 7, merged_at=awarded_at + dt.timedelta(seconds=1), merged_by="bob"
    )
    missed = fake_app.deliver("pull_request", pull_request_event(installation.id))
    assert missed.status_code == 0
    assert await db.fetchval("SELECT count(*) FROM github_events") == 0

    # The repair round finds the guid with no successful attempt and asks a redelivery,
    # which reaches the receiver under the same X-GitHub-Delivery.
    async with served(gh_settings) as base:
        fake_app.hook.url = f"{base}/api/github/webhook"
        fake_app.hook.secret = WEBHOOK_SECRET
        repaired = await github_app_once(ctx)
        assert (repaired.asked, repaired.given_up) == (1, 0)
        assert fake_app.hook.redeliveries_asked == [missed.id]
        listing = fake_github.api_requests("/app/hook/deliveries")
        assert listing[0].method == "GET" and listing[0].headers["authorization"].startswith(
            "Bearer ey"
        )
        stored = await db.fetchrow(
            "SELECT event, enqueued_at FROM github_events WHERE delivery_id = $1",
            missed.guid,
        )
        assert stored is not None and stored["event"] == "pull_request"

        # The stored webhook triggers verification, which passes.
        job = await github_event_received(ctx, missed.guid)
        assert job is not None and job["verifications"] == [delivery_id]
        assert await verify_delivery(ctx, delivery_id, "webhook:pull_request") == "verified"
        assert (
            await db.fetchval("SELECT status FROM auctions WHERE id = $1", s.auction_id)
            == "pending_review"
        )

        # Nothing left to repair: the redelivered attempt succeeded.
        again = await github_app_once(ctx)
        assert (again.asked, again.given_up) == (0, 0)
        async with httpx.AsyncClient() as http:
            metrics = (await http.get(f"{base}/metrics")).text
    assert "marketplace_github_redeliveries_asked_total 1" in metrics
    assert "marketplace_github_webhooks_given_up_total 0" in metrics
    # No installation token (nor the App's key) reached a log line, at any level.
    assert every_log_line
    assert any("(unknown auth removed)" in line for line in every_log_line), every_log_line[:5]
    secrets = [t for _, t in fake_app.minted] + [gh_settings_key(gh_settings)]
    assert not [line for line in every_log_line if any(x in line for x in secrets)]
    assert token not in repr(ctx["github"].installations)


def gh_settings_key(settings: Settings) -> str:
    assert settings.github_app_private_key_file is not None
    body = settings.github_app_private_key_file.read_text().splitlines()
    return body[1]  # a line of the key itself


def signed(payload: dict[str, Any], event: str) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(payload).encode()
    digest = hmac.new(WEBHOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()
    return body, {
        "Content-Type": "application/json",
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": str(uuid.uuid4()),
        "X-Hub-Signature-256": f"sha256={digest}",
    }


async def webhook(api: Api, ctx: dict[str, Any], event: str, payload: dict[str, Any]) -> None:
    body, headers = signed(payload, event)
    r = await api.client.post("/api/github/webhook", content=body, headers=headers)
    assert r.status_code == 202, r.text
    await github_event_received(ctx, headers["X-GitHub-Delivery"])


async def notices(api: Api, user: Any) -> list[str]:
    r = await api.client.get("/api/me/notifications", headers=user.headers)
    assert r.status_code == 200, r.text
    return [n["subject"] + "\n" + n["body"] for n in r.json()["items"]]


async def test_buyer_told_when_the_app_cannot_read_the_repository(
    gh_api: Api,
    db: Any,
    pool: Any,
    gh_settings: Settings,
    fake_github: FakeGitHub,
    fake_app: FakeApp,
    ctx: dict[str, Any],
) -> None:
    fake_github.add_repo(REPO, id=REPO_ID)
    dept = await gh_api.department()
    buyer = await gh_api.buyer(dept)
    aid = (await published_auction(gh_api, buyer, repo=REPO))["id"]

    # Published on a repository the App is not installed on: the buyer hears so, once.
    await github_app_once(ctx)
    await github_app_once(ctx)
    lost = await db.fetch(
        "SELECT payload FROM outbox WHERE type = 'auction.github_access_lost' ORDER BY id"
    )
    assert [msgspec.json.decode(r["payload"])["reason"] for r in lost] == ["not_installed"]
    await deliver_events(pool, gh_settings)
    [notice] = [n for n in await notices(gh_api, buyer) if "GitHub App" in n]
    assert f"not installed on {REPO}" in notice and f"/auctions/{aid}" in notice

    # An owner installs it (the installation_repositories webhook says so) ...
    installation = fake_app.install("city-of-x", REPO)
    repo = {"id": REPO_ID, "full_name": REPO, "name": "permits", "private": False}
    await webhook(
        gh_api,
        ctx,
        "installation_repositories",
        {
            "action": "added",
            "installation": {"id": installation.id},
            "repository_selection": "selected",
            "repositories_added": [repo],
            "repositories_removed": [],
        },
    )
    access = await db.fetchrow("SELECT * FROM auction_github_access WHERE auction_id = $1", aid)
    assert (access["state"], access["installation_id"]) == ("installed", installation.id)

    # ... and later removes the repository: the buyer is told it was lost.
    fake_app.remove_repos(installation.id, REPO)
    await webhook(
        gh_api,
        ctx,
        "installation_repositories",
        {
            "action": "removed",
            "installation": {"id": installation.id},
            "repository_selection": "selected",
            "repositories_added": [],
            "repositories_removed": [repo],
        },
    )
    reasons = [
        msgspec.json.decode(r["payload"])["reason"]
        for r in await db.fetch(
            "SELECT payload FROM outbox WHERE type = 'auction.github_access_lost' ORDER BY id"
        )
    ]
    assert reasons == ["not_installed", "removed"]
    await deliver_events(pool, gh_settings)
    assert any("lost access" in n for n in await notices(gh_api, buyer))

    # Added back, then the whole App uninstalled (its payload need not list repositories).
    added = {
        "action": "added",
        "installation": {"id": installation.id},
        "repositories_added": [repo],
        "repositories_removed": [],
    }
    await webhook(gh_api, ctx, "installation_repositories", added)
    await webhook(gh_api, ctx, "installation_repositories", added)  # no news: no notice
    await webhook(
        gh_api, ctx, "installation", {"action": "deleted", "installation": {"id": installation.id}}
    )
    reasons = [
        msgspec.json.decode(r["payload"])["reason"]
        for r in await db.fetch(
            "SELECT payload FROM outbox WHERE type = 'auction.github_access_lost' ORDER BY id"
        )
    ]
    assert reasons == ["not_installed", "removed", "removed"]

    # A read with an installation token of a repository outside the installation: 404.
    other = fake_app.install("someone-else")
    fake_github.add_repo("someone-else/tool", id=9999)
    fake_app.installations[other.id].repo_ids.add(9999)
    client: GithubClient = ctx["github"]
    from marketplace.github.client import GithubNotInstalled

    with pytest.raises(GithubNotInstalled):
        await client.repository(REPO)
    assert (await client.repository("someone-else/tool")).id == 9999
    [other_token] = [token for owner, token in fake_app.minted if owner == other.id]
    async with httpx.AsyncClient() as http:
        auth = {"Authorization": f"token {other_token}"}
        outside = await http.get(f"{fake_github.api_url}/repos/{REPO}", headers=auth)
        inside = await http.get(f"{fake_github.api_url}/repos/someone-else/tool", headers=auth)
        by_id = await http.get(f"{fake_github.api_url}/repositories/{REPO_ID}", headers=auth)
    assert (outside.status_code, inside.status_code, by_id.status_code) == (404, 200, 404)


async def test_token_mode_repository_hook_repair_gives_up_after_n_asks(
    gh_api: Api,
    db: Any,
    pool: Any,
    gh_settings: Settings,
    fake_github: FakeGitHub,
    fake_app: FakeApp,
    redis: Any,
) -> None:
    """Token mode: a repository webhook's log (MARKETPLACE_GITHUB_HOOK_ID/_REPO) is repaired
    the same way; a guid whose redeliveries keep failing is asked at most N times, then
    given up; an attempt older than GitHub's three days is never asked."""
    fake_github.add_repo(REPO, id=REPO_ID)
    settings = msgspec.structs.replace(
        gh_settings,
        github_app_id=None,
        github_app_private_key_file=None,
        github_token="worker-token",
        github_hook_id=77,
        github_hook_repo=REPO,
        github_redelivery_attempts=2,
    )
    client = GithubClient.from_settings(msgspec.structs.replace(settings, github_retries=0))
    assert client.mode == "token"
    ctx = {"pool": pool, "settings": settings, "redis_client": redis, "github": client}
    hook = fake_app.repo_hook(REPO, 77)  # its URL unset: every attempt fails
    try:
        stale = fake_app.deliver(
            "status", {"sha": HEAD}, hook=hook, at=dt.datetime.now(dt.UTC) - dt.timedelta(days=4)
        )
        missed = fake_app.deliver("pull_request", pull_request_event(None), hook=hook)
        rounds = [await github_app_once(ctx) for _ in range(4)]
        assert [(r.asked, r.given_up) for r in rounds] == [(1, 0), (1, 0), (0, 1), (0, 0)]
        assert hook.redeliveries_asked[0] == missed.id and stale.id not in hook.redeliveries_asked
        assert len(hook.redeliveries_asked) == 2
        listing = fake_github.api_requests(f"/repos/{REPO}/hooks/77/deliveries")
        assert listing and listing[0].headers["authorization"] == "token worker-token"
        row = await db.fetchrow(
            "SELECT asked, gave_up_at FROM github_redeliveries WHERE guid = $1", missed.guid
        )
        assert row["asked"] == 2 and row["gave_up_at"] is not None
    finally:
        client.close()


async def test_delivery_log_is_read_page_by_page(
    pool: Any,
    gh_settings: Settings,
    fake_github: FakeGitHub,
    fake_app: FakeApp,
    ctx: dict[str, Any],
) -> None:
    """More failed attempts than a page holds: the scan follows GitHub's Link header."""
    fake_github.add_repo(REPO, id=REPO_ID)
    for _ in range(130):
        fake_app.deliver("ping", {"zen": "Keep it logically awesome."})
    repaired = await github_app_once(ctx)
    assert repaired.scanned == 130 and repaired.asked == 130
    pages = fake_github.api_requests("/app/hook/deliveries")
    assert len([r for r in pages if r.method == "GET"]) == 2
    assert "cursor" in pages[-1].query or any("cursor" in r.query for r in pages)


def test_app_settings_come_together(tmp_path: Path) -> None:
    from marketplace.settings import SettingsError

    with pytest.raises(SettingsError, match="go together"):
        load_settings({"MARKETPLACE_GITHUB_APP_ID": "1"})
    with pytest.raises(SettingsError, match="no file"):
        load_settings(
            {
                "MARKETPLACE_GITHUB_APP_ID": "1",
                "MARKETPLACE_GITHUB_APP_PRIVATE_KEY_FILE": str(tmp_path / "missing.pem"),
            }
        )
    with pytest.raises(SettingsError, match="GITHUB_HOOK_REPO"):
        load_settings({"MARKETPLACE_GITHUB_HOOK_ID": "12"})


async def test_github_check_reports_mode_rate_limit_and_app_access(
    gh_settings: Settings, fake_github: FakeGitHub, fake_app: FakeApp
) -> None:
    from marketplace.github.diagnose import describe

    fake_github.add_repo(REPO, id=REPO_ID)
    fake_github.add_repo("elsewhere/tool", id=31337)
    fake_github.add_pull(REPO, 7, author=WINNER_LOGIN, head_sha=HEAD)
    fake_app.install("city-of-x", REPO, id=55)
    lines = await describe(gh_settings, f"{fake_github.web_url}/{REPO}")
    text = "\n".join(lines)
    assert "mode:          GitHub App (installation tokens)" in text
    assert "app access:    installed (installation 55)" in text
    assert f"repository:    {REPO} (id {REPO_ID})" in text and "readable:      yes" in text
    assert "rate limit:    " in text and " of 5000 left" in text
    text = "\n".join(await describe(gh_settings, f"{fake_github.web_url}/{REPO}/pull/7"))
    assert "app access:    installed" in text and f"/{REPO}/pull/7" in text
    text = "\n".join(await describe(gh_settings, f"{fake_github.web_url}/elsewhere/tool"))
    assert "app access:    NO: " in text and "not installed on elsewhere/tool" in text
    token_mode = msgspec.structs.replace(
        gh_settings, github_app_id=None, github_app_private_key_file=None, github_token="t"
    )
    text = "\n".join(await describe(token_mode, f"{fake_github.web_url}/elsewhere/tool"))
    assert "mode:          token" in text and "app access" not in text


async def test_token_mode_delivery_path_with_a_missed_webhook_repaired(
    gh_api: Api,
    db: Any,
    pool: Any,
    gh_settings: Settings,
    fake_github: FakeGitHub,
    fake_app: FakeApp,
    redis: Any,
) -> None:
    """The same path with a personal token and a repository webhook: no installation, no
    App JWT; the missed webhook repaired through the repository hook's delivery log."""
    settings = msgspec.structs.replace(
        gh_settings,
        github_app_id=None,
        github_app_private_key_file=None,
        github_token="worker-token",
        github_hook_id=78,
        github_hook_repo=REPO,
    )
    client = GithubClient.from_settings(msgspec.structs.replace(settings, github_retries=0))
    ctx = {"pool": pool, "settings": settings, "redis_client": redis, "github": client}
    try:
        s = await awarded(gh_api, db, pool, settings, fake_github)
        fake_github.add_pull(REPO, 7, author=WINNER_LOGIN, body="Fixes #12", head_sha=HEAD)
        fake_github.add_status(REPO, HEAD, "ci/build")
        r = await submit(gh_api, s.winner, s.auction_id, s.pr_url(fake_github))
        assert r.status_code == 201, r.text
        delivery_id = r.json()["id"]
        assert await verify_delivery(ctx, delivery_id, "submission") == "failed"
        reads = tokens_on_repo_reads(fake_github)
        assert reads and set(reads) == {"token worker-token"}
        assert not fake_github.api_requests("/installation") and not fake_app.minted

        awarded_at = await db.fetchval(
            "SELECT awarded_at FROM awards WHERE auction_id = $1", s.auction_id
        )
        fake_github.update_pull(
            REPO, 7, merged_at=awarded_at + dt.timedelta(seconds=1), merged_by="bob"
        )
        hook = fake_app.repo_hook(REPO, 78)
        missed = fake_app.deliver("pull_request", pull_request_event(None), hook=hook)
        async with served(settings) as base:
            hook.url, hook.secret = f"{base}/api/github/webhook", WEBHOOK_SECRET
            repaired = await github_app_once(ctx)
            assert (repaired.asked, repaired.given_up) == (1, 0)
            assert [d.status for d in hook.deliveries] == ["failed to connect to host", "OK"]
        job = await github_event_received(ctx, missed.guid)
        assert job is not None and job["verifications"] == [delivery_id]
        assert await verify_delivery(ctx, delivery_id, "webhook:pull_request") == "verified"
        assert (
            await db.fetchval("SELECT status FROM auctions WHERE id = $1", s.auction_id)
            == "pending_review"
        )
        assert not fake_app.minted  # token mode never asked for an installation token
    finally:
        client.close()
