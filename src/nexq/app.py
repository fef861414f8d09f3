"""Composition root: build every service from Settings (the HTTP apps over them: planes)."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from nexq.accounts.api_keys import ApiKeys
from nexq.accounts.descriptor import descriptor as accounts_descriptor
from nexq.accounts.errors import EmailTaken
from nexq.accounts.limits import AccountLimits, Limits
from nexq.accounts.package import PACKAGE as ACCOUNT_PACKAGE
from nexq.accounts.service import Accounts
from nexq.accounts.sqlite import SqliteAccounts
from nexq.accounts.tiers import TierCatalog, check_tiers, default_tiers_text, load_tiers
from nexq.billing.budgets import Budgets, Mailer
from nexq.billing.descriptor import descriptor as billing_descriptor
from nexq.billing.inbox import Inbox
from nexq.billing.package import PACKAGE as BILLING_PACKAGE
from nexq.billing.payment_methods import PaymentMethods
from nexq.billing.service import Billing
from nexq.billing.sqlite import SqliteBilling
from nexq.compute.copier import Copier
from nexq.compute.copies import Copies
from nexq.compute.descriptor import descriptor as compute_descriptor
from nexq.compute.host import Host
from nexq.compute.instances import Instances
from nexq.compute.metering import ComputeMeter
from nexq.compute.package import PACKAGE as COMPUTE_PACKAGE
from nexq.compute.provisioner import Capacity as ComputeCapacity
from nexq.compute.provisioner import Provisioner as ComputeProvisioner
from nexq.compute.sizes import load_sizes
from nexq.compute.sql_disk_copies import SqlDiskCopies
from nexq.compute.sql_instances import SqlInstances
from nexq.compute.sql_ssh_keys import SqlSshKeys
from nexq.compute.ssh_keys import SshKeys
from nexq.core import sql
from nexq.core.crypto import SecretBox
from nexq.core.data_keys import DataKeys, SqlDataKeys
from nexq.core.db import Database
from nexq.core.egress import Egress, parse_networks
from nexq.core.errors import Forbidden, NotFound
from nexq.core.generation import GenerationWatch
from nexq.core.identity import Account, Principal, ScopeCatalog
from nexq.core.ids import random_string
from nexq.core.job_log import JobLog
from nexq.core.keyring import SealedStore, open_box
from nexq.core.schema import SCHEMA as CORE_SCHEMA
from nexq.databases.backups import Backups, Repository
from nexq.databases.descriptor import descriptor as databases_descriptor
from nexq.databases.engine import Engine
from nexq.databases.metering import DatabaseMeter
from nexq.databases.package import PACKAGE as DATABASES_PACKAGE
from nexq.databases.plans import load_plans as load_database_plans
from nexq.databases.provisioner import Capacity, Provisioner
from nexq.databases.service import Databases
from nexq.databases.store import SqlDatabases
from nexq.platform import Job, Package, Service, departures, metered
from nexq.platform import limits as platform_limits
from nexq.registry.access import RegistryAuth
from nexq.registry.content import Content
from nexq.registry.descriptor import descriptor as registry_descriptor
from nexq.registry.metering import RegistryMeter
from nexq.registry.package import PACKAGE as REGISTRY_PACKAGE
from nexq.registry.registries import Registries
from nexq.registry.sqlite import SqlRegistry
from nexq.settings import Settings
from nexq.storage.access_keys import AccessKeys
from nexq.storage.blobs import rados
from nexq.storage.blobs.filesystem import FileBlobStore
from nexq.storage.blobs.inline import InlineBlobs
from nexq.storage.blobs.port import BlobStore
from nexq.storage.blobs.sealed import SealedBlobs
from nexq.storage.descriptor import collect_garbage
from nexq.storage.descriptor import descriptor as storage_descriptor
from nexq.storage.directory import Directory
from nexq.storage.kms import KmsKeys
from nexq.storage.kms_store import SqlKmsKeys
from nexq.storage.metadata.sqlite import SqliteMetadata
from nexq.storage.metering import Meter
from nexq.storage.multipart import Multipart
from nexq.storage.package import PACKAGE as STORAGE_PACKAGE
from nexq.storage.service import ObjectStorage
from nexq.storage.system_bucket import SystemBucket, provide_bucket
from nexq.storage.usage import Usage
from nexq.support.attachments import AttachmentFiles
from nexq.support.descriptor import descriptor as support_descriptor
from nexq.support.package import PACKAGE as SUPPORT_PACKAGE
from nexq.support.plans import load_plans
from nexq.support.service import Support
from nexq.support.sqlite import SqliteSupport

log = logging.getLogger("nexq")
# The services of the installation, as each package declares itself before anything is built;
# accounts first (the others' rows name accounts). Typed Package[Nexq]: mypy checks that Nexq
# has what each package's admin commands need of the installation.
PACKAGES: tuple[Package[Nexq], ...] = (
    ACCOUNT_PACKAGE,
    STORAGE_PACKAGE,
    BILLING_PACKAGE,
    SUPPORT_PACKAGE,
    REGISTRY_PACKAGE,
    DATABASES_PACKAGE,
    COMPUTE_PACKAGE,
)
# Every owner's tables, in the order they are created: the kernel's, then each package's.
SCHEMAS = (CORE_SCHEMA, *(package.schema for package in PACKAGES))
# What each service adds to `nexq admin`, given a way to open the installation: its groups
# (`nexq admin account …`) and single commands (`nexq admin fsck`), by name.
ADMIN_COMMANDS = tuple(p.admin for p in PACKAGES if p.admin is not None)
# Every scope an API key can hold, as each service declares it.
SCOPE_CATALOG = ScopeCatalog(tuple(scope for package in PACKAGES for scope in package.scopes))


@dataclass
class Nexq:
    """Every service of one process, wired."""

    settings: Settings
    db: sql.Database
    store: SqliteMetadata
    blobs: BlobStore
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
    support: Support
    data_keys: DataKeys  # wrap the keys of sealed blobs; sealed with the master key
    registries: Registries
    registry_content: Content
    registry_auth: RegistryAuth
    registry_meter: RegistryMeter
    databases: Databases
    database_store: SqlDatabases
    database_provisioner: Provisioner
    database_meter: DatabaseMeter
    ssh_keys: SshKeys
    instances: Instances
    compute_provisioner: ComputeProvisioner
    compute_host: Host
    compute_meter: ComputeMeter
    copies: Copies  # snapshots and backups of instances
    copier: Copier

    def operator(self, email: str) -> Principal:
        """The operator account ``email`` acting with every scope of its role (``nexq admin``)."""
        account = self.accounts.get(email)
        if account.role != "operator":
            raise Forbidden(f"{email} is not an operator account.")
        return self.accounts.principal(account)

    def close(self) -> None:
        """Flush usage counts and pending writes, then close the database."""
        try:
            self.meter.flush()
            self.registry_meter.flush()
        finally:
            self.db.close()


def open_database(settings: Settings) -> sql.Database:
    """The metadata database the settings name: PostgreSQL at ``database_url`` (migrated by
    ``nexq admin migrate``; a node refuses a schema it does not know), else SQLite in the
    data dir (migrated here). The blob files a row names are durable before it is written:
    their writers flush them (files) or the cluster holds them (RADOS)."""
    if settings.database_url:
        # Imported here: psycopg is about 0.1 s of every start that uses SQLite.
        from nexq.core.postgres import PostgresDatabase

        return PostgresDatabase(settings.database_url, SCHEMAS)
    return Database(settings.data_dir / "meta.db", SCHEMAS)


def open_blobs(settings: Settings, service: str) -> BlobStore:
    """Where ``service`` keeps its blobs: a namespace of its own in the RADOS pool of
    ``blobs_url`` (Object Storage's is the URL's own), else files in the data dir
    (Object Storage's at its top, another service's in a folder named after it)."""
    own = "" if service == "storage" else service
    if settings.blobs_url:
        return rados.from_url(settings.blobs_url, own)
    return FileBlobStore(settings.data_dir / own if own else settings.data_dir)


def _has_data(settings: Settings) -> bool:
    """Whether the installation holds data already (then no new master key is made)."""
    if settings.database_url:
        from nexq.core import postgres

        return postgres.holds_data(settings.database_url)
    return (settings.data_dir / "meta.db").exists()


def build(settings: Settings) -> Nexq:
    """Open (and migrate) the data directory and wire the services."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    box = open_box(
        settings.data_dir,
        settings.master_key,
        settings.master_key_previous,
        settings.master_key_file,
        has_data=_has_data(settings),
    )
    db = open_database(settings)
    store = SqliteMetadata(db)
    # Every blob is sealed at rest (storage.blobs.sealed), under keys the master key wraps;
    # an object's small ones live in its metadata row (storage.blobs.inline).
    data_keys = DataKeys(box, SqlDataKeys(db))
    raw = open_blobs(settings, "storage")
    # Embedded, rows and files share the data dir's disk and its reserve (blobs.space).
    space = raw.space if isinstance(raw, FileBlobStore) else None
    blobs = SealedBlobs(InlineBlobs(raw, space=space), data_keys)
    # The auth generation as this process last read it: the directory's and the limits'
    # caches are checked against it, and every request reads it once.
    watch = GenerationWatch(store.auth_generation)
    directory = Directory(store, box, watch)
    # Hashing only, never waiting: sized to the cores that can hash in parallel.
    hash_pool = ThreadPoolExecutor(os.cpu_count() or 2, thread_name_prefix="nexq-hash")
    account_store = SqliteAccounts(db)
    # Every service's descriptor, made once all are built (below): billing prices the meters
    # they declare and the limits page shows their limits, so both ask for it when used.
    found: list[Service] = []
    limits = Limits(
        account_store, _tier_catalog(settings), lambda: platform_limits(found), watch=watch
    )
    # SSE-KMS: the accounts' keys, their material sealed with the master key.
    kms = KmsKeys(SqlKmsKeys(db), box, settings.region)
    objects = ObjectStorage(store, blobs, directory, hash_pool, limits, kms)
    billing_store = SqliteBilling(db)
    billing = Billing(billing_store, account_store, limits, lambda: metered(found))
    mailer = (
        Mailer(settings.smtp_host, settings.smtp_port, settings.smtp_from)
        if settings.smtp_host
        else None
    )
    titles: list[str] = []  # what a support ticket can be about: every service, once built
    support = Support(
        SqliteSupport(db),
        load_plans(settings.tiers_path),
        # The attachments' own blob root: storage's start-up sweep never sees them.
        AttachmentFiles(SealedBlobs(open_blobs(settings, "support"), data_keys)),
        Inbox(billing_store, account_store, mailer),
        topics=lambda: titles,
        operators=lambda: operator_ids(account_store),
        quotas=limits,
    )
    registry_store = SqlRegistry(db)
    # Layers are sealed at rest like objects, in a blob root of their own (storage's start-up
    # sweep never sees them; the registry's own recovery does).
    registry_content = Content(
        registry_store, SealedBlobs(open_blobs(settings, "registry"), data_keys), limits
    )
    api_keys = ApiKeys(account_store, limits, SCOPE_CATALOG)
    database_store = SqlDatabases(db)
    database_plans = load_database_plans(settings.tiers_path)
    engine = Engine(settings.databases_root, settings.postgres_bindir, settings.databases_volumes)
    repository = BackupRepository(settings)
    backups = Backups(engine, repository)
    databases = Databases(
        database_store,
        database_plans,
        engine,
        box,
        settings.databases_endpoint,
        backups,
        limits,
        default_backup_days=settings.databases_backup_days,
    )
    ssh_key_store = SqlSshKeys(db)
    instance_store = SqlInstances(db)
    compute_host = Host(settings.compute_root, settings.compute_listen_on)
    copy_store = SqlDiskCopies(db)
    instances = Instances(
        instance_store,
        ssh_key_store,
        load_sizes(settings.tiers_path),
        compute_host.serial_tail,
        limits,
        endpoint=settings.compute_endpoint,
        image_ready=compute_host.image_ready,
    )
    # Instances' backups: a bucket of a system account in Nexq's own Object Storage.
    backup_vault = SystemBucketMaker(COMPUTE_BACKUP_ACCOUNT, "compute-backups")
    nexq = Nexq(
        settings=settings,
        db=db,
        store=store,
        blobs=blobs,
        directory=directory,
        account_store=account_store,
        accounts=Accounts(account_store, SCOPE_CATALOG, lambda: departures(found)),
        api_keys=api_keys,
        limits=limits,
        account_limits=AccountLimits(limits, account_store, lambda: metered(found)),
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
        support=support,
        data_keys=data_keys,
        registries=Registries(registry_store, registry_content, limits),
        registry_content=registry_content,
        registry_auth=RegistryAuth(
            registry_store,
            box,
            api_keys,
            lambda account_id: _active(account_store, account_id),
            watch,
        ),
        registry_meter=RegistryMeter(db, registry_store),
        databases=databases,
        database_store=database_store,
        database_provisioner=Provisioner(
            database_store,
            databases,
            database_plans,
            engine,
            Capacity.of_host(
                settings.databases_root,
                settings.databases_vcpus,
                settings.databases_memory_mib,
                settings.databases_storage_gib,
                settings.databases_ports,
            ),
            settings.databases_listen_on,
            # Every name the servers' certificates carry: clients verify the one they use.
            list(dict.fromkeys([settings.databases_endpoint, "localhost", "127.0.0.1"])),
            backups,
            settings.databases_backup_every,
        ),
        database_meter=DatabaseMeter(database_store, backups),
        ssh_keys=SshKeys(ssh_key_store, limits),
        instances=instances,
        compute_meter=ComputeMeter(instance_store, copy_store),
        compute_host=compute_host,
        compute_provisioner=ComputeProvisioner(
            instance_store,
            compute_host,
            ComputeCapacity.of_host(
                settings.compute_vcpus, settings.compute_memory_mib, settings.compute_ports
            ),
        ),
        copies=Copies(copy_store, instance_store, instances, limits),
        copier=Copier(copy_store, instance_store, compute_host, backup_vault),
    )
    repository.wire(nexq)
    backup_vault.wire(nexq)
    found.extend(services(nexq))
    titles.extend(service.title for service in found)
    for note in check_tiers(limits.catalog, platform_limits(found), metered(found)):
        log.warning("%s", note)
    return nexq


