"""Server-rendered web pages (Jinja2 templates, one CSS file, one small script).

Pages call the same services as the JSON API. They live in their own router, which alone
carries the session cookie and the CSRF check, so the Bearer-token API under ``/api`` is
untouched by both.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape
from litestar import Router
from litestar.contrib.jinja import JinjaTemplateEngine
from litestar.di import Provide
from litestar.middleware.session import SessionMiddleware
from litestar.middleware.session.client_side import ClientSideSessionBackend, CookieBackendConfig
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig
from litestar.types import ASGIApp, ControllerRouterHandler

from marketplace.settings import Settings
from marketplace.web import (
    admin,
    after_award,
    auditor,
    buyer,
    clarifications,
    delivery,
    department_hold,
    earnings,
    email_confirmation,
    finance,
    github_link,
    mailbox,
    notifications,
    open_data,
    people,
    public,
    reviewer,
    session,
    transparency,
    user_page,
    vendor,
)
from marketplace.web.common import (
    EXCEPTION_HANDLERS,
    as_time,
    cents_to_dollars_input,
    count,
    csrf_guard,
    iso_utc,
    local_time,
    money,
    provide_viewer,
    web_link,
)
from marketplace.web.prose import render as markdown
from marketplace.web.reviewer import evidence_items

HERE = Path(__file__).parent
SESSION_DAYS = 7


def template_config() -> TemplateConfig[JinjaTemplateEngine]:
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["money"] = money
    env.filters["iso"] = iso_utc
    env.filters["local"] = local_time
    env.filters["dollars"] = cents_to_dollars_input
    env.filters["link"] = web_link
    env.filters["evidence"] = evidence_items
    env.filters["as_time"] = as_time
    env.filters["duration"] = department_hold.duration_words
    env.filters["markdown"] = markdown
    env.filters["plural"] = count
    return TemplateConfig(instance=JinjaTemplateEngine.from_environment(env))


def session_config(settings: Settings) -> CookieBackendConfig:
    """The encrypted (AES-GCM) session cookie, keyed from the deployment's secret key."""
    secret = hashlib.sha256(b"marketplace-web-session:" + settings.secret_key.encode()).digest()
    return CookieBackendConfig(
        secret=secret,
        key="mp_session",
        max_age=SESSION_DAYS * 86_400,
        httponly=True,
        samesite="lax",
        secure=settings.public_url.startswith("https://"),
    )


def session_middleware(settings: Settings) -> Callable[[ASGIApp], ASGIApp]:
    """The session middleware as a plain factory (routers are deep-copied; AES keys are not)."""
    config = session_config(settings)

    def middleware(app: ASGIApp) -> ASGIApp:
        return SessionMiddleware(app, backend=ClientSideSessionBackend(config=config))

    return middleware


def routes(settings: Settings) -> list[ControllerRouterHandler]:
    """The pages' router and the static files router."""
    pages = Router(
        path="/",
        route_handlers=[
            *public.ROUTES,
            *clarifications.ROUTES,
            *transparency.ROUTES,
            *session.ROUTES,
            *email_confirmation.ROUTES,
            *vendor.ROUTES,
            *buyer.ROUTES,
            *admin.ROUTES,
            *people.ROUTES,
            *user_page.ROUTES,
            *department_hold.ROUTES,
            *reviewer.ROUTES,
            *finance.ROUTES,
            *earnings.ROUTES,
            *after_award.ROUTES,
            *delivery.ROUTES,
            *github_link.ROUTES,
            *auditor.ROUTES,
            *open_data.ROUTES,
            *mailbox.ROUTES,
            *notifications.ROUTES,
        ],
        middleware=[session_middleware(settings)],
        guards=[csrf_guard],
        dependencies={"viewer": Provide(provide_viewer)},
        exception_handlers=EXCEPTION_HANDLERS,  # type: ignore[arg-type]
        include_in_schema=False,
        opt={"web_settings": settings},
    )
    static = create_static_files_router(
        path="/static", directories=[HERE / "static"], name="web:static"
    )
    return [pages, static]
