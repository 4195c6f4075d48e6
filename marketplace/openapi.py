"""The served OpenAPI document, completed with the error answers the API really gives.

Litestar documents its own validation error body (``{status_code, detail, extra}``) and no
other error; every error here is answered by ``problems.py`` as ``{status, code, detail}``.
When the document is first served, each operation gets that ``Problem`` body for the errors
it can answer, judged from its guard and shape: 400 and 401 (a bad token is refused
everywhere), 403 behind a role or sign-in, 404 with path ids or behind sign-in, 409 and 422
for writes, 413 and 415 with a JSON body, 429 where rate limited. Bearer authentication is
declared on the routes that need it.
"""

from __future__ import annotations

import re
from typing import Any

from litestar import Request
from litestar.openapi.plugins import JsonRenderPlugin
from litestar.routes import HTTPRoute

from marketplace.auth import anyone

PROBLEM: dict[str, Any] = {
    "type": "object",
    "description": "A refusal: the HTTP status, a stable code and a human reason (more fields"
    " may say more, such as `field` or `max_allowed_cents`).",
    "required": ["status", "code", "detail"],
    "properties": {
        "status": {"type": "integer"},
        "code": {"type": "string"},
        "detail": {"type": "string"},
        "field": {"type": "string"},
    },
    "additionalProperties": True,
}
DESCRIPTIONS = {
    400: "malformed or out-of-range input",
    401: "missing, unknown or revoked token",
    403: "signed in but not allowed",
    404: "not found, or not visible to the caller",
    409: "the current state forbids it",
    413: "the body is larger than 1 MB",
    415: "the body is not JSON",
    422: "a business rule refuses the value",
    429: "too many requests; see Retry-After",
}
RATE_LIMITED = {("/api/signup", "post"), ("/auth/github/login", "get"), ("/api/auctions", "get")}
WRITES = {"post", "put", "patch", "delete"}
_PARAM = re.compile(r"\{(\w+):\w+\}")
_DONE = "x-problems-documented"


def _public_operations(app: Any) -> dict[tuple[str, str], bool]:
    """(OpenAPI path, method) -> whether the route is open to everyone."""
    public: dict[tuple[str, str], bool] = {}
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        path = _PARAM.sub(r"{\1}", route.path)
        for handler in route.route_handlers:
            open_to_all = anyone in handler.resolve_guards()
            for method in handler.http_methods:
                public[(path, method.lower())] = open_to_all
    return public


def complete(document: dict[str, Any], app: Any) -> None:
    """Add the Problem body and the error answers of each operation (once, in place)."""
    if document.get(_DONE):
        return
    components = document.setdefault("components", {})
    components.setdefault("schemas", {})["Problem"] = PROBLEM
    components.setdefault("securitySchemes", {})["bearer"] = {
        "type": "http",
        "scheme": "bearer",
        "description": "an API token: `Authorization: Bearer <token>`",
    }
    public = _public_operations(app)
    for path, item in document.get("paths", {}).items():
        for method, operation in item.items():
            if method not in WRITES | {"get", "head"}:
                continue
            is_public = public.get((path, method), True)
            statuses = {400, 401}
            if not is_public:
                statuses |= {403, 404}
                operation["security"] = [{"bearer": []}]
            if "{" in path:
                statuses.add(404)
            if method in WRITES:
                statuses |= {404, 409, 422}
            if "requestBody" in operation:
                statuses |= {413, 415}
            if (path, method) in RATE_LIMITED:
                statuses.add(429)
            responses = operation.setdefault("responses", {})
            for status in sorted(statuses | {int(s) for s in responses if s.startswith("4")}):
                responses[str(status)] = {
                    "description": DESCRIPTIONS.get(status, "refused"),
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/Problem"}}
                    },
                }
    document[_DONE] = True


class ProblemJsonRenderPlugin(JsonRenderPlugin):
    """Serves ``/schema/openapi.json`` completed by :func:`complete`."""

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        complete(openapi_schema, request.app)
        return super().render(request, openapi_schema)