# The system account whose bucket holds every instance's backups.
COMPUTE_BACKUP_ACCOUNT = "compute-backups@nexq.local"
# The system account whose bucket holds every database's backups.
BACKUP_ACCOUNT = "database-backups@nexq.local"


class BackupRepository:
    """Where pgBackRest puts the databases' backups: a bucket of a system account in Nexq's
    own Object Storage, reached over TLS on the backup listener (``serve`` opens it on
    loopback with a certificate of the databases' CA). Made the first time it is needed."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._nexq: Nexq | None = None
        self._found: Repository | None = None

    def wire(self, nexq: Nexq) -> None:
        self._nexq = nexq

    def __call__(self) -> Repository:
        if self._found is None:
            assert self._nexq is not None
            bucket, key_id, secret = self._nexq.databases.backup_key(self._make)
            self._found = Repository(
                "localhost",
                self._settings.databases_backup_port,
                bucket,
                self._settings.region,
                key_id,
                secret,
                self._nexq.databases.authority_pem(),
                self._settings.databases_backup_days,
            )
        return self._found

    def _make(self) -> tuple[str, str, str]:
        nexq = self._nexq
        assert nexq is not None
        try:
            account = nexq.accounts.get(BACKUP_ACCOUNT)
        except NotFound:
            account = nexq.accounts.create(BACKUP_ACCOUNT, random_string(40), "operator")
        bucket = f"nexq-database-backups-{random_string(10).lower()}"
        nexq.objects.create_bucket(nexq.accounts.principal(account), bucket)
        view, secret = nexq.access_keys.create(account.id, "database backups", [bucket])
        return bucket, view.key.id, secret


class SystemBucketMaker:
    """A bucket of the system account ``email`` in Nexq's own Object Storage, where one
    service keeps its large files (Compute's instance backups: "compute-backups@nexq.local",
    "compute-backups"). The account and the bucket are made the first time it is needed;
    built before Nexq and wired after, as BackupRepository is."""

    def __init__(self, email: str, purpose: str) -> None:
        self._email = email
        self._purpose = purpose
        self._nexq: Nexq | None = None
        self._found: SystemBucket | None = None
        self._lock = threading.Lock()

    def wire(self, nexq: Nexq) -> None:
        self._nexq = nexq

    def __call__(self) -> SystemBucket:
        with self._lock:
            if self._found is None:
                nexq = self._nexq
                assert nexq is not None, "SystemBucketMaker used before wire()"
                owner = nexq.accounts.principal(self._account(nexq.accounts))
                bucket = provide_bucket(nexq.objects, owner, self._purpose)
                self._found = SystemBucket(nexq.objects, nexq.multipart, owner, bucket)
            return self._found

    def _account(self, accounts: Accounts) -> Account:
        # An operator, as BackupRepository's: the operator tier's limits, not a customer's,
        # apply to what it keeps. Its password is never used: nobody signs in as it.
        found = accounts.find(self._email)
        if found is not None:
            return found
        try:
            return accounts.create(self._email, random_string(40), "operator")
        except EmailTaken:  # another node made it meanwhile
            return accounts.get(self._email)


def _active(store: SqliteAccounts, account_id: str) -> bool:
    account = store.get_account(account_id)
    return account is not None and account.active


def operator_ids(store: SqliteAccounts) -> list[str]:
    """Every operator account (told of new support tickets and customer replies)."""
    found, after = [], None
    while page := store.list_accounts(after, 500):
        found += [a.id for a in page if a.role == "operator"]
        after = (page[-1].created_at, page[-1].id)
    return found


def sealed_stores(nexq: Nexq) -> list[SealedStore]:
    """Every table of secrets sealed with the master key: a rotation re-wraps them all."""
    return [nexq.access_keys, nexq.data_keys, nexq.objects.kms, nexq.database_store]


def _tier_catalog(settings: Settings) -> TierCatalog:
    """The operator's tiers; a new data directory gets an editable copy of the defaults."""
    path = settings.tiers_path
    if settings.tiers_file is None and not path.exists():
        path.write_text(default_tiers_text())
    return load_tiers(path)


