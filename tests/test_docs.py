"""The documentation cannot drift from the service.

* Every ``curl`` in docs/partners.md runs against a live test server, and its answer must
  have the shape the page shows below it: the same fields at every level, the same JSON
  types, the same id prefixes and the same fixed values (statuses, kinds, currency...),
  and for a ``http`` block the same status, the headers shown and the fixed ones' values.
* Every environment variable the code reads (settings, manage.py, gunicorn.conf.py,
  serving, the tests and the benchmark) is a row of the table in docs/operations.md.
"""

import datetime
import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from layers_ops.partners.models import RateLimitTier
from layers_ops.partners.services import api_key_create
from leasing.models import AccountState, NoteVisibility
from leasing.services.allocation import allocation_assign
from leasing.services.requests import lease_request_create, request_note_add
from tests.conftest import make_partner
from tests.factories import PoolFactory, SocialAccountFactory

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"

# Values that are the same in every answer of their kind: the page must show them as the
# service answers them.
FIXED = {
    "status",
    "currency",
    "platform",
    "billingStatus",
    "timezone",
    "disconnectedReason",
    "kind",
    "rateLimitTier",
    "count",
}
FIXED_HEADERS = {"Content-Type", "X-RateLimit-Limit", "X-RateLimit-Endpoint-Class"}
ID_PREFIX = re.compile(r"^(org|prj|lreq|sa|key|le|txn|req|whe|whd|evt|whsec)_")


# The partner guide's examples ------------------------------------------------------------


def fenced_blocks(text: str) -> list[tuple[str, str]]:
    return re.findall(r"^```(\w*)\n(.*?)^```", text, flags=re.M | re.S)


def partner_examples() -> list[tuple[str, str, str]]:
    """(command, kind of answer, answer) for each curl of the guide, in page order."""
    blocks = fenced_blocks((DOCS / "partners.md").read_text())
    examples = []
    for index, (lang, body) in enumerate(blocks):
        if lang == "bash" and body.lstrip().startswith("curl"):
            answer_lang, answer = blocks[index + 1]
            assert answer_lang in ("json", "http"), f"no answer shown after: {body}"
            examples.append((body, answer_lang, answer))
    return examples


def shape_problems(expected, actual, where="$", *, fixed=True) -> list[str]:
    """Where ``actual`` differs from ``expected`` in shape. A list's items are each
    compared with the first item shown; their fixed values may differ (the entries of a
    statement are of several kinds)."""
    if type(expected) is not type(actual):
        return [f"{where}: the page shows {type(expected).__name__}, got {actual!r}"]
    if isinstance(expected, dict):
        if set(expected) != set(actual):
            return [f"{where}: fields {sorted(expected)} on the page, {sorted(actual)} answered"]
        problems = []
        for key, value in expected.items():
            problems += shape_problems(value, actual[key], f"{where}.{key}", fixed=fixed)
            if (
                fixed
                and key in FIXED
                and not isinstance(value, dict | list)
                and value != actual[key]
            ):
                problems.append(f"{where}.{key}: {value!r} on the page, {actual[key]!r} answered")
        return problems
    if isinstance(expected, list):
        if not expected or not actual:
            return [] if bool(expected) == bool(actual) else [f"{where}: empty on one side"]
        return [
            problem
            for item in actual
            for problem in shape_problems(expected[0], item, f"{where}[]", fixed=False)
        ]
    if isinstance(expected, str) and ID_PREFIX.match(expected):
        prefix = ID_PREFIX.match(expected).group(0)
        if not actual.startswith(prefix):
            return [f"{where}: an id {prefix}… on the page, {actual!r} answered"]
    return []


def split_http(text: str) -> tuple[int, dict[str, str], str]:
    head, _, body = text.replace("\r\n", "\n").partition("\n\n")
    status_line, *header_lines = head.strip().splitlines()
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), headers, body


@pytest.fixture
def partner_world(transactional_db):
    """A funded partner on the standard tier, one request answered with two accounts
    (a partner-visible note on it), as the guide's examples expect."""
    partner = make_partner("Acme Growth", tier=RateLimitTier.STANDARD)
    pool = PoolFactory(tags=["coffee"], language="en", geos=["US"])
    accounts = SocialAccountFactory.create_batch(2, pool=pool, state=AccountState.READY)
    answered = lease_request_create(
        organization_id=partner.organization.pk,
        project_id=partner.project.pk,
        api_key=partner.api_key,
        payload={
            "projectId": partner.project.pk,
            "count": 2,
            "niche": {"vertical": "coffee", "language": "en", "geo": ["US"]},
        },
    )
    allocation_assign(lease_request=answered, accounts=accounts, actor=None)
    request_note_add(
        lease_request=answered,
        body="Two fresh accounts from our Austin coffee pool.",
        visibility=NoteVisibility.PARTNER,
        author=None,
    )
    test_key = api_key_create(
        organization=partner.organization, name="tests", scopes=["*"], environment="test"
    )
    return {
        "API_KEY": partner.token,
        "TEST_API_KEY": test_key.token,
        "PROJECT_ID": partner.project.pk,
        "REQUEST_ID": answered.public_id,
        "SOCIAL_ACCOUNT_ID": accounts[0].pk,
    }


