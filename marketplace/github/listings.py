"""GitHub's two listings of what ran on a commit, as GitHub sends them, and as ours.

``GET /repos/{owner}/{repo}/commits/{sha}/check-runs`` and ``.../status`` (the combined
status) are both paged (``per_page`` up to 100, ``page`` from 1) and both carry the full
``total_count``. The client fetches page 1 with If-None-Match once seen, so a re-check of
a commit whose checks did not change costs a 304, free of the rate limit.
"""

from __future__ import annotations

import datetime as dt

import msgspec

from marketplace.github.schemas import CheckResult

PER_PAGE = 100  # GitHub's most per page


class _CheckRun(msgspec.Struct):
    id: int
    name: str
    status: str
    head_sha: str
    conclusion: str | None = None
    html_url: str | None = None
    completed_at: dt.datetime | None = None

    def result(self) -> CheckResult:
        return CheckResult(
            kind="check_run",
            id=self.id,
            name=self.name,
            status=self.status,
            conclusion=self.conclusion,
            sha=self.head_sha,
            url=self.html_url,
            completed_at=self.completed_at,
        )


class _Status(msgspec.Struct):
    id: int
    context: str
    state: str
    target_url: str | None = None
    updated_at: dt.datetime | None = None

    def result(self, sha: str) -> CheckResult:
        return CheckResult(
            kind="status",
            id=self.id,
            name=self.context,
            status=self.state,
            conclusion=self.state,
            sha=sha,
            url=self.target_url,
            completed_at=self.updated_at,
        )


class CheckRunsPage(msgspec.Struct):
    total_count: int
    check_runs: list[_CheckRun]

    def results(self, sha: str) -> list[CheckResult]:
        return [run.result() for run in self.check_runs]


class StatusesPage(msgspec.Struct):
    total_count: int
    statuses: list[_Status]

    def results(self, sha: str) -> list[CheckResult]:
        return [status.result(sha) for status in self.statuses]


Page = CheckRunsPage | StatusesPage
