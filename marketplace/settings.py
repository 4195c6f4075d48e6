"""Deployment settings: the only module that reads the environment.

Every variable is optional; the defaults give a local setup with embedded
PostgreSQL and Redis in the data dir. A malformed value stops start-up with a
message naming the variable.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import secrets
import zoneinfo
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import msgspec

from marketplace import setting_values as values
from marketplace.setting_values import PREFIX
from marketplace.setting_values import SettingsError as SettingsError  # part of this API

# One day to dispute an accepted delivery's payment before it is released (DESIGN §6, §11).
DEFAULT_PAYMENT_HOLD_SECONDS = 86_400
MAX_PAYMENT_HOLD_SECONDS = 31_536_000  # a year; sql/0028 holds the same bound
DEFAULT_GITHUB_API_URL = "https://api.github.com"


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    database_url: str | None = None
    redis_url: str | None = None
    data_dir: Path = Path(".marketplace")
    host: str = "127.0.0.1"
    port: int = 8000
    public_url: str = ""
    threshold_cents: int = 1_000_000
    min_auction_seconds: int = 3600
    timezone: str = "UTC"
    holidays: tuple[dt.date, ...] = ()
    secret_key: str = ""
    signing_key: str = ""
    github_api_url: str = DEFAULT_GITHUB_API_URL
    github_url: str = "https://github.com"
    github_token: str | None = None
    github_webhook_secret: str | None = None
    github_client_id: str | None = None
    github_client_secret: str | None = None
    # GitHub App mode (marketplace/github/app.py): the worker reads with installation tokens.
    github_app_id: str | None = None
    github_app_private_key_file: Path | None = None
    # A repository webhook whose missed deliveries are repaired (token mode): its id and
    # its repository (owner/name).
    github_hook_id: int | None = None
    github_hook_repo: str | None = None
    # Redeliveries asked per missed webhook before giving up (marketplace/github/repair.py).
    github_redelivery_attempts: int = 3
    # The GitHub settings point at the demo's GitHub sandbox (set by `up --demo` only); every
    # page says so.
    github_sandbox: bool = False
    payment_hold_seconds: int = DEFAULT_PAYMENT_HOLD_SECONDS
    registry_url: str | None = None
    smtp_url: str | None = None
    # Peers whose X-Forwarded-For is believed: addresses or networks (DESIGN §11).
    trusted_proxies: tuple[str, ...] = ()
    # The bearer token a Prometheus scrape of /metrics must send; unset, only clients on
    # this host are answered (the counters tell who bid when).
    metrics_token: str | None = None
    # Concurrent live feeds (SSE) per client address, counted per API process (DESIGN §11).
    sse_per_client: int = 20
    # Additions beyond the documented contract, for operators and tests.
    signup_limit_per_minute: int = 10
    bid_limit_per_minute: int = 600
    list_limit_per_minute: int = 120
    search_limit_per_minute: int = 30
    question_limit_per_minute: int = 10
    # An amendment of an open auction leaves at least this long for bidding.
    amendment_min_hours: int = 24
    bid_pool_size: int = 4
    # Platform figures may lag by this much (marketplace/transparency/figures.py); 0 = count
    # on every request.
    figures_max_age_seconds: float = 60.0
    github_timeout_seconds: int = 10
    github_retries: int = 4
    github_max_wait_seconds: int = 60
    github_webhook_max_age_seconds: int = 3600
    sweep_seconds: float = 2.0
    log_level: str = "info"
    # The API's HTTP limits (marketplace/http_limits.py).
    http_max_header_bytes: int = 32 * 1024
    http_max_headers: int = 100
    http_header_timeout_seconds: float = 10.0
    http_keepalive_seconds: float = 5.0
    http_max_connections: int = 1000
    # Department webhooks may use http:// and private or loopback addresses (dev, tests).
    webhook_allow_private: bool = False
    # Open contracting (DESIGN §11): the registered ocid prefix and the currency of amounts.
    ocds_prefix: str = "ocds-000000"
    currency: str = "USD"
    # Red flag R003: a bidding window shorter than this many whole days.
    flag_min_window_days: int = 2

    @property
    def github_app_mode(self) -> bool:
        """The worker reads GitHub as a GitHub App (installation tokens), not with a token."""
        return self.github_app_id is not None and self.github_app_private_key_file is not None

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)


# Each variable's default is its field's default above, written once.
_DEFAULT = Settings()


def _timezone(env: Mapping[str, str]) -> str:
    name = values.text(env, "TIMEZONE") or _DEFAULT.timezone
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise SettingsError(f"{PREFIX}TIMEZONE is not a known time zone: {name!r}") from None
    return name


# Numeric variables: each field read from MARKETPLACE_<FIELD>, with its lowest value allowed.
_INT_MINIMUMS = {
    "threshold_cents": 1,
    "min_auction_seconds": 0,
    "github_redelivery_attempts": 1,
    "sse_per_client": 1,
    "signup_limit_per_minute": 1,
    "bid_limit_per_minute": 1,
    "list_limit_per_minute": 1,
    "search_limit_per_minute": 1,
    "question_limit_per_minute": 1,
    "amendment_min_hours": 0,
    "bid_pool_size": 1,
    "github_timeout_seconds": 1,
    "github_retries": 0,
    "github_max_wait_seconds": 0,
    "github_webhook_max_age_seconds": 1,
    "http_max_header_bytes": 1024,
    "http_max_headers": 1,
    "http_max_connections": 1,
    "flag_min_window_days": 0,
}
_FLOATS = (
    "figures_max_age_seconds",
    "sweep_seconds",
    "http_header_timeout_seconds",
    "http_keepalive_seconds",
)


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Read and check every MARKETPLACE_* variable."""
    env = os.environ if env is None else env
    host = values.text(env, "HOST") or _DEFAULT.host
    port = values.integer(env, "PORT", _DEFAULT.port)
    if not 0 < port < 65536:
        raise SettingsError(f"{PREFIX}PORT must be between 1 and 65535, got {port}")
    public_url = values.url(env, "PUBLIC_URL", ("http", "https")) or f"http://{host}:{port}"
    level = (values.text(env, "LOG_LEVEL") or _DEFAULT.log_level).lower()
    if level not in {"debug", "info", "warning", "error"}:
        raise SettingsError(f"{PREFIX}LOG_LEVEL must be debug, info, warning or error")
    return Settings(
        database_url=values.url(env, "DATABASE_URL", ("postgresql", "postgres")),
        redis_url=values.url(env, "REDIS_URL", ("redis", "rediss", "unix")),
        data_dir=Path(values.text(env, "DATA_DIR") or _DEFAULT.data_dir).absolute(),
        host=host,
        port=port,
        public_url=public_url.rstrip("/"),
        log_level=level,
        timezone=_timezone(env),
        holidays=values.dates(env, "HOLIDAYS"),
        secret_key=values.text(env, "SECRET_KEY") or "",
        signing_key=values.text(env, "SIGNING_KEY") or "",
        **_github(env),
        payment_hold_seconds=values.integer(
            env,
            "PAYMENT_HOLD_SECONDS",
            _DEFAULT.payment_hold_seconds,
            minimum=0,
            maximum=MAX_PAYMENT_HOLD_SECONDS,
        ),
        registry_url=values.url(env, "REGISTRY_URL", ("http", "https")),
        smtp_url=values.url(env, "SMTP_URL", ("smtp", "smtps")),
        trusted_proxies=values.networks(env, "TRUSTED_PROXIES"),
        metrics_token=values.text(env, "METRICS_TOKEN"),
        webhook_allow_private=values.flag(env, "WEBHOOK_ALLOW_PRIVATE"),
        ocds_prefix=_ocds_prefix(env),
        currency=_currency(env),
        **_numbers(env),
    )


