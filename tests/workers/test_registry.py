"""The vendor registry check (MARKETPLACE_REGISTRY_URL) against a local fake registry."""

from __future__ import annotations

import json
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any

import asyncpg
import msgspec
import pytest
from litestar.testing import AsyncTestClient

from marketplace.accounts import registry
from marketplace.settings import Settings
from tests.helpers import (
    Api,
    User,
    eventually,
    http_on_loopback,
    running,
    running_relays_forever,
    worker_ctx,
)
from workers.consumers import registry_consumer


class FakeRegistry:
    """SAM.gov-like: GET /entities/{id} answers the scripted (status, body) list in turn,
    the last one for ever after; unknown ids get 404."""

    def __init__(self) -> None:
        self.answers: dict[str, list[tuple[int, dict[str, Any] | None]]] = {}
        self.requests: list[str] = []
        self.url = ""

    def entity(self, registry_id: str, status: str, name: str = "Acme LLC") -> None:
        body = {"registry_id": registry_id, "status": status, "name": name, "kind": "business"}
        self.answers.setdefault(registry_id, []).append((200, body))

    def error(self, registry_id: str, status: int) -> None:
        self.answers.setdefault(registry_id, []).append((status, None))

    def answer(self, path: str) -> tuple[int, bytes]:
        self.requests.append(path)
        registry_id = path.removeprefix("/entities/")
        script = self.answers.get(registry_id)
        if not path.startswith("/entities/") or not script:
            return 404, b'{"error": "not found"}'
        status, body = script.pop(0) if len(script) > 1 else script[0]
        return status, json.dumps(body or {"error": "unavailable"}).encode()


@pytest.fixture
def fake_registry() -> Iterator[FakeRegistry]:
    fake = FakeRegistry()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status, body = fake.answer(self.path)
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: Any) -> None:
            pass

    with http_on_loopback(Handler) as port:
        fake.url = f"http://127.0.0.1:{port}"
        yield fake


async def ask(client: AsyncTestClient[Any], vendor: User, registry_id: str) -> None:
    r = await client.post(
        "/api/me/verification",
        json={"kind": "business", "registry_id": registry_id},
        headers=vendor.headers,
    )
    assert r.status_code == 201, r.text
    assert r.json()["verification_status"] == "pending"


async def test_registry_verifies_active_rejects_excluded_and_unknown_and_retries_errors(
    api: Api,
    settings: Settings,
    client: AsyncTestClient[Any],
    db: asyncpg.Connection,
    fake_registry: FakeRegistry,
) -> None:
    fake_registry.entity("ACT-1", "active", name="Active Co")
    fake_registry.entity("EXC-1", "excluded", name="Excluded Co")
    fake_registry.error("FLAKY-1", 503)
    fake_registry.error("FLAKY-1", 503)
    fake_registry.entity("FLAKY-1", "active", name="Flaky Co")
    vendors = {rid: await api.user("vendor") for rid in ("ACT-1", "EXC-1", "FLAKY-1", "NOPE-1")}
    for rid, vendor in vendors.items():
        await ask(client, vendor, rid)
    with_registry = msgspec.structs.replace(settings, registry_url=fake_registry.url)
    async with worker_ctx(with_registry) as ctx:
        consumer = registry_consumer(ctx, block_ms=100)
        checker = registry.RegistryChecker(
            ctx["pool"], fake_registry.url, base_delay=0.05, poll_seconds=0.05, timeout=5
        )
        async with running(
            lambda: running_relays_forever(ctx), consumer.run_forever, checker.run_forever
        ):

            async def decided() -> Any:
                found = {}
                for rid, vendor in vendors.items():
                    me = (await client.get("/api/me", headers=vendor.headers)).json()
                    if me["verification_status"] == "pending":
                        return None
                    found[rid] = me
                return found

            users = await eventually(decided, "every registry check decided")

            # The decision commits before the checker marks its check done: wait for both
            # while the checker still runs.
            async def checks_done() -> Any:
                rows = await db.fetch(
                    "SELECT status, attempts, outcome FROM registry_checks ORDER BY id"
                )
                return rows if all(r["status"] == "done" for r in rows) else None

            await eventually(checks_done, "every registry check marked done")
    assert users["ACT-1"]["verification_status"] == "verified"
    assert "ACT-1 (Active Co) is active" in users["ACT-1"]["verification_reason"]
    assert users["EXC-1"]["verification_status"] == "rejected"
    assert "excluded" in users["EXC-1"]["verification_reason"]
    assert users["NOPE-1"]["verification_status"] == "rejected"
    assert "not found" in users["NOPE-1"]["verification_reason"]
    # Two 503s decided nothing; the third answer verified.
    assert users["FLAKY-1"]["verification_status"] == "verified"
    assert fake_registry.requests.count("/entities/FLAKY-1") == 3
    assert fake_registry.requests.count("/entities/ACT-1") == 1
    rows = await db.fetch(
        "SELECT data FROM audit_log WHERE data LIKE '%vendor.verification_decided%'"
    )
    decisions = [json.loads(r["data"]) for r in rows]
    assert len(decisions) == 4
    assert all(d["role"] == "system" and d["actor_id"] is None for d in decisions)
    checks = await db.fetch("SELECT status, attempts, outcome FROM registry_checks ORDER BY id")
    assert [c["status"] for c in checks] == ["done"] * 4
    assert sorted(c["attempts"] for c in checks) == [1, 1, 1, 3]


async def test_an_admin_decision_first_leaves_the_registry_check_nothing_to_do(
    api: Api,
    settings: Settings,
    client: AsyncTestClient[Any],
    db: asyncpg.Connection,
    fake_registry: FakeRegistry,
) -> None:
    fake_registry.entity("EXC-2", "excluded")
    vendor = await api.user("vendor")
    await ask(client, vendor, "EXC-2")
    r = await client.post(
        f"/api/vendors/{vendor.id}/verification",
        json={"status": "verified", "reason": "checked by hand"},
        headers=api.admin.headers,
    )
    assert r.status_code == 201, r.text
    async with worker_ctx(settings) as ctx:
        consumer = registry_consumer(ctx, block_ms=100)
        checker = registry.RegistryChecker(ctx["pool"], fake_registry.url, poll_seconds=0.05)
        async with running(
            lambda: running_relays_forever(ctx), consumer.run_forever, checker.run_forever
        ):

            async def done() -> Any:
                return await db.fetchval(
                    "SELECT outcome FROM registry_checks WHERE status = 'done'"
                )

            outcome = await eventually(done, "the check finished")
    assert outcome.startswith("skipped")
    me = (await client.get("/api/me", headers=vendor.headers)).json()
    assert me["verification_status"] == "verified"
    assert me["verification_reason"] == "checked by hand"
    assert fake_registry.requests == []