def recover(nexq: Nexq) -> int:
    """Start-up repair after a crash: drop temporaries, orphans and collected garbage."""
    collect_garbage(nexq.store, nexq.blobs, nexq.db)
    removed = nexq.blobs.recover(nexq.store.referenced_paths())
    return removed + nexq.registry_content.recover()


def services(nexq: Nexq) -> list[Service]:
    """Every service of the installation, in the order the console lists them."""
    settings = nexq.settings
    return [
        storage_descriptor(
            nexq.objects,
            nexq.multipart,
            nexq.access_keys,
            nexq.usage,
            nexq.meter,
            nexq.store,
            nexq.blobs,
            nexq.db,
            settings.s3_endpoint,
            settings.region,
            nexq.store,
            settings.s3_website_endpoint,
            lifecycle_interval=settings.lifecycle_interval,
        ),
        accounts_descriptor(
            nexq.accounts, nexq.api_keys, nexq.limits, nexq.account_limits, SCOPE_CATALOG
        ),
        billing_descriptor(nexq.billing, nexq.payment_methods, nexq.budgets),
        support_descriptor(nexq.support),
        registry_descriptor(
            nexq.registries,
            nexq.registry_content,
            nexq.registry_meter,
            settings.registry_endpoint,
        ),
        databases_descriptor(
            nexq.databases,
            nexq.database_provisioner,
            nexq.databases.catalog,
            nexq.database_meter,
        ),
        compute_descriptor(
            nexq.ssh_keys,
            nexq.instances,
            nexq.compute_provisioner,
            nexq.compute_meter,
            nexq.copies,
            nexq.copier,
        ),
    ]


