"""`up --demo`: the GitHub sandbox, and every auction state seeded through the services and a
real worker against it."""

from __future__ import annotations

import urllib.request
from typing import Any

import httpx
import msgspec
import pytest

from marketplace.cli import _demo_sandbox
from marketplace.demo import Demo, report, seed
from marketplace.demo_scenes import VENDOR_LOGIN, sandbox_settings
from marketplace.sandbox.server import Sandbox
from marketplace.settings import Settings
from tests.demo_scene import sandbox, worker

__all__ = ["sandbox", "worker"]  # the fixtures


@pytest.fixture
def settings(settings: Settings, sandbox: Sandbox) -> Settings:
    """The served app and the worker point at the sandbox, as `up --demo` sets them."""
    return msgspec.structs.replace(
        sandbox_settings(settings, sandbox), secret_key="demo-test-secret-key-0123456789"
    )


@pytest.fixture
async def demo(settings: Settings, sandbox: Sandbox, worker: None) -> Demo:
    assert settings.database_url and settings.redis_url
    return await seed(settings, settings.database_url, settings.redis_url, sandbox)


def test_the_sandbox_starts_for_up_demo_only_and_on_loopback_only() -> None:
    with _demo_sandbox(Settings(), demo=False) as none:
        assert none is None
    configured = Settings(github_api_url="https://github.example.gov/api/v3")
    with _demo_sandbox(configured, demo=True) as none:
        assert none is None
    with _demo_sandbox(Settings(), demo=True) as sandbox:
        assert sandbox is not None
        assert sandbox.web_url.startswith("http://127.0.0.1:")
        assert sandbox._server.server_address[0] == "127.0.0.1"
        env = sandbox.environment()
        assert env["MARKETPLACE_GITHUB_API_URL"] == sandbox.api_url
        assert env["MARKETPLACE_GITHUB_SANDBOX"] == "1"
        with urllib.request.urlopen(sandbox.web_url + "/") as page:
            assert b"GitHub sandbox" in page.read()


async def test_every_state_is_seeded_once_and_every_persona_signs_in(
    demo: Demo, settings: Settings, db: Any, client: Any, sandbox: Sandbox, worker: None
) -> None:
    statuses = dict(await db.fetch("SELECT status, count(*) FROM auctions GROUP BY status"))
    for status in (
        "draft",
        "scheduled",
        "open",
        "awarded",
        "delivered",
        "pending_review",
        "accepted",
        "paid",
        "payment_confirmed",
        "closed_no_bids",
        "cancelled",
    ):
        assert statuses.get(status, 0) >= 1, (status, statuses)
    assert await db.fetchval(
        "SELECT count(*) FROM auctions WHERE type = 'sealed' AND status = 'open'"
    )
    # Delivered with a failing check; payments on hold, disputed, released, confirmed.
    assert await db.fetchval(
        """SELECT count(*) FROM verifications v JOIN auctions a ON a.id = v.auction_id
           WHERE a.status = 'delivered' AND NOT v.passed"""
    )
    payments = dict(await db.fetch("SELECT status, count(*) FROM payments GROUP BY status"))
    assert payments.get("pending", 0) >= 1 and payments.get("confirmed", 0) >= 1, payments
    assert payments.get("released", 0) >= 1, payments
    assert await db.fetchval("SELECT count(*) FROM disputes WHERE status = 'open'") == 1
    assert await db.fetchval(
        "SELECT count(*) FROM payments WHERE status = 'pending' AND release_after > now() + interval '1 hour'"
    )
    # Missed delivery, then re-awarded: the auction is awarded again, to the runner-up.
    reawarded = await db.fetchrow(
        """SELECT a.status, count(*) AS rounds FROM awards w JOIN auctions a ON a.id = w.auction_id
           GROUP BY a.id HAVING count(*) > 1"""
    )
    assert reawarded is not None and reawarded["status"] == "awarded"
    actions = {
        r["action"]
        for r in await db.fetch("SELECT action FROM audit_log WHERE action LIKE 'auction.%'")
    }
    assert {"auction.missed_delivery", "auction.reawarded", "auction.cancelled"} <= actions

    # One persona per department's buyer, and the vendor, reviewer, finance, auditor, admin.
    personas = [(p.role, p.persona) for p in demo.personas]
    assert [r for r, _ in personas].count("buyer") == 4
    assert {r for r, _ in personas} == {
        "buyer",
        "vendor",
        "reviewer",
        "finance",
        "auditor",
        "admin",
    }
    for p in demo.personas:
        r = await client.get("/api/me", headers={"Authorization": f"Bearer {p.token}"})
        assert r.status_code == 200 and p.role in r.json()["roles"], r.text
    me = await client.get(
        "/api/me", headers={"Authorization": f"Bearer {demo.tokens['vendor'][1]}"}
    )
    assert me.json()["github"]["login"] == VENDOR_LOGIN
    # The walk's pull request is in the sandbox, merged, not yet delivered.
    assert demo.walk is not None and demo.walk.pull_request_url.startswith(sandbox.web_url)
    text = report(demo, "http://127.0.0.1:8000")
    for p in demo.personas:
        assert p.token in text and p.persona in text
    assert demo.walk.pull_request_url in text

    # `up --demo` again (a new, empty sandbox): nothing is added, every state stays, and the
    # walk's pull request is in the new sandbox.
    assert settings.database_url and settings.redis_url
    with Sandbox() as restarted:
        again = await seed(settings, settings.database_url, settings.redis_url, restarted)
        assert again.walk is not None
        assert again.walk.pull_request_url.startswith(restarted.web_url)
        async with httpx.AsyncClient() as http:
            page = await http.get(again.walk.pull_request_url)
        assert page.status_code == 200 and "merged by @transit-maint" in page.text
    assert not any(again.added.values()), again.added
    assert dict(await db.fetch("SELECT status, count(*) FROM auctions GROUP BY status")) == statuses


async def test_every_page_says_demo_github_sandbox_only_while_it_runs(
    demo: Demo, settings: Settings, client: Any
) -> None:
    for path in ("/", "/signin", "/awards", "/auctions/999999"):
        page = await client.get(path)
        assert "Demo: GitHub sandbox" in page.text, path
    from litestar.testing import AsyncTestClient

    from marketplace.app import create_app

    plain = msgspec.structs.replace(settings, github_sandbox=False)
    assert plain.database_url and plain.redis_url
    async with AsyncTestClient(app=create_app(plain, plain.database_url, plain.redis_url)) as c:
        assert "Demo: GitHub sandbox" not in (await c.get("/")).text
