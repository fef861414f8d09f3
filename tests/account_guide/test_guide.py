"""The Account, Billing and Support user guides (src/nexq/{accounts,billing,support}/guide,
which Nexq serves at /docs/account/…, /docs/billing/overview and /docs/support/overview) run
as a reader runs them: every ```sh block, as written, in page order, in one reader's shell
against a live Nexq (tests/account_guide/reader.py), from signing up to closing the last
ticket; what the blocks print checked against what the pages show. The Service Tiers and
Limits & Quotas pages are checked as served: every limit of tiers.toml named, and the tiers
as the operator's file has them after the restart that loads a change. What the
troubleshooting tables quote is provoked in test_troubleshooting.py."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from nexq.accounts import tier_tables
from nexq.accounts.descriptor import GUIDE as ACCOUNT_GUIDE
from nexq.accounts.tiers import load_tiers
from nexq.app import SCOPE_CATALOG
from nexq.billing.descriptor import GUIDE as BILLING_GUIDE
from nexq.databases.descriptor import GUIDE as DATABASES_GUIDE
from nexq.registry.descriptor import GUIDE as REGISTRY_GUIDE
from nexq.storage.descriptor import GUIDE as STORAGE_GUIDE
from nexq.support.descriptor import GUIDE as SUPPORT_GUIDE
from nexq.support.plan_table import plan_table
from nexq.support.plans import load_plans
from nexq.web.guide.library import Guide
from tests import guide_runner as runner
from tests.account_guide.reader import (
    SECTIONS,
    Reader,
    guide_blocks,
    operator_api,
    page_text,
    pages,
)
from tests.guide_runner import Block
from tests.live import LiveServer, nexq_json

# What the reader sets once (the Account overview), and so what the test sets for them; the
# new password is typed in a block of its own, as the password itself is.
VARIABLES = ("DCP_API_URL", "NEXQ_EMAIL", "NEXQ_PASSWORD")
TYPED = ("NEW_PASSWORD",)
# The support answer the operator gives before the reader reads the ticket (what the page
# shows), as `nexq admin support reply` gives it.
ANSWER = "Which client sends the uploads, and how many at once?"
# What the guide shows a block prints: (a piece of the block, a piece of its output). Each
# piece names at least one block (``=`` first: the block's whole code); each output is in
# the guide and in each such block's output.
SIGNED_UP = '"email":"ada@example.com","role":"customer","status":"active"'
ALL_SCOPES = (
    "account:read account:write billing:read billing:write compute:read compute:write "
    "databases:read databases:write registry:read registry:write storage:read storage:write "
    "support:read support:write"
)
LIMITS_TABLE = """Tier: Free
LIMIT                   USED  OF       USAGE
buckets                 0     10       0.0%
storage_bytes           0 B   10 GB    0.0%
access_keys             0     10       0.0%
api_keys                1     10       10.0%
support_open_tickets    0     3        0.0%
registries              0     2        0.0%
registry_storage_bytes  0 B   5 GB     0.0%
registry_credentials    0     10       0.0%
databases               0     1        0.0%
database_vcpus          0     1        0.0%
database_memory_bytes   0 B   512 MiB  0.0%
database_storage_bytes  0 B   1.0 GiB  0.0%
ssh_keys                0     10       0.0%
instances               0     1        0.0%
instance_vcpus          0     1        0.0%
instance_memory_bytes   0 B   512 MiB  0.0%
snapshots               0     2        0.0%
backups                 0     2        0.0%
s3_read_rps             -     5500/s   checked per second
s3_write_rps            -     3500/s   checked per second
api_rps                 -     20/s     checked per second
registry_rps            -     2000/s   checked per second
registry_repositories   -     50       checked for each resource
database_replicas       -     0        checked for each resource
database_backup_days    -     7        checked for each resource"""
ESTIMATE = """ (Free), in USD
RESOURCE                     QUANTITY              INCLUDED  UNIT PRICE  AMOUNT
Storage                      0 GB-months           0         0.015       0.00
Egress                       0 GB                  0         0.01        0.00
Class A operations           0 million operations  0         4.50        0.00
Class B operations           0 million operations  0         0.36        0.00
"""
SHOWN: tuple[tuple[str, str], ...] = (
    ("/v1/signup", SIGNED_UP),
    ("dcp login --email", ' as ada@example.com; API key "dcp on '),
    ("dcp login --email", "/.config/dcp/config.json\n"),
    ("dcp account show", "email:      ada@example.com\nrole:       customer\nstatus:     active"),
    ('/v1/account" -H "Authorization: Bearer $SESSION"', SIGNED_UP),
    (
        '--name "ci deploys"',
        "name:         ci deploys\ndescription:  GitHub Actions, deploy job\n"
        "scopes:       storage:read,storage:write\nstatus:       Active",
    ),
    ('--name "ci deploys"', "last_used_at: -\ntoken:        nxq_"),
    (
        '--name "ci deploys"',
        "dcp: warning: the token is shown only now: store it safely, it cannot be shown again",
    ),
    ("dcp config show", "api-url:     "),
    ("dcp config show", "  (env DCP_API_URL)\napi-key:     nxq_"),
    ("dcp config show", "************************************  (env DCP_API_KEY)"),
    (
        '"name": "backup job"',
        '"name":"backup job","description":"","scopes":["storage:read"],"status":"Active"',
    ),
    (
        '"\\(.name): \\(.status)',
        f"ci deploys: Active, storage:read storage:write\nlaptop scripts: Active, {ALL_SCOPES}\n"
        "backup job: Active, storage:read",
    ),
    ("api-keys regenerate", '{"items":[],"next_cursor":null}'),
    ('dcp api-keys revoke "$KEY_ID"', "status:       Revoked"),
    (
        'dcp api-keys revoke "$KEY_ID"',
        '{"type":"urn:nexq:problem:unauthenticated","title":"Not authenticated","status":401,'
        '"detail":"The API key has been revoked."}',
    ),
    ('dcp api-keys delete "$KEY_ID"', "Deleted API key "),
    ("$BACKUP_ID/revoke", "Revoked"),
    ('startswith("dcp on ")', "/.config/dcp/config.json\n1\n"),
    ("=dcp logout", "Logged out; the API key is removed from "),
    ("| grep '^Tier:'", "Tier: "),
    ("/v1/tiers", '{"id":"free","name":"Free","buckets":10,"storage_gb_month":"0.015"}'),
    ("/v1/tiers", '{"id":"developer","name":"Developer","buckets":100,"storage_gb_month":"0.015"}'),
    (
        "/v1/tiers",
        '{"id":"professional","name":"Professional","buckets":1000,"storage_gb_month":"0.012"}',
    ),
    (
        "/v1/tiers",
        '{"id":"enterprise","name":"Enterprise","buckets":null,"storage_gb_month":"0.010"}',
    ),
    ("dcp account tier developer", "Tier is now Developer.\nTier: Developer\n"),
    ('{"tier": "free"}', "Free\n"),
    ("=dcp account limits", LIMITS_TABLE),
    (
        'select(.name == "api_keys")',
        '{"name":"api_keys","limit":10,"used":1,"overridden":false,"service":"account"}',
    ),
    (
        "$READ_ONLY",
        '{"type":"urn:nexq:problem:missing-scope","title":"Missing scope","status":403,'
        '"detail":"This action needs the scope \'account:read\', which the API key lacks.",'
        '"scope":"account:read"}',
    ),
    ('/v1/storage" -H', '"region":"nexq-1"}'),
    ("=dcp billing estimate", ESTIMATE),
    (
        ".by_service",
        '{"Object Storage":"0.00","Container Registry":"0.00","Databases":"0.00","Compute":"0.00"}',
    ),
    ("=dcp billing invoices list", "NUMBER              MONTH    STATUS  TOTAL\nNQ-"),
    ("=dcp billing invoices list", "  open    0.15 USD\n"),
    ('dcp billing invoices pdf "$INVOICE"', "Invoice written to NQ-"),
    (
        "storage: (.lines[]",
        '"status":"open","total":"0.15","storage":{"quantity":"20","included":"10",'
        '"unit_price":"0.015","amount":"0.15"}}',
    ),
    (
        '"holder": "Ada Lovelace"',
        '"brand":"Visa","last4":"4242","exp_month":12,"exp_year":2035,"holder":"Ada Lovelace",'
        '"is_default":true',
    ),
    ('"exp_year": 2036', '{"brand":"Visa","last4":"4242","exp_month":12,"exp_year":2036}'),
    (
        '"amount": "25.00"',
        '{"amount":"25.00","thresholds":[50,80,100],"email":"billing@example.com",'
        '"webhook_url":null}',
    ),
    (
        "/v1/support/plan",
        '{"id":"standard","name":"Standard","first_response_seconds":'
        '{"Critical":14400,"High":28800,"Medium":86400,"Low":172800}}',
    ),
    ('--subject "Uploads fail with 503"', "number:     #1001\n"),
    (
        '--subject "Uploads fail with 503"',
        "subject:    Uploads fail with 503\nservice:    Object Storage\nseverity:   High\n"
        "status:     Open",
    ),
    (
        "< question.txt",
        "subject:    Invoice question\nservice:    Billing\nseverity:   Low\nstatus:     Open",
    ),
    (
        "< question.txt",
        '["Object Storage","Account","Billing","Support","Container Registry","Databases",'
        '"Compute"]',
    ),
    (
        '"subject": "Registry push is slow"',
        '{"number":1003,"status":"Open","plan":"standard",'
        '"messages":["docker push of a 2 GB image takes 20 minutes."]}',
    ),
    (
        "=dcp support tickets list",
        "NUMBER  ID                                SEVERITY  STATUS  SUBJECT",
    ),
    ("=dcp support tickets list", "  Medium    Open    Registry push is slow\n#1002   "),
    ("=dcp support tickets list", "  Low       Open    Invoice question\n#1001   "),
    ("=dcp support tickets list", "  High      Open    Uploads fail with 503"),
    ('dcp support tickets show "$TICKET_ID"', "status:     Waiting on customer\n"),
    (
        'dcp support tickets show "$TICKET_ID"',
        "Every PUT to team-assets answers SlowDown since 09:00 UTC.\n\n--- support at ",
    ),
    ('dcp support tickets show "$TICKET_ID"', f"Z\n{ANSWER}"),
    ("--attach ./upload.log", "Reply sent (1 attachment)."),
    (
        "-F files=@upload.log",
        '{"author":"customer","body":"The same with 4 transfers works.",'
        '"attachments":["upload.log"]}',
    ),
    ('dcp support tickets close "$TICKET_ID"', "status:     Closed\nupdated_at: "),
    ('dcp support tickets close "$TICKET_ID"', "status:     Waiting on support\nupdated_at: "),
    ("for id in", "#1001 Closed\n#1003 Closed\n#1002 Closed\n"),
)


def text_of() -> str:
    return "\n".join(
        page_text(name, page) for name, _, declared in SECTIONS for page in pages(declared)
    )


def test_the_guides_have_their_pages_and_say_why_a_block_is_not_run() -> None:
    for _, folder, declared in SECTIONS:
        runner.check_pages(folder, pages(declared))


def test_the_guide_asks_for_the_variables_the_test_sets() -> None:
    """The variables a reader sets once are the test's, and a block uses no other variable
    but those a block of the guide sets."""
    not_run = [b for b in guide_blocks() if b.not_run]
    settings = [b for b in not_run if "export DCP_API_URL=" in b.code]
    assert len(settings) == 1 and settings[0].page.endswith("accounts/guide/overview.md")
    assert runner.variables_set(settings[0]) == set(VARIABLES)
    (typed,) = [b for b in not_run if "NEW_PASSWORD" in b.code]
    assert runner.variables_set(typed) == set(TYPED)
    assert runner.check_every_variable_is_set(guide_blocks()) >= {"DCP_API_KEY", "TICKET_ID"}


def stub_fragments() -> dict[str, Callable[[], str]]:
    """The Account guide's fragments as made from the tiers Nexq ships, with no service's
    declarations (no server here): their names are what counts."""
    return tier_tables.fragments(lambda: load_tiers(None), lambda: (), lambda: ())


def test_every_link_reaches_a_page_and_its_anchor() -> None:
    guide = Guide(
        [
            ("storage", STORAGE_GUIDE),
            ("account", replace(ACCOUNT_GUIDE, fragments=stub_fragments())),
            ("billing", BILLING_GUIDE),
            (
                "support",
                replace(SUPPORT_GUIDE, fragments={"plans": lambda: plan_table(load_plans(None))}),
            ),
            ("registry", REGISTRY_GUIDE),
            ("databases", DATABASES_GUIDE),
        ]
    )
    assert guide.broken_links() == []
    for name, _, declared in SECTIONS:
        section = guide.section(name)
        assert section is not None
        assert [p.title for p in section.pages] == [p.title for p in declared.pages]
    assert guide.url_of("account") == "/docs/account/overview"


def test_the_scopes_table_is_every_scope_a_customer_can_grant() -> None:
    """Each scope an account can give a key, in the console's order, with what it allows."""
    listed = re.findall(
        r"^\| `([a-z]+:[a-z]+)` \| (.+) \|$", page_text("account", "api-keys.md"), re.M
    )
    granted = [(s.name, s.about) for s in SCOPE_CATALOG.scopes if not s.operators_only]
    assert listed == granted


