"""How the text of one MARKETPLACE_* variable becomes a value, or a SettingsError that
names the variable and says what it must be. ``settings`` reads the environment with these."""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Mapping

PREFIX = "MARKETPLACE_"


class SettingsError(ValueError):
    """A variable holds a value the service cannot use."""


def integer(
    env: Mapping[str, str], name: str, default: int, minimum: int = 0, maximum: int | None = None
) -> int:
    """An integer within [minimum, maximum]; ``default`` when unset or blank."""
    raw = env.get(PREFIX + name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        raise SettingsError(f"{PREFIX}{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise SettingsError(f"{PREFIX}{name} must be at least {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise SettingsError(f"{PREFIX}{name} must be at most {maximum}, got {value}")
    return value


def number(env: Mapping[str, str], name: str, default: float) -> float:
    """A positive number; ``default`` when unset or blank."""
    raw = env.get(PREFIX + name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{PREFIX}{name} must be a number, got {raw!r}") from None
    if value <= 0:
        raise SettingsError(f"{PREFIX}{name} must be positive, got {raw!r}")
    return value


def flag(env: Mapping[str, str], name: str) -> bool:
    """1/true/yes or 0/false/no; false when unset."""
    raw = (env.get(PREFIX + name) or "").strip().lower()
    if raw in ("", "0", "false", "no"):
        return False
    if raw in ("1", "true", "yes"):
        return True
    raise SettingsError(f"{PREFIX}{name} must be 1 or 0, got {raw!r}")


def text(env: Mapping[str, str], name: str) -> str | None:
    """The value stripped; None when unset or blank."""
    raw = env.get(PREFIX + name)
    return raw.strip() if raw and raw.strip() else None


def url(env: Mapping[str, str], name: str, schemes: tuple[str, ...]) -> str | None:
    """A URL with one of ``schemes``; None when unset."""
    value = text(env, name)
    if value is not None and not value.startswith(tuple(s + "://" for s in schemes)):
        allowed = ", ".join(s + "://" for s in schemes)
        raise SettingsError(f"{PREFIX}{name} must start with one of {allowed}, got {value!r}")
    return value


def dates(env: Mapping[str, str], name: str) -> tuple[dt.date, ...]:
    """Comma-separated ISO dates, sorted, each once."""
    raw = text(env, name)
    if raw is None:
        return ()
    days = []
    for part in raw.split(","):
        part = part.strip()
        if not part:
            continue
        try:
            days.append(dt.date.fromisoformat(part))
        except ValueError:
            raise SettingsError(
                f"{PREFIX}{name} must be comma-separated ISO dates, got {part!r}"
            ) from None
    return tuple(sorted(set(days)))


def networks(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    """Comma-separated addresses or CIDRs, as networks (an address is its /32 or /128)."""
    raw = text(env, name)
    if raw is None:
        return ()
    networks = []
    for part in raw.split(","):
        part = part.strip()
        if not part:
            continue
        try:
            networks.append(str(ipaddress.ip_network(part, strict=False)))
        except ValueError:
            raise SettingsError(
                f"{PREFIX}{name} must be comma-separated addresses or CIDRs, got {part!r}"
            ) from None
    return tuple(dict.fromkeys(networks))