def test_the_partner_guide_shows_its_examples():
    kinds = [kind for _, kind, _ in partner_examples()]

    assert len(kinds) >= 8 and "http" in kinds


def test_every_curl_in_the_partner_guide_answers_as_the_page_shows(live_server, partner_world):
    environment = {**os.environ, **partner_world, "BASE_URL": live_server.url}
    problems = []
    for command, kind, shown in partner_examples():
        run = subprocess.run(
            ["bash", "-c", command], env=environment, capture_output=True, text=True, timeout=30
        )
        assert run.returncode == 0, (command, run.stderr)
        if kind == "http":
            status, headers, body = split_http(shown)
            got_status, got_headers, got_body = split_http(run.stdout)
            if got_status != status:
                problems.append(f"{command}\n  status {status} on the page, {got_status} answered")
            for name, value in headers.items():
                if name not in got_headers:
                    problems.append(f"{command}\n  header {name} on the page, not answered")
                elif name in {h.lower() for h in FIXED_HEADERS} and got_headers[name] != value:
                    problems.append(f"{command}\n  {name}: {value} shown, {got_headers[name]}")
        else:
            body, got_body = shown, run.stdout
        problems += [
            f"{command}\n  {p}" for p in shape_problems(json.loads(body), json.loads(got_body))
        ]

    assert problems == [], "\n".join(problems)


def test_the_rate_limit_reset_shown_is_within_a_minute_of_the_request_shown():
    for _, kind, shown in partner_examples():
        if kind != "http":
            continue
        _, headers, body = split_http(shown)
        if "x-ratelimit-reset" in headers and "submittedAt" in body:
            submitted = datetime.datetime.fromisoformat(json.loads(body)["submittedAt"])
            ahead = int(headers["x-ratelimit-reset"]) - submitted.timestamp()
            assert 0 < ahead <= 61, ahead


# Environment variables ----------------------------------------------------------------------

READ_ENV = [
    re.compile(r"""\benv\.\w+\(\s*["']([A-Z][A-Z0-9_]+)["']"""),
    re.compile(r"""os\.environ(?:\.get|\.setdefault|\.pop)?\(\s*["']([A-Z][A-Z0-9_]+)["']"""),
    re.compile(r"""os\.environ\[\s*["']([A-Z][A-Z0-9_]+)["']\s*\]"""),
    re.compile(r"""os\.getenv\(\s*["']([A-Z][A-Z0-9_]+)["']"""),
    re.compile(r"""["'](BENCH_[A-Z0-9_]+)["']"""),  # the benchmark reads them through helpers
]
# Set by the code for its own use, never configuration.
NOT_CONFIGURATION = {"TZ"}


def names_read_from_the_environment() -> dict[str, str]:
    found = {}
    files = [ROOT / "manage.py"]
    for folder in ("layers_ops", "leasing", "billing", "tests"):
        files += [p for p in (ROOT / folder).rglob("*.py") if "migrations" not in p.parts]
    for path in files:
        if path == Path(__file__):
            continue
        text = path.read_text()
        for pattern in READ_ENV:
            for name in pattern.findall(text):
                found.setdefault(name, str(path.relative_to(ROOT)))
    return {k: v for k, v in found.items() if k not in NOT_CONFIGURATION}


def documented_variables() -> set[str]:
    text = (DOCS / "operations.md").read_text()
    section = text.split("## Environment variables", 1)[1].split("\n## ", 1)[0]
    names = set()
    for line in section.splitlines():
        if line.startswith("| `"):
            names.update(re.findall(r"`([A-Z][A-Z0-9_]+)`", line.split("|")[1]))
    return names


def test_the_scan_finds_the_variables_it_should():
    found = names_read_from_the_environment()

    for name in ("SECRET_KEY", "DATABASE_URL", "WEB_CONCURRENCY", "SERVE_HEADER_TIMEOUT"):
        assert name in found
    assert "BENCH_RENEWAL_LEASES" in found and "REQUIRE_SERVICES" in found


def test_every_environment_variable_read_is_in_the_operations_table():
    missing = {
        name: where
        for name, where in names_read_from_the_environment().items()
        if name not in documented_variables()
    }

    assert missing == {}, "add these to docs/operations.md, Environment variables"


def test_the_operations_table_names_no_variable_nothing_reads():
    unread = documented_variables() - set(names_read_from_the_environment())

    assert unread == set()
