"""The security headers every answer carries: pages, API, static files, errors alike.

The pages run only the service's own script and stylesheet (no inline script, style or
``on*=`` handler; the OpenAPI UI is served from /static too), so the policy allows 'self'
and nothing else: an injected ``<script>`` or a stylesheet from elsewhere does not run.
``form-action`` is left open because signing in with GitHub is a form whose answer is a
redirect to GitHub. Framing is refused twice (CSP for current browsers, X-Frame-Options
for old ones). HSTS is sent only when the public address is https: over plain http it
would be ignored at best, and wrongly pin a host that later moves to TLS at worst.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from litestar.types import Message, Scope

from marketplace.settings import Settings

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",  # the OpenAPI UI's icons are data: URLs in its stylesheet
        "connect-src 'self'",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    ]
)
HSTS = "max-age=31536000"


def security_headers(settings: Settings) -> list[tuple[bytes, bytes]]:
    """The headers added to each response, as raw ASGI pairs."""
    headers = [
        ("content-security-policy", CONTENT_SECURITY_POLICY),
        ("x-frame-options", "DENY"),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "same-origin"),
    ]
    if settings.public_url.startswith("https://"):
        headers.append(("strict-transport-security", HSTS))
    return [(name.encode(), value.encode()) for name, value in headers]


def security_headers_hook(settings: Settings) -> Callable[[Message, Scope], Awaitable[None]]:
    """A ``before_send`` hook adding :func:`security_headers` to every HTTP response."""
    added = security_headers(settings)

    async def hook(message: Message, scope: Scope) -> None:
        if message["type"] == "http.response.start":
            message["headers"] = [*message.get("headers", ()), *added]

    return hook
