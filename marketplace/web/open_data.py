"""The open data page: what this service publishes as OCDS, when, and what it withholds."""

from __future__ import annotations

from typing import Any

from litestar import Request, get
from litestar.response import Template

from marketplace.auth import Caller
from marketplace.ocds.service import EXTENSIONS
from marketplace.web.common import render, web_settings


@get("/open-data", name="web:open_data")
async def open_data(request: Request[Any, Any, Any], viewer: Caller | None) -> Template:
    settings = web_settings(request)
    return render(
        request,
        viewer,
        "open_data.html",
        prefix=settings.ocds_prefix,
        currency=settings.currency,
        extensions=EXTENSIONS,
    )


ROUTES = [open_data]
