"""Response Structs of the consumers' admin view."""

from __future__ import annotations

import datetime as dt

from marketplace.structs import Response


class DeadLetter(Response, frozen=True, kw_only=True):
    id: int
    consumer: str
    event_id: int
    type: str
    error: str
    attempts: int
    status: str
    created_at: dt.datetime
    requeued_at: dt.datetime | None = None
    resolved_at: dt.datetime | None = None