def _numbers(env: Mapping[str, str]) -> dict[str, Any]:
    """The numeric variables of _INT_MINIMUMS and _FLOATS, each MARKETPLACE_<FIELD>."""
    return {
        **{
            f: values.integer(env, f.upper(), getattr(_DEFAULT, f), m)
            for f, m in _INT_MINIMUMS.items()
        },
        **{f: values.number(env, f.upper(), getattr(_DEFAULT, f)) for f in _FLOATS},
    }


def _github(env: Mapping[str, str]) -> dict[str, Any]:
    """Where GitHub is and how the service signs in to it (token or App mode)."""
    api = values.url(env, "GITHUB_API_URL", ("http", "https")) or _DEFAULT.github_api_url
    web = values.url(env, "GITHUB_URL", ("http", "https")) or _DEFAULT.github_url
    return {
        "github_api_url": api.rstrip("/"),
        "github_url": web.rstrip("/"),
        "github_token": values.text(env, "GITHUB_TOKEN"),
        "github_webhook_secret": values.text(env, "GITHUB_WEBHOOK_SECRET"),
        "github_client_id": values.text(env, "GITHUB_CLIENT_ID"),
        "github_client_secret": values.text(env, "GITHUB_CLIENT_SECRET"),
        "github_sandbox": values.flag(env, "GITHUB_SANDBOX"),
        **_github_app(env),
    }