# -- the reader's run --------------------------------------------------------------------


def last_month() -> tuple[str, int, int]:
    """Last month (YYYY-MM), its first hour and how many hours it has (UTC)."""
    first_of_this = datetime.now(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    first_of_last = (first_of_this - timedelta(days=1)).replace(day=1)
    start = int(first_of_last.timestamp()) // 3600
    return f"{first_of_last:%Y-%m}", start, int(first_of_this.timestamp()) // 3600 - start


def give_an_invoice(reader: Reader) -> None:
    """What the reader has before reading Billing: an invoice for last month, in which the
    account kept 20 GB (20 GB-months: the Free tier includes 10, the other 10 cost 0.015)."""
    server = reader.server
    month, start, hours = last_month()
    with reader.api() as api:
        account_id = api.get("/account").json()["id"]
    server.sql(
        "INSERT INTO usage_samples(service, meter, resource, hour, account_id, quantity) "
        "VALUES ('storage', 'storage_gb_month', 'guide-reader', ?, ?, ?)",
        start,
        account_id,
        20 * 10**9 * hours,
    )
    nexq_json("admin", "billing", "close-month", "--month", month, data_dir=server.data_dir)


def support_answers(reader: Reader) -> None:
    """Support (the operator made at first start) answers the reader's ticket before they
    read it, as the page shows."""
    with operator_api(reader.server) as api:
        answer = api.post(
            f"/support/tickets/{reader.env['TICKET_ID']}/replies", json={"body": ANSWER}
        )
        assert answer.status_code == 201, answer.text


# What happens outside the reader's shell before a block runs: (a piece of the block, what).
BEFORE: tuple[tuple[str, Callable[[Reader], None]], ...] = (
    ("dcp billing estimate", give_an_invoice),
    ('dcp support tickets show "$TICKET_ID"', support_answers),
)


@pytest.fixture(scope="module")
def reader(server: LiveServer, tmp_path_factory: pytest.TempPathFactory) -> Reader:
    return Reader(server, tmp_path_factory.mktemp("reader"))


def test_every_sh_block_of_the_guides_runs_as_written(reader: Reader, server: LiveServer) -> None:
    ran: list[Block] = []
    outputs: dict[Block, str] = {}
    for block in guide_blocks():
        if block.not_run:
            continue
        for piece, before in BEFORE:
            if piece in block.code:
                before(reader)
        proc = reader.sh(block.code)
        if proc.returncode != 0:
            runner.failed(block, proc)
        outputs[block] = proc.stdout + proc.stderr
        ran.append(block)

    assert ran == [b for b in guide_blocks() if not b.not_run]
    shown = text_of()
    wrong = []
    for piece, line in SHOWN:
        if line not in shown:
            wrong.append(f"the guide does not show {line!r}")
        showing = [b for b in ran if runs(piece, b)]
        if not showing:
            wrong.append(f"no block runs {piece!r}")
        wrong += [
            f"{b} printed no {line!r}:\n{outputs[b]}" for b in showing if line not in outputs[b]
        ]
    assert not wrong, "\n".join(wrong)
    # What the guides made and removed: the keys, tier, cards, budget and tickets they leave.
    with reader.api() as api:
        keys = [k["name"] for k in api.get("/api-keys").json()["items"]]
        tier = api.get("/account/limits").json()["tier"]["id"]
        cards = api.get("/billing/payment-methods").json()
        budget = api.get("/billing/budget").json()
        tickets = {t["number"]: t["status"] for t in api.get("/support/tickets").json()}
    assert keys == ["laptop scripts", "read only"]
    assert tier == "free" and cards == [] and budget["amount"] == "25.00"
    assert tickets == {1001: "Closed", 1002: "Closed", 1003: "Closed"}
    invoice = reader.env["INVOICE"]
    assert (reader.work / f"{invoice}.pdf").read_bytes().startswith(b"%PDF-")


def runs(piece: str, block: Block) -> bool:
    """Whether ``piece`` names ``block``: a piece of its code, or its whole code after ``=``."""
    return block.code == piece[1:] if piece.startswith("=") else piece in block.code


# -- the pages as served ----------------------------------------------------------------------


def test_every_page_is_served(server: LiveServer) -> None:
    """Each page of the three sections is at /docs/<section>/<slug>, with its title."""
    for name, _, declared in SECTIONS:
        for page in declared.pages:
            answer = httpx.get(f"{server.api_url}/docs/{name}/{page.slug}", timeout=30)
            assert answer.status_code == 200, (name, page.slug, answer.status_code)
            title = page_text(name, f"{page.slug}.md").splitlines()[0].removeprefix("# ")
            assert "<h1" in answer.text and html.escape(title) in answer.text, page.slug
    assert httpx.get(f"{server.api_url}/docs/account/nothing", timeout=30).status_code == 404


def test_the_limits_page_names_every_limit_of_tiers_toml(server: LiveServer) -> None:
    page = httpx.get(f"{server.api_url}/docs/account/limits-quotas", timeout=30).text
    names = {name for tier in load_tiers(None).tiers.values() for name in tier.limits}
    missing = sorted(name for name in names if f"<code>{name}</code>" not in page)
    assert not missing, missing
    assert "fragment" not in page  # every marker was replaced


def served(server: LiveServer, path: str) -> str:
    answer = httpx.get(f"{server.api_url}{path}", timeout=30)
    assert answer.status_code == 200, (path, answer.status_code)
    return answer.text


def rows(page: str) -> dict[str, list[str]]:
    """Each table row of a served page, by the text of its first cell: its other cells."""
    found = {}
    for row in re.findall(r"<tr>(.*?)</tr>", page, re.S):
        cells = [
            html.unescape(re.sub(r"<[^>]+>", "", cell)).strip()
            for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)
        ]
        found[cells[0]] = cells[1:]
    return found


