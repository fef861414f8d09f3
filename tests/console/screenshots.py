"""Screenshots of the console's main pages for the README: ``python -m tests.console.screenshots``.

Starts a live server on a scratch data directory, fills it with a little realistic data
through S3 (boto3) and the console itself, and saves PNGs under docs/screenshots/.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

from tests.console.conftest import CHROMIUM, CHROMIUM_ARGS, PASSWORD, s3_client, session_cookie
from tests.live import LiveServer

OUT = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
VIEWPORT = {"width": 1280, "height": 800}


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
    s3.put_object(Bucket="ml-datasets", Key="train.parquet", Body=b"1" * 3_145_728)
    for _ in range(25):
        s3.get_object(Bucket="website-assets", Key="index.html")["Body"].read()
    s3.list_objects_v2(Bucket="website-assets")
    time.sleep(3)  # metering flushes its counts every few seconds


def shoot(page: Page, name: str) -> None:
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
                page.goto("/account/api-keys/new")
                page.get_by_label("Name").fill("CI deploys")
                page.get_by_role("button", name="Create API Key").click()
                page.goto("/account/api-keys")
                shoot(page, "api-keys")
                browser.close()
        finally:
            server.stop()


if __name__ == "__main__":
    sys.exit(main())
