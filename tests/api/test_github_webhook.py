"""The GitHub webhook receiver: signatures, storing each delivery once, and the queued job."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from typing import Any

import msgspec
import pytest
from litestar.testing import AsyncTestClient

from marketplace.app import create_app
from marketplace.db import create_pool
from marketplace.redis import ARQ_QUEUE
from marketplace.settings import Settings
from workers.github import github_event_received
from workers.main import build_worker

SECRET = "webhook-secret-for-tests"

PULL_REQUEST = {
    "action": "closed",
    "number": 7,
    "pull_request": {
        "number": 7,
        "merged": True,
        "head": {"sha": "a" * 40, "ref": "fix"},
        "user": {"id": 501, "login": "ada"},
    },
    "repository": {"id": 4242, "full_name": "acme/site"},
    "sender": {"id": 502, "login": "bob"},
}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The receiver's secret: conftest's ``client`` is built from these settings."""
    return msgspec.structs.replace(settings, github_webhook_secret=SECRET)


def signed(body: bytes, event: str, delivery: str, secret: str = SECRET) -> dict[str, str]:
    signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery,
        "X-Hub-Signature-256": signature,
        "Content-Type": "application/json",
    }


async def deliver(
    client: AsyncTestClient[Any], event: str, payload: Any, delivery: str | None = None
) -> Any:
    body = json.dumps(payload).encode()
    delivery = delivery or str(uuid.uuid4())
    return await client.post(
        "/api/github/webhook", content=body, headers=signed(body, event, delivery)
    )


async def queued_job_ids(redis: Any) -> list[str]:
    return [m.decode() for m in await redis.zrange(ARQ_QUEUE, 0, -1)]


async def test_signed_delivery_is_stored_once_and_enqueued_once(
    client: AsyncTestClient[Any], db: Any, redis: Any
) -> None:
    delivery = str(uuid.uuid4())
    r = await deliver(client, "pull_request", PULL_REQUEST, delivery)
    assert r.status_code == 202
    assert r.json() == {
        "delivery_id": delivery,
        "event": "pull_request",
        "stored": True,
        "ignored": False,
    }
    rows = await db.fetch("SELECT * FROM github_events")
    assert len(rows) == 1
    row = rows[0]
    assert (row["delivery_id"], row["event"], row["action"]) == (delivery, "pull_request", "closed")
    assert (row["repo_id"], row["repo_full_name"], row["pr_number"]) == (4242, "acme/site", 7)
    assert row["head_sha"] == "a" * 40 and row["enqueued_at"] is not None
    assert msgspec.json.decode(row["payload"].encode())["sender"]["login"] == "bob"
    assert await queued_job_ids(redis) == [f"gh-delivery:{delivery}"]

    r = await deliver(client, "pull_request", PULL_REQUEST, delivery)
    assert r.status_code == 202 and r.json()["stored"] is False
    assert await db.fetchval("SELECT count(*) FROM github_events") == 1
    assert await queued_job_ids(redis) == [f"gh-delivery:{delivery}"]


async def test_wrong_or_missing_signature_is_401_and_nothing_stored(
    client: AsyncTestClient[Any], db: Any, redis: Any
) -> None:
    body = json.dumps(PULL_REQUEST).encode()
    wrong_secret = signed(body, "pull_request", str(uuid.uuid4()), secret="not-ours")
    tampered = signed(body, "pull_request", str(uuid.uuid4()))
    missing = signed(body, "pull_request", str(uuid.uuid4()))
    del missing["X-Hub-Signature-256"]
    for headers, content, code in [
        (wrong_secret, body, "invalid_signature"),
        (tampered, body.replace(b"4242", b"4243"), "invalid_signature"),
        ({**tampered, "X-Hub-Signature-256": "sha1=abc"}, body, "invalid_signature"),
        (missing, body, "missing_signature"),
    ]:
        r = await client.post("/api/github/webhook", content=content, headers=headers)
        assert r.status_code == 401 and r.json()["code"] == code
    assert await db.fetchval("SELECT count(*) FROM github_events") == 0
    assert await queued_job_ids(redis) == []


async def test_other_events_are_acknowledged_and_ignored(
    client: AsyncTestClient[Any], db: Any, redis: Any
) -> None:
    r = await deliver(client, "issues", {"action": "opened", "issue": {"number": 3}})
    assert r.status_code == 202 and r.json()["ignored"] is True and r.json()["stored"] is False
    r = await deliver(client, "ping", {"zen": "Keep it logically awesome.", "hook_id": 1})
    assert r.status_code == 202 and r.json()["stored"] is True
    assert await db.fetchval("SELECT array_agg(event) FROM github_events") == ["ping"]
    assert await queued_job_ids(redis) == []  # a ping concerns no pull request


async def test_check_and_status_events_are_indexed_by_commit(
    client: AsyncTestClient[Any], db: Any, redis: Any
) -> None:
    repo = {"id": 4242, "full_name": "acme/site"}
    check_run = {
        "action": "completed",
        "check_run": {"head_sha": "c" * 40, "pull_requests": [{"number": 7}]},
        "repository": repo,
    }
    status = {"sha": "d" * 40, "state": "success", "context": "ci", "repository": repo}
    suite = {"action": "completed", "check_suite": {"head_sha": "e" * 40, "pull_requests": []}}
    for event, payload in [("check_run", check_run), ("status", status), ("check_suite", suite)]:
        assert (await deliver(client, event, payload)).status_code == 202
    rows = await db.fetch(
        "SELECT event, action, repo_id, pr_number, head_sha FROM github_events ORDER BY id"
    )
    assert [tuple(r) for r in rows] == [
        ("check_run", "completed", 4242, 7, "c" * 40),
        ("status", "success", 4242, None, "d" * 40),
        ("check_suite", "completed", None, None, "e" * 40),
    ]
    assert len(await queued_job_ids(redis)) == 3


