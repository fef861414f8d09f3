"""Composition root: build every service from Settings and mount the ASGI apps."""

from __future__ import annotations

import logging
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

from nexq.accounts.api_keys import ApiKeys
from nexq.accounts.limits import AccountLimits, Limits
from nexq.accounts.service import Accounts
from nexq.accounts.sqlite import SqliteAccounts
from nexq.accounts.tiers import TierCatalog, default_tiers_text, load_tiers
from nexq.billing.budgets import Budgets, Mailer
from nexq.billing.payment_methods import PaymentMethods
from nexq.billing.service import Billing
from nexq.billing.sqlite import SqliteBilling
from nexq.core.crypto import SecretBox
from nexq.core.db import Database
from nexq.core.durability import FileSystemSync
from nexq.core.egress import Egress, parse_networks
from nexq.core.keyring import SealedStore, open_box
from nexq.core.ratelimit import RateLimiter
from nexq.core.schema import MIGRATIONS
from nexq.settings import Settings
from nexq.storage.access_keys import AccessKeys
from nexq.storage.blobs.filesystem import FileBlobStore
from nexq.storage.directory import Directory
from nexq.storage.metadata.sqlite import SqliteMetadata
from nexq.storage.metering import FLUSH_SECONDS, Meter
from nexq.storage.multipart import Multipart
from nexq.storage.s3.auth import Authenticator
from nexq.storage.s3.handlers.common import Services
from nexq.storage.s3.server import S3App
from nexq.storage.service import ObjectStorage
from nexq.storage.usage import Usage

if TYPE_CHECKING:
    from fastapi import FastAPI

log = logging.getLogger("nexq")
WORKER_THREADS = 32
BILLING_TICKS = 5  # storage samples, month closing and budget checks every 5 janitor ticks


@dataclass
class Nexq:
    """Every service of one process, wired."""

    settings: Settings
    db: Database
    store: SqliteMetadata
    blobs: FileBlobStore
    directory: Directory
    account_store: SqliteAccounts
    accounts: Accounts
    api_keys: ApiKeys
    limits: Limits
    account_limits: AccountLimits
    access_keys: AccessKeys
    objects: ObjectStorage
    multipart: Multipart
    usage: Usage
    meter: Meter
    billing: Billing
    payment_methods: PaymentMethods
    budgets: Budgets
    box: SecretBox  # the master keys; `nexq admin master-key` rotates them

    def close(self) -> None:
        """Flush usage counts and pending writes, then close the database."""
        try:
            self.meter.flush()
        finally:
            self.db.close()


def build(settings: Settings) -> Nexq:
    """Open (and migrate) the data directory and wire the services."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    box = open_box(
        settings.data_dir,
        settings.master_key,
        settings.master_key_previous,
        settings.master_key_file,
        has_data=(settings.data_dir / "meta.db").exists(),
    )
    # Blob files are made durable by one syncfs of the data dir per group commit.
    db = Database(
        settings.data_dir / "meta.db", settings.data_dir, MIGRATIONS, durability=FileSystemSync()
    )
    store = SqliteMetadata(db)
    blobs = FileBlobStore(settings.data_dir)
    directory = Directory(store, box)
    # Hashing only, never waiting: sized to the cores that can hash in parallel.
    hash_pool = ThreadPoolExecutor(os.cpu_count() or 2, thread_name_prefix="nexq-hash")
    account_store = SqliteAccounts(db)
    limits = Limits(account_store, _tier_catalog(settings))
    objects = ObjectStorage(store, blobs, directory, hash_pool, limits)
    billing_store = SqliteBilling(db)
    billing = Billing(billing_store, account_store, limits)
    mailer = (
        Mailer(settings.smtp_host, settings.smtp_port, settings.smtp_from)
        if settings.smtp_host
        else None
    )
    return Nexq(
        settings=settings,
        db=db,
        store=store,
        blobs=blobs,
        directory=directory,
        account_store=account_store,
        accounts=Accounts(account_store),
        api_keys=ApiKeys(account_store, limits),
        limits=limits,
        account_limits=AccountLimits(limits, account_store, store),
        access_keys=AccessKeys(store, box, limits),
        objects=objects,
        multipart=Multipart(store, objects),
        usage=Usage(store),
        meter=Meter(store),
        billing=billing,
        payment_methods=PaymentMethods(billing_store),
        budgets=Budgets(
            billing_store,
            account_store,
            billing,
            mailer,
            egress=Egress(parse_networks(settings.webhook_allow), settings.webhook_proxy),
        ),
        box=box,
    )


def sealed_stores(nexq: Nexq) -> list[SealedStore]:
    """Every table of secrets sealed with the master key: a rotation re-wraps them all."""
    return [nexq.access_keys]


def _tier_catalog(settings: Settings) -> TierCatalog:
    """The operator's tiers; a new data directory gets an editable copy of the defaults."""
    path = settings.tiers_path
    if settings.tiers_file is None and not path.exists():
        path.write_text(default_tiers_text())
    return load_tiers(path)


