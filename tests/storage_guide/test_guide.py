"""The Object Storage user guide (src/nexq/storage/guide/*.md, which Nexq serves at
/docs/storage/…) run as a reader runs it: every ```sh block, as written, in page order, in
one reader's shell against a live Nexq (tests/storage_guide/reader.py); what the blocks print
checked against what the pages show; the pages' tables of limits and prices checked against
the tiers Nexq ships. What the troubleshooting tables quote is provoked in
test_troubleshooting.py."""

from __future__ import annotations

import time

import httpx
import pytest

from nexq.accounts.tiers import load_tiers
from nexq.storage.descriptor import GUIDE as DECLARED
from tests import guide_runner as runner
from tests.guide_runner import Block
from tests.live import LiveServer
from tests.storage_guide.reader import GUIDE, KEEPS_KEY, PAGES, Reader

# What the reader sets once (overview.md), and so what the test sets for the reader.
VARIABLES = ("DCP_API_URL", "DCP_API_KEY")
# What the guide shows a block prints: (a piece of the block, a piece of its output). Each
# piece names at least one block; each output is in the guide and in each such block's output.
SHOWN = (
    (KEEPS_KEY, "label:             laptop\nbuckets:           all"),
    (KEEPS_KEY, "dcp: warning: the secret access key is shown only now: it cannot be shown again"),
    ("aws s3 ls s3://team-assets --recursive", "         16 notes/hello.txt"),
    ("rclone cat nexq:team-assets/notes/hello.txt", "hello from Nexq\nhello from Nexq"),
    (
        "dcp storage buckets create team-backups",
        "name:        team-backups\nobjects:     0\nstored:      0 B (0 bytes)\nobject_lock: off",
    ),
    (
        '"name": "team-scratch"',
        '{"name":"team-scratch","created_at":"',
    ),
    (
        '"name": "team-scratch"',
        '"object_count":0,"stored_bytes":0,"object_lock":{"enabled":false,"mode":null,'
        '"days":null,"years":null}}',
    ),
    ("aws s3 mb s3://team-logs", "make_bucket: team-logs"),
    (
        "dcp storage buckets list",
        "NAME          OBJECTS  SIZE  CREATED\nteam-assets   1        16 B",
    ),
    ("dcp storage buckets list", "team-scratch  0        0 B"),
    ("dcp storage buckets show team-assets", "objects:     1\nstored:      16 B (16 bytes)"),
    ("dcp storage buckets delete team-scratch", "Deleted bucket team-scratch"),
    ("dcp storage buckets tags team-assets", "KEY   VALUE\nenv   prod\nteam  web"),
    ("aws s3 sync site s3://", "upload: site/index.html to s3://team-assets/site/index.html"),
    ("aws s3 sync site s3://", "upload: site/css/main.css to s3://team-assets/site/css/main.css"),
    ("dcp storage objects list team-assets --delimiter /", "site-copy/  PREFIX\nsite/"),
    ("dcp storage objects list team-assets --prefix site/", "site/index.html    15 B"),
    (
        "dcp storage objects upload team-assets",
        "Uploaded report.csv to team-assets/uploads/report.csv (23 B)",
    ),
    (
        "dcp storage objects download team-assets reports/2026-01.csv",
        "Downloaded team-assets/reports/2026-01.csv to 2026-01.csv (23 B)",
    ),
    ("dcp storage objects download team-assets site/index.html -", "<h1>Hello</h1>"),
    ("dcp storage objects presign team-assets site/index.html)", "<h1>Hello</h1>"),
    (
        "aws s3api head-object --bucket team-assets --key site/index.html",
        '"ContentType": "text/html"',
    ),
    ("aws s3api head-object --bucket team-assets --key site/index.html", '"owner": "web-team"'),
    (
        "dcp storage objects revoke-links",
        "Every presigned URL made so far is revoked (403); new ones work.",
    ),
    ("--query ETag --output text", '-3"'),
    (
        "--label backup-job --bucket",
        "label:             backup-job\nbuckets:           team-backups",
    ),
    ("--label backup-job --bucket", "aws-cli profile 'backup-job' written to "),
    ('"label": "ci"', '"label":"ci","buckets":["team-assets"],"status":"Active"'),
    ("aws --profile backup-job s3 ls\n", " team-backups\n"),
    ("aws --profile backup-job s3 ls\n", "upload: ./hello.txt to s3://team-backups/hello.txt"),
    ('profile_name="backup-job"', "['team-backups']"),
    ("rclone ls nexq-backup:team-backups", "       16 hello.txt"),
    ("dcp storage keys list", "LABEL       BUCKETS       STATUS  CREATED"),
    ("dcp storage keys list", "  laptop      all           Active  "),
    ("dcp storage keys list", "  backup-job  team-backups  Active  "),
    ("dcp storage keys list", "  ci          team-assets   Active  "),
    ('dcp storage keys revoke "$KEY_ID"', "buckets:       team-backups\nstatus:        Revoked"),
    ('dcp storage keys delete "$KEY_ID"', "Deleted access key NQAK"),
    ("--aws-sigv4", "hello from Nexq"),
    ("curl -sS -i", "HTTP/1.1 403 Forbidden"),
    ("curl -sS -i", "<Error><Code>AccessDenied</Code><Message>Access Denied</Message><RequestId>"),
    ("cat first-bytes.txt", "hello"),
    ("python3 list_buckets.py", "team-assets\nteam-backups"),
    ("rclone lsf nexq:team-assets/site-mirror", "css/\nindex.html"),
    ("storage usage", "team-metrics  1 MB     1 MB      5           2        2"),
    ("storage usage", "(no bucket)   0 B      0 B"),  # the reader's ListBuckets
    (
        "storage usage",
        '  "data_in_bytes": 1000000,\n  "data_out_bytes": 1000000,\n  "operations": 5,\n'
        '  "class_a": 2,\n  "class_b": 2,\n  "bucket": "team-metrics"',
    ),
    ("dcp billing estimate", " (Free), in USD"),
    ("public-access-block team-site --delete", "Policy of bucket team-site set"),
    (
        "website team-site --index-document index.html",
        "index_document: index.html\nerror_document: 404.html\nrouting_rules:  0",
    ),
    ("website team-site --index-document index.html", "url:            http://team-site."),
    (
        "/v1/storage/buckets/team-site/website",
        '{"IndexDocument":{"Suffix":"index.html"},"ErrorDocument":{"Key":"404.html"},"url":"http',
    ),
    ('curl -sS "$SITE"\n', "<h1>Welcome</h1>\n<h1>Documentation</h1>\n302 http://team-site."),
    ('curl -sS "$SITE"\n', "/docs/\n<h1>No such page</h1>\n403"),
    ("--website-redirect-location /docs/", "301 http://team-site.s3-website.localhost:"),
    ("--set site.json", "routing_rules:  1\n302 http://team-site.s3-website.localhost:"),
    ("website team-site --delete", "Bucket team-site is no longer served as a website\n404"),
)
# Usage is counted within a second of the requests (docs/metering.md): a block that reads it
# is run again until it shows what the guide shows, as a reader looks again a moment later.
COUNTED = "storage usage"
COUNTED_WITHIN = 15.0
# What the guide leaves of what it made.
LEFT_BUCKETS = ["team-assets", "team-backups", "team-metrics", "team-site"]
LEFT_KEYS = ["laptop", "backup-job-2"]
LEFT_OBJECTS = [
    "big.bin",
    "notes/hello.txt",
    "site-mirror/css/main.css",
    "site-mirror/index.html",
    "site/index.html",
]


