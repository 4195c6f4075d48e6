"""Strict JSON request bodies for every route.

Litestar converts bodies leniently (``12.0`` or ``"12"`` would become the integer 12).
Money and ids must be refused unless they are JSON integers, so each body is first decoded
strictly against the handler's ``data`` type; a refusal is a 400 that names the field.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec
from litestar import Request

from marketplace.errors import BadRequest, DomainError

_FIELD = re.compile(r"at `\$\.([A-Za-z0-9_.\[\]]+)`")
_decoders: dict[type, msgspec.json.Decoder[Any]] = {}


class UnsupportedMediaType(DomainError):
    status = 415


def _decoder_for(request: Request[Any, Any, Any]) -> msgspec.json.Decoder[Any] | None:
    """A strict decoder for the handler's body type, if it takes a Struct body."""
    field = request.route_handler.parsed_fn_signature.parameters.get("data")
    annotation = field.annotation if field is not None else None
    if not (isinstance(annotation, type) and issubclass(annotation, msgspec.Struct)):
        return None
    decoder = _decoders.get(annotation)
    if decoder is None:
        decoder = _decoders[annotation] = msgspec.json.Decoder(annotation, strict=True)
    return decoder


async def strict_body(request: Request[Any, Any, Any]) -> None:
    """before_request hook: refuse non-JSON bodies and lenient conversions with a clear 400."""
    decoder = _decoder_for(request)
    if decoder is None:
        return
    media = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
    if media != "application/json" and not media.endswith("+json"):
        raise UnsupportedMediaType(
            "unsupported_media_type", f"send JSON (Content-Type: application/json), not {media}"
        )
    body = await request.body()
    try:
        value = decoder.decode(body)
    except msgspec.ValidationError as exc:
        message = str(exc)
        match = _FIELD.search(message)
        extra = {"field": match.group(1)} if match else {}
        code = "unknown_field" if "unknown field" in message else "invalid_request"
        raise BadRequest(code, message, **extra) from None
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise BadRequest("malformed_json", f"the body is not valid JSON: {exc}") from None
    if b"\\u0000" in body:  # PostgreSQL cannot store NUL in text: refuse it, naming the field
        path = _nul_path(value, "")
        if path is not None:
            raise BadRequest("invalid_character", f"{path} must not contain NUL", field=path)


def _nul_path(value: Any, path: str) -> str | None:
    """The path of the first string holding a NUL character in a decoded body, if any."""
    if isinstance(value, str):
        return (path or "$") if "\x00" in value else None
    if isinstance(value, msgspec.Struct):
        items: Any = ((name, getattr(value, name)) for name in value.__struct_fields__)
    elif isinstance(value, dict):
        items = ((str(k), v) for k, v in value.items())
    elif isinstance(value, list | tuple | set | frozenset):
        items = ((f"[{i}]", v) for i, v in enumerate(value))
    else:
        return None
    for key, item in items:
        sub = f"{path}{key}" if key.startswith("[") else f"{path}.{key}" if path else key
        found = _nul_path(item, sub)
        if found is not None:
            return found
    return None
