"""The admin's form for a department's payment hold (the page of
``PATCH /api/departments/{id}``): how long accepted work waits, open to disputes, before
its payment is released. Entered in hours; blank follows the deployment's default."""

from __future__ import annotations

import re
from typing import Any

from litestar import Request, post
from litestar.response import Redirect

from marketplace.accounts import service as accounts
from marketplace.auth import Caller, request_id
from marketplace.db import Pool
from marketplace.settings import MAX_PAYMENT_HOLD_SECONDS, Settings
from marketplace.web.common import flash, form_text, require, see_other

_HOURS = re.compile(r"^\d{1,4}(?:\.\d{1,2})?$")
HOURS_HINT = (
    f"Enter the hold in hours, from 0 to {MAX_PAYMENT_HOLD_SECONDS // 3600:,} (for example 24 "
    "or 0.5), or leave it empty for the deployment's default."
)


def duration_words(seconds: int) -> str:
    """A hold as words: 86400 -> "1 day", 5400 -> "90 minutes", 0 -> "no hold"."""
    if seconds <= 0:
        return "no hold"
    for size, unit in ((86_400, "day"), (3600, "hour"), (60, "minute"), (1, "second")):
        if seconds % size == 0:
            count = seconds // size
            return f"{count:,} {unit}{'' if count == 1 else 's'}"
    raise AssertionError(seconds)  # every whole number of seconds matched above


def read_hours(text: str) -> tuple[int | None, bool]:
    """(seconds or None for the default, whether it could be read)."""
    text = text.strip()
    if not text:
        return None, True
    if not _HOURS.match(text):
        return None, False
    seconds = round(float(text) * 3600)
    return seconds, seconds <= MAX_PAYMENT_HOLD_SECONDS


@post("/admin/departments/{department_id:int}/hold", name="web:admin_department_hold")
async def set_hold(
    request: Request[Any, Any, Any],
    pool: Pool,
    settings: Settings,
    viewer: Caller | None,
    department_id: int,
) -> Redirect:
    caller = require(viewer, "admin")
    seconds, readable = read_hours(form_text(await request.form(), "hours", 20))
    if not readable:
        flash(request, HOURS_HINT, "error")
        return see_other(f"/admin/departments#department-{department_id}")
    done = await accounts.set_department_hold(
        pool,
        caller.actor("admin", request_id(request)),
        department_id,
        seconds,
        settings.payment_hold_seconds,
    )
    which = "the deployment's default, " if done.payment_hold_is_default else ""
    flash(
        request,
        f"{done.name}: accepted work now waits {which}{duration_words(done.payment_hold_seconds)}"
        ", open to disputes, before its payment is released.",
    )
    return see_other(f"/admin/departments#department-{department_id}")


ROUTES = [set_hold]
