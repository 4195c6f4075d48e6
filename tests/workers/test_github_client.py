"""The PyGithub adapter against the fake GitHub: shapes, retries, errors and ETags."""

from __future__ import annotations

import asyncio
import datetime as dt
import sys
from collections.abc import Iterator

import pytest

from marketplace.cli import main
from marketplace.errors import Unprocessable
from marketplace.github.client import GithubClient, parse_pull_url
from marketplace.github.errors import GithubNotFound, GithubUnavailable
from marketplace.github.failures import retry_after
from tests.fakes.github import FakeGitHub

MERGED = dt.datetime(2024, 3, 1, 12, 30, tzinfo=dt.UTC)


@pytest.fixture
def gh(fake_github: FakeGitHub) -> Iterator[GithubClient]:
    client = GithubClient(fake_github.api_url, "test-token", timeout=1, retries=3, backoff=0.01)
    yield client
    client.close()


@pytest.fixture
def merged_pull(fake_github: FakeGitHub) -> FakeGitHub:
    fake_github.add_repo("acme/site", id=4242, default_branch="trunk")
    fake_github.add_user("ada", id=501)
    fake_github.add_user("bob", id=502)
    fake_github.add_pull(
        "acme/site",
        7,
        author="ada",
        title="Fix the footer",
        body="Fixes #12",
        head_sha="a" * 40,
        merged_at=MERGED,
        merged_by="bob",
        merge_commit_sha="b" * 40,
    )
    return fake_github


async def test_reads_repo_pull_request_checks_and_issue(
    merged_pull: FakeGitHub, gh: GithubClient
) -> None:
    fake = merged_pull
    fake.add_check_run("acme/site", "a" * 40, "tests", conclusion="success")
    fake.add_check_run("acme/site", "a" * 40, "lint", conclusion="failure")
    fake.add_check_run("acme/site", "a" * 40, "deploy", status="in_progress")
    fake.add_status("acme/site", "a" * 40, "ci/legacy", state="pending")
    fake.add_status("acme/site", "a" * 40, "ci/legacy", state="success")  # replaces pending
    fake.add_issue("acme/site", 12, title="Footer is broken")

    repo = await gh.repository("acme/site")
    assert (repo.id, repo.full_name, repo.default_branch) == (4242, "acme/site", "trunk")
    assert (await gh.repository_by_id(4242)) == repo

    pr = await gh.pull_request("acme/site", 7)
    assert (pr.author.id, pr.author.login) == (501, "ada")
    assert pr.merged and pr.merged_at == MERGED
    assert pr.merged_by is not None and pr.merged_by.id == 502
    assert (pr.base_ref, pr.base_repo_id, pr.head_sha) == ("trunk", 4242, "a" * 40)
    assert pr.merge_commit_sha == "b" * 40
    assert pr.body == "Fixes #12" and pr.html_url.endswith("/acme/site/pull/7")

    checks = {(c.kind, c.name): c for c in await gh.checks("acme/site", "a" * 40)}
    assert set(checks) == {
        ("check_run", "tests"),
        ("check_run", "lint"),
        ("check_run", "deploy"),
        ("status", "ci/legacy"),
    }
    assert checks["check_run", "tests"].succeeded
    assert not checks["check_run", "lint"].succeeded
    assert checks["check_run", "deploy"].conclusion is None
    assert not checks["check_run", "deploy"].succeeded
    assert checks["status", "ci/legacy"].conclusion == "success"

    issue = await gh.issue("acme/site", 12)
    assert (issue.title, issue.state, issue.is_pull_request) == ("Footer is broken", "open", False)
    assert (await gh.issue("acme/site", 7)).is_pull_request
    assert all(r.headers.get("authorization") == "token test-token" for r in fake.api_requests())


async def test_unmerged_pull_request_has_no_merge_facts(
    fake_github: FakeGitHub, gh: GithubClient
) -> None:
    fake_github.add_repo("acme/site")
    fake_github.add_pull("acme/site", 3, author="ada")
    pr = await gh.pull_request("acme/site", 3)
    assert not pr.merged and pr.merged_at is None and pr.merged_by is None
    assert pr.state == "open"
    assert await gh.checks("acme/site", pr.head_sha) == []


