"""Structs of the consumers' admin view and of the caller's in-app notifications."""

from __future__ import annotations

import datetime as dt

from marketplace.structs import Id, Request, Response


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


class Notification(Response, frozen=True, kw_only=True):
    """One message to the caller, in the words of the mail it was sent as."""

    id: int
    event_id: int
    subject: str
    body: str
    created_at: dt.datetime
    read: bool
    read_at: dt.datetime | None = None


class NotificationsRead(Request, kw_only=True):
    up_to_id: Id


class ReadCount(Response, frozen=True, kw_only=True):
    marked: int
    unread: int