def every_block() -> list[Block]:
    return runner.every_block(GUIDE, PAGES)


def text_of(pages: tuple[str, ...] = PAGES) -> str:
    return "\n".join((GUIDE / page).read_text() for page in pages)


def test_the_guide_has_its_pages_and_says_why_a_block_is_not_run() -> None:
    runner.check_pages(GUIDE, PAGES)


def test_the_guide_asks_for_the_variables_the_test_sets() -> None:
    """The variables a reader sets once are the test's, the access key the reader keeps is
    the one the overview makes, and a block uses no other variable but those a block of the
    guide sets."""
    not_run = [b for b in every_block() if b.not_run]
    settings = [b for b in not_run if "export DCP_API_URL=" in b.code]
    assert len(settings) == 1 and settings[0].page == PAGES[0], settings
    assert runner.variables_set(settings[0]) == set(VARIABLES)
    (keeping,) = [b for b in not_run if "AWS_SECRET_ACCESS_KEY" in b.code]
    assert runner.variables_set(keeping) == {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}
    (making,) = [b for b in every_block() if KEEPS_KEY in b.code]
    assert making.page == keeping.page == PAGES[0] and making.line < keeping.line
    assert runner.check_every_variable_is_set(every_block()) >= {
        "AWS_ENDPOINT_URL",
        "AWS_DEFAULT_REGION",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
    }


def test_every_link_reaches_a_page_and_its_anchor() -> None:
    runner.check_section("storage", DECLARED, "Object Storage")


def decimal_size(n: int) -> str:
    """Bytes as the pages write a tier's storage: 10 GB, 1 TB (powers of 10, as billed)."""
    for unit, scale in (("PB", 10**15), ("TB", 10**12), ("GB", 10**9)):
        if n >= scale and n % scale == 0:
            return f"{n // scale:,} {unit}"
    raise AssertionError(f"{n} bytes is not a round size")