async def test_502_twice_then_success_is_retried(merged_pull: FakeGitHub, gh: GithubClient) -> None:
    merged_pull.set_fault("502", times=2)
    pr = await gh.pull_request("acme/site", 7)
    assert pr.number == 7
    assert [r.status for r in merged_pull.api_requests("/pulls/7")] == [502, 502, 200]


async def test_502_that_lasts_is_unavailable(merged_pull: FakeGitHub, gh: GithubClient) -> None:
    merged_pull.set_fault("502", times=10)
    with pytest.raises(GithubUnavailable):
        await gh.pull_request("acme/site", 7)
    assert len(merged_pull.api_requests("/pulls/7")) == 4  # one try and three retries


@pytest.mark.parametrize("status", [403, 429])
async def test_rate_limit_waits_for_retry_after_then_succeeds(
    merged_pull: FakeGitHub, gh: GithubClient, status: int
) -> None:
    merged_pull.set_fault("rate_limit", times=1, status=status, retry_after=1)
    repo = await gh.repository("acme/site")
    assert repo.id == 4242
    assert [r.status for r in merged_pull.api_requests("/repos/acme/site")] == [status, 200]


async def test_rate_limit_beyond_the_longest_wait_is_unavailable(merged_pull: FakeGitHub) -> None:
    client = GithubClient(merged_pull.api_url, None, timeout=1, retries=3, max_rate_limit_wait=5)
    merged_pull.set_fault("rate_limit", times=1, status=403, retry_after=3600)
    try:
        with pytest.raises(GithubUnavailable):
            await client.repository("acme/site")
    finally:
        client.close()
    assert len(merged_pull.api_requests("/repos/acme/site")) == 1


async def test_missing_things_are_not_found(merged_pull: FakeGitHub, gh: GithubClient) -> None:
    with pytest.raises(GithubNotFound):
        await gh.pull_request("acme/site", 99)
    with pytest.raises(GithubNotFound):
        await gh.repository("acme/nothing")
    with pytest.raises(GithubNotFound):
        await gh.repository_by_id(1)
    with pytest.raises(GithubNotFound):
        await gh.issue("acme/site", 55)
    # a 404 is an answer, not an outage: it is not retried
    assert len(merged_pull.api_requests("/pulls/99")) == 1


async def test_timeout_is_unavailable(merged_pull: FakeGitHub) -> None:
    client = GithubClient(merged_pull.api_url, None, timeout=1, retries=1, backoff=0.01)
    merged_pull.set_fault("timeout", times=2, delay=2.5)
    try:
        with pytest.raises(GithubUnavailable):
            await client.pull_request("acme/site", 7)
    finally:
        client.close()
    assert len(merged_pull.api_requests("/pulls/7")) == 2


async def test_refetch_uses_etag_and_reuses_unchanged_objects(
    merged_pull: FakeGitHub, gh: GithubClient
) -> None:
    fake = merged_pull
    first = await gh.pull_request("acme/site", 7)
    remaining = fake.rate_limit_remaining
    second = await gh.pull_request("acme/site", 7)
    assert second == first
    requests = fake.api_requests("/pulls/7")
    assert [r.status for r in requests] == [200, 304]
    assert requests[1].headers.get("if-none-match", "").startswith('W/"')
    assert fake.rate_limit_remaining == remaining  # a 304 is free

    fake.update_pull("acme/site", 7, title="Fix the footer, really")
    third = await gh.pull_request("acme/site", 7)
    assert third.title == "Fix the footer, really"
    assert [r.status for r in fake.api_requests("/pulls/7")] == [200, 304, 200]

    await gh.repository("acme/site")
    await gh.repository("acme/site")
    assert [r.status for r in fake.api_requests("/repos/acme/site")][-2:] == [200, 304]


