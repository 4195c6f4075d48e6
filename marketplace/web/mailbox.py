"""The development mailbox: mail that was not sent because ``MARKETPLACE_SMTP_URL`` is unset.

Every message is there with its addresses and contents (award amounts, who bid), so it is
for admins only, and it does not exist once SMTP is configured (404, whoever asks).
"""

from __future__ import annotations

from typing import Any

from litestar import Request, get
from litestar.response import Template

from marketplace.auth import Caller
from marketplace.errors import NotFound
from marketplace.notifications import mail
from marketplace.web.common import render, require, web_settings


def _admin_in_development(request: Request[Any, Any, Any], viewer: Caller | None) -> Caller:
    if web_settings(request).smtp_url:
        raise NotFound("not_found", "The development mailbox is off when SMTP is configured.")
    return require(viewer, "admin")


@get("/dev/mailbox", name="web:mailbox")
async def mailbox(request: Request[Any, Any, Any], viewer: Caller | None) -> Template:
    caller = _admin_in_development(request, viewer)
    entries = mail.list_mailbox(web_settings(request))
    return render(request, caller, "mailbox.html", entries=entries)


@get("/dev/mailbox/{mail_id:int}", name="web:mailbox_message")
async def mailbox_message(
    request: Request[Any, Any, Any], viewer: Caller | None, mail_id: int
) -> Template:
    caller = _admin_in_development(request, viewer)
    msg = mail.read_mailbox(web_settings(request), mail_id)
    if msg is None:
        raise NotFound("mail_not_found", "There is no such message in the development mailbox.")
    body = msg.get_body(preferencelist=("plain",))
    headers = [
        (name, str(msg[name] or "")) for name in ("From", "To", "Date", "Subject", "Message-ID")
    ]
    return render(
        request,
        caller,
        "mailbox_message.html",
        headers=headers,
        subject=str(msg["Subject"] or ""),
        text=body.get_content() if body is not None else "",
    )


ROUTES = [mailbox, mailbox_message]
