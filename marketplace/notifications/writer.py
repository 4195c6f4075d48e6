"""How a notice is written: one message to one person is a mail_outbox row and its in-app
twin in ``notifications`` (same key, subject and words), and the phrases every message
shares (amounts, times in the deployment's zone, links)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from marketplace.db import Conn, Fields, Row
from marketplace.notifications import queries
from marketplace.settings import Settings
from marketplace.streams.consumer import Received


def money(cents: int) -> str:
    """Integer cents as dollars: 349900 -> $3,499.00."""
    sign = "-" if cents < 0 else ""
    dollars, rest = divmod(abs(cents), 100)
    return f"{sign}${dollars:,}.{rest:02d}"


def when(settings: Settings, moment: dt.datetime | None) -> str:
    """A time in the deployment's zone, with the zone shown."""
    if moment is None:
        return "an unknown time"
    return moment.astimezone(settings.zone).strftime("%a %d %b %Y %H:%M %Z")


class Writer:
    """Writes the messages of the notifications consumer (one instance per process)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def link(self, path: str) -> str:
        """The public address of a page of the service."""
        return f"{self.settings.public_url}{path}"

    async def send(
        self, conn: Conn, key: str, event: Received, user: Fields, subject: str, body: str
    ) -> None:
        """One message: the mail row and its in-app twin, under the same key."""
        text = (
            f"Hello {user['name']},\n\n{body.strip()}\n\n"
            f"-- \nThe micro-purchase marketplace, {self.settings.public_url}\n"
            f"Times are shown in {self.settings.timezone}.\n"
        )
        await queries.insert_mail(
            conn, key, event.event_id, user["id"], user["email"], subject, text
        )
        # The same words in the app, under the same key: one message, two ways to read it.
        await queries.insert_notification(
            conn, key, event.event_id, user["id"], subject, body.strip()
        )

    async def to_each(
        self,
        conn: Conn,
        event: Received,
        people: list[Any],
        key: Callable[[Any], str],
        subject: str,
        body: str,
    ) -> None:
        """The same message to each person, under the key each one's copy is kept by."""
        for person in people:
            await self.send(conn, key(person), event, person, subject, body)

    def auction_link(self, auction: Row) -> str:
        """The auction's public page."""
        return self.link(f"/auctions/{auction['id']}")

    async def to_buyer(
        self, conn: Conn, event: Received, auction: Row, subject: str, body: str
    ) -> None:
        """The message to the buyer who created the auction."""
        buyer = {
            "id": auction["created_by"],
            "email": auction["buyer_email"],
            "name": auction["buyer_name"],
        }
        await self.send(conn, f"{event.event_id}:buyer", event, buyer, subject, body)