async def test_checks_are_revalidated_with_etags_and_read_past_the_first_page(
    merged_pull: FakeGitHub, gh: GithubClient
) -> None:
    """The periodic re-check of an unchanged commit costs two 304s; a commit with more
    check runs or statuses than one page holds is read to the end."""
    fake, sha = merged_pull, "a" * 40
    for n in range(130):  # two pages of check runs (100 a page)
        fake.add_check_run("acme/site", sha, f"job-{n}")
    for n in range(3):
        fake.add_status("acme/site", sha, f"ci/{n}")
    first = await gh.checks("acme/site", sha)
    assert sorted(c.name for c in first if c.kind == "check_run") == sorted(
        f"job-{n}" for n in range(130)
    )
    assert sorted(c.name for c in first if c.kind == "status") == ["ci/0", "ci/1", "ci/2"]
    runs = fake.api_requests(f"/commits/{sha}/check-runs")
    assert [(r.query["page"], r.status) for r in runs] == [(["1"], 200), (["2"], 200)]

    remaining = fake.rate_limit_remaining
    assert await gh.checks("acme/site", sha) == first
    assert [r.status for r in fake.api_requests(f"/commits/{sha}/check-runs")][2:] == [304]
    statuses = fake.api_requests(f"/commits/{sha}/status")
    assert [r.status for r in statuses] == [200, 304]
    assert statuses[1].headers.get("if-none-match", "").startswith('W/"')
    assert fake.rate_limit_remaining == remaining  # 304s are free

    fake.add_status("acme/site", sha, "ci/3", state="failure")
    third = await gh.checks("acme/site", sha)
    assert [c.conclusion for c in third if c.name == "ci/3"] == ["failure"]
    assert len(third) == len(first) + 1


async def test_one_client_answers_many_threads_each_its_own_request(
    fake_github: FakeGitHub, gh: GithubClient
) -> None:
    """The worker's one client serves ten threads at once: each call gets the answer to
    its own request, never another thread's (PyGithub's shared connection object mixed
    them up: a check-runs answer read as a combined status, one pull request for another)."""
    fake_github.add_repo("acme/site")
    fake_github.add_user("ada")
    shas = {n: f"{n:040x}" for n in range(1, 61)}
    for n, sha in shas.items():
        fake_github.add_pull("acme/site", n, author="ada", title=f"Change {n}", head_sha=sha)
        fake_github.add_check_run("acme/site", sha, f"tests-{n}")
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # threads switch between any two steps of a request
    try:
        for _ in range(3):
            pulls, checks = await asyncio.gather(
                asyncio.gather(*(gh.pull_request("acme/site", n) for n in shas)),
                asyncio.gather(*(gh.checks("acme/site", sha) for sha in shas.values())),
            )
            assert [(p.number, p.title) for p in pulls] == [(n, f"Change {n}") for n in shas]
            assert [[c.name for c in found] for found in checks] == [[f"tests-{n}"] for n in shas]
    finally:
        sys.setswitchinterval(interval)


async def test_repo_found_by_id_after_a_rename(merged_pull: FakeGitHub, gh: GithubClient) -> None:
    merged_pull.rename_repo("acme/site", "acme-gov/website")
    repo = await gh.repository_by_id(4242)
    assert repo.full_name == "acme-gov/website"
    pr = await gh.pull_request("acme-gov/website", 7)
    assert pr.base_repo_id == 4242


def test_parse_pull_url_accepts_only_pull_requests_on_the_configured_github() -> None:
    base = "https://github.com"
    assert parse_pull_url("https://github.com/acme/site/pull/7", base) == ("acme/site", 7)
    assert parse_pull_url(" https://github.com/acme/site.js/pull/12/files ", base) == (
        "acme/site.js",
        12,
    )
    assert parse_pull_url(
        "https://ghe.example.gov/acme/site/pull/3", "https://ghe.example.gov/"
    ) == (
        "acme/site",
        3,
    )
    refused = [
        "https://gitlab.com/acme/site/pull/7",
        "http://github.com/acme/site/pull/7",
        "https://github.com.evil.example/acme/site/pull/7",
        "https://github.com/acme/site/issues/7",
        "https://github.com/acme/site/pull/0",
        "https://github.com/acme/site/pull/x",
        "https://github.com/acme/pull/7",
        "https://github.com/acme/../pull/7",
        "not a url",
        "",
    ]
    for url in refused:
        with pytest.raises(Unprocessable) as caught:
            parse_pull_url(url, base)
        assert caught.value.code == "invalid_pull_request_url", url


