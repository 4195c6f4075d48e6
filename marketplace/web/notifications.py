"""The signed-in user's notifications page, and the unread count every page's header shows."""

from __future__ import annotations

import re
from typing import Any

from litestar import Request, get
from litestar.response import Template

from marketplace.auth import Caller
from marketplace.db import Pool
from marketplace.notifications import inbox
from marketplace.structs import decode_cursor, encode_cursor
from marketplace.web.common import render, require, web_settings

PAGE_SIZE = 30
_URL = re.compile(r"https?://\S+[^\s.,;:!?)\"']")


def paragraphs(body: str, public_url: str) -> list[list[tuple[str, str | None]]]:
    """A message's words as paragraphs of (text, href) pieces: this service's addresses
    become links to the same path here; every other piece stays text."""
    found: list[list[tuple[str, str | None]]] = []
    for para in re.split(r"\n\s*\n", body.strip()):
        pieces: list[tuple[str, str | None]] = []
        at = 0
        for match in _URL.finditer(para):
            url = match.group(0)
            if not url.startswith(public_url + "/"):
                continue
            pieces.append((para[at : match.start()], None))
            pieces.append((url, url[len(public_url) :]))
            at = match.end()
        pieces.append((para[at:], None))
        found.append([(text, href) for text, href in pieces if text])
    return found


@get("/me/notifications", name="web:notifications")
async def notifications_page(
    request: Request[Any, Any, Any], pool: Pool, viewer: Caller | None, cursor: str | None = None
) -> Template:
    """Newest first; the ones shown are marked read as they are seen (still flagged new
    on this showing)."""
    caller = require(viewer)
    before = decode_cursor(cursor, list[int])
    items = await inbox.list_mine(pool, caller, before[0] if before else None, PAGE_SIZE + 1)
    more = len(items) > PAGE_SIZE
    items = items[:PAGE_SIZE]
    if any(not n.read for n in items):
        counts = await inbox.mark_read(pool, caller, items[0].id, items[-1].id)
        request.scope["web_unread"] = counts.unread  # type: ignore[typeddict-unknown-key]
    public_url = web_settings(request).public_url
    return render(
        request,
        viewer,
        "notifications.html",
        notifications=[(n, paragraphs(n.body, public_url)) for n in items],
        next_cursor=encode_cursor(items[-1].id) if more else None,
        first_page=before is None,
    )


ROUTES = [notifications_page]
