"""The one place that turns exceptions into HTTP answers: ``{status, code, detail}``."""

from __future__ import annotations

import logging
import re
from typing import Any

import asyncpg
from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, ValidationException
from redis.exceptions import RedisError

from marketplace.errors import DomainError, from_constraint
from marketplace.structs import control_words

log = logging.getLogger(__name__)

_FIELD = re.compile(r"at `\$\.([A-Za-z0-9_.\[\]]+)`")

_HTTP_CODES = {
    400: "bad_request",
    401: "not_signed_in",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "body_too_large",
    415: "unsupported_media_type",
    422: "unprocessable",
    429: "rate_limited",
}


def problem(status: int, code: str, detail: str, **extra: Any) -> Response[Any]:
    headers = {}
    if "retry_after" in extra:
        headers["Retry-After"] = str(extra["retry_after"])
    return Response(
        {"status": status, "code": code, "detail": detail, **extra},
        status_code=status,
        media_type=MediaType.JSON,
        headers=headers,
    )


def _domain(_: Request[Any, Any, Any], exc: DomainError) -> Response[Any]:
    return problem(exc.status, exc.code, exc.detail, **exc.extra)


def _validation(_: Request[Any, Any, Any], exc: ValidationException) -> Response[Any]:
    errors = exc.extra if isinstance(exc.extra, list) else []
    field = None
    detail = "the request is malformed"
    if errors:
        first = errors[0]
        message = str(first.get("message", "")) if isinstance(first, dict) else str(first)
        key = first.get("key") if isinstance(first, dict) else None
        match = _FIELD.search(message)
        field = match.group(1) if match else key
        detail = message or detail
        if field and field not in detail:
            detail = f"{field}: {detail}"
    elif exc.detail:
        detail = exc.detail
    control = control_words(detail)
    if control is not None:
        code, detail = "control_characters", f"{field}: {control}"
    elif "JSON is malformed" in detail or "malformed" in detail.lower():
        code = "malformed_json"
    elif "unknown field" in detail:
        code = "unknown_field"
    else:
        code = "invalid_request"
    extra: dict[str, Any] = {"errors": errors}
    if field:
        extra["field"] = field
    return problem(400, code, detail, **extra)


def _http(_: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    status = exc.status_code
    if status >= 500:
        log.error("server error: %s", exc.detail)
        return problem(status, "internal_error", "the service failed; the error was logged")
    return problem(status, _HTTP_CODES.get(status, "error"), str(exc.detail))


# PostgreSQL is unreachable, restarting or shutting down: a clear, retryable 503, never a
# 500 (the pool reconnects by itself once the server is back).
_DATABASE_DOWN = (asyncpg.PostgresConnectionError, asyncpg.exceptions.OperatorInterventionError)
RETRY_AFTER_SECONDS = 2


def _unavailable(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    log.warning("database unavailable on %s %s: %r", request.method, request.url.path, exc)
    return problem(
        503,
        "database_unavailable",
        "the database cannot be reached right now; retry shortly",
        retry_after=RETRY_AFTER_SECONDS,
    )


def _interface(request: Request[Any, Any, Any], exc: asyncpg.InterfaceError) -> Response[Any]:
    # "connection is closed" and the like come from a server that went away mid-request;
    # other interface errors are bugs.
    if "closed" in str(exc).lower():
        return _unavailable(request, exc)
    return _unexpected(request, exc)


def _os_error(request: Request[Any, Any, Any], exc: OSError) -> Response[Any]:
    # Connecting to PostgreSQL: refused or reset (TCP), no socket file (a Unix socket whose
    # server is down), or timed out connecting or acquiring. Other OS errors are bugs.
    if isinstance(exc, ConnectionError | TimeoutError) or (
        isinstance(exc, FileNotFoundError) and exc.filename is None
    ):
        return _unavailable(request, exc)
    return _unexpected(request, exc)


def _postgres(request: Request[Any, Any, Any], exc: asyncpg.PostgresError) -> Response[Any]:
    if isinstance(exc, _DATABASE_DOWN):
        return _unavailable(request, exc)
    constraint = getattr(exc, "constraint_name", None)
    mapped = from_constraint(constraint)
    if mapped is not None:
        return _domain(request, mapped)
    if isinstance(exc, asyncpg.IntegrityConstraintViolationError):
        return problem(409, "conflict", "the request conflicts with stored data")
    if isinstance(exc, asyncpg.DataError):
        return problem(400, "invalid_value", "a value is out of range or malformed")
    return _unexpected(request, exc)


def _redis_unavailable(request: Request[Any, Any, Any], exc: RedisError) -> Response[Any]:
    # Redis is restarting or unreachable: what needs it now (a rate limit, an OAuth state)
    # is a clear, retryable 503; bids and the outbox do not need it.
    log.warning("Redis unavailable on %s %s: %r", request.method, request.url.path, exc)
    return problem(
        503,
        "redis_unavailable",
        "a service this request needs is unavailable right now; retry shortly",
        retry_after=RETRY_AFTER_SECONDS,
    )


def _unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem(500, "internal_error", "the service failed; the error was logged")


EXCEPTION_HANDLERS: dict[type[Exception], Any] = {
    DomainError: _domain,
    ValidationException: _validation,
    HTTPException: _http,
    asyncpg.PostgresError: _postgres,
    asyncpg.InterfaceError: _interface,
    # Seen when the server shuts down in the middle of a statement ("cannot switch to state
    # 12; another operation is in progress"): the connection is dropped and the pool reconnects.
    asyncpg.exceptions.InternalClientError: _unavailable,
    OSError: _os_error,
    RedisError: _redis_unavailable,
    Exception: _unexpected,
}
