"""Screenshots of the console's main pages for the README: ``python -m tests.console.screenshots``.

Starts a live server on a scratch data directory (the shipped tiers: the account is Free),
fills it with a little realistic data through S3 (boto3) and the console itself, adds a month
of usage history so that Billing shows money, and saves PNGs under docs/screenshots/. Names
given as arguments (e.g. ``bucket-settings object-versions``) save only those pictures.
"""

from __future__ import annotations

import sqlite3
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

from tests.console.conftest import CHROMIUM, CHROMIUM_ARGS, PASSWORD, s3_client, session_cookie
from tests.live import BURST, LiveServer
from tests.oci_push import push_image

OUT = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
VIEWPORT = {"width": 1280, "height": 800}
ONLY = frozenset(sys.argv[1:])


def fill(server: LiveServer, email: str) -> None:
    key = server.key(email, "Seed data")
    s3 = s3_client(server, key.access_key_id, key.secret_access_key)
    for bucket in ("website-assets", "backups-2026", "ml-datasets"):
        s3.create_bucket(Bucket=bucket)
    files = {
        "index.html": 14_320,
        "css/site.css": 48_210,
        "css/print.css": 3_112,
        "img/logo.svg": 6_400,
        "img/hero.jpg": 1_843_200,
        "img/team.jpg": 912_384,
        "js/app.js": 210_884,
        "robots.txt": 68,
        "downloads/brochure.pdf": 4_718_592,
    }
    for name, size in files.items():
        s3.put_object(Bucket="website-assets", Key=name, Body=b"x" * size)
    s3.put_object(Bucket="backups-2026", Key="db/2026-11-27.sql.gz", Body=b"0" * 7_340_032)
    # A versioned bucket with some history, its settings filled in as a team would.
    s3.put_bucket_versioning(Bucket="ml-datasets", VersioningConfiguration={"Status": "Enabled"})
    for size in (2_621_440, 2_883_584, 3_145_728):
        s3.put_object(Bucket="ml-datasets", Key="labels.csv", Body=b"2" * size)
    s3.put_object(Bucket="ml-datasets", Key="scratch/tmp.npy", Body=b"3" * 40_960)
    s3.delete_object(Bucket="ml-datasets", Key="scratch/tmp.npy")
    s3.put_bucket_lifecycle_configuration(
        Bucket="ml-datasets",
        LifecycleConfiguration={
            "Rules": [
                {
                    "ID": "old-versions",
                    "Status": "Enabled",
                    "Filter": {},
                    "NoncurrentVersionExpiration": {"NoncurrentDays": 30},
                    "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7},
                },
                {
                    "ID": "scratch",
                    "Status": "Enabled",
                    "Filter": {"Prefix": "scratch/"},
                    "Expiration": {"Days": 3},
                },
            ]
        },
    )
    s3.put_bucket_tagging(
        Bucket="ml-datasets",
        Tagging={"TagSet": [{"Key": "team", "Value": "research"}, {"Key": "env", "Value": "prod"}]},
    )
    s3.put_object(Bucket="ml-datasets", Key="train.parquet", Body=b"1" * 3_145_728)
    for _ in range(25):
        s3.get_object(Bucket="website-assets", Key="index.html")["Body"].read()
    s3.list_objects_v2(Bucket="website-assets")
    time.sleep(3)  # metering flushes its counts every few seconds


def history(server: LiveServer, email: str) -> None:
    """This month so far, as the meters and the hourly storage samples would have written it:
    a few GB out, some hundred thousand requests a day, 40 GB kept in the backups bucket."""
    now = datetime.now(UTC)
    first_hour = int(now.replace(day=1, hour=0, minute=0, second=0).timestamp()) // 3600
    this_hour = int(now.timestamp()) // 3600
    with sqlite3.connect(server.data_dir / "meta.db") as db:
        account = db.execute("SELECT id FROM accounts WHERE email = ?", (email,)).fetchone()[0]
        buckets = dict(
            db.execute("SELECT name, id FROM buckets WHERE account_id = ?", (account,)).fetchall()
        )
        for day, hour in enumerate(range(first_hour + 12, this_hour, 24)):
            wave = 1 + (day % 7) / 3  # busier towards the end of each week
            db.execute(
                "INSERT OR IGNORE INTO usage_hourly(account_id, hour, bucket_id, bucket_name, "
                "data_in, data_out, class_a, class_b, other) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    account,
                    hour,
                    buckets["website-assets"],
                    "website-assets",
                    int(2e8 * wave),
                    int(3e9 * wave),
                    int(90_000 * wave),
                    int(700_000 * wave),
                    1_000,
                ),
            )
        db.executemany(
            "INSERT OR IGNORE INTO usage_samples(service, meter, resource, hour, account_id, "
            "quantity) VALUES ('storage', 'storage_gb_month', ?, ?, ?, ?)",
            [
                (buckets["backups-2026"], h, account, 40 * 10**9)
                for h in range(first_hour, this_hour)
            ],
        )