STORAGE_PRICE = "Object Storage: Storage, per GB-month"


def with_a_new_tier_and_price(text: str) -> str:
    """The shipped tiers.toml with a tier Startup (Developer's, storage at 0.0125) between
    Free and Developer, Free's storage at 0.02, and a support plan Gold."""
    free, developer, professional = (
        text.index(f"[tiers.{tier}]") for tier in ("free", "developer", "professional")
    )
    price = 'prices.storage = { storage_gb_month = "0.015"'
    startup = (
        text[developer:professional]
        .replace("[tiers.developer]", "[tiers.startup]")
        .replace('name = "Developer"', 'name = "Startup"')
        .replace(price, price.replace("0.015", "0.0125"))
    )
    assert price in text[free:developer] and "0.0125" in startup
    changed = text[free:developer].replace(price, price.replace("0.015", "0.02"))
    gold = (
        '\n[support.plans.gold]\nname = "Gold"\n'
        'first_response = { critical = "30m", high = "2h", medium = "8h", low = "1d" }\n'
    )
    return text[:free] + changed + startup + text[developer:] + gold


def test_a_tier_change_in_tiers_toml_shows_after_the_restart(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """The Service Tiers page shows the tiers as the operator's tiers.toml has them: the
    shipped ones on a new installation; a new tier and a changed price once the server that
    reads the changed file has started (tiers are read at start). Search finds the new tier,
    and the Support page shows a new plan the same way."""
    live = LiveServer(tmp_path_factory.mktemp("nexq") / "data")
    live.start()
    try:
        before = rows(served(live, "/docs/account/service-tiers"))
        assert before[""] == ["Free", "Developer", "Professional", "Enterprise"]
        assert before[STORAGE_PRICE] == [
            "0.015 (10 included)",
            "0.015 (10 included)",
            "0.012 (100 included)",
            "0.010 (1,000 included)",
        ]
        assert before["Free"] == ["free", "new accounts start on it"]
        assert before["Buckets buckets"] == ["10", "100", "1,000", "unlimited"]
        assert before["Storage storage_bytes"] == ["10 GB", "1 TB", "100 TB", "unlimited"]
        assert before["Database memory database_memory_bytes"][:2] == ["512 MiB", "16 GiB"]
        assert "Startup" not in served(live, "/docs/search?q=startup")

        live.stop()
        tiers = live.data_dir / "tiers.toml"
        tiers.write_text(with_a_new_tier_and_price(tiers.read_text()))
        live.start()

        after = rows(served(live, "/docs/account/service-tiers"))
        assert after[""] == ["Free", "Startup", "Developer", "Professional", "Enterprise"]
        assert after[STORAGE_PRICE] == [
            "0.02 (10 included)",
            "0.0125 (10 included)",
            "0.015 (10 included)",
            "0.012 (100 included)",
            "0.010 (1,000 included)",
        ]
        assert after["Startup"] == ["startup", ""]
        assert after["Buckets buckets"] == ["10", "100", "100", "1,000", "unlimited"]
        found = served(live, "/docs/search?q=startup")
        assert 'href="/docs/account/service-tiers' in found
        plans = rows(served(live, "/docs/support/overview"))
        assert plans["Gold"] == ["30 minutes", "2 hours", "8 hours", "1 day"]
    finally:
        live.stop()
        live.remove_databases()
