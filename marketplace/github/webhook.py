"""GitHub webhook deliveries: verified, stored once, then handed to a worker.

Deliveries are triggers only: the worker re-fetches from GitHub instead of trusting the
payload (DESIGN §5). Accepted events are stored in ``github_deliveries``; any other event
is answered 202 and dropped (``ignored``). ``ping`` is stored but enqueues nothing.

Refused with 401, nothing stored: no signature, a wrong one (forged or altered), and a
stale delivery, whose signed payload says the event happened more than
``MARKETPLACE_GITHUB_WEBHOOK_MAX_AGE_SECONDS`` ago (a captured delivery replayed under a new
``X-GitHub-Delivery``; GitHub's own redeliveries keep the original id, which is stored
once). A replay under a stored id is answered 202 and changes nothing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import time
from typing import Any

import msgspec
from arq.connections import ArqRedis

from marketplace.bodies import decode_any
from marketplace.errors import BadRequest, ServiceUnavailable, Unauthorized
from marketplace.github import queries
from marketplace.settings import Settings
from marketplace.structs import Response

log = logging.getLogger(__name__)

ACCEPTED_EVENTS = frozenset({"pull_request", "check_run", "check_suite", "status", "ping"})
DELIVERY_JOB = "github_delivery_received"


def delivery_job_id(delivery_id: str) -> str:
    return f"gh-delivery:{delivery_id}"


class WebhookReceived(Response, frozen=True, kw_only=True):
    delivery_id: str
    event: str
    stored: bool
    ignored: bool = False


class DeliverySummary(msgspec.Struct, frozen=True, kw_only=True):
    """What a delivery concerns, read from its payload to index it (never to decide)."""

    action: str | None = None
    repo_id: int | None = None
    repo_full_name: str | None = None
    pr_number: int | None = None
    head_sha: str | None = None


def verify_signature(secret: str | None, body: bytes, header: str | None) -> None:
    """Refuse unless ``X-Hub-Signature-256`` is HMAC-SHA256 of the body with our secret."""
    if not secret:
        raise ServiceUnavailable(
            "github_webhook_not_configured",
            "webhooks are refused: MARKETPLACE_GITHUB_WEBHOOK_SECRET is not set",
        )
    if not header:
        raise Unauthorized("missing_signature", "the X-Hub-Signature-256 header is missing")
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected.encode(), header.strip().encode()):
        raise Unauthorized("invalid_signature", "X-Hub-Signature-256 does not match the body")


def _dig(data: Any, *path: str | int) -> Any:
    for key in path:
        if isinstance(key, int):
            if not isinstance(data, list) or len(data) <= key:
                return None
        elif not isinstance(data, dict):
            return None
        data = data[key] if isinstance(key, int) else data.get(key)
    return data


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def summarize(event: str, payload: Any) -> DeliverySummary:
    """The repo, pull request and commit a delivery is about, as far as its payload says."""
    pr_number = head_sha = None
    if event == "pull_request":
        pr_number = _int(_dig(payload, "pull_request", "number")) or _int(_dig(payload, "number"))
        head_sha = _str(_dig(payload, "pull_request", "head", "sha"))
    elif event in ("check_run", "check_suite"):
        pr_number = _int(_dig(payload, event, "pull_requests", 0, "number"))
        head_sha = _str(_dig(payload, event, "head_sha"))
    elif event == "status":
        head_sha = _str(_dig(payload, "sha"))
    return DeliverySummary(
        action=_str(_dig(payload, "action")) or _str(_dig(payload, "state")),
        repo_id=_int(_dig(payload, "repository", "id")),
        repo_full_name=_str(_dig(payload, "repository", "full_name")),
        pr_number=pr_number,
        head_sha=head_sha,
    )


# Where each event's payload says when it happened (the newest found is the event's time).
_EVENT_TIMES: dict[str, tuple[tuple[str, ...], ...]] = {
    "pull_request": (("pull_request", "updated_at"), ("pull_request", "closed_at")),
    "check_run": (("check_run", "completed_at"), ("check_run", "started_at")),
    "check_suite": (("check_suite", "updated_at"),),
    "status": (("updated_at",), ("created_at",)),
}


def event_time(event: str, payload: Any) -> dt.datetime | None:
    """When the payload says the event happened; None when it does not say."""
    found = []
    for path in _EVENT_TIMES.get(event, ()):
        value = _str(_dig(payload, *path))
        if value:
            try:
                moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                continue
            if moment.tzinfo is not None:
                found.append(moment)
    return max(found, default=None)


def refuse_stale(event: str, payload: Any, max_age_seconds: int) -> None:
    """401 when the signed payload's own time is older than ``max_age_seconds``."""
    happened = event_time(event, payload)
    if happened is None:
        return
    age = time.time() - happened.timestamp()
    if age > max_age_seconds:
        raise Unauthorized(
            "stale_delivery",
            f"the delivery's event happened {int(age)} s ago, more than {max_age_seconds} s",
        )


def _header(headers: Any, name: str) -> str:
    value = headers.get(name)
    if not value or len(value) > 100 or not value.isprintable():
        raise BadRequest("missing_header", f"the {name} header is missing or malformed")
    return str(value)


async def receive(
    pool: Any, redis: Any, settings: Settings, headers: Any, body: bytes
) -> WebhookReceived:
    """Verify, store once, and enqueue the worker job after commit."""
    verify_signature(settings.github_webhook_secret, body, headers.get("x-hub-signature-256"))
    event = _header(headers, "x-github-event")
    delivery_id = _header(headers, "x-github-delivery")
    if event not in ACCEPTED_EVENTS:
        return WebhookReceived(delivery_id=delivery_id, event=event, stored=False, ignored=True)
    payload = decode_any(body)  # 400 if not JSON or nested deeper than bodies.MAX_DEPTH
    if not isinstance(payload, dict):
        raise BadRequest("malformed_json", "the delivery's body is not a JSON object")
    refuse_stale(event, payload, settings.github_webhook_max_age_seconds)
    s = summarize(event, payload)
    async with pool.acquire() as conn:
        row_id = await queries.insert_delivery(
            conn,
            delivery_id,
            event,
            s.action,
            s.repo_id,
            s.repo_full_name,
            s.pr_number,
            s.head_sha,
            payload,
        )
        stored = row_id is not None
        if not stored:
            # A redelivery: enqueue again only if the first attempt never reached the queue.
            earlier = await queries.get_delivery(conn, delivery_id)
            pending = earlier is not None and earlier["enqueued_at"] is None
        else:
            pending = True
        if pending and event != "ping" and await enqueue(redis, delivery_id):
            await queries.mark_delivery_enqueued(conn, delivery_id)
    return WebhookReceived(delivery_id=delivery_id, event=event, stored=stored)


async def enqueue(redis: Any, delivery_id: str) -> bool:
    """Queue the delivery's job (deterministic id); False if Redis is unreachable."""
    arq = ArqRedis(connection_pool=redis.connection_pool)  # shares the app's connections
    try:
        await arq.enqueue_job(DELIVERY_JOB, delivery_id, _job_id=delivery_job_id(delivery_id))
    except Exception as exc:  # Redis down: the row stays un-enqueued; a redelivery retries
        log.warning("could not enqueue GitHub delivery %s: %s", delivery_id, exc)
        return False
    return True