def registry_pages(page: Page, server: LiveServer) -> None:
    """Two registries, images pushed over the OCI protocol, and credentials for a cluster
    and a CI; a picture of each registry page."""
    page.goto("/registries")
    page.get_by_label("Registry name").fill("team-images")
    page.get_by_role("button", name="Create registry").click()
    username = page.get_by_role("textbox", name="Username").input_value()
    token = page.get_by_role("textbox", name="Token").input_value()
    shoot(page, "registry-created")
    images = {
        "frontend/web": {"v1.4.1": 48_300_000, "v1.4.2": 48_900_000, "latest": 48_900_001},
        "api/server": {"v3.0.0": 112_000_000, "latest": 112_000_001},
        "jobs/worker": {"2026-11-27": 86_000_000},
    }
    for repository, tags in images.items():
        for tag, size in tags.items():
            push_image(server, username, token, f"team-images/{repository}", tag, [b"l" * size])
    page.goto("/registries")
    page.get_by_label("Registry name").fill("ml-models")
    page.get_by_role("button", name="Create registry").click()
    page.goto("/registries/team-images/credentials")
    for label, access, expires in (
        ("Production cluster", "Read-only", ""),
        ("GitHub Actions", "Read-write", "2027-06-30"),
    ):
        page.get_by_label("Label").fill(label)
        page.get_by_label(access).check()
        page.get_by_label("Expires").fill(expires)
        page.get_by_role("button", name="Add credential").click()
        page.goto("/registries/team-images/credentials")
    shoot(page, "registry-credentials")
    page.goto("/registries")
    shoot(page, "registries")
    page.goto("/registries/team-images")
    shoot(page, "registry-repositories")
    page.goto("/registries/team-images/repositories/frontend/web")
    shoot(page, "registry-tags")


def shoot(page: Page, name: str) -> None:
    if ONLY and name not in ONLY:
        return
    page.screenshot(path=str(OUT / f"{name}.png"), full_page=False)
    print("saved", OUT / f"{name}.png")


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        server = LiveServer(Path(scratch) / "data")
        server.data_dir.mkdir()
        server.start()
        try:
            email = server.account("ada@example.com", PASSWORD)
            # Seeding sends a burst of writes, faster than the Free tier's 50 per second.
            server.raise_limits(email, s3_write_rps=BURST)
            fill(server, email)
            with sync_playwright() as driver:
                browser = driver.chromium.launch(
                    executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
                )
                context = browser.new_context(base_url=server.api_url, viewport=VIEWPORT)
                page = context.new_page()
                page.goto("/login")
                page.get_by_label("Email").fill(email)
                shoot(page, "login")
                context.add_cookies(
                    [
                        {
                            "name": "nexq_session",
                            "value": session_cookie(server, email),
                            "url": server.api_url,
                        }
                    ]
                )
                page.goto("/storage/buckets")
                shoot(page, "buckets")
                page.goto("/storage/buckets/website-assets")
                shoot(page, "object-browser")
                page.goto("/storage/buckets/ml-datasets/versions")
                shoot(page, "object-versions")
                page.goto("/storage/buckets/ml-datasets/settings")
                shoot(page, "bucket-settings")
                page.goto("/storage/access-keys/new")
                page.get_by_label("Label").fill("Production API")
                page.get_by_label("Specific Buckets").check()
                page.get_by_label("Buckets", exact=True).select_option(["website-assets"])
                page.get_by_role("button", name="Create Access Key").click()
                shoot(page, "access-key-created")
                page.goto("/storage/access-keys")
                shoot(page, "access-keys")
                page.goto("/storage/usage")
                shoot(page, "usage")
                registry_pages(page, server)
                page.goto("/account/api-keys/new")
                page.get_by_label("Name").fill("CI deploys")
                page.get_by_role("button", name="Create API Key").click()
                page.goto("/account/api-keys")
                shoot(page, "api-keys")
                history(server, email)
                page.goto("/billing/budget")
                page.get_by_label("Amount (USD)").fill("25.00")
                page.get_by_role("button", name="Set budget").click()
                deadline = time.monotonic() + 30  # budgets are checked every few seconds
                while time.monotonic() < deadline and not page.locator(".badge-count").count():
                    time.sleep(1)
                    page.reload()
                page.goto("/account/limits")
                shoot(page, "limits")
                page.goto("/billing/overview")
                shoot(page, "billing")
                browser.close()
        finally:
            server.stop()


if __name__ == "__main__":
    sys.exit(main())