def test_cli_github_check_prints_what_github_says(
    merged_pull: FakeGitHub, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    merged_pull.add_check_run("acme/site", "a" * 40, "tests")
    merged_pull.add_status("acme/site", "a" * 40, "ci/lint", state="failure")
    monkeypatch.setenv("MARKETPLACE_GITHUB_API_URL", merged_pull.api_url)
    monkeypatch.setenv("MARKETPLACE_GITHUB_URL", merged_pull.web_url)
    assert main(["github", "check", f"{merged_pull.web_url}/acme/site/pull/7"]) == 0
    out = capsys.readouterr().out
    assert "acme/site (id 4242)" in out
    assert "ada (id 501)" in out and "bob (id 502)" in out
    assert "merged:        yes" in out and "2024-03-01T12:30:00+00:00" in out
    assert "tests: success (ok)" in out and "ci/lint: failure (NOT OK)" in out

    assert main(["github", "check", "https://elsewhere.example/acme/site/pull/7"]) == 1
    assert main(["github", "check", f"{merged_pull.web_url}/acme/site/pull/99"]) == 1
    assert "not found" in capsys.readouterr().err


@pytest.mark.parametrize("status", [403, 429])
async def test_a_long_retry_after_reaches_the_caller(merged_pull: FakeGitHub, status: int) -> None:
    """Longer than the client sleeps inside a call: the caller learns how long to wait."""
    client = GithubClient(merged_pull.api_url, None, timeout=1, retries=3, max_rate_limit_wait=5)
    merged_pull.set_fault("rate_limit", times=1, status=status, retry_after=90)
    try:
        with pytest.raises(GithubUnavailable) as raised:
            await client.repository("acme/site")
    finally:
        client.close()
    assert raised.value.retry_after == 90


@pytest.mark.parametrize("status", [403, 429])
async def test_retry_after_of_the_last_answer_reaches_the_caller_when_retries_run_out(
    merged_pull: FakeGitHub, status: int
) -> None:
    client = GithubClient(
        merged_pull.api_url, None, timeout=1, retries=1, backoff=0.01, max_rate_limit_wait=5
    )
    merged_pull.set_fault("rate_limit", times=5, status=status, retry_after=1)
    try:
        with pytest.raises(GithubUnavailable) as raised:
            await client.repository("acme/site")
    finally:
        client.close()
    assert [r.status for r in merged_pull.api_requests("/repos/acme/site")] == [status, status]
    assert raised.value.retry_after == 1


async def test_rate_limit_reset_without_retry_after_is_the_wait(merged_pull: FakeGitHub) -> None:
    """A primary rate limit says when the quota resets (X-RateLimit-Reset), not Retry-After."""
    client = GithubClient(merged_pull.api_url, None, timeout=1, retries=3, max_rate_limit_wait=5)
    merged_pull.set_fault("rate_limit", times=1, status=403, retry_after=None, reset_in=600)
    try:
        with pytest.raises(GithubUnavailable) as raised:
            await client.repository("acme/site")
    finally:
        client.close()
    assert raised.value.retry_after is not None and 590 < raised.value.retry_after <= 602


async def test_a_502_that_lasts_carries_no_wait(merged_pull: FakeGitHub) -> None:
    client = GithubClient(merged_pull.api_url, None, timeout=1, retries=1, backoff=0.01)
    merged_pull.set_fault("502", times=5)
    try:
        with pytest.raises(GithubUnavailable) as raised:
            await client.pull_request("acme/site", 7)
    finally:
        client.close()
    assert raised.value.retry_after is None


def test_retry_after_reads_seconds_dates_and_rate_limit_resets() -> None:
    import email.utils
    import time

    assert retry_after({"Retry-After": "120"}) == 120
    soon = email.utils.formatdate(time.time() + 300, usegmt=True)
    wait = retry_after({"retry-after": soon})
    assert wait is not None and 290 < wait <= 300
    reset = {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(int(time.time()) + 60)}
    wait = retry_after(reset)
    assert wait is not None and 55 < wait <= 61
    assert retry_after({**reset, "X-RateLimit-Remaining": "10"}) is None
    assert retry_after({}) is None and retry_after(None) is None
    assert retry_after({"Retry-After": "soon"}) is None
