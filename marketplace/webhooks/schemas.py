"""Request and response Structs of department webhooks."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import msgspec

from marketplace.structs import Id, Request, Response

Url = Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]


class WebhookCreate(Request, kw_only=True):
    url: Url


class WebhookCreated(Response, frozen=True, kw_only=True):
    """A new webhook with its signing secret: shown this once."""

    id: int
    department_id: int
    url: str
    status: str
    secret: str


class Webhook(Response, frozen=True, kw_only=True):
    id: int
    department_id: int
    url: str
    status: str
    consecutive_failures: int
    created_at: dt.datetime
    disabled_at: dt.datetime | None = None
    last_delivery_at: dt.datetime | None = None
    last_status_code: int | None = None
    last_error: str | None = None
    pending_deliveries: int = 0
    failed_deliveries: int = 0


class Redeliver(Request, kw_only=True):
    """One event again (``event_id``), or every undelivered one when omitted."""

    event_id: Id | None = None


class Redelivered(Response, frozen=True, kw_only=True):
    webhook: Webhook
    requeued: int