def test_the_limits_and_prices_are_the_tiers_nexq_ships() -> None:
    """Each tier's row of the overview's limits and of the prices and allowances is what
    tiers.toml ships, and the request rates the overview names are every tier's but the
    unlimited ones."""
    catalog = load_tiers(None)
    overview, billing = text_of(("overview.md",)), text_of(("usage-billing.md",))
    meters = ("storage_gb_month", "egress_gb", "class_a_million", "class_b_million")
    rates = set()
    for tier in catalog.tiers.values():
        counts = [tier.limits[name] for name in ("buckets", "storage_bytes", "access_keys")]
        if all(count is None for count in counts):
            row = f"| {tier.name} | unlimited | unlimited | unlimited |"
        else:
            buckets, stored, keys = (c for c in counts if c is not None)
            row = f"| {tier.name} | {buckets:,} | {decimal_size(stored)} | {keys:,} |"
        assert row in overview, row
        for table in (tier.prices["storage"], tier.allowances["storage"]):
            cells = " | ".join(str(table[meter]) for meter in meters)
            assert f"| {tier.name} | {cells} |" in billing, (tier.name, cells)
        rates.add((tier.limits["s3_read_rps"], tier.limits["s3_write_rps"]))
    ((read, write),) = rates - {(None, None)}
    assert f"{read:,} reads" in overview and f"{write:,} other requests" in overview
    assert "(unlimited on Enterprise)" in overview
    assert all(catalog.get("enterprise").limits[r] is None for r in ("s3_read_rps", "s3_write_rps"))


@pytest.fixture(scope="module")
def reader(server: LiveServer, tmp_path_factory: pytest.TempPathFactory) -> Reader:
    return Reader(server, tmp_path_factory.mktemp("reader"))


def run_counted(reader: Reader, block: Block, shown: list[str]) -> str:
    """Run a block that reads the usage counts until it prints ``shown``, or a deadline."""
    deadline = time.monotonic() + COUNTED_WITHIN
    while True:
        proc = reader.sh(block.code)
        if proc.returncode != 0:
            runner.failed(block, proc)
        if all(line in proc.stdout for line in shown) or time.monotonic() > deadline:
            return proc.stdout + proc.stderr
        time.sleep(0.25)


def test_every_sh_block_of_the_guide_runs_as_written(reader: Reader, server: LiveServer) -> None:
    ran: list[Block] = []
    outputs: dict[Block, str] = {}
    for block in every_block():
        if block.not_run:
            continue
        if COUNTED in block.code:
            shown = [line for piece, line in SHOWN if piece in block.code]
            outputs[block] = run_counted(reader, block, shown)
        else:
            proc = reader.sh(block.code)
            if proc.returncode != 0:
                runner.failed(block, proc)
            outputs[block] = proc.stdout + proc.stderr
        if KEEPS_KEY in block.code:
            reader.keep_key(outputs[block])
        ran.append(block)

    assert ran == [b for b in every_block() if not b.not_run]
    # The endpoint and region the overview reads from the API are the server's S3 endpoint.
    assert reader.env["AWS_ENDPOINT_URL"] == server.endpoint
    assert reader.env["AWS_DEFAULT_REGION"] == "nexq-1"
    assert '"region":"nexq-1"}' in text_of(("overview.md",))
    shown = text_of()
    for piece, line in SHOWN:
        assert line in shown, f"the guide does not show {line!r}"
        showing = [b for b in ran if piece in b.code]
        assert showing, f"no block runs {piece!r}"
        for block in showing:
            assert line in outputs[block], f"{block} printed no {line!r}:\n{outputs[block]}"
    # What the guide made and deleted: its buckets, keys and objects are the ones it leaves.
    with reader.api() as api:
        buckets = [b["name"] for b in api.get("/storage/buckets").json()["items"]]
        keys = [k["label"] for k in api.get("/storage/access-keys").json()["items"]]
        listed = api.get("/storage/buckets/team-assets/objects").json()
    assert buckets == LEFT_BUCKETS
    assert keys == LEFT_KEYS
    assert [o["key"] for o in listed["items"]] == LEFT_OBJECTS


def test_every_page_is_served(server: LiveServer) -> None:
    """Each page of the section is at /docs/storage/<slug>, with its title."""
    for page in DECLARED.pages:
        answer = httpx.get(f"{server.api_url}/docs/storage/{page.slug}", timeout=30)
        assert answer.status_code == 200, (page.slug, answer.status_code)
        title = (GUIDE / f"{page.slug}.md").read_text().splitlines()[0].removeprefix("# ")
        assert "<h1" in answer.text and title in answer.text, page.slug
    assert httpx.get(f"{server.api_url}/docs/storage/nothing", timeout=30).status_code == 404