def _github_app(env: Mapping[str, str]) -> dict[str, Any]:
    """GitHub App mode: an app id and its private key file come together; the hook id of a
    repository webhook is a number."""
    app_id = values.text(env, "GITHUB_APP_ID")
    key_file = values.text(env, "GITHUB_APP_PRIVATE_KEY_FILE")
    if bool(app_id) != bool(key_file):
        raise SettingsError(
            f"{PREFIX}GITHUB_APP_ID and {PREFIX}GITHUB_APP_PRIVATE_KEY_FILE go together"
            " (GitHub App mode): set both or neither"
        )
    if app_id is not None and not app_id.isdigit():
        raise SettingsError(f"{PREFIX}GITHUB_APP_ID must be the App's numeric id, got {app_id!r}")
    if key_file is not None and not Path(key_file).is_file():
        raise SettingsError(f"{PREFIX}GITHUB_APP_PRIVATE_KEY_FILE: no file at {key_file}")
    hook = values.text(env, "GITHUB_HOOK_ID")
    if hook is not None and not hook.isdigit():
        raise SettingsError(f"{PREFIX}GITHUB_HOOK_ID must be the webhook's numeric id")
    hook_repo = values.text(env, "GITHUB_HOOK_REPO")
    if bool(hook) != bool(hook_repo) or (
        hook_repo is not None and not re.fullmatch(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+", hook_repo)
    ):
        raise SettingsError(
            f"{PREFIX}GITHUB_HOOK_ID and {PREFIX}GITHUB_HOOK_REPO (owner/name, the webhook's"
            " repository) go together"
        )
    return {
        "github_hook_repo": hook_repo,
        "github_app_id": app_id,
        "github_app_private_key_file": Path(key_file).absolute() if key_file else None,
        "github_hook_id": int(hook) if hook else None,
    }


def _ocds_prefix(env: Mapping[str, str]) -> str:
    value = values.text(env, "OCDS_PREFIX") or _DEFAULT.ocds_prefix
    if not re.fullmatch(r"ocds-[a-z0-9]{6}", value):
        raise SettingsError(
            f"{PREFIX}OCDS_PREFIX must be a registered ocid prefix, ocds- and six lowercase "
            f"letters or digits, got {value!r}"
        )
    return value


def _currency(env: Mapping[str, str]) -> str:
    value = values.text(env, "CURRENCY") or _DEFAULT.currency
    if not re.fullmatch(r"[A-Z]{3}", value):
        raise SettingsError(f"{PREFIX}CURRENCY must be an ISO 4217 code such as USD, got {value!r}")
    return value


def with_secret_key(settings: Settings) -> Settings:
    """Return settings whose secret key is set, generating one into the data dir if unset."""
    if settings.secret_key:
        return settings
    path = settings.data_dir / "secret_key"
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(48))
    return msgspec.structs.replace(settings, secret_key=path.read_text().strip())
