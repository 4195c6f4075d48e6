"""Our own view of what GitHub tells us: frozen Structs, free of PyGithub types."""

from __future__ import annotations

import datetime as dt
from typing import Literal

import msgspec


class Repo(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    full_name: str
    default_branch: str
    html_url: str | None = None


class GithubUser(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    login: str


class PullRequest(msgspec.Struct, frozen=True, kw_only=True):
    number: int
    title: str
    body: str | None
    html_url: str
    state: str
    author: GithubUser
    merged: bool
    merged_at: dt.datetime | None
    merged_by: GithubUser | None
    base_ref: str
    base_repo_id: int
    base_repo_full_name: str
    head_sha: str
    merge_commit_sha: str | None


class CheckResult(msgspec.Struct, frozen=True, kw_only=True):
    """A check run or a commit status on one commit.

    ``conclusion`` holds a check run's conclusion (success, failure, neutral, skipped, ...;
    None while it runs) or a status's state (success, failure, error, pending).
    """

    kind: Literal["check_run", "status"]
    id: int
    name: str
    status: str  # check runs: queued, in_progress or completed; statuses: their state
    conclusion: str | None
    sha: str
    url: str | None = None
    completed_at: dt.datetime | None = None

    @property
    def succeeded(self) -> bool:
        """Concluded successfully: success, neutral or skipped (DESIGN §5)."""
        return self.conclusion in ("success", "neutral", "skipped")


class Issue(msgspec.Struct, frozen=True, kw_only=True):
    number: int
    title: str
    body: str | None
    state: str
    html_url: str
    is_pull_request: bool


class HookAttempt(msgspec.Struct, frozen=True, kw_only=True):
    """One attempt of GitHub to send a webhook (``GET /app/hook/deliveries``): every
    redelivery is an attempt of its own under the event's ``guid`` (our delivery id)."""

    id: int
    guid: str
    delivered_at: dt.datetime
    redelivery: bool = False
    status_code: int = 0
    status: str = ""
    event: str = ""
    action: str | None = None

    @property
    def succeeded(self) -> bool:
        return 200 <= self.status_code < 300