def recover(nexq: Nexq) -> int:
    """Start-up repair after a crash: drop temporaries, orphans and collected garbage."""
    collect_garbage(nexq)
    return nexq.blobs.recover(nexq.store.referenced_paths())


def collect_garbage(nexq: Nexq) -> int:
    """Delete blob files that no longer back any object or part."""
    total = 0
    while True:
        paths = nexq.store.garbage(1000)
        if not paths:
            return total
        nexq.blobs.delete(paths)
        nexq.store.forget_garbage(paths)
        nexq.db.write(lambda conn: None)  # wait until the forgetting is committed
        total += len(paths)


def start_janitor(nexq: Nexq, stop: threading.Event) -> list[threading.Thread]:
    """Background threads: one flushes usage counts and removes superseded blob files every
    second; another does billing's house-keeping, which may wait on the network (budget
    alert emails and webhooks, up to seconds each) and so must not hold up the first."""

    def janitor() -> None:
        while not stop.wait(FLUSH_SECONDS):
            try:
                nexq.meter.flush()
            except Exception:
                log.exception("flushing usage counts failed; they are kept for the next try")
            try:
                collect_garbage(nexq)
            except Exception:
                log.exception("garbage collection failed; retrying later")

    def clerk() -> None:
        while not stop.wait(FLUSH_SECONDS * BILLING_TICKS):
            try:
                nexq.billing.sample_storage()
                nexq.billing.close_due_months()
                nexq.budgets.check()
            except Exception:
                log.exception("billing house-keeping failed; retrying later")

    threads = [
        threading.Thread(target=janitor, name="nexq-janitor", daemon=True),
        threading.Thread(target=clerk, name="nexq-billing", daemon=True),
    ]
    for thread in threads:
        thread.start()
    return threads


def s3_app(nexq: Nexq, rates: RateLimiter) -> S3App:
    """The S3 data plane; ``rates`` is shared by every worker process of the server."""
    executor = ThreadPoolExecutor(WORKER_THREADS, thread_name_prefix="nexq-s3")
    authenticator = Authenticator(nexq.directory, nexq.settings.region)
    services = Services(
        nexq.objects, nexq.multipart, nexq.settings.region, authenticator.authenticate_post
    )
    return S3App(
        services,
        authenticator,
        executor,
        nexq.settings.s3_domain,
        nexq.meter,
        rates,
    )


def api_app(nexq: Nexq, rates: RateLimiter) -> FastAPI:
    """The control plane: the REST API under /v1 and the web console everywhere else."""
    # Imported here: operator commands build the services but never serve HTTP.
    from nexq.accounts import api as account_api
    from nexq.accounts import console as account_console
    from nexq.accounts import signin
    from nexq.accounts.tokens import BearerTokens, SessionTokens
    from nexq.billing import api as billing_api
    from nexq.billing import console as billing_console
    from nexq.storage import api as storage_api
    from nexq.storage import console as storage_console
    from nexq.web.console.app import console_app, mount_console
    from nexq.web.console.web import Layout, Pages, environment
    from nexq.web.rest.app import rest_app
    from nexq.web.rest.security import Authorizer

    auth = Authorizer(BearerTokens(nexq.accounts, nexq.api_keys), nexq.limits, rates)
    settings = nexq.settings
    routers = [
        account_api.router(nexq.accounts, nexq.api_keys, nexq.limits, nexq.account_limits, auth),
        storage_api.router(
            nexq.objects, nexq.access_keys, nexq.usage, auth, settings.s3_endpoint, settings.region
        ),
        billing_api.router(nexq.billing, nexq.payment_methods, nexq.budgets, auth),
    ]
    app = rest_app(routers, auth)
    sessions = SessionTokens(nexq.accounts)
    layout = Layout(
        home=storage_console.HOME,
        navigation=(
            storage_console.NAVIGATION,
            account_console.NAVIGATION,
            billing_console.NAVIGATION,
        ),
        header_links=(billing_console.notifications_link(nexq.budgets),),
        upcoming=("Containers", "Compute", "Databases"),
    )
    pages = Pages(
        sessions,
        environment(("nexq.storage", "nexq.accounts", "nexq.billing")),
        layout,
        always_secure=(settings.public_url or "").startswith("https://"),
    )
    console = console_app(
        pages,
        [
            signin.router(nexq.accounts, pages),
            storage_console.router(
                nexq.objects,
                nexq.multipart,
                nexq.access_keys,
                nexq.usage,
                pages,
                settings.s3_endpoint,
                settings.region,
            ),
            account_console.router(
                nexq.accounts, nexq.api_keys, nexq.limits, nexq.account_limits, pages
            ),
            billing_console.router(nexq.billing, nexq.payment_methods, nexq.budgets, pages),
        ],
        adapters=[storage_console.foreign_buckets_not_found],
    )
    mount_console(app, console)
    return app
