"""Strict JSON request bodies for every route.

Litestar converts bodies leniently (``12.0`` or ``"12"`` would become the integer 12).
Money and ids must be refused unless they are JSON integers, so each body is first decoded
strictly against the handler's ``data`` type; a refusal is a 400 that names the field.
A body nested too deep is a 400 ``body_too_deep``, not msgspec's RecursionError (a 500);
``decode_any`` (bodies of any shape, such as GitHub's) checks a fixed ``MAX_DEPTH`` first.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec
from litestar import Request

from marketplace.errors import BadRequest, DomainError
from marketplace.structs import control_words

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
        words = control_words(message)
        if words is not None:
            field = extra.get("field")
            raise BadRequest("control_characters", f"{field}: {words}", **extra) from None
        code = "unknown_field" if "unknown field" in message else "invalid_request"
        raise BadRequest(code, message, **extra) from None
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise BadRequest("malformed_json", f"the body is not valid JSON: {exc}") from None
    except RecursionError:  # typed bodies stop at the first wrong type; Any fields recurse
        raise BadRequest("body_too_deep", "the body nests arrays or objects too deep") from None
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


MAX_DEPTH = 64  # our bodies nest 3 deep, GitHub's deliveries about 8
_DROP = bytes(b for b in range(256) if b not in b'[]{}"')  # all but brackets and quotes
_SQUARE = bytes.maketrans(b"{}", b"[]")
_RUN = b"[" * (MAX_DEPTH + 1)


def too_deep(body: bytes) -> bool:
    """Whether JSON nests arrays and objects deeper than MAX_DEPTH (brackets in strings
    do not count). Byte operations only: well under 1 ms for a 25 KB GitHub delivery,
    up to a few hundred ms for a crafted MiB (only signed deliveries get here)."""
    # Escaped backslashes, then escaped quotes: the quotes left delimit the strings.
    marks = body.replace(b"\\\\", b"").replace(b'\\"', b"").translate(None, _DROP)
    brackets = b"".join(marks.split(b'"')[0::2]).translate(_SQUARE)
    for _ in range(MAX_DEPTH):  # peel the innermost pairs: what is left after N was deeper
        if _RUN in brackets:
            return True
        peeled = brackets.replace(b"[]", b"")
        if len(peeled) == len(brackets):
            return False
        brackets = peeled
    return b"[]" in brackets


def decode_any(body: bytes) -> Any:
    """A JSON document of any shape; 400 if it nests deeper than MAX_DEPTH or is not JSON.

    Untyped decoding recurses into whatever it is given (msgspec raises RecursionError,
    a 500), and what is stored is decoded again later, so the limit is checked first."""
    if too_deep(body):
        raise BadRequest(
            "body_too_deep", f"the body nests arrays or objects deeper than {MAX_DEPTH} levels"
        )
    try:
        return msgspec.json.decode(body)
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise BadRequest("malformed_json", f"the body is not valid JSON: {exc}") from None