def start_jobs(
    jobs: Sequence[Job], stop: threading.Event, db: sql.Database, job_log: JobLog
) -> list[threading.Thread]:
    """One thread per lane of background jobs, each job run every ``every`` seconds (a job
    ``once`` only while this process holds its lease in ``db``); each run is told to
    ``job_log``."""
    lanes: dict[str, list[Job]] = {}
    for job in jobs:
        lanes.setdefault(job.lane, []).append(job)
        job_log.register(job.name, job.every, job.once)
    threads = [
        threading.Thread(
            target=_run_lane, args=(lane, stop, db, job_log), name=f"nexq-{name}", daemon=True
        )
        for name, lane in lanes.items()
    ]
    for thread in threads:
        thread.start()
    return threads


def _run_lane(jobs: list[Job], stop: threading.Event, db: sql.Database, job_log: JobLog) -> None:
    due = {job.name: time.monotonic() + job.every for job in jobs}
    leases = {job.name: db.lease(job.name) for job in jobs if job.once}
    try:
        while not stop.wait(max(0.0, min(due.values()) - time.monotonic())):
            for job in jobs:
                if time.monotonic() < due[job.name]:
                    continue
                due[job.name] = time.monotonic() + job.every
                started, clock = time.time(), time.monotonic()
                failure: Exception | None = None
                try:
                    if job.name in leases and not leases[job.name].held():
                        continue  # another process runs it: nothing to report
                    job.run()
                except Exception as exc:
                    failure = exc
                    log.exception("%s failed; retrying later", job.name)
                job_log.ran(job.name, started, time.monotonic() - clock, failure)
    finally:
        for lease in leases.values():
            lease.release()