async def test_malformed_deliveries_are_400(client: AsyncTestClient[Any], db: Any) -> None:
    body = b"{not json"
    r = await client.post(
        "/api/github/webhook", content=body, headers=signed(body, "pull_request", "d-1")
    )
    assert r.status_code == 400 and r.json()["code"] == "malformed_json"
    body = b"{}"
    headers = signed(body, "pull_request", "d-2")
    del headers["X-GitHub-Delivery"]
    r = await client.post("/api/github/webhook", content=body, headers=headers)
    assert r.status_code == 400 and r.json()["code"] == "missing_header"
    assert await db.fetchval("SELECT count(*) FROM github_events") == 0


async def test_deeply_nested_signed_delivery_is_400_not_500(
    client: AsyncTestClient[Any], db: Any
) -> None:
    """A correctly signed body 5,000 levels deep: msgspec would raise RecursionError."""
    for n, body in enumerate(
        (
            b'{"action":' + b"[" * 5000 + b"]" * 5000 + b"}",
            b'{"a":' * 5000 + b"1" + b"}" * 5000,
            b'{"x":' + b"[" * 65 + b"]" * 65 + b"}",  # one past the limit
        )
    ):
        r = await client.post(
            "/api/github/webhook", content=body, headers=signed(body, "pull_request", f"deep-{n}")
        )
        assert r.status_code == 400, (n, r.text)
        assert r.json()["code"] == "body_too_deep" and r.json()["detail"]
    # Brackets inside strings do not nest; 64 levels is within the limit.
    fine = {**PULL_REQUEST, "note": "[" * 5000 + '\\"{', "deep": json.loads("[" * 63 + "]" * 63)}
    assert (await deliver(client, "pull_request", fine)).status_code == 202
    assert await db.fetchval("SELECT count(*) FROM github_events") == 1


async def test_without_a_secret_every_delivery_is_refused_with_503(
    settings: Settings, db: Any
) -> None:
    unset = msgspec.structs.replace(settings, github_webhook_secret=None)
    assert settings.database_url and settings.redis_url
    app = create_app(unset, settings.database_url, settings.redis_url)
    async with AsyncTestClient(app=app) as client:
        r = await deliver(client, "pull_request", PULL_REQUEST)
    assert r.status_code == 503 and r.json()["code"] == "github_webhook_not_configured"
    assert await db.fetchval("SELECT count(*) FROM github_events") == 0


async def test_worker_runs_the_delivery_job(
    client: AsyncTestClient[Any], settings: Settings, redis: Any
) -> None:
    delivery = str(uuid.uuid4())
    assert (await deliver(client, "pull_request", PULL_REQUEST, delivery)).status_code == 202
    assert settings.database_url and settings.redis_url
    worker = build_worker(
        settings, settings.database_url, settings.redis_url, handle_signals=False, burst=True
    )
    try:
        await worker.main()
    finally:
        await worker.close()
    assert worker.jobs_complete == 1 and worker.jobs_failed == 0
    assert await queued_job_ids(redis) == []

    pool = await create_pool(settings.database_url, min_size=1, max_size=1)
    try:
        concerns = await github_event_received({"pool": pool}, delivery)
        assert await github_event_received({"pool": pool}, "no-such-delivery") is None
    finally:
        await pool.close()
    assert concerns is not None
    assert (concerns["repo_id"], concerns["pr_number"], concerns["head_sha"]) == (
        4242,
        7,
        "a" * 40,
    )


def _ago(seconds: float) -> str:
    import datetime as dt

    moment = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=seconds)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


async def test_stale_and_replayed_deliveries_change_nothing(
    client: AsyncTestClient[Any], db: Any, redis: Any
) -> None:
    """Old events (GitHub's late redeliveries) are taken, each once by its delivery id; a
    body replayed under its stored id is acknowledged and changes nothing."""
    fresh = {
        **PULL_REQUEST,
        "pull_request": {**PULL_REQUEST["pull_request"], "updated_at": _ago(5)},
    }  # type: ignore[dict-item]
    stale = {
        **PULL_REQUEST,
        "pull_request": {**PULL_REQUEST["pull_request"], "updated_at": _ago(7200)},
    }  # type: ignore[dict-item]
    old_check = {
        "action": "completed",
        "check_run": {"head_sha": "b" * 40, "started_at": _ago(9000), "completed_at": _ago(8000)},
        "repository": {"id": 4242, "full_name": "acme/site"},
    }
    old_status = {"sha": "c" * 40, "state": "success", "updated_at": _ago(4000)}
    for event, payload in [
        ("pull_request", stale),
        ("check_run", old_check),
        ("status", old_status),
    ]:
        r = await deliver(client, event, payload)
        assert r.status_code == 202 and r.json()["stored"] is True, r.text
    assert await db.fetchval("SELECT count(*) FROM github_events") == 3
    await db.execute("TRUNCATE github_events")
    await redis.delete(ARQ_QUEUE)

    delivery = str(uuid.uuid4())
    assert (await deliver(client, "pull_request", fresh, delivery)).status_code == 202
    for _ in range(3):  # replayed as is
        r = await deliver(client, "pull_request", fresh, delivery)
        assert r.status_code == 202 and r.json()["stored"] is False
    assert await db.fetchval("SELECT count(*) FROM github_events") == 1
    assert await queued_job_ids(redis) == [f"gh-delivery:{delivery}"]
