"""Thin handlers: the dead-letter queue (admins) and the development mailbox."""

from __future__ import annotations

import html
from typing import Annotated, Any, Literal

from litestar import MediaType, Request, Response, get, post
from litestar.params import Parameter

from marketplace.auth import Caller, anyone, request_id, roles
from marketplace.errors import NotFound
from marketplace.notifications import mail, service
from marketplace.notifications.schemas import DeadLetter
from marketplace.params import Cursor, Limit
from marketplace.settings import Settings
from marketplace.structs import Page, decode_cursor, page_by_id

DeadStatus = Annotated[
    Literal["dead", "requeued", "redelivered"] | None, Parameter(description="filter by status")
]


@get("/api/admin/dead-letters", guards=[roles("admin")], tags=["admin"])
async def list_dead_letters(
    pool: Any, limit: Limit = 50, cursor: Cursor = None, status: DeadStatus = None
) -> Page[DeadLetter]:
    """Events a consumer gave up on after repeated failures."""
    after = decode_cursor(cursor, list[int])
    items = await service.list_dead_letters(pool, after[0] if after else 0, limit + 1, status)
    return page_by_id(items, limit)


@post(
    "/api/admin/dead-letters/{dead_letter_id:int}/redeliver",
    guards=[roles("admin")],
    tags=["admin"],
    status_code=202,
)
async def redeliver_dead_letter(
    request: Request[Any, Any, Any], dead_letter_id: int, pool: Any, caller: Caller
) -> DeadLetter:
    """Hand the event back to its consumer (still handled at most once)."""
    return await service.requeue(pool, caller.actor("admin", request_id(request)), dead_letter_id)


_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>{title}</title><style>body{{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto}}
td,th{{text-align:left;padding:.25rem .75rem}}pre{{white-space:pre-wrap}}</style></head><body>
<p><strong>Development mailbox</strong>: a local development tool. Mail lands here because
MARKETPLACE_SMTP_URL is unset; nothing was sent to anyone.</p>{content}</body></html>"""


def _dev_only(settings: Settings) -> None:
    if settings.smtp_url:
        raise NotFound("not_found", "the development mailbox is off when SMTP is configured")


@get("/dev/mailbox", guards=[anyone], include_in_schema=False, media_type=MediaType.HTML)
async def mailbox(settings: Settings) -> str:
    _dev_only(settings)
    rows = "".join(
        f'<tr><td><a href="/dev/mailbox/{e.id}">{e.id}</a></td><td>{html.escape(e.date)}</td>'
        f"<td>{html.escape(e.to)}</td><td>{html.escape(e.subject)}</td></tr>"
        for e in mail.list_mailbox(settings)
    )
    table = (
        "<table><tr><th>#</th><th>Date</th><th>To</th><th>Subject</th></tr>" + rows + "</table>"
        if rows
        else "<p>No mail yet.</p>"
    )
    return _PAGE.format(title="Development mailbox", content="<h1>Mailbox</h1>" + table)


@get("/dev/mailbox/{mail_id:int}", guards=[anyone], include_in_schema=False)
async def mailbox_message(mail_id: int, settings: Settings) -> Response[str]:
    _dev_only(settings)
    msg = mail.read_mailbox(settings, mail_id)
    if msg is None:
        raise NotFound("mail_not_found", "no such message in the development mailbox")
    body = msg.get_body(preferencelist=("plain",))
    text = body.get_content() if body is not None else ""
    head = "".join(
        f"<tr><th>{name}</th><td>{html.escape(str(msg[name] or ''))}</td></tr>"
        for name in ("From", "To", "Date", "Subject", "Message-ID")
    )
    content = (
        f'<p><a href="/dev/mailbox">All mail</a></p><table>{head}</table>'
        f"<pre>{html.escape(text)}</pre>"
    )
    return Response(
        _PAGE.format(title=html.escape(str(msg["Subject"] or "")), content=content),
        media_type=MediaType.HTML,
    )


ROUTES = [list_dead_letters, redeliver_dead_letter, mailbox, mailbox_message]
